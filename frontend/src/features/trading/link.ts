import type { OrderEntry, Scenario, SimState, Speed } from "@/protocol";
import type { OrderRow } from "./blotter";

export interface InFlight {
  entry: OrderEntry;
  state: "sending" | "unknown";
}

/** What the screen needs to know about the link: what it may do now, and what it shows as unsettled or stale. */
export interface LinkInfo {
  gate: { ok: boolean; reason?: string };
  inFlight: InFlight[];
  /** Not live: what is shown is the last known state. */
  stale: boolean;
  live: boolean;
  simState: SimState | null;
  speed: Speed | null;
}

/** What the screen can ask of the simulator: orders, cancels and amends, and the simulator controls. */
export interface TradingActions {
  submit: (entry: OrderEntry) => void;
  cancel: (row: OrderRow) => void;
  /** Cancels every working order (a mass cancel). */
  cancelAll: () => void;
  amend: (row: OrderRow, qty: number | null, price: number | null) => void;
  setSpeed: (speed: Speed) => void;
  stop: () => void;
  restart: (scenario: Scenario) => void;
}
