import type { NetworkSignals, SocketLike } from "./connection-manager";
import { SocketWorker, type WorkerPort } from "./worker-socket";

export const browserNetwork: NetworkSignals = {
  online: () => navigator.onLine,
  onOnline(listener) {
    window.addEventListener("online", listener);
    return () => window.removeEventListener("online", listener);
  },
  onOffline(listener) {
    window.addEventListener("offline", listener);
    return () => window.removeEventListener("offline", listener);
  },
  onVisible(listener) {
    const onChange = () => {
      if (document.visibilityState === "visible") listener();
    };
    document.addEventListener("visibilitychange", onChange);
    return () => document.removeEventListener("visibilitychange", onChange);
  },
};

let socketWorker: SocketWorker | null = null;

/** The page's socket worker, started on first use; null where workers are missing or the last one failed. */
function streamWorker(): SocketWorker | null {
  if (socketWorker?.failed) return null;
  if (!socketWorker && typeof Worker === "function") {
    try {
      const worker = new Worker(new URL("./stream.worker.ts", import.meta.url), { type: "module", name: "stream" });
      socketWorker = new SocketWorker(worker as unknown as WorkerPort);
    } catch {
      return null;
    }
  }
  return socketWorker;
}

/**
 * The local gateway's (and API Gateway's) WebSocket: `/ws?sim=&ticket=` on the page's own origin, opened in the
 * socket worker (frames decoded off the main thread, handed over once per frame) or, without one, on the page.
 */
export function openGatewaySocket(sim: string, ticket: string): SocketLike {
  const url = new URL("/ws", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("sim", sim);
  url.searchParams.set("ticket", ticket);
  const worker = streamWorker();
  if (worker) return worker.open(url.href);
  // A browser WebSocket has every member of SocketLike; its handlers only take an event argument we ignore.
  return new WebSocket(url) as unknown as SocketLike;
}
