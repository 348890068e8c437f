import { memo, useLayoutEffect, useMemo, useRef, useState } from "react";
import { formatPrice } from "@/lib/format";
import { useThrottled } from "@/lib/use-throttled";
import type { Side } from "@/protocol";
import type { OrderRow } from "./blotter";
import { painterFor, useCanvasRelease, useInnerSize } from "./canvas";
import {
  centredScrollTop,
  ladderModel,
  mineText,
  ROW_HEIGHT,
  rowsInView,
  type LadderModel,
  type Mine,
} from "./ladder-model";
import type { BookView } from "./trading-store";

/** Accessible rows beyond the visible ones, so scrolling does not reach rows without click targets at once. */
const OVERSCAN = 6;
/** How often the accessible rows take the book's new figures (the canvas draws every frame). */
const ACCESSIBLE_EVERY_MS = 250;

interface Props {
  book: BookView | undefined;
  orders: OrderRow[];
  tick: number;
  decimals: number;
  onPickPrice: (price: number, side: Side) => void;
}

/**
 * A price ladder with one row per tick. The rows in view are drawn on a canvas every frame; over it lie
 * transparent rows (the same prices, quantities and own orders, taking the book's figures four times a second)
 * that take the clicks and keyboard focus and are what assistive technology reads.
 */
export const Ladder = memo(function Ladder({ book, orders, tick, decimals, onPickPrice }: Props) {
  const viewport = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  useCanvasRelease(canvas);
  const [scrolledTo, setScrolledTo] = useState(0);
  const [follow, setFollow] = useState(true);
  const { width, height } = useInnerSize(viewport);

  const model = useMemo(() => ladderModel(book, orders, tick), [book, orders, tick]);
  // Keep the spread in the middle until the user scrolls away; a move of less than a row is not followed.
  const centred = follow ? centredScrollTop(model, height) : null;
  const scrollTop = centred !== null && Math.abs(centred - scrolledTo) > ROW_HEIGHT ? centred : scrolledTo;

  useLayoutEffect(() => {
    const element = viewport.current;
    if (element && Math.abs(element.scrollTop - scrollTop) >= 1) element.scrollTop = scrollTop;
    if (scrollTop !== scrolledTo) setScrolledTo(scrollTop);
  }, [scrollTop, scrolledTo]);

  useLayoutEffect(() => {
    const target = canvas.current;
    if (target && width > 0 && height > 0)
      painterFor(target)({ kind: "ladder", model, scrollTop, decimals }, width, height);
  }, [model, scrollTop, width, height, decimals]);

  const shown = useThrottled(model, ACCESSIBLE_EVERY_MS);
  const { first, last } = rowsInView(model, scrollTop, height, OVERSCAN);
  const top = model.top;
  const rows = useMemo(() => {
    const list = [];
    for (let index = first; index < last; index++) {
      const price = top - index * tick;
      list.push(
        <LadderRow
          key={price}
          index={index}
          price={price}
          decimals={decimals}
          bid={shown.bids.get(price)}
          ask={shown.asks.get(price)}
          mineBuy={shown.mineBuy.get(price)}
          mineSell={shown.mineSell.get(price)}
          flags={flagsOf(shown, price)}
          onPickPrice={onPickPrice}
        />,
      );
    }
    return list;
  }, [shown, top, tick, first, last, decimals, onPickPrice]);

  return (
    <section className="panel ladder" data-testid="ladder">
      <header>
        <h3>Depth</h3>
        {/* Boxed: a new spread lays out only itself (docs/frontend.md, "Rendering"). */}
        <span className="box-slot">
          <span className="boxed spread muted">
            spread{" "}
            {model.bestBid !== null && model.bestAsk !== null
              ? formatPrice(model.bestAsk - model.bestBid, decimals)
              : "—"}
          </span>
        </span>
        <button
          type="button"
          className={follow ? "toggle on" : "toggle"}
          onClick={() => setFollow(!follow)}
          title="Keep the spread centred"
        >
          {follow ? "following" : "centre"}
        </button>
      </header>
      <div className="ladder-head" aria-hidden="true">
        <span>mine</span>
        <span>bid</span>
        <span>price</span>
        <span>ask</span>
        <span>mine</span>
      </div>
      <div className="ladder-body">
        <canvas className="ladder-canvas" ref={canvas} aria-hidden="true" />
        <div
          className="ladder-viewport"
          ref={viewport}
          onScroll={(event) => setScrolledTo(event.currentTarget.scrollTop)}
          onWheel={() => setFollow(false)}
        >
          {model.rowCount === 0 ? (
            <p className="muted pad">Waiting for the book…</p>
          ) : (
            <div
              className="ladder-rows"
              role="group"
              aria-label="Depth ladder: own quantity, bid, price, ask, own quantity"
              style={{ height: model.rowCount * ROW_HEIGHT }}
            >
              {rows}
            </div>
          )}
        </div>
      </div>
    </section>
  );
});

