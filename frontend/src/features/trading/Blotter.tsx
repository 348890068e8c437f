import { useState } from "react";
import { formatMoney, formatPrice, formatSimTime, parsePrice } from "@/lib/format";
import type { AccountUpdate, OrderEntry } from "@/protocol";
import { rowFromEntry, type Fill, type OrderRow } from "./blotter";

export interface InFlight {
  entry: OrderEntry;
  state: "sending" | "unknown";
}

interface Props {
  openOrders: OrderRow[];
  doneOrders: OrderRow[];
  fills: Fill[];
  account: AccountUpdate | null;
  inFlight: InFlight[];
  decimals: number;
  symbol: (instrument: number) => string;
  /** Offline or not live: the last known state, marked stale; no actions. */
  stale: boolean;
  canAct: boolean;
  onCancel: (row: OrderRow) => void;
  onAmend: (row: OrderRow, qty: number | null, price: number | null) => void;
}

type Tab = "orders" | "fills" | "positions" | "history";

function describeType(row: OrderRow): string {
  const type = row.orderType?.type ?? "—";
  const tif = row.tif?.type ?? "";
  return `${type.replace("_", " ")} ${tif}`.trim();
}

/** Open orders (cancel, amend), fills, positions with P&L, and finished orders. */
export function Blotter(props: Props) {
  const [tab, setTab] = useState<Tab>("orders");
  const [amending, setAmending] = useState<{ key: string; qty: string; price: string } | null>(null);
  const { decimals, symbol, stale, canAct } = props;

  // Orders the server has not confirmed yet come first; an order it already knows shows its real row.
  const known = new Set(props.openOrders.map((row) => row.clientOrderId));
  const unsettled = new Map(props.inFlight.map((order) => [order.entry.client_order_id, order.state]));
  const pendingRows = props.inFlight
    .filter((order) => !known.has(order.entry.client_order_id) && !props.doneOrders.some((row) => row.clientOrderId === order.entry.client_order_id))
    .map((order) => rowFromEntry(order.entry));
  const orders = [...pendingRows, ...props.openOrders];

  const statusOf = (row: OrderRow) => {
    const state = row.clientOrderId ? unsettled.get(row.clientOrderId) : undefined;
    if (state === "unknown") return <span className="warn">unknown, reconciling</span>;
    if (state === "sending" && row.orderId === null) return <span className="muted">sending…</span>;
    return row.status.replace("_", " ");
  };

  const commitAmend = (row: OrderRow) => {
    if (!amending) return;
    const qty = amending.qty.trim() === "" ? null : Number(amending.qty);
    const price = amending.price.trim() === "" ? null : parsePrice(amending.price, decimals);
    setAmending(null);
    if ((qty !== null && Number.isFinite(qty) && qty > 0) || price !== null) {
      props.onAmend(row, qty !== null && qty !== row.qty ? qty : null, price !== row.price ? price : null);
    }
  };

  const account = props.account;
  return (
    <section className={`panel blotter${stale ? " stale" : ""}`} data-testid="blotter">
      <header>
        <div className="tabs" role="tablist">
          {(["orders", "fills", "positions", "history"] as Tab[]).map((name) => (
            <button key={name} type="button" role="tab" aria-selected={tab === name} onClick={() => setTab(name)}>
              {name === "orders" ? `Open orders (${orders.length})` : name[0]!.toUpperCase() + name.slice(1)}
            </button>
          ))}
        </div>
        {stale && (
          <span className="badge warn" data-testid="stale">
            stale · read-only
          </span>
        )}
      </header>
      <div className="scroll">
        {tab === "orders" && (
          <table className="grid compact" data-testid="open-orders">
            <thead>
              <tr>
                <th>id</th>
                <th>side</th>
                <th>type</th>
                <th className="num">price</th>
                <th className="num">qty</th>
                <th className="num">filled</th>
                <th className="num">ahead</th>
                <th>status</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {orders.map((row) => (
                <tr key={row.key} data-client-order-id={row.clientOrderId ?? ""}>
                  <td className="mono muted" title={row.clientOrderId ?? ""}>
                    {row.orderId ?? "—"}
                  </td>
                  <td className={row.side === "buy" ? "up" : "down"}>{row.side}</td>
                  <td>{describeType(row)}</td>
                  {amending?.key === row.key ? (
                    <>
                      <td className="num">
                        <input aria-label="new price" className="inline" value={amending.price} onChange={(event) => setAmending({ ...amending, price: event.target.value })} />
                      </td>
                      <td className="num">
                        <input aria-label="new quantity" className="inline" value={amending.qty} onChange={(event) => setAmending({ ...amending, qty: event.target.value })} />
                      </td>
                    </>
                  ) : (
                    <>
                      <td className="num">{formatPrice(row.price, decimals)}</td>
                      <td className="num">{row.qty}</td>
                    </>
                  )}
                  <td className="num">{row.cumQty}</td>
                  <td className="num">{row.qtyAhead ?? ""}</td>
                  <td>{statusOf(row)}</td>
                  <td className="actions">
                    {row.orderId !== null &&
                      (amending?.key === row.key ? (
                        <>
                          <button type="button" disabled={!canAct} onClick={() => commitAmend(row)}>
                            Save
                          </button>
                          <button type="button" onClick={() => setAmending(null)}>
                            ✕
                          </button>
                        </>
                      ) : (
                        <>
                          <button
                            type="button"
                            disabled={!canAct}
                            onClick={() => setAmending({ key: row.key, qty: String(row.qty), price: row.price === null ? "" : formatPrice(row.price, decimals) })}
                          >
                            Amend
                          </button>
                          <button type="button" className="danger" disabled={!canAct} onClick={() => props.onCancel(row)}>
                            Cancel
                          </button>
                        </>
                      ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {tab === "fills" && (
          <table className="grid compact" data-testid="fills">
            <thead>
              <tr>
                <th>time</th>
                <th>order</th>
                <th>side</th>
                <th className="num">price</th>
                <th className="num">qty</th>
                <th className="num">fee</th>
                <th>liq</th>
              </tr>
            </thead>
            <tbody>
              {props.fills.map((fill) => (
                <tr key={fill.seq}>
                  <td className="muted">{formatSimTime(fill.timeMs)}</td>
                  <td className="mono muted">{fill.orderId}</td>
                  <td className={fill.side === "buy" ? "up" : "down"}>{fill.side}</td>
                  <td className="num">{formatPrice(fill.price, decimals)}</td>
                  <td className="num">{fill.qty}</td>
                  <td className="num">{formatMoney(fill.fee, decimals)}</td>
                  <td>{fill.liquidity}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {tab === "positions" && (
          <table className="grid compact" data-testid="positions">
            <thead>
              <tr>
                <th>instrument</th>
                <th className="num">qty</th>
                <th className="num">avg</th>
                <th className="num">mark</th>
                <th className="num">realized</th>
                <th className="num">unrealized</th>
              </tr>
            </thead>
            <tbody>
              {(account?.positions ?? []).map((position) => (
                <tr key={position.instrument}>
                  <td>{symbol(position.instrument)}</td>
                  <td className={`num ${position.qty > 0 ? "up" : position.qty < 0 ? "down" : ""}`}>{position.qty}</td>
                  <td className="num">{formatPrice(position.avg_price, decimals)}</td>
                  <td className="num">{formatPrice(position.mark_price, decimals)}</td>
                  <td className={`num ${position.realized_pnl >= 0 ? "up" : "down"}`}>{formatMoney(position.realized_pnl, decimals)}</td>
                  <td className={`num ${position.unrealized_pnl >= 0 ? "up" : "down"}`}>{formatMoney(position.unrealized_pnl, decimals)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {tab === "history" && (
          <table className="grid compact" data-testid="history">
            <thead>
              <tr>
                <th>id</th>
                <th>side</th>
                <th>type</th>
                <th className="num">price</th>
                <th className="num">qty</th>
                <th className="num">filled</th>
                <th className="num">avg</th>
                <th>status</th>
              </tr>
            </thead>
            <tbody>
              {props.doneOrders.map((row) => (
                <tr key={row.key} title={row.note ?? ""}>
                  <td className="mono muted">{row.orderId ?? "—"}</td>
                  <td className={row.side === "buy" ? "up" : "down"}>{row.side}</td>
                  <td>{describeType(row)}</td>
                  <td className="num">{formatPrice(row.price, decimals)}</td>
                  <td className="num">{row.qty}</td>
                  <td className="num">{row.cumQty}</td>
                  <td className="num">{formatPrice(row.avgPrice, decimals)}</td>
                  <td>
                    {row.status}
                    {row.note ? ` — ${row.note}` : row.rejectReason ? ` (${row.rejectReason.replaceAll("_", " ")})` : ""}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <footer className="account" data-testid="account">
        <span>
          cash <b>{formatMoney(account?.cash, decimals)}</b>
        </span>
        <span>
          equity <b>{formatMoney(account?.equity, decimals)}</b>
        </span>
        <span>
          buying power <b>{formatMoney(account?.buying_power, decimals)}</b>
        </span>
        <span>
          realized <b className={(account?.realized_pnl ?? 0) >= 0 ? "up" : "down"} data-testid="realized-pnl">{formatMoney(account?.realized_pnl, decimals)}</b>
        </span>
        <span>
          unrealized <b className={(account?.unrealized_pnl ?? 0) >= 0 ? "up" : "down"} data-testid="unrealized-pnl">{formatMoney(account?.unrealized_pnl, decimals)}</b>
        </span>
        <span>
          fees <b>{formatMoney(account?.fees_paid, decimals)}</b>
        </span>
      </footer>
    </section>
  );
}
