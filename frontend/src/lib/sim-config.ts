import type { Scenario, SimConfig } from "@/protocol";
import { readJson, storageKeys, writeJson, type KeyValueStorage } from "./storage";

export const SCENARIOS: { value: Scenario; label: string }[] = [
  { value: "calm", label: "Calm" },
  { value: "volatile", label: "Volatile" },
  { value: "trending", label: "Trending" },
  { value: "flash_crash", label: "Flash crash" },
  { value: "thin_liquidity", label: "Thin liquidity" },
  { value: "none", label: "No agents" },
];

/**
 * The exchange the SPA starts: one instrument priced in cents, with the engine's documented default account
 * limits (docs/engine.md). The config is sent in full, so the screen knows the tick, lot and limits it validates
 * against.
 */
export function standardConfig(scenario: Scenario): SimConfig {
  return {
    step_ms: 10,
    trading_day_ms: 6 * 3_600_000 + 1_800_000,
    instruments: [
      {
        symbol: "SIM",
        price_decimals: 2,
        tick_size: 1,
        lot_size: 1,
        reference_price: 10_000,
        price_band_bps: 1_000,
        circuit_breaker: scenario === "flash_crash" ? { move_bps: 500, window_ms: 60_000, halt_ms: 30_000 } : null,
      },
    ],
    scenario,
    account: {
      initial_cash: 100_000_000,
      max_order_qty: 10_000,
      max_notional: 50_000_000,
      max_position: 20_000,
      leverage_bps: 20_000,
      maker_fee_ppm: -20,
      taker_fee_ppm: 50,
    },
  };
}

/** The control plane does not hand a simulator's config back, so the SPA keeps the one it started with. */
export function rememberConfig(storage: KeyValueStorage, sim: string, config: SimConfig): void {
  writeJson(storage, storageKeys.simConfig(sim), config);
}

export function recallConfig(storage: KeyValueStorage, sim: string): SimConfig | null {
  return readJson<SimConfig>(storage, storageKeys.simConfig(sim));
}
