// The socket worker's entry (see serveSockets in socket-worker.ts and SocketWorker in worker-socket.ts).
import type { SocketLike } from "./connection-manager";
import { serveSockets, type WorkerScope } from "./socket-worker";

serveSockets(self as unknown as WorkerScope, {
  openWebSocket: (url) => new WebSocket(url) as unknown as SocketLike,
  setTimeout: (callback, ms) => setTimeout(callback, ms),
});