function flagsOf(model: LadderModel, price: number): string {
  return `${price === model.lastTradePrice ? " last" : ""}${price === model.bestBid ? " best-bid" : ""}${
    price === model.bestAsk ? " best-ask" : ""
  }`;
}

interface RowProps {
  index: number;
  price: number;
  decimals: number;
  bid: number | undefined;
  ask: number | undefined;
  mineBuy: Mine | undefined;
  mineSell: Mine | undefined;
  /** " last", " best-bid", " best-ask" */
  flags: string;
  onPickPrice: (price: number, side: Side) => void;
}

/** One price row's click targets and text (transparent: the canvas underneath shows it). */
const LadderRow = memo(function LadderRow(props: RowProps) {
  const { index, price, decimals, bid, ask, mineBuy, mineSell, flags, onPickPrice } = props;
  const priceText = formatPrice(price, decimals);
  return (
    <div className={`ladder-row${flags}`} style={{ top: index * ROW_HEIGHT }} data-price={price}>
      <MineCell side="buy" mine={mineBuy} />
      <QtyButton side="buy" price={price} priceText={priceText} qty={bid} onPickPrice={onPickPrice} />
      <span className="price">{priceText}</span>
      <QtyButton side="sell" price={price} priceText={priceText} qty={ask} onPickPrice={onPickPrice} />
      <MineCell side="sell" mine={mineSell} />
    </div>
  );
}, sameRow);

interface QtyButtonProps {
  side: Side;
  price: number;
  priceText: string;
  /** The book's quantity on this side at the price. */
  qty: number | undefined;
  onPickPrice: (price: number, side: Side) => void;
}

/** A side's quantity at a price; a click picks the price for an order on that side. */
function QtyButton({ side, price, priceText, qty, onPickPrice }: QtyButtonProps) {
  const [verb, quote] = side === "buy" ? ["Buy", "bid"] : ["Sell", "ask"];
  return (
    <button
      type="button"
      className={`qty ${quote}`}
      aria-label={`${verb} at ${priceText}${qty === undefined ? "" : `, ${quote} ${qty}`}`}
      onClick={() => onPickPrice(price, side)}
    >
      {qty ?? ""}
    </button>
  );
}

/** The user's own quantity at a price, and how much is ahead of it in the queue. */
function MineCell({ side, mine }: { side: Side; mine: Mine | undefined }) {
  const ahead = mine?.qtyAhead ?? null;
  return (
    <span
      className={`mine ${side}`}
      title={mine ? `your ${side} ${mine.qty}${ahead !== null ? `, ${ahead} ahead in the queue` : ""}` : undefined}
    >
      {mineText(mine)}
    </span>
  );
}

const sameMine = (a: Mine | undefined, b: Mine | undefined) =>
  a === b || (a !== undefined && b !== undefined && a.qty === b.qty && a.qtyAhead === b.qtyAhead);

function sameRow(a: RowProps, b: RowProps): boolean {
  return (
    a.index === b.index &&
    a.price === b.price &&
    a.decimals === b.decimals &&
    a.bid === b.bid &&
    a.ask === b.ask &&
    a.flags === b.flags &&
    a.onPickPrice === b.onPickPrice &&
    sameMine(a.mineBuy, b.mineBuy) &&
    sameMine(a.mineSell, b.mineSell)
  );
}
