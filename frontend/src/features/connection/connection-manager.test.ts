import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "@/lib/api-client";
import { systemClock } from "@/lib/clock";
import { memoryStorage, storageKeys, type KeyValueStorage } from "@/lib/storage";
import type { StreamSink } from "@/lib/stream-sink";
import type { EngineView, Event, OrderEntry } from "@/protocol";
import { backoffDelay } from "./backoff";
import { ConnectionManager, type ConnectionOptions, type NetworkSignals } from "./connection-manager";
import { FakeSocket, SIM, trade, view, welcome } from "./stream-fakes";

class RecordingSink implements StreamSink {
  applied: number[] = [];
  resets: EngineView[] = [];
  acks: string[] = [];
  reset(view: EngineView): void {
    this.resets.push(view);
  }
  apply(events: Event[]): void {
    this.applied.push(...events.map((event) => event.seq));
  }
  orderAck(clientOrderId: string): void {
    this.acks.push(clientOrderId);
  }
  persist(): unknown {
    return { applied: this.applied.length };
  }
  restore(saved: unknown): boolean {
    return typeof saved === "object" && saved !== null;
  }
}

function order(id: string): OrderEntry {
  return {
    instrument: 0,
    client_order_id: id,
    side: "buy",
    qty: 5,
    order_type: { type: "limit", price: 9_990 },
    tif: { type: "gtc" },
    display_qty: null,
    post_only: false,
    stp: "cancel_newest",
  };
}

/** Lets the ticket promise and its continuation run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

interface Harness {
  manager: ConnectionManager;
  sockets: FakeSocket[];
  sink: RecordingSink;
  tickets: { count: number; refuse: Error | null };
  storage: KeyValueStorage;
  socket: () => FakeSocket;
}

function harness(
  overrides: Partial<ConnectionOptions> = {},
  sink = new RecordingSink(),
  storage = memoryStorage(),
): Harness {
  const sockets: FakeSocket[] = [];
  const tickets = { count: 0, refuse: null as Error | null };
  const manager = new ConnectionManager({
    sim: SIM,
    sink,
    clock: systemClock,
    random: () => 0.999,
    storage,
    schedule: (callback) => callback(),
    fetchTicket: async () => {
      tickets.count += 1;
      if (tickets.refuse) throw tickets.refuse;
      return `ticket-${tickets.count}`;
    },
    openSocket: () => {
      const socket = new FakeSocket();
      sockets.push(socket);
      return socket;
    },
    ...overrides,
  });
  return { manager, sockets, sink, tickets, storage, socket: () => sockets[sockets.length - 1]! };
}

/** Connects, says hello and gets a snapshot at `seq`: the link is live. */
async function goLive(h: Harness, seq = 10): Promise<FakeSocket> {
  h.manager.start();
  await settle();
  const socket = h.socket();
  socket.onopen?.();
  socket.receive(welcome(seq, "snapshot"));
  socket.receive({ type: "snapshot", seq, chunk: 0, chunks: 1, data: JSON.stringify(view(seq)) });
  return socket;
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("backoff", () => {
  it("is full jitter: the first retry within 250 ms, doubling, capped at 5 s", () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 12].map((attempt) => backoffDelay(attempt, () => 0.999999));
    expect(ceilings).toEqual([249, 499, 999, 1999, 3999, 4999, 4999, 4999]);
    expect(backoffDelay(3, () => 0)).toBe(0);
    expect(backoffDelay(3, () => 0.5)).toBe(500);
  });
});

