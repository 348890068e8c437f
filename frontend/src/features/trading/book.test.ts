import { describe, expect, it } from "vitest";
import type { EventOf } from "@/protocol";
import { applyBookDelta, applyTrade, bookFromSnapshot, bookToSnapshot, emptyBook, sortedLevels } from "./book";

function delta(side: "buy" | "sell", price: number, qty: number, orders = 1): EventOf<"book_delta"> {
  return { seq: 1, time_ms: 0, type: "book_delta", instrument: 0, side, price, qty, orders };
}

describe("book reducer", () => {
  it("adds, changes and removes levels, and sorts each side best first", () => {
    const book = emptyBook();
    applyBookDelta(book, delta("buy", 9_990, 5));
    applyBookDelta(book, delta("buy", 9_995, 3));
    applyBookDelta(book, delta("sell", 10_010, 7));
    applyBookDelta(book, delta("sell", 10_005, 2));
    applyBookDelta(book, delta("buy", 9_990, 8, 2));
    applyBookDelta(book, delta("sell", 10_010, 0, 0));
    expect(sortedLevels(book)).toEqual({
      bids: [
        { price: 9_995, qty: 3, orders: 1 },
        { price: 9_990, qty: 8, orders: 2 },
      ],
      asks: [{ price: 10_005, qty: 2, orders: 1 }],
    });
  });

  it("round-trips through a snapshot, with the last trade and the halt", () => {
    const book = bookFromSnapshot({
      instrument: 2,
      bids: [{ price: 100, qty: 1, orders: 1 }],
      asks: [{ price: 101, qty: 4, orders: 2 }],
      last_trade_price: 100,
      status: { instrument: 2, halted: true, resumes_at_ms: 500 },
    });
    applyTrade(book, {
      seq: 2,
      time_ms: 0,
      type: "trade",
      trade_id: 1,
      instrument: 2,
      price: 101,
      qty: 1,
      aggressor: "buy",
    });
    expect(bookToSnapshot(2, book)).toEqual({
      instrument: 2,
      bids: [{ price: 100, qty: 1, orders: 1 }],
      asks: [{ price: 101, qty: 4, orders: 2 }],
      last_trade_price: 101,
      status: { instrument: 2, halted: true, resumes_at_ms: 500 },
    });
  });
});
