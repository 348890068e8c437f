import type { BookLevel, BookSnapshot, EventOf } from "@/protocol";

/** One instrument's L2 book: price -> level, per side. */
export interface Book {
  bids: Map<number, BookLevel>;
  asks: Map<number, BookLevel>;
  lastTradePrice: number | null;
  halted: boolean;
  resumesAtMs: number | null;
}

export function emptyBook(): Book {
  return { bids: new Map(), asks: new Map(), lastTradePrice: null, halted: false, resumesAtMs: null };
}

export function bookFromSnapshot(snapshot: BookSnapshot): Book {
  return {
    bids: new Map(snapshot.bids.map((level) => [level.price, level])),
    asks: new Map(snapshot.asks.map((level) => [level.price, level])),
    lastTradePrice: snapshot.last_trade_price,
    halted: snapshot.status.halted,
    resumesAtMs: snapshot.status.resumes_at_ms,
  };
}

/** Applies one level change in place; quantity 0 removes the level. */
export function applyBookDelta(book: Book, delta: EventOf<"book_delta">): void {
  const side = delta.side === "buy" ? book.bids : book.asks;
  if (delta.qty === 0) side.delete(delta.price);
  else side.set(delta.price, { price: delta.price, qty: delta.qty, orders: delta.orders });
}

export function applyTrade(book: Book, trade: EventOf<"trade">): void {
  book.lastTradePrice = trade.price;
}

/** Levels best first: bids high to low, asks low to high. */
export function sortedLevels(book: Book): { bids: BookLevel[]; asks: BookLevel[] } {
  const bids = [...book.bids.values()].sort((a, b) => b.price - a.price);
  const asks = [...book.asks.values()].sort((a, b) => a.price - b.price);
  return { bids, asks };
}

export function bookToSnapshot(instrument: number, book: Book): BookSnapshot {
  const { bids, asks } = sortedLevels(book);
  return {
    instrument,
    bids,
    asks,
    last_trade_price: book.lastTradePrice,
    status: { instrument, halted: book.halted, resumes_at_ms: book.resumesAtMs },
  };
}
