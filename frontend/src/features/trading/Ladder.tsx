import { memo, useEffect, useMemo, useRef, useState } from "react";
import { formatPrice } from "@/lib/format";
import type { Side } from "@/protocol";
import type { OrderRow } from "./blotter";
import type { BookView } from "./trading-store";

const ROW_HEIGHT = 18;
/** Rows drawn beyond the visible ones, so fast scrolling does not show blanks. */
const OVERSCAN = 6;
/** Empty ticks shown beyond the outermost levels. */
const MARGIN_TICKS = 10;
/** The price range grows and shrinks in blocks of this many ticks. */
const RANGE_BLOCK_TICKS = 50;
/** At most this many price rows; the ladder is virtualized, but the range stays bounded. */
const MAX_ROWS = 20_000;

interface Props {
  book: BookView | undefined;
  orders: OrderRow[];
  tick: number;
  decimals: number;
  onPickPrice: (price: number, side: Side) => void;
}

interface Mine {
  qty: number;
  qtyAhead: number | null;
}

/** A price ladder with one row per tick, virtualized: only the rows in view are in the DOM. */
export const Ladder = memo(function Ladder({ book, orders, tick, decimals, onPickPrice }: Props) {
  const viewport = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const [follow, setFollow] = useState(true);

  const bids = useMemo(() => new Map(book?.bids.map((level) => [level.price, level])), [book]);
  const asks = useMemo(() => new Map(book?.asks.map((level) => [level.price, level])), [book]);
  const mine = useMemo(() => {
    const bySide = { buy: new Map<number, Mine>(), sell: new Map<number, Mine>() };
    for (const order of orders) {
      if (order.price === null) continue;
      const side = bySide[order.side];
      const at = side.get(order.price) ?? { qty: 0, qtyAhead: null };
      at.qty += order.leavesQty;
      if (order.qtyAhead !== null)
        at.qtyAhead = at.qtyAhead === null ? order.qtyAhead : Math.min(at.qtyAhead, order.qtyAhead);
      side.set(order.price, at);
    }
    return bySide;
  }, [orders]);

  const prices = [
    ...bids.keys(),
    ...asks.keys(),
    ...orders.flatMap((order) => (order.price === null ? [] : [order.price])),
  ];
  if (book?.lastTradePrice) prices.push(book.lastTradePrice);
  // The range moves in whole blocks, so rows keep their places (and the DOM its nodes) while levels at the book's
  // edges come and go; prices are on the tick grid, and so are the block edges.
  const block = RANGE_BLOCK_TICKS * tick;
  const top = prices.length ? Math.ceil((Math.max(...prices) + MARGIN_TICKS * tick) / block) * block : 0;
  const bottom = prices.length
    ? Math.max(tick, Math.floor((Math.min(...prices) - MARGIN_TICKS * tick) / block) * block)
    : 0;
  const rowCount = prices.length ? Math.min(MAX_ROWS, Math.round((top - bottom) / tick) + 1) : 0;
  const bestBid = book?.bids[0]?.price ?? null;
  const bestAsk = book?.asks[0]?.price ?? null;
  const mid =
    bestBid !== null && bestAsk !== null
      ? (bestBid + bestAsk) / 2
      : (bestBid ?? bestAsk ?? book?.lastTradePrice ?? null);

  useEffect(() => {
    const element = viewport.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  // Keep the spread in the middle until the user scrolls away.
  useEffect(() => {
    const element = viewport.current;
    if (!follow || !element || mid === null) return;
    const row = (top - mid) / tick;
    const target = Math.max(0, row * ROW_HEIGHT - element.clientHeight / 2);
    if (Math.abs(element.scrollTop - target) > ROW_HEIGHT) {
      element.scrollTop = target;
      setScrollTop(target);
    }
  }, [follow, mid, top, tick, height]);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rowCount, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const maxQty = Math.max(
    1,
    ...(book?.bids ?? []).map((level) => level.qty),
    ...(book?.asks ?? []).map((level) => level.qty),
  );

  const rows = [];
  for (let index = first; index < last; index++) {
    const price = top - index * tick;
    const bid = bids.get(price)?.qty;
    const ask = asks.get(price)?.qty;
    rows.push(
      <LadderRow
        key={price}
        index={index}
        price={price}
        decimals={decimals}
        bid={bid}
        ask={ask}
        bidWidth={bid === undefined ? 0 : bid / maxQty}
        askWidth={ask === undefined ? 0 : ask / maxQty}
        mineBuy={mine.buy.get(price)}
        mineSell={mine.sell.get(price)}
        flags={`${price === book?.lastTradePrice ? " last" : ""}${price === bestBid ? " best-bid" : ""}${price === bestAsk ? " best-ask" : ""}`}
        onPickPrice={onPickPrice}
      />,
    );
  }

  return (
    <section className="panel ladder" data-testid="ladder">
      <header>
        <h3>Depth</h3>
        <span className="muted">
          spread {bestBid !== null && bestAsk !== null ? formatPrice(bestAsk - bestBid, decimals) : "—"}
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
      <div className="ladder-head">
        <span>mine</span>
        <span>bid</span>
        <span>price</span>
        <span>ask</span>
        <span>mine</span>
      </div>
      <div
        className="ladder-viewport"
        ref={viewport}
        onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
        onWheel={() => setFollow(false)}
      >
        {rowCount === 0 ? (
          <p className="muted pad">Waiting for the book…</p>
        ) : (
          <div style={{ height: rowCount * ROW_HEIGHT, position: "relative" }}>{rows}</div>
        )}
      </div>
    </section>
  );
});

interface RowProps {
  index: number;
  price: number;
  decimals: number;
  bid: number | undefined;
  ask: number | undefined;
  /** The bars' widths, as a fraction of the largest level. */
  bidWidth: number;
  askWidth: number;
  mineBuy: Mine | undefined;
  mineSell: Mine | undefined;
  /** " last", " best-bid", " best-ask" */
  flags: string;
  onPickPrice: (price: number, side: Side) => void;
}

/** One price row: re-renders only when what it shows changes (most rows do not change in a frame). */
const LadderRow = memo(function LadderRow(props: RowProps) {
  const { index, price, decimals, bid, ask, bidWidth, askWidth, mineBuy, mineSell, flags, onPickPrice } = props;
  return (
    <div className={`ladder-row${flags}`} style={{ top: index * ROW_HEIGHT }} data-price={price}>
      <MineCell side="buy" mine={mineBuy} />
      <button type="button" className="qty bid" onClick={() => onPickPrice(price, "buy")}>
        {bid !== undefined && <i style={{ width: `${bidWidth * 100}%` }} />}
        <b>{bid ?? ""}</b>
      </button>
      <span className="price">{formatPrice(price, decimals)}</span>
      <button type="button" className="qty ask" onClick={() => onPickPrice(price, "sell")}>
        {ask !== undefined && <i style={{ width: `${askWidth * 100}%` }} />}
        <b>{ask ?? ""}</b>
      </button>
      <MineCell side="sell" mine={mineSell} />
    </div>
  );
}, sameRow);

/** The user's own quantity at a price, and how much is ahead of it in the queue. */
function MineCell({ side, mine }: { side: Side; mine: Mine | undefined }) {
  const ahead = mine?.qtyAhead ?? null;
  return (
    <span className={`mine ${side}`} title={ahead !== null ? `${ahead} ahead in the queue` : undefined}>
      {mine ? `${mine.qty}${ahead !== null ? ` ·${ahead}` : ""}` : ""}
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
    a.bidWidth === b.bidWidth &&
    a.askWidth === b.askWidth &&
    a.flags === b.flags &&
    a.onPickPrice === b.onPickPrice &&
    sameMine(a.mineBuy, b.mineBuy) &&
    sameMine(a.mineSell, b.mineSell)
  );
}
