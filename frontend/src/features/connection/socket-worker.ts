import { decodeServerMessage } from "@/protocol";
import type { SocketLike } from "./connection-manager";
import { FrameBatch } from "./frame-batch";
import type { FromWorker, ToWorker } from "./worker-socket";

/** The worker's side of the channel to the page. */
export interface WorkerScope {
  onmessage: ((event: { data: ToWorker }) => void) | null;
  postMessage(message: FromWorker): void;
}

export interface WorkerEnvironment {
  openWebSocket: (url: string) => SocketLike;
  setTimeout: (callback: () => void, ms: number) => unknown;
}

/** About one display frame: the page renders at most once per frame anyway. */
export const FRAME_MS = 16;

/**
 * The socket worker's logic (the worker itself is stream.worker.ts; the page's side is SocketWorker): owns the
 * stream WebSockets, parses every frame, and posts market data once per frame. Any other message (a welcome, a
 * snapshot chunk, an ack, a ping, an error) goes at once, after what arrived before it; so do a close and an error.
 */
export function serveSockets(scope: WorkerScope, environment: WorkerEnvironment): void {
  interface Open {
    socket: SocketLike;
    batch: FrameBatch;
  }
  const open = new Map<number, Open>();
  let flushPending = false;

  const flush = (id: number, entry: Open) => {
    if (entry.batch.size > 0) scope.postMessage({ op: "messages", id, messages: entry.batch.take() });
  };
  const flushAll = () => {
    flushPending = false;
    for (const [id, entry] of open) flush(id, entry);
  };

  const connect = (id: number, url: string) => {
    const socket = environment.openWebSocket(url);
    const entry: Open = { socket, batch: new FrameBatch() };
    open.set(id, entry);
    socket.onopen = () => scope.postMessage({ op: "open", id });
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      const message = decodeServerMessage(event.data);
      if (!message) return;
      entry.batch.add(message);
      if (message.type !== "events") flush(id, entry);
      else if (!flushPending) {
        flushPending = true;
        environment.setTimeout(flushAll, FRAME_MS);
      }
    };
    socket.onerror = () => {
      if (open.get(id) !== entry) return;
      flush(id, entry);
      scope.postMessage({ op: "error", id });
    };
    socket.onclose = () => {
      if (open.get(id) !== entry) return;
      flush(id, entry);
      open.delete(id);
      scope.postMessage({ op: "close", id });
    };
  };

  scope.onmessage = ({ data }) => {
    switch (data.op) {
      case "open":
        connect(data.id, data.url);
        return;
      case "send":
        open.get(data.id)?.socket.send(data.data);
        return;
      case "close": {
        const entry = open.get(data.id);
        if (!entry) return;
        open.delete(data.id);
        entry.socket.close();
        return;
      }
    }
  };
}
