import { memo, useState } from "react";
import { SCENARIOS } from "@/lib/sim-config";
import type { Scenario, SimState, Speed } from "@/protocol";

const SPEEDS: Speed[] = ["1x", "2x", "5x", "10x", "100x"];

interface Props {
  simState: SimState | null;
  speed: Speed | null;
  scenario: Scenario;
  canControl: boolean;
  onSpeed: (speed: Speed) => void;
  onStop: () => void;
  onRestart: (scenario: Scenario) => void;
}

/** Pause, speed, scenario (a new simulator: a running market cannot change its scenario) and stop. */
export const SimControls = memo(function SimControls({
  simState,
  speed,
  scenario,
  canControl,
  onSpeed,
  onStop,
  onRestart,
}: Props) {
  const [nextScenario, setNextScenario] = useState<Scenario>(scenario);
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
      <button type="button" className="danger" onClick={onStop}>
        Stop
      </button>
    </div>
  );
});
