import { ApiError, SESSION_GONE_CODES, SIGNED_OUT_CODES } from "@/lib/api-client";
import { Timer, type Clock } from "@/lib/clock";
import { FrameStore, type FrameScheduler } from "@/lib/frame-store";
import { readJson, storageKeys, writeJson, type KeyValueStorage } from "@/lib/storage";
import type { StreamSink } from "@/lib/stream-sink";
import {
  asServerMessage,
  decodeServerMessage,
  encodeClientMessage,
  type ClientMessage,
  type EngineView,
  type OrderEntry,
  type ServerMessage,
  type SimState,
  type Speed,
} from "@/protocol";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff";

/**
 * The part of a browser WebSocket the manager uses. A message's `data` is a text frame, or a frame already decoded
 * (the socket worker parses frames off the main thread and hands them over as objects).
 */
export interface SocketLike {
  send(data: string): void;
  close(): void;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: (() => void) | null;
  onerror: (() => void) | null;
}

/** Browser network and visibility signals; each `on...` returns its unsubscribe. */
export interface NetworkSignals {
  online(): boolean;
  onOnline(listener: () => void): () => void;
  onOffline(listener: () => void): () => void;
  onVisible(listener: () => void): () => void;
}

export type Phase =
  | "idle"
  | "connecting" // fetching a ticket and opening the socket
  | "syncing" // hello sent; waiting for the welcome and its replay or snapshot
  | "live"
  | "reconnecting" // waiting out the backoff before the next attempt
  | "offline" // the browser says there is no network
  | "expired" // the sign-in or the session is gone: log in again
  | "stopped"; // the simulator is stopped: start another

export interface InFlightOrder {
  entry: OrderEntry;
  /** `sending`: on its way on a live link; `unknown`: the link dropped before its ack, to be settled on resume. */
  state: "sending" | "unknown";
}

export interface ConnectionView {
  phase: Phase;
  /** Reconnect attempts since the link was last live. */
  attempt: number;
  /** When the next attempt starts (clock ms), while reconnecting. */
  retryAt: number | null;
  lastSeq: number;
  rttMs: number | null;
  /** Live, but nothing heard for longer than the heartbeat allows. */
  stale: boolean;
  simState: SimState | null;
  speed: Speed | null;
  inFlight: InFlightOrder[];
  /** What went wrong last and what to do, for people. */
  message: string | null;
}

export type Gate = { ok: true } | { ok: false; reason: string };

export interface ConnectionOptions {
  sim: string;
  sink: StreamSink;
  clock: Clock;
  random: () => number;
  storage: KeyValueStorage;
  /** A fresh single-use connect ticket; throws an ApiError when the control plane refuses. */
  fetchTicket: (sim: string) => Promise<string>;
  openSocket: (sim: string, ticket: string) => SocketLike;
  network?: NetworkSignals;
  schedule?: FrameScheduler;
  backoff?: BackoffPolicy;
  /** API Gateway closes a WebSocket after 2 hours; reconnect (and resume) before that. */
  maxConnectionMs?: number;
  /** Heartbeat settings until the welcome brings the server's. */
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** How often the last applied seq and state are written to storage. */
  persistEveryMs?: number;
}

const TWO_HOURS_MINUS_FIVE_MINUTES = (120 - 5) * 60_000;
const LIVENESS_CHECK_MS = 1_000;

interface StoredStream {
  seq: number;
  state: unknown;
}

/**
 * One simulator's stream, outside React: connect with a fresh ticket, say hello with the last applied seq, apply
 * the replay or snapshot, keep the heartbeat, reconnect with full-jitter backoff, and gate order entry. Everything
 * that changes reaches the UI through `view`, at most once per animation frame.
 */
export class ConnectionManager {
  readonly view: FrameStore<ConnectionView>;

  private socket: SocketLike | null = null;
  private phase: Phase = "idle";
  private attempt = 0;
  private retryAt: number | null = null;
  private lastApplied = 0;
  /** The welcome's seq: the link is caught up once `lastApplied` reaches it. */
  private catchUpTo = 0;
  private awaitingWelcome = false;
  private snapshotChunks: string[] = [];
  private lastFrameAt = 0;
  private heartbeatMs: number;
  private deadAfterMs: number;
  private rttMs: number | null = null;
  private nextNonce = 1;
  private readonly pingsSent = new Map<number, number>();
  private simState: SimState | null = null;
  private speed: Speed | null = null;
  private readonly inFlight = new Map<string, InFlightOrder>();
  /** The published copy of `inFlight`, rebuilt only when it changes so the screen can skip re-rendering. */
  private inFlightView: InFlightOrder[] = [];
  private message: string | null = null;
  private stale = false;

