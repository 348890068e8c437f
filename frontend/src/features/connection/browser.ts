import type { NetworkSignals, SocketLike } from "./connection-manager";

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

/** The local gateway's (and API Gateway's) WebSocket: `/ws?sim=&ticket=` on the page's own origin. */
export function openGatewaySocket(sim: string, ticket: string): SocketLike {
  const url = new URL("/ws", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("sim", sim);
  url.searchParams.set("ticket", ticket);
  // A browser WebSocket has every member of SocketLike; its handlers only take an event argument we ignore.
  return new WebSocket(url) as unknown as SocketLike;
}
