// Test doubles shared by the connection feature's tests: a fake socket and the server messages they need.
import type { ClientMessage, EngineView, Event, ServerMessage } from "@/protocol";
import type { SocketLike } from "./connection-manager";

export const SIM = "sim-test";

/** A WebSocket the test plays the server of. */
export class FakeSocket implements SocketLike {
  sent: ClientMessage[] = [];
  closed = false;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(readonly url = "") {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientMessage);
  }
  close(): void {
    this.closed = true;
  }
  receive(message: ServerMessage): void {
    this.onmessage?.({ data: JSON.stringify({ v: 1, ...message }) });
  }
  /** The server side goes away. */
  drop(): void {
    this.onclose?.();
  }
  ofType<K extends ClientMessage["type"]>(type: K): Extract<ClientMessage, { type: K }>[] {
    return this.sent.filter((message): message is Extract<ClientMessage, { type: K }> => message.type === type);
  }
}

export function trade(seq: number): Event {
  return {
    seq,
    time_ms: seq * 10,
    type: "trade",
    trade_id: seq,
    instrument: 0,
    price: 10_000,
    qty: 1,
    aggressor: "buy",
  };
}

export function welcome(seq: number, resume: "replay" | "snapshot" = "replay"): ServerMessage {
  return {
    type: "welcome",
    sim: SIM,
    seq,
    resume,
    state: "running",
    speed: "1x",
    heartbeat_ms: 5_000,
    dead_after_ms: 12_000,
  };
}

export function view(seq: number): EngineView {
  return {
    participant: 1,
    seq,
    step: seq,
    time_ms: seq * 10,
    books: [],
    open_orders: [],
    account: {
      participant: 1,
      cash: 0,
      equity: 0,
      buying_power: 0,
      realized_pnl: 0,
      unrealized_pnl: 0,
      fees_paid: 0,
      positions: [],
    },
  };
}
