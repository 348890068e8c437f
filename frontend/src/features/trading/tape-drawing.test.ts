import { describe, expect, it } from "vitest";
import { PALETTE } from "./palette";
import { RecordingCanvas } from "./recording-canvas";
import { drawTape, TAPE_ROW_HEIGHT } from "./tape-drawing";
import type { TapeTrade } from "./trading-store";

const trade = (seq: number, price: number, aggressor: "buy" | "sell"): TapeTrade => ({
  seq,
  timeMs: seq * 1000,
  price,
  qty: seq,
  aggressor,
});

describe("drawing the tape", () => {
  it("draws the newest trades first, as many as fit, priced in the aggressor's colour", () => {
    const canvas = new RecordingCanvas();
    const trades = [trade(3, 10_002, "buy"), trade(2, 10_001, "sell"), trade(1, 10_000, "buy")];
    drawTape(canvas, trades, { width: 240, height: 2 * TAPE_ROW_HEIGHT }, 2);
    const middle = (row: number) => row * TAPE_ROW_HEIGHT + TAPE_ROW_HEIGHT / 2;
    expect(canvas.row(middle(0))).toEqual(["0:00:03.000", "100.02", "3"]);
    expect(canvas.row(middle(1))).toEqual(["0:00:02.000", "100.01", "2"]);
    expect(canvas.row(middle(2))).toEqual([]);
    expect(canvas.texts.find((entry) => entry.text === "100.02")?.color).toBe(PALETTE.up);
    expect(canvas.texts.find((entry) => entry.text === "100.01")?.color).toBe(PALETTE.down);
  });

  it("draws nothing but a clear canvas without trades", () => {
    const canvas = new RecordingCanvas();
    drawTape(canvas, [], { width: 240, height: 100 }, 2);
    expect(canvas.clears).toBe(1);
    expect(canvas.texts).toEqual([]);
  });
});
