import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "@/lib/clock";
import { memoryStorage } from "@/lib/storage";
import type { StreamSink } from "@/lib/stream-sink";
import type { BookSnapshot, Event, ServerMessage } from "@/protocol";
import { ConnectionManager } from "./connection-manager";
import { FrameBatch } from "./frame-batch";
import { FRAME_MS, serveSockets, type WorkerScope } from "./socket-worker";
import { FakeSocket, SIM, trade, view, welcome } from "./stream-fakes";
import { SocketWorker, type FromWorker, type ToWorker, type WorkerPort } from "./worker-socket";

function events(from: number, to: number, books?: BookSnapshot[]): Extract<ServerMessage, { type: "events" }> {
  const list: Event[] = [];
  for (let seq = from; seq <= to; seq++) list.push(trade(seq));
  return books ? { type: "events", from, to, events: list, books } : { type: "events", from, to, events: list };
}

const book: BookSnapshot = {
  instrument: 0,
  bids: [{ price: 9_999, qty: 1, orders: 1 }],
  asks: [],
  last_trade_price: null,
  status: { instrument: 0, halted: false, resumes_at_ms: null },
};

describe("FrameBatch", () => {
  it("joins consecutive events messages into one range", () => {
    const batch = new FrameBatch();
    batch.add(events(11, 12));
    batch.add(events(13, 13));
    batch.add(events(14, 16));
    expect(batch.take()).toEqual([events(11, 16)]);
    expect(batch.size).toBe(0);
  });

  it("keeps a gap, a duplicate and anything after books as messages of their own", () => {
    const batch = new FrameBatch();
    batch.add(events(11, 12));
    batch.add(events(15, 15)); // a gap: the manager must see it start at 15
    batch.add(events(15, 16)); // overlaps the previous one
    batch.add(events(17, 17, [book])); // joins: its books still come after all its events
    batch.add(events(18, 18)); // after books: must not move before them
    expect(batch.take()).toEqual([
      events(11, 12),
      { ...events(15, 15) },
      { type: "events", from: 15, to: 17, events: [15, 16, 17].map(trade), books: [book] },
      events(18, 18),
    ]);
  });

  it("keeps every other message in place, and never changes the caller's arrays", () => {
    const batch = new FrameBatch();
    const first = events(11, 11);
    batch.add(first);
    batch.add({ type: "ping", nonce: 1 });
    batch.add(events(12, 12));
    batch.add(events(13, 13));
    expect(batch.take()).toEqual([events(11, 11), { type: "ping", nonce: 1 }, events(12, 13)]);
    expect(first.events).toHaveLength(1);
  });
});

class RecordingSink implements StreamSink {
  /** The seqs of each `apply` call. */
  batches: number[][] = [];
  resets = 0;
  reset(): void {
    this.resets += 1;
  }
  apply(list: Event[]): void {
    this.batches.push(list.map((event) => event.seq));
  }
  orderAck(): void {}
  persist(): unknown {
    return {};
  }
  restore(): boolean {
    return false;
  }
}

/**
 * The page and the worker joined by an in-memory channel that delivers later (in a microtask) and copies, with
 * the real connection manager on the page and fake WebSockets in the worker.
 */
function harness() {
  const sockets: FakeSocket[] = [];
  const toPage: WorkerPort = { postMessage: () => undefined, onmessage: null, onerror: null };
  const scope: WorkerScope = {
    onmessage: null,
    postMessage: (message: FromWorker) => queueMicrotask(() => toPage.onmessage?.({ data: structuredClone(message) })),
  };
  toPage.postMessage = (message: ToWorker) => queueMicrotask(() => scope.onmessage?.({ data: message }));
  serveSockets(scope, {
    openWebSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    setTimeout: (callback, ms) => setTimeout(callback, ms),
  });
  const worker = new SocketWorker(toPage);
  const sink = new RecordingSink();
  const manager = new ConnectionManager({
    sim: SIM,
    sink,
    clock: systemClock,
    random: () => 0.999,
    storage: memoryStorage(),
    schedule: (callback) => callback(),
    fetchTicket: async () => "ticket",
    openSocket: (sim, ticket) => worker.open(`ws://test/ws?sim=${sim}&ticket=${ticket}`),
  });
  return { manager, sink, sockets, worker, toPage, socket: () => sockets[sockets.length - 1]! };
}

