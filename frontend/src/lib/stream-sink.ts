import type { BookSnapshot, EngineView, Event, OrderOutcome } from "@/protocol";

/**
 * What the connection manager feeds applied stream state into. The connection feature owns the sequencing; the
 * trading feature implements this interface to keep books, orders and positions. Neither imports the other.
 */
export interface StreamSink {
  /** A snapshot: drop all local state and start from the view. */
  reset(view: EngineView): void;
  /** Events in seq order, each applied once; then the books that replace conflated market data, if any. */
  apply(events: Event[], books: BookSnapshot[]): void;
  orderAck(clientOrderId: string, outcome: OrderOutcome): void;
  /** A JSON-serializable copy of the state, stored with the last applied seq so a reload can resume. */
  persist(): unknown;
  /** Restores what `persist` returned; false when it cannot be used (then the stream starts from a snapshot). */
  restore(saved: unknown): boolean;
}