  private readonly retryTimer: Timer;
  private readonly pingTimer: Timer;
  private readonly livenessTimer: Timer;
  private readonly maxAgeTimer: Timer;
  private readonly persistTimer: Timer;
  private readonly orderRetryTimer: Timer;
  private readonly unsubscribers: (() => void)[] = [];

  constructor(private readonly options: ConnectionOptions) {
    const { clock } = options;
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
    this.deadAfterMs = options.deadAfterMs ?? 12_000;
    this.retryTimer = new Timer(clock);
    this.pingTimer = new Timer(clock);
    this.livenessTimer = new Timer(clock);
    this.maxAgeTimer = new Timer(clock);
    this.persistTimer = new Timer(clock);
    this.orderRetryTimer = new Timer(clock);
    this.view = new FrameStore(this.snapshotView(), options.schedule);
    this.restoreStoredState();
  }

  /** Starts connecting and listening to the network signals. */
  start(): void {
    const { network } = this.options;
    if (network) {
      this.unsubscribers.push(
        network.onOffline(() => this.goOffline()),
        network.onOnline(() => this.reconnectNow()),
        network.onVisible(() => this.onVisible()),
      );
      if (!network.online()) {
        this.goOffline();
        return;
      }
    }
    void this.connect();
  }

  /** Closes everything for good (the page is leaving this simulator). */
  dispose(): void {
    this.persistNow();
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.closeSocket();
    this.retryTimer.cancel();
    this.persistTimer.cancel();
    this.orderRetryTimer.cancel();
    this.setPhase("idle");
  }

  /** Skips the backoff wait (the "reconnect now" button, the browser coming back online). */
  reconnectNow(): void {
    if (this.phase === "expired" || this.phase === "stopped") return;
    if (this.phase === "live" || this.phase === "syncing" || this.phase === "connecting") return;
    this.retryTimer.cancel();
    void this.connect();
  }

  /** Whether an order may be sent now, and if not, why. */
  orderGate(): Gate {
    switch (this.phase) {
      case "live":
        break;
      case "syncing":
        return { ok: false, reason: "Catching up with the simulator; order entry opens once the stream is in sync." };
      case "connecting":
      case "reconnecting":
      case "idle":
        return { ok: false, reason: "Not connected to the simulator; orders open again once the link is back." };
      case "offline":
        return { ok: false, reason: "Your browser is offline; the blotter shows the last known state." };
      case "expired":
        return { ok: false, reason: "Your session has expired; log in again." };
      case "stopped":
        return { ok: false, reason: "This simulator is stopped; start a new one from the home page." };
    }
    if (this.isStale()) {
      return { ok: false, reason: "The link is unstable (no heartbeat); orders are blocked until it recovers." };
    }
    if ([...this.inFlight.values()].some((order) => order.state === "unknown")) {
      return { ok: false, reason: "Reconciling orders sent before the link dropped; wait for their outcome." };
    }
    return { ok: true };
  }

  /** Sends a new order if the gate allows it; it is retried with the same client order id until its ack. */
  submitOrder(entry: OrderEntry): Gate {
    const gate = this.orderGate();
    if (!gate.ok) return gate;
    this.inFlight.set(entry.client_order_id, { entry, state: "sending" });
    this.inFlightChanged();
    this.send({ type: "order", sim: this.options.sim, order: entry });
    this.publish();
    return gate;
  }

  /** Cancels, amends and speed changes: sent only on a live link (they have no idempotency key). */
  request(message: ClientMessage): Gate {
    // A speed change is not an order: it needs the link up, not a fresh heartbeat or settled orders.
    const gate: Gate = message.type === "set_speed" && this.phase === "live" ? { ok: true } : this.orderGate();
    if (gate.ok) this.send(message);
    return gate;
  }

  /** Writes the last applied seq with the state it describes (also called when the page is hidden or closed). */
  persistNow(): void {
    this.persistTimer.cancel();
    if (this.lastApplied === 0) return;
    const stored: StoredStream = { seq: this.lastApplied, state: this.options.sink.persist() };
    writeJson(this.options.storage, storageKeys.streamState(this.options.sim), stored);
  }

  // ---- the link ----