/** Lets the channel's messages and the ticket's promise go through. */
const settle = () => vi.advanceTimersByTimeAsync(0);

async function goLive(h: ReturnType<typeof harness>, seq = 10): Promise<FakeSocket> {
  h.manager.start();
  await settle();
  await settle();
  const socket = h.socket();
  socket.onopen?.();
  await settle();
  await settle();
  socket.receive(welcome(seq, "snapshot"));
  socket.receive({ type: "snapshot", seq, chunk: 0, chunks: 1, data: JSON.stringify(view(seq)) });
  await settle();
  return socket;
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("SocketWorker with the connection manager", () => {
  it("opens the socket in the worker, says hello through it and goes live on its messages", async () => {
    const h = harness();
    const socket = await goLive(h);
    expect(socket.url).toBe(`ws://test/ws?sim=${SIM}&ticket=ticket`);
    expect(socket.ofType("hello")).toEqual([{ v: 1, type: "hello", sim: SIM, last_seq: 0 }]);
    expect(h.sink.resets).toBe(1);
    expect(h.manager.view.current()).toMatchObject({ phase: "live", lastSeq: 10 });
    expect(h.manager.orderGate()).toEqual({ ok: true });
  });

  it("hands a frame's market data to the page at once, applied in one go, every event once", async () => {
    const h = harness();
    const socket = await goLive(h);
    for (let seq = 11; seq <= 30; seq++) socket.receive(events(seq, seq));
    socket.receive(events(25, 31)); // a replay overlapping what was applied
    await settle();
    expect(h.sink.batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(FRAME_MS);
    expect(h.sink.batches).toEqual([
      Array.from({ length: 20 }, (_, index) => 11 + index),
      [31], // the overlap is a message of its own; only what is new is applied
    ]);
    expect(h.manager.view.current().lastSeq).toBe(31);
  });

  it("passes a gap through: the manager resyncs with hello on the same socket", async () => {
    const h = harness();
    const socket = await goLive(h);
    socket.receive(events(11, 12));
    socket.receive(events(15, 15));
    await vi.advanceTimersByTimeAsync(FRAME_MS);
    expect(h.sink.batches).toEqual([[11, 12]]);
    expect(socket.ofType("hello").at(-1)).toMatchObject({ last_seq: 12 });
    expect(h.manager.view.current().phase).toBe("syncing");
  });

  it("answers pings at once, even with market data waiting, and keeps the order of what came before", async () => {
    const h = harness();
    const socket = await goLive(h);
    socket.receive(events(11, 11));
    socket.receive({ type: "ping", nonce: 7 });
    await settle();
    await settle();
    expect(h.sink.batches).toEqual([[11]]);
    expect(socket.ofType("pong")).toEqual([{ v: 1, type: "pong", sim: SIM, nonce: 7 }]);
  });

  it("delivers what arrived before a close, then reconnects with a fresh socket and resumes from the last seq", async () => {
    const h = harness();
    const first = await goLive(h);
    first.receive(events(11, 13));
    first.onclose?.();
    await settle();
    expect(h.sink.batches).toEqual([[11, 12, 13]]);
    expect(h.manager.view.current().phase).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    const second = h.socket();
    expect(second).not.toBe(first);
    second.onopen?.();
    await settle();
    await settle();
    expect(second.ofType("hello")).toEqual([{ v: 1, type: "hello", sim: SIM, last_seq: 13 }]);
  });

  it("closes the worker's socket when the manager drops the link, and a failed worker errors its sockets", async () => {
    const h = harness();
    const socket = await goLive(h);
    h.manager.dispose();
    await settle();
    expect(socket.closed).toBe(true);

    const again = harness();
    await goLive(again);
    again.toPage.onerror?.(new Event("error"));
    expect(again.worker.failed).toBe(true);
    expect(again.manager.view.current().phase).toBe("reconnecting");
  });
});
