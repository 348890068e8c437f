import { formatPrice } from "@/lib/format";
import type { OrderRow } from "./blotter";
import { PALETTE, type Canvas2D } from "./palette";
import type { BookView } from "./trading-store";

export const ROW_HEIGHT = 18;
/** Empty ticks shown beyond the outermost levels. */
const MARGIN_TICKS = 10;
/** The price range grows and shrinks in blocks of this many ticks, so rows keep their places. */
const RANGE_BLOCK_TICKS = 50;
/** At most this many price rows; the ladder draws only the rows in view, but the range stays bounded. */
const MAX_ROWS = 20_000;

/** The user's own working quantity at a price, and the least quantity ahead of it in the queue. */
export interface Mine {
  qty: number;
  qtyAhead: number | null;
}

/** The ladder's rows: one per tick from `top` down, with the book's quantities and the user's orders by price. */
export interface LadderModel {
  tick: number;
  /** The price of row 0. */
  top: number;
  rowCount: number;
  bids: Map<number, number>;
  asks: Map<number, number>;
  mineBuy: Map<number, Mine>;
  mineSell: Map<number, Mine>;
  bestBid: number | null;
  bestAsk: number | null;
  lastTradePrice: number | null;
  /** The spread's middle (or the one side, or the last trade): what the ladder keeps centred. */
  mid: number | null;
  /** The largest level, the full width of a depth bar. */
  maxQty: number;
}

export function ladderModel(book: BookView | undefined, orders: readonly OrderRow[], tick: number): LadderModel {
  const bids = new Map<number, number>();
  const asks = new Map<number, number>();
  let high = -Infinity;
  let low = Infinity;
  let maxQty = 1;
  const see = (price: number) => {
    if (price > high) high = price;
    if (price < low) low = price;
  };
  for (const level of book?.bids ?? []) {
    bids.set(level.price, level.qty);
    see(level.price);
    maxQty = Math.max(maxQty, level.qty);
  }
  for (const level of book?.asks ?? []) {
    asks.set(level.price, level.qty);
    see(level.price);
    maxQty = Math.max(maxQty, level.qty);
  }
  const mineBuy = new Map<number, Mine>();
  const mineSell = new Map<number, Mine>();
  for (const order of orders) {
    if (order.price === null) continue;
    see(order.price);
    const side = order.side === "buy" ? mineBuy : mineSell;
    const at = side.get(order.price) ?? { qty: 0, qtyAhead: null };
    at.qty += order.leavesQty;
    if (order.qtyAhead !== null)
      at.qtyAhead = at.qtyAhead === null ? order.qtyAhead : Math.min(at.qtyAhead, order.qtyAhead);
    side.set(order.price, at);
  }
  const lastTradePrice = book?.lastTradePrice ?? null;
  if (lastTradePrice !== null) see(lastTradePrice);

  const bestBid = book?.bids[0]?.price ?? null;
  const bestAsk = book?.asks[0]?.price ?? null;
  const mid = bestBid !== null && bestAsk !== null ? (bestBid + bestAsk) / 2 : (bestBid ?? bestAsk ?? lastTradePrice);
  const model = { tick, bids, asks, mineBuy, mineSell, bestBid, bestAsk, lastTradePrice, mid, maxQty };
  if (high < low) return { ...model, top: 0, rowCount: 0 };
  // Block edges are on the tick grid, as prices are.
  const block = RANGE_BLOCK_TICKS * tick;
  const top = Math.ceil((high + MARGIN_TICKS * tick) / block) * block;
  const bottom = Math.max(tick, Math.floor((low - MARGIN_TICKS * tick) / block) * block);
  return { ...model, top, rowCount: Math.min(MAX_ROWS, Math.round((top - bottom) / tick) + 1) };
}

export const priceAt = (model: LadderModel, row: number): number => model.top - row * model.tick;

/** The rows at least partly in view, with a few more on each side for the accessible rows. */
export function rowsInView(model: LadderModel, scrollTop: number, height: number, overscan = 0) {
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - overscan);
  const last = Math.min(model.rowCount, Math.ceil((scrollTop + height) / ROW_HEIGHT) + overscan);
  return { first, last };
}

