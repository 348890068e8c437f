import { memo, useState } from "react";
import { SCENARIOS } from "@/lib/sim-config";
import type { Scenario, Speed } from "@/protocol";
import type { LinkInfo, TradingActions } from "./link";

const SPEEDS: Speed[] = ["1x", "2x", "5x", "10x", "100x"];

interface Props {
  link: Pick<LinkInfo, "simState" | "speed" | "live">;
  actions: Pick<TradingActions, "setSpeed" | "stop" | "restart">;
  scenario: Scenario;
}

/** Pause, speed, scenario (a new simulator: a running market cannot change its scenario) and stop. */
export const SimControls = memo(function SimControls({ link, actions, scenario }: Props) {
  const { simState, speed, live: canControl } = link;
  const { setSpeed: onSpeed, stop: onStop, restart: onRestart } = actions;
  const [nextScenario, setNextScenario] = useState<Scenario>(scenario);
  // Stopping ends the market and its orders: it asks once more.
  const [confirmingStop, setConfirmingStop] = useState(false);
  const paused = speed === "paused";
  return (
    <div className="sim-controls" data-testid="sim-controls">
      <span className={`badge ${simState === "running" ? "up" : "muted"}`}>{simState ?? "—"}</span>
      <button type="button" disabled={!canControl} onClick={() => onSpeed(paused ? "1x" : "paused")}>
        {paused ? "▶ Resume" : "❚❚ Pause"}
      </button>
      <select
        aria-label="speed"
        disabled={!canControl}
        value={paused ? "" : (speed ?? "")}
        onChange={(event) => onSpeed(event.target.value as Speed)}
      >
        {paused && <option value="">paused</option>}
        {SPEEDS.map((option) => (
          <option key={option}>{option}</option>
        ))}
      </select>
      <select
        aria-label="scenario"
        value={nextScenario}
        onChange={(event) => setNextScenario(event.target.value as Scenario)}
      >
        {SCENARIOS.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      <button
        type="button"
        disabled={nextScenario === scenario}
        title="Starts a new simulator with this scenario"
        onClick={() => onRestart(nextScenario)}
      >
        New with scenario
      </button>
      {confirmingStop ? (
        <span className="confirm" role="group" aria-label="Stop this simulator?">
          Stop it for good?
          <button type="button" className="danger" onClick={onStop}>
            Yes, stop
          </button>
          <button type="button" onClick={() => setConfirmingStop(false)}>
            No
          </button>
        </span>
      ) : (
        <button type="button" className="danger" onClick={() => setConfirmingStop(true)}>
          Stop
        </button>
      )}
    </div>
  );
});
