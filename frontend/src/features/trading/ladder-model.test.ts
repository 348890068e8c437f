import { describe, expect, it } from "vitest";
import { rowFromEntry, type OrderRow } from "./blotter";
import { PALETTE } from "./palette";
import { centredScrollTop, drawLadder, ladderModel, priceAt, ROW_HEIGHT, rowsInView } from "./ladder-model";
import { RecordingCanvas } from "./recording-canvas";
import type { BookView } from "./trading-store";

const book: BookView = {
  bids: [
    { price: 9_999, qty: 40, orders: 2 },
    { price: 9_998, qty: 10, orders: 1 },
  ],
  asks: [
    { price: 10_001, qty: 20, orders: 1 },
    { price: 10_003, qty: 5, orders: 1 },
  ],
  lastTradePrice: 10_000,
  halted: false,
  resumesAtMs: null,
};

function restingBuy(id: string, price: number, leavesQty: number, qtyAhead: number | null): OrderRow {
  const row = rowFromEntry({
    instrument: 0,
    client_order_id: id,
    side: "buy",
    qty: leavesQty,
    order_type: { type: "limit", price },
    tif: { type: "gtc" },
    display_qty: null,
    post_only: false,
    stp: "cancel_newest",
  });
  return { ...row, orderId: 1, qtyAhead };
}

describe("the ladder's rows", () => {
  it("spans the book and the user's orders in whole 50-tick blocks, ten ticks of margin at least", () => {
    const model = ladderModel(book, [restingBuy("a", 9_900, 5, 12)], 1);
    // 10,003 + 10 rounds up to 10,050; 9,900 - 10 rounds down to 9,850.
    expect(model.top).toBe(10_050);
    expect(model.rowCount).toBe(10_050 - 9_850 + 1);
    expect(priceAt(model, 50)).toBe(10_000);
    expect(model.mid).toBe(10_000);
    expect(model.maxQty).toBe(40);
    // A level coming or going inside the block leaves the rows where they were.
    const moved = ladderModel({ ...book, asks: [{ price: 10_002, qty: 1, orders: 1 }] }, [], 1);
    expect(moved.top).toBe(10_050);
    expect(ladderModel(undefined, [], 1).rowCount).toBe(0);
  });

  it("adds up the user's orders at a price and keeps the least quantity ahead", () => {
    const model = ladderModel(book, [restingBuy("a", 9_998, 5, 30), restingBuy("b", 9_998, 3, 12)], 1);
    expect(model.mineBuy.get(9_998)).toEqual({ qty: 8, qtyAhead: 12 });
    expect(model.mineSell.size).toBe(0);
  });

  it("centres the spread, within what the viewport can scroll to", () => {
    const model = ladderModel(book, [], 1);
    // The mid (10,000) is row 50: its top edge at 900 px, less half of a 360 px viewport.
    expect(centredScrollTop(model, 360)).toBe(50 * ROW_HEIGHT - 180);
    expect(centredScrollTop(model, 100_000)).toBe(0);
    expect(rowsInView(model, 900, 360)).toEqual({ first: 50, last: 70 });
    expect(rowsInView(model, 900, 360, 6)).toEqual({ first: 44, last: 76 });
  });
});

describe("drawing the ladder", () => {
  it("draws the rows in view with their quantities, prices and the user's orders", () => {
    const model = ladderModel(book, [restingBuy("a", 9_998, 5, 12)], 1);
    const canvas = new RecordingCanvas();
    // Row 51 (9,999) at the top of the view, and the next rows below it.
    const scrollTop = 51 * ROW_HEIGHT;
    drawLadder(canvas, model, { scrollTop, width: 300, height: 3 * ROW_HEIGHT }, 2);
    const middle = (row: number) => row * ROW_HEIGHT + ROW_HEIGHT / 2;
    expect(canvas.row(middle(0))).toEqual(["40", "99.99"]);
    expect(canvas.row(middle(1))).toEqual(["10", "99.98", "5 ·12"]);
    expect(canvas.row(middle(2))).toEqual(["99.97"]);
    const best = canvas.texts.find((entry) => entry.text === "99.99")!;
    expect(best.color).toBe(PALETTE.up);
    expect(best.align).toBe("center");
    // Depth bars: the largest level fills its column; the others in proportion.
    const bars = canvas.rects.filter((rect) => rect.color === PALETTE.bidBar);
    expect(bars.map((bar) => bar.width / bars[0]!.width)).toEqual([1, 0.25]);
  });

  it("marks the last trade and the best ask", () => {
    const model = ladderModel(book, [], 1);
    const canvas = new RecordingCanvas();
    drawLadder(canvas, model, { scrollTop: 49 * ROW_HEIGHT, width: 300, height: 2 * ROW_HEIGHT }, 2);
    expect(canvas.texts.find((entry) => entry.text === "100.01")?.color).toBe(PALETTE.down);
    expect(canvas.texts.find((entry) => entry.text === "100.00")?.color).toBe(PALETTE.text);
    expect(canvas.rects.some((rect) => rect.color === PALETTE.lastTrade && rect.y === ROW_HEIGHT)).toBe(true);
  });
});
