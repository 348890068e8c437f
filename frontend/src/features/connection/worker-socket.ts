import type { SocketLike } from "./connection-manager";

/** What the page asks the socket worker (src/features/connection/socket-worker.ts). */
export type ToWorker =
  { op: "open"; id: number; url: string } | { op: "send"; id: number; data: string } | { op: "close"; id: number };

/** What the socket worker tells the page: `messages` are decoded server messages, in order, batched per frame. */
export type FromWorker =
  | { op: "open"; id: number }
  | { op: "messages"; id: number; messages: unknown[] }
  | { op: "close"; id: number }
  | { op: "error"; id: number };

/** The part of a `Worker` used here, so tests can stand in for it. */
export interface WorkerPort {
  postMessage(message: ToWorker): void;
  onmessage: ((event: { data: FromWorker }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** One socket living in the worker, seen from the page: a `SocketLike` whose messages arrive already decoded. */
class WorkerSocket implements SocketLike {
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(
    private readonly owner: SocketWorker,
    readonly id: number,
  ) {}

  send(data: string): void {
    this.owner.post({ op: "send", id: this.id, data });
  }

  close(): void {
    this.owner.closeSocket(this.id);
  }
}

/**
 * WebSockets opened in a worker: the frames are parsed there and handed to the page in one message per animation
 * frame, so a fast stream costs the page's main thread one task a frame instead of one per frame received. The
 * sequencing stays with the connection manager, on the page, which sees the same messages in the same order
 * (consecutive `events` joined as `FrameBatch` says). If the worker fails, its sockets report an error and `failed`
 * turns true, so callers can open plain WebSockets instead.
 */
export class SocketWorker {
  private readonly sockets = new Map<number, WorkerSocket>();
  private nextId = 1;
  private broken = false;

  constructor(private readonly port: WorkerPort) {
    port.onmessage = (event) => this.receive(event.data);
    port.onerror = () => this.fail();
  }

  get failed(): boolean {
    return this.broken;
  }

  open(url: string): SocketLike {
    const socket = new WorkerSocket(this, this.nextId++);
    this.sockets.set(socket.id, socket);
    this.post({ op: "open", id: socket.id, url });
    return socket;
  }

  /** @internal */
  post(message: ToWorker): void {
    if (!this.broken) this.port.postMessage(message);
  }

  /** @internal */
  closeSocket(id: number): void {
    if (this.sockets.delete(id)) this.post({ op: "close", id });
  }

  private receive(message: FromWorker): void {
    const socket = this.sockets.get(message.id);
    if (!socket) return;
    switch (message.op) {
      case "open":
        socket.onopen?.();
        return;
      case "messages":
        for (const data of message.messages) {
          // A handler may close the socket (a stopped simulator): what follows is no longer for anyone.
          if (this.sockets.get(message.id) !== socket) return;
          socket.onmessage?.({ data });
        }
        return;
      case "error":
        socket.onerror?.();
        return;
      case "close":
        this.sockets.delete(message.id);
        socket.onclose?.();
        return;
    }
  }

  private fail(): void {
    this.broken = true;
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    for (const socket of sockets) socket.onerror?.();
  }
}
