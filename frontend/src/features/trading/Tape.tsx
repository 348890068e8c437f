import { memo, useLayoutEffect, useMemo, useRef } from "react";
import { DataTable, type Column } from "@/lib/DataTable";
import { formatPrice, formatSimTime } from "@/lib/format";
import { useThrottled } from "@/lib/use-throttled";
import { painterFor, useCanvasRelease, useInnerSize } from "./canvas";
import type { TapeTrade } from "./trading-store";

/** How often the accessible table takes the new trades (the canvas draws every frame). */
const ACCESSIBLE_EVERY_MS = 500;

/** The trades tape: drawn on a canvas every frame, with a visually hidden table of the same trades for screen readers. */
export const Tape = memo(function Tape({ trades, decimals }: { trades: TapeTrade[]; decimals: number }) {
  const body = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  useCanvasRelease(canvas);
  const { width, height } = useInnerSize(body);

  useLayoutEffect(() => {
    const target = canvas.current;
    if (target && width > 0 && height > 0) painterFor(target)({ kind: "tape", trades, decimals }, width, height);
  }, [trades, width, height, decimals]);

  const shown = useThrottled(trades, ACCESSIBLE_EVERY_MS);
  // The same columns every time, so only the rows of new trades render.
  const columns = useMemo(
    (): Column<TapeTrade>[] => [
      { title: "time", cell: (trade) => formatSimTime(trade.timeMs) },
      { title: "price", cell: (trade) => `${formatPrice(trade.price, decimals)} ${trade.aggressor}` },
      { title: "qty", cell: (trade) => trade.qty },
    ],
    [decimals],
  );
  return (
    <section className="panel tape" data-testid="tape">
      <header>
        <h3>Trades</h3>
      </header>
      <div className="tape-head" aria-hidden="true">
        <span>time</span>
        <span>price</span>
        <span>qty</span>
      </div>
      <div className="tape-body" ref={body}>
        <canvas ref={canvas} aria-hidden="true" />
        {trades.length === 0 && <p className="muted pad">No trades yet.</p>}
      </div>
      <div className="sr-only">
        <DataTable columns={columns} rows={shown} rowKey={(trade) => trade.seq} />
      </div>
    </section>
  );
});