describe("ConnectionManager", () => {
  it("says hello with seq 0, rebuilds from a chunked snapshot and goes live", async () => {
    const h = harness();
    h.manager.start();
    await settle();
    const socket = h.socket();
    socket.onopen?.();
    expect(socket.ofType("hello")).toEqual([{ v: 1, type: "hello", sim: SIM, last_seq: 0 }]);
    expect(h.manager.orderGate().ok).toBe(false);
    socket.receive(welcome(42, "snapshot"));
    const text = JSON.stringify(view(42));
    socket.receive({ type: "snapshot", seq: 42, chunk: 0, chunks: 2, data: text.slice(0, 20) });
    expect(h.sink.resets).toHaveLength(0);
    socket.receive({ type: "snapshot", seq: 42, chunk: 1, chunks: 2, data: text.slice(20) });
    expect(h.sink.resets.map((reset) => reset.seq)).toEqual([42]);
    expect(h.manager.view.current()).toMatchObject({ phase: "live", lastSeq: 42 });
    expect(h.manager.orderGate()).toEqual({ ok: true });
  });

  it("drops events at or below the last applied seq and applies only the new ones", async () => {
    const h = harness();
    const socket = await goLive(h, 10);
    socket.receive({ type: "events", from: 11, to: 12, events: [trade(11), trade(12)] });
    socket.receive({ type: "events", from: 11, to: 12, events: [trade(11), trade(12)] });
    socket.receive({ type: "events", from: 12, to: 13, events: [trade(12), trade(13)] });
    expect(h.sink.applied).toEqual([11, 12, 13]);
    expect(h.manager.view.current().lastSeq).toBe(13);
  });

  it("resyncs on a gap: hello with the last applied seq, and ignores events until the welcome", async () => {
    const h = harness();
    const socket = await goLive(h, 10);
    socket.receive({ type: "events", from: 15, to: 16, events: [trade(15), trade(16)] });
    expect(socket.ofType("hello").at(-1)).toMatchObject({ last_seq: 10 });
    expect(h.manager.orderGate().ok).toBe(false);
    socket.receive({ type: "events", from: 17, to: 17, events: [trade(17)] });
    expect(h.sink.applied).toEqual([]);
    socket.receive(welcome(17));
    socket.receive({ type: "events", from: 11, to: 17, events: [11, 12, 13, 14, 15, 16, 17].map(trade) });
    expect(h.sink.applied).toEqual([11, 12, 13, 14, 15, 16, 17]);
    expect(h.manager.view.current().phase).toBe("live");
  });

  it("reconnects with backoff and a fresh ticket, then resumes from the last applied seq", async () => {
    const h = harness();
    const first = await goLive(h, 10);
    first.receive({ type: "events", from: 11, to: 11, events: [trade(11)] });
    first.drop();
    const dropped = h.manager.view.current();
    expect(dropped.phase).toBe("reconnecting");
    expect(dropped.attempt).toBe(1);
    expect(dropped.retryAt! - Date.now()).toBeLessThan(250);
    expect(h.manager.orderGate()).toMatchObject({ ok: false, reason: expect.stringContaining("Not connected") });

    await vi.advanceTimersByTimeAsync(249);
    expect(h.tickets.count).toBe(2);
    const second = h.socket();
    expect(second).not.toBe(first);
    second.onopen?.();
    expect(second.ofType("hello")).toEqual([{ v: 1, type: "hello", sim: SIM, last_seq: 11 }]);
    second.receive(welcome(12));
    second.receive({ type: "events", from: 12, to: 12, events: [trade(12)] });
    expect(h.sink.applied).toEqual([11, 12]);
    expect(h.manager.view.current()).toMatchObject({ phase: "live", attempt: 0 });
  });

  it("backs off longer on every failed attempt, never beyond the cap", async () => {
    const h = harness();
    h.tickets.refuse = new ApiError(503, "host_unavailable", "the simulator host is unavailable");
    h.manager.start();
    await settle();
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 7; attempt++) {
      const current = h.manager.view.current();
      expect(current.attempt).toBe(attempt);
      const wait = current.retryAt! - Date.now();
      waits.push(wait);
      await vi.advanceTimersByTimeAsync(wait);
    }
    expect(waits).toEqual([249, 499, 999, 1998, 3996, 4995, 4995]);
  });

  it("blocks orders while the heartbeat is overdue, and reconnects after dead_after_ms of silence", async () => {
    const h = harness();
    const socket = await goLive(h, 10);
    expect(h.manager.orderGate().ok).toBe(true);
    await vi.advanceTimersByTimeAsync(8_000);
    expect(h.manager.orderGate()).toMatchObject({ ok: false, reason: expect.stringContaining("unstable") });
    expect(h.manager.view.current().stale).toBe(true);
    socket.receive({ type: "ping", nonce: 3 });
    expect(socket.ofType("pong")).toEqual([{ v: 1, type: "pong", sim: SIM, nonce: 3 }]);
    expect(h.manager.orderGate().ok).toBe(true);
    await vi.advanceTimersByTimeAsync(13_000);
    expect(socket.closed).toBe(true);
    expect(h.manager.view.current().phase).toBe("reconnecting");
  });

  it("measures the round trip with its own pings: one on going live, then one per heartbeat", async () => {
    const h = harness();
    const socket = await goLive(h, 10);
    const first = socket.ofType("ping")[0]!;
    await vi.advanceTimersByTimeAsync(40);
    socket.receive({ type: "pong", nonce: first.nonce });
    expect(h.manager.view.current().rttMs).toBe(40);
    // The heartbeat runs from the socket's open: the next ping is due 5 s after it.
    await vi.advanceTimersByTimeAsync(4_960);
    const second = socket.ofType("ping")[1]!;
    await vi.advanceTimersByTimeAsync(15);
    socket.receive({ type: "pong", nonce: second.nonce });
    expect(h.manager.view.current().rttMs).toBe(15);
  });

  it("marks an unacknowledged order unknown on a drop, retries it with the same id after resume, and unlocks on its ack", async () => {
    const h = harness();
    const first = await goLive(h, 10);
    expect(h.manager.submitOrder(order("web-1"))).toEqual({ ok: true });
    expect(first.ofType("order")).toHaveLength(1);
    first.drop();
    expect(h.manager.view.current().inFlight).toEqual([{ entry: order("web-1"), state: "unknown" }]);

    await vi.advanceTimersByTimeAsync(250);
    const second = h.socket();
    second.onopen?.();
    second.receive(welcome(11));
    // The order had reached the exchange: its execution report is in the replay.
    second.receive({ type: "events", from: 11, to: 11, events: [trade(11)] });
    const retries = second.ofType("order");
    expect(retries.map((message) => message.order.client_order_id)).toEqual(["web-1"]);
    expect(h.manager.orderGate()).toMatchObject({ ok: false, reason: expect.stringContaining("Reconciling") });
    expect(h.manager.submitOrder(order("web-2")).ok).toBe(false);

    second.receive({
      type: "order_ack",
      client_order_id: "web-1",
      outcome: { status: "accepted", order_id: 7, seq: 11 },
    });
    expect(h.sink.acks).toEqual(["web-1"]);
    expect(h.manager.view.current().inFlight).toEqual([]);
    expect(h.manager.orderGate()).toEqual({ ok: true });
  });

  it("resends orders after a rate limit, with the same client order id", async () => {
    const h = harness();
    const socket = await goLive(h, 10);
    h.manager.submitOrder(order("web-9"));
    socket.receive({
      type: "error",
      code: "rate_limited",
      message: "retry in 20 ms",
      request_id: "web-9",
      retry_after_ms: 20,
    });
    await vi.advanceTimersByTimeAsync(20);
    expect(socket.ofType("order").map((message) => message.order.client_order_id)).toEqual(["web-9", "web-9"]);
  });

  it("stores the last seq with its state, and a new manager resumes from it instead of a snapshot", async () => {
    const storage = memoryStorage();
    const h = harness({}, new RecordingSink(), storage);
    const socket = await goLive(h, 10);
    socket.receive({ type: "events", from: 11, to: 20, events: [trade(20)] });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(JSON.parse(storage.getItem(storageKeys.streamState(SIM))!)).toMatchObject({ seq: 20 });
    h.manager.dispose();

    const again = harness({}, new RecordingSink(), storage);
    expect(again.manager.view.current().lastSeq).toBe(20);
    again.manager.start();
    await settle();
    again.socket().onopen?.();
    expect(again.socket().ofType("hello")).toEqual([{ v: 1, type: "hello", sim: SIM, last_seq: 20 }]);
  });

  it("stops retrying when the session has expired", async () => {
    const h = harness();
    h.tickets.refuse = new ApiError(410, "session_expired", "the session has expired; start a new session");
    h.manager.start();
    await settle();
    expect(h.manager.view.current()).toMatchObject({ phase: "expired", message: expect.stringContaining("expired") });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.tickets.count).toBe(1);
    expect(h.manager.orderGate()).toMatchObject({ ok: false, reason: expect.stringContaining("log in") });
  });

  it("reconnects before the gateway's two-hour limit", async () => {
    const h = harness({ maxConnectionMs: 60_000, heartbeatMs: 100_000, deadAfterMs: 1_000_000 });
    const socket = await goLive(h, 10);
    // Keep the link talking so only the age limit can end it.
    for (let second = 0; second < 59; second++) {
      await vi.advanceTimersByTimeAsync(1_000);
      socket.receive({ type: "ping", nonce: second });
    }
    expect(socket.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(socket.closed).toBe(true);
    expect(h.tickets.count).toBe(2);
  });

  it("waits while the browser is offline and connects as soon as it is back", async () => {
    const listeners: Record<string, () => void> = {};
    let online = true;
    const network: NetworkSignals = {
      online: () => online,
      onOnline: (listener) => ((listeners.online = listener), () => undefined),
      onOffline: (listener) => ((listeners.offline = listener), () => undefined),
      onVisible: (listener) => ((listeners.visible = listener), () => undefined),
    };
    const h = harness({ network });
    const socket = await goLive(h, 10);
    online = false;
    listeners.offline!();
    expect(socket.closed).toBe(true);
    expect(h.manager.view.current().phase).toBe("offline");
    expect(h.manager.orderGate()).toMatchObject({ ok: false, reason: expect.stringContaining("offline") });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(h.tickets.count).toBe(1);
    online = true;
    listeners.online!();
    await settle();
    expect(h.tickets.count).toBe(2);
  });
});