  private async connect(): Promise<void> {
    this.closeSocket();
    this.retryAt = null;
    this.setPhase("connecting");
    let ticket: string;
    try {
      ticket = await this.options.fetchTicket(this.options.sim);
    } catch (error) {
      if (this.phase !== "connecting") return;
      this.ticketRefused(error);
      return;
    }
    if (this.phase !== "connecting") return;
    const socket = this.options.openSocket(this.options.sim, ticket);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.lastFrameAt = this.options.clock.now();
      this.sayHello();
      this.armHeartbeat();
      this.maxAgeTimer.arm(this.options.maxConnectionMs ?? TWO_HOURS_MINUS_FIVE_MINUTES, () => {
        this.dropLink("Refreshing the connection before the gateway's 2-hour limit.", true);
      });
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      const message = typeof event.data === "string" ? decodeServerMessage(event.data) : asServerMessage(event.data);
      if (message) this.handle(message);
    };
    socket.onclose = () => {
      if (this.socket === socket) this.dropLink("The connection closed.");
    };
    socket.onerror = () => {
      if (this.socket === socket) this.dropLink("The connection failed.");
    };
  }

  private ticketRefused(error: unknown): void {
    if (error instanceof ApiError && (SIGNED_OUT_CODES.has(error.code) || SESSION_GONE_CODES.has(error.code))) {
      this.message = error.message;
      this.setPhase("expired");
      return;
    }
    if (error instanceof ApiError && (error.code === "simulator_stopped" || error.code === "not_found")) {
      this.message = "This simulator is stopped; start a new one from the home page.";
      this.setPhase("stopped");
      return;
    }
    this.scheduleRetry(error instanceof Error ? error.message : "Could not get a connect ticket.");
  }

  private sayHello(): void {
    this.awaitingWelcome = true;
    this.snapshotChunks = [];
    this.setPhase("syncing");
    this.send({ type: "hello", sim: this.options.sim, last_seq: this.lastApplied });
  }

  /** The link is gone: orders without an ack become unknown, and the next attempt is scheduled. */
  private dropLink(reason: string, immediately = false): void {
    this.closeSocket();
    this.markInFlightUnknown();
    this.persistNow();
    if (immediately) {
      this.message = reason;
      void this.connect();
    } else {
      this.scheduleRetry(reason);
    }
  }

  private scheduleRetry(reason: string): void {
    if (this.phase === "offline" || this.phase === "expired" || this.phase === "stopped") return;
    this.attempt += 1;
    const delay = backoffDelay(this.attempt, this.options.random, this.options.backoff ?? DEFAULT_BACKOFF);
    this.retryAt = this.options.clock.now() + delay;
    this.message = reason;
    this.setPhase("reconnecting");
    this.retryTimer.arm(delay, () => void this.connect());
  }

  private goOffline(): void {
    this.closeSocket();
    this.retryTimer.cancel();
    this.markInFlightUnknown();
    this.retryAt = null;
    this.message = "Your browser is offline; reconnecting when the network returns.";
    this.setPhase("offline");
  }

  private onVisible(): void {
    if (this.phase === "live") this.ping();
    else if (this.phase === "reconnecting") this.reconnectNow();
  }

  private closeSocket(): void {
    const socket = this.socket;
    this.socket = null;
    this.pingTimer.cancel();
    this.livenessTimer.cancel();
    this.maxAgeTimer.cancel();
    this.orderRetryTimer.cancel();
    this.pingsSent.clear();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    }
  }

  private send(message: ClientMessage): void {
    this.socket?.send(encodeClientMessage(message));
  }

  // ---- heartbeat ----

  private armHeartbeat(): void {
    this.pingTimer.arm(this.heartbeatMs, () => {
      this.ping();
      this.armHeartbeat();
    });
    this.armLivenessCheck();
  }

  private armLivenessCheck(): void {
    this.livenessTimer.arm(LIVENESS_CHECK_MS, () => {
      const silent = this.options.clock.now() - this.lastFrameAt;
      if (silent > this.deadAfterMs) {
        this.dropLink(`No heartbeat for ${Math.round(silent / 1000)} s; reconnecting.`);
        return;
      }
      if (this.isStale() !== this.stale) this.publish();
      this.armLivenessCheck();
    });
  }

  private ping(): void {
    const nonce = this.nextNonce++;
    this.pingsSent.set(nonce, this.options.clock.now());
    this.send({ type: "ping", sim: this.options.sim, nonce });
  }

  private isStale(): boolean {
    return this.options.clock.now() - this.lastFrameAt > this.heartbeatMs * 1.5;
  }

  // ---- server messages ----

  private handle(message: ServerMessage): void {
    this.lastFrameAt = this.options.clock.now();
    switch (message.type) {
      case "welcome":
        this.awaitingWelcome = false;
        this.heartbeatMs = message.heartbeat_ms;
        this.deadAfterMs = message.dead_after_ms;
        this.simState = message.state;
        this.speed = message.speed;
        this.catchUpTo = message.seq;
        if (message.resume === "replay" && this.lastApplied >= message.seq) this.caughtUp();
        else this.publish();
        return;
      case "events":
        this.onEvents(message);
        return;
      case "snapshot":
        this.onSnapshotChunk(message);
        return;
      case "order_ack":
        if (this.inFlight.delete(message.client_order_id)) this.inFlightChanged();
        this.options.sink.orderAck(message.client_order_id, message.outcome);
        this.publish();
        return;
      case "status":
        this.simState = message.state;
        this.speed = message.speed;
        if (message.state === "stopped") {
          this.closeSocket();
          this.message = "This simulator was stopped; start a new one from the home page.";
          this.setPhase("stopped");
        } else {
          this.publish();
        }
        return;
      case "error":
        this.onError(message);
        return;
      case "ping":
        this.send({ type: "pong", sim: this.options.sim, nonce: message.nonce });
        this.publish();
        return;
      case "pong": {
        const sentAt = this.pingsSent.get(message.nonce);
        if (sentAt !== undefined) {
          this.pingsSent.delete(message.nonce);
          this.rttMs = this.options.clock.now() - sentAt;
        }
        this.publish();
        return;
      }
    }
  }

  private onEvents(message: Extract<ServerMessage, { type: "events" }>): void {
    // Between hello and welcome the server may still deliver what it queued before; the replay covers it.
    if (this.awaitingWelcome || message.to <= this.lastApplied) return;
    if (message.from > this.lastApplied + 1) {
      this.message = `Missed events ${this.lastApplied + 1}–${message.from - 1}; resyncing.`;
      this.sayHello();
      return;
    }
    const fresh = message.events.filter((event) => event.seq > this.lastApplied);
    this.options.sink.apply(fresh, message.books ?? []);
    this.lastApplied = message.to;
    this.schedulePersist();
    if (this.phase === "syncing" && this.lastApplied >= this.catchUpTo) this.caughtUp();
    else this.publish();
  }

  private onSnapshotChunk(message: Extract<ServerMessage, { type: "snapshot" }>): void {
    if (this.awaitingWelcome) return;
    if (message.chunk === 0) this.snapshotChunks = [];
    this.snapshotChunks.push(message.data);
    if (this.snapshotChunks.length < message.chunks) return;
    let view: EngineView;
    try {
      view = JSON.parse(this.snapshotChunks.join("")) as EngineView;
    } catch {
      this.message = "A snapshot arrived damaged; asking for it again.";
      this.sayHello();
      return;
    }
    this.snapshotChunks = [];
    this.options.sink.reset(view);
    this.lastApplied = message.seq;
    this.persistNow();
    this.caughtUp();
  }

  private onError(message: Extract<ServerMessage, { type: "error" }>): void {
    this.message = message.message;
    const retryAfter = message.retry_after_ms ?? 1_000;
    if (message.code === "rate_limited" || message.code === "journal_unavailable") {
      // Resending orders is safe: the same client order id never makes a second order.
      this.orderRetryTimer.arm(retryAfter, () => this.resendInFlight());
    } else if (message.code === "unavailable") {
      this.closeSocket();
      this.markInFlightUnknown();
      this.scheduleRetry(message.message);
      return;
    }
    this.publish();
  }

  /** In sync with the server: open and retry the orders whose outcome is unknown, by their client order ids. */
  private caughtUp(): void {
    this.attempt = 0;
    this.retryAt = null;
    this.message = null;
    this.setPhase("live");
    this.resendInFlight();
    // A first round trip at once, rather than after a whole heartbeat interval.
    this.ping();
  }

  private markInFlightUnknown(): void {
    for (const order of this.inFlight.values()) order.state = "unknown";
    this.inFlightChanged();
  }

  private inFlightChanged(): void {
    this.inFlightView = [...this.inFlight.values()].map((order) => ({ ...order }));
  }

  private resendInFlight(): void {
    for (const order of this.inFlight.values()) {
      this.send({ type: "order", sim: this.options.sim, order: order.entry });
    }
  }

  // ---- storage and publication ----

  private restoreStoredState(): void {
    const stored = readJson<StoredStream>(this.options.storage, storageKeys.streamState(this.options.sim));
    if (stored && typeof stored.seq === "number" && stored.seq > 0 && this.options.sink.restore(stored.state)) {
      this.lastApplied = stored.seq;
      this.publish();
    }
  }

  private schedulePersist(): void {
    if (!this.persistTimer.armed) this.persistTimer.arm(this.options.persistEveryMs ?? 1_000, () => this.persistNow());
  }

  private setPhase(phase: Phase): void {
    this.phase = phase;
    this.publish();
  }

  private publish(): void {
    this.stale = this.phase === "live" && this.isStale();
    this.view.set(this.snapshotView());
  }

  private snapshotView(): ConnectionView {
    return {
      phase: this.phase,
      attempt: this.attempt,
      retryAt: this.retryAt,
      lastSeq: this.lastApplied,
      rttMs: this.rttMs,
      stale: this.stale,
      simState: this.simState,
      speed: this.speed,
      inFlight: this.inFlightView,
      message: this.message,
    };
  }
}
