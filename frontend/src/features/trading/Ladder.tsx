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
  const top = prices.length ? Math.max(...prices) + MARGIN_TICKS * tick : 0;
  const bottom = prices.length ? Math.max(tick, Math.min(...prices) - MARGIN_TICKS * tick) : 0;
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
    const bid = bids.get(price);
    const ask = asks.get(price);
    const myBid = mine.buy.get(price);
    const myAsk = mine.sell.get(price);
    const isLast = price === book?.lastTradePrice;
    rows.push(
      <div
        key={price}
        className={`ladder-row${isLast ? " last" : ""}${price === bestBid ? " best-bid" : ""}${price === bestAsk ? " best-ask" : ""}`}
        style={{ transform: `translateY(${index * ROW_HEIGHT}px)` }}
        data-price={price}
      >
        <span className="mine buy" title={myBid?.qtyAhead != null ? `${myBid.qtyAhead} ahead in the queue` : undefined}>
          {myBid ? `${myBid.qty}${myBid.qtyAhead != null ? ` ·${myBid.qtyAhead}` : ""}` : ""}
        </span>
        <button type="button" className="qty bid" onClick={() => onPickPrice(price, "buy")}>
          {bid && <i style={{ width: `${(bid.qty / maxQty) * 100}%` }} />}
          <b>{bid?.qty ?? ""}</b>
        </button>
        <span className="price">{formatPrice(price, decimals)}</span>
        <button type="button" className="qty ask" onClick={() => onPickPrice(price, "sell")}>
          {ask && <i style={{ width: `${(ask.qty / maxQty) * 100}%` }} />}
          <b>{ask?.qty ?? ""}</b>
        </button>
        <span
          className="mine sell"
          title={myAsk?.qtyAhead != null ? `${myAsk.qtyAhead} ahead in the queue` : undefined}
        >
          {myAsk ? `${myAsk.qty}${myAsk.qtyAhead != null ? ` ·${myAsk.qtyAhead}` : ""}` : ""}
        </span>
      </div>,
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
