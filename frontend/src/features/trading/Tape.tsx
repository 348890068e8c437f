import { formatPrice, formatSimTime } from "@/lib/format";
import type { TapeTrade } from "./trading-store";

export function Tape({ trades, decimals }: { trades: TapeTrade[]; decimals: number }) {
  return (
    <section className="panel tape" data-testid="tape">
      <header>
        <h3>Trades</h3>
      </header>
      <div className="scroll">
        <table className="grid compact">
          <thead>
            <tr>
              <th>time</th>
              <th className="num">price</th>
              <th className="num">qty</th>
            </tr>
          </thead>
          <tbody>
            {trades.map((trade) => (
              <tr key={trade.seq} className={trade.aggressor === "buy" ? "up" : "down"}>
                <td className="muted">{formatSimTime(trade.timeMs)}</td>
                <td className="num">{formatPrice(trade.price, decimals)}</td>
                <td className="num">{trade.qty}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {trades.length === 0 && <p className="muted pad">No trades yet.</p>}
      </div>
    </section>
  );
}