/** Where to scroll to keep the spread in the middle of a viewport this high; null without a book. */
export function centredScrollTop(model: LadderModel, height: number): number | null {
  if (model.mid === null || model.rowCount === 0) return null;
  const row = (model.top - model.mid) / model.tick;
  const furthest = Math.max(0, model.rowCount * ROW_HEIGHT - height);
  return Math.round(Math.min(furthest, Math.max(0, row * ROW_HEIGHT - height / 2)));
}

/** The columns, left to right: mine (buy), bid, price, ask, mine (sell); as the header's grid lays them out. */
export function ladderColumns(width: number) {
  const padding = 4;
  const mine = 52;
  const price = 70;
  const quantity = Math.max(0, (width - 2 * padding - 2 * mine - price) / 2);
  const mineBuy = padding;
  const bid = mineBuy + mine;
  const priceAtX = bid + quantity;
  const ask = priceAtX + price;
  const mineSell = ask + quantity;
  return { mine, price, quantity, mineBuy, bid, priceAt: priceAtX, ask, mineSell };
}

export function mineText(mine: Mine | undefined): string {
  if (!mine) return "";
  return mine.qtyAhead === null ? `${mine.qty}` : `${mine.qty} ·${mine.qtyAhead}`;
}

const FONT = `11px ${PALETTE.mono}`;
const SMALL_FONT = `10px ${PALETTE.mono}`;

/**
 * Draws the rows in view of a ladder scrolled to `scrollTop`: depth bars, quantities, prices (the best bid, best
 * ask and last trade marked) and the user's own quantity with what is ahead of it. One canvas instead of a DOM row
 * per price: a frame of a fast book repaints one bitmap and lays out nothing.
 */
export function drawLadder(
  context: Canvas2D,
  model: LadderModel,
  view: { scrollTop: number; width: number; height: number },
  decimals: number,
): void {
  context.clearRect(0, 0, view.width, view.height);
  const columns = ladderColumns(view.width);
  const { first, last } = rowsInView(model, view.scrollTop, view.height);
  context.textBaseline = "middle";
  for (let row = first; row < last; row++) {
    const price = priceAt(model, row);
    const y = row * ROW_HEIGHT - view.scrollTop;
    const middle = y + ROW_HEIGHT / 2;
    const bid = model.bids.get(price);
    const ask = model.asks.get(price);
    if (price === model.lastTradePrice) {
      context.fillStyle = PALETTE.lastTrade;
      context.fillRect(columns.priceAt, y, columns.price, ROW_HEIGHT);
    }
    context.font = FONT;
    if (bid !== undefined) {
      const bar = (bid / model.maxQty) * columns.quantity;
      context.fillStyle = PALETTE.bidBar;
      context.fillRect(columns.priceAt - bar, y + 2, bar, ROW_HEIGHT - 4);
      context.fillStyle = PALETTE.up;
      context.textAlign = "right";
      context.fillText(String(bid), columns.priceAt - 4, middle);
    }
    if (ask !== undefined) {
      const bar = (ask / model.maxQty) * columns.quantity;
      context.fillStyle = PALETTE.askBar;
      context.fillRect(columns.ask, y + 2, bar, ROW_HEIGHT - 4);
      context.fillStyle = PALETTE.down;
      context.textAlign = "left";
      context.fillText(String(ask), columns.ask + 4, middle);
    }
    context.fillStyle =
      price === model.bestBid
        ? PALETTE.up
        : price === model.bestAsk
          ? PALETTE.down
          : price === model.lastTradePrice
            ? PALETTE.text
            : PALETTE.muted;
    context.textAlign = "center";
    context.fillText(formatPrice(price, decimals), columns.priceAt + columns.price / 2, middle);
    const buy = model.mineBuy.get(price);
    const sell = model.mineSell.get(price);
    if (buy || sell) {
      context.font = SMALL_FONT;
      context.fillStyle = PALETTE.warn;
      if (buy) context.fillText(mineText(buy), columns.mineBuy + columns.mine / 2, middle);
      if (sell) context.fillText(mineText(sell), columns.mineSell + columns.mine / 2, middle);
    }
  }
}
