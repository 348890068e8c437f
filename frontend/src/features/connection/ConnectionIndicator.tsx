import { useEffect, useReducer } from "react";
import { useFrameStore, useFrameStoreSelector } from "@/lib/frame-store";
import type { ConnectionManager, ConnectionView } from "./connection-manager";

type Indicator = { tone: "up" | "warn" | "down" | "muted"; label: string };

/** What the indicator shows: not the seq, which changes every frame. */
const indicatorView = ({ phase, attempt, retryAt, stale, message }: ConnectionView) => ({
  phase,
  attempt,
  retryAt,
  stale,
  message,
});

type IndicatorView = ReturnType<typeof indicatorView>;

export function indicatorFor(view: IndicatorView, now: number): Indicator {
  switch (view.phase) {
    case "live":
      return view.stale ? { tone: "warn", label: "unstable" } : { tone: "up", label: "live" };
    case "syncing":
      return { tone: "warn", label: "syncing" };
    case "connecting":
      return { tone: "warn", label: view.attempt > 0 ? `reconnecting · attempt ${view.attempt}` : "connecting" };
    case "reconnecting": {
      const seconds = view.retryAt === null ? 0 : Math.max(0, (view.retryAt - now) / 1000);
      return { tone: "down", label: `reconnecting · attempt ${view.attempt} in ${seconds.toFixed(1)} s` };
    }
    case "offline":
      return { tone: "down", label: "offline" };
    case "expired":
      return { tone: "down", label: "session expired" };
    case "stopped":
      return { tone: "muted", label: "simulator stopped" };
    case "idle":
      return { tone: "muted", label: "not connected" };
  }
}

/** The header's link state, with "reconnect now" whenever the link is down. */
export function ConnectionIndicator({ manager }: { manager: ConnectionManager }) {
  const view = useFrameStoreSelector(manager.view, indicatorView);
  // The countdown re-renders ten times a second while reconnecting, and reads the clock when it renders.
  const [, tick] = useReducer((count: number) => count + 1, 0);
  useEffect(() => {
    if (view.phase !== "reconnecting") return;
    const timer = window.setInterval(tick, 100);
    return () => window.clearInterval(timer);
  }, [view.phase]);
  const indicator = indicatorFor(view, Date.now());
  const canRetry = view.phase === "reconnecting" || view.phase === "offline" || view.phase === "connecting";
  return (
    <div className="connection" data-testid="connection" data-phase={view.phase}>
      <span className={`dot ${indicator.tone}`} />
      <span className={indicator.tone} data-testid="connection-label">
        {indicator.label}
      </span>
      {canRetry && (
        <button type="button" onClick={() => manager.reconnectNow()}>
          Reconnect now
        </button>
      )}
      {view.message && view.phase !== "live" && <span className="muted message">{view.message}</span>}
    </div>
  );
}

/** The footer: round-trip time and the last applied stream seq. */
export function StreamStatus({ manager }: { manager: ConnectionManager }) {
  const view = useFrameStore(manager.view);
  return (
    <div className="box-slot stream-slot">
      <div className="boxed stream-status" data-testid="stream-status">
        <span>
          RTT <b data-testid="rtt">{view.rttMs === null ? "—" : `${view.rttMs} ms`}</b>
        </span>
        <span>
          seq <b data-testid="seq">{view.lastSeq}</b>
        </span>
        <span>
          speed <b>{view.speed ?? "—"}</b>
        </span>
      </div>
    </div>
  );
}
