import type { ServerMessage } from "@/protocol";

type Events = Extract<ServerMessage, { type: "events" }>;

/**
 * Server messages waiting to be handed over together (the socket worker sends them once per frame). Consecutive
 * `events` messages become one whenever that changes nothing the connection manager does with them: the next one
 * starts right after the previous one ends (so a duplicate or a gap still arrives as its own message), and the
 * previous one carries no books (a message's books replace a book after its events, so later events must not move
 * before them). Every other message is kept as it is, in order.
 */
export class FrameBatch {
  private pending: ServerMessage[] = [];

  get size(): number {
    return this.pending.length;
  }

  add(message: ServerMessage): void {
    const last = this.pending[this.pending.length - 1];
    if (message.type === "events" && last?.type === "events" && FrameBatch.joinable(last, message)) {
      for (const event of message.events) last.events.push(event);
      last.to = message.to;
      if (message.books !== undefined) last.books = message.books;
      return;
    }
    // A copy of the events list, so joining never changes an array the caller still holds.
    this.pending.push(message.type === "events" ? { ...message, events: [...message.events] } : message);
  }

  /** Everything pending, oldest first; the batch is empty afterwards. */
  take(): ServerMessage[] {
    const taken = this.pending;
    this.pending = [];
    return taken;
  }

  private static joinable(last: Events, next: Events): boolean {
    return next.from === last.to + 1 && (last.books === undefined || last.books.length === 0);
  }
}
