import { memo, useMemo } from "react";
import { DataTable, type Column } from "@/lib/DataTable";
import { formatPrice, formatSimTime } from "@/lib/format";
import type { TapeTrade } from "./trading-store";

export const Tape = memo(function Tape({ trades, decimals }: { trades: TapeTrade[]; decimals: number }) {
  // The same columns every frame, so only the rows of new trades render.
  const columns = useMemo(
    (): Column<TapeTrade>[] => [
      { title: "time", cell: (trade) => formatSimTime(trade.timeMs), tone: () => "muted" },
      {
        title: "price",
        numeric: true,
        cell: (trade) => formatPrice(trade.price, decimals),
        tone: (trade) => (trade.aggressor === "buy" ? "up" : "down"),
      },
      { title: "qty", numeric: true, cell: (trade) => trade.qty },
    ],
    [decimals],
  );
  return (
    <section className="panel tape" data-testid="tape">
      <header>
        <h3>Trades</h3>
      </header>
      <div className="scroll">
        <DataTable columns={columns} rows={trades} rowKey={(trade) => trade.seq} />
        {trades.length === 0 && <p className="muted pad">No trades yet.</p>}
      </div>
    </section>
  );
});
