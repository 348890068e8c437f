import { memo, useState, type KeyboardEvent } from "react";
import { formatMoney, formatPrice, formatSimTime } from "@/lib/format";
import { DataTable, toneOf, type Column } from "@/lib/DataTable";
import type { AccountUpdate, PositionView } from "@/protocol";
import { rowFromEntry, type Fill, type OrderRow } from "./blotter";
import type { LinkInfo, TradingActions } from "./link";
import { validateAmend, type OrderContext } from "./order-validation";

interface Props {
  openOrders: OrderRow[];
  doneOrders: OrderRow[];
  fills: Fill[];
  account: AccountUpdate | null;
  /** Unsettled orders; stale (offline or not live: the last known state, read-only) and whether orders may act. */
  link: Pick<LinkInfo, "inFlight" | "stale" | "gate">;
  actions: Pick<TradingActions, "cancel" | "cancelAll" | "amend">;
  /** What an amend is checked against, read when it is saved. */
  contextFor: (instrument: number) => OrderContext;
  decimals: number;
  symbol: (instrument: number) => string;
}

type Tab = "orders" | "fills" | "positions" | "history";

function describeType(row: OrderRow): string {
  const type = row.orderType?.type ?? "—";
  const tif = row.tif?.type ?? "";
  return `${type.replace("_", " ")} ${tif}`.trim();
}

/** Open orders (cancel, amend), fills, positions with P&L, and finished orders. */
export const Blotter = memo(function Blotter(props: Props) {
  const [tab, setTab] = useState<Tab>("orders");
  const [amending, setAmending] = useState<{ key: string; qty: string; price: string; error: string | null } | null>(
    null,
  );
  const { decimals, symbol } = props;
  const { inFlight, stale } = props.link;
  const canAct = props.link.gate.ok;

  // Orders the server has not confirmed yet come first; an order it already knows shows its real row.
  const known = new Set(props.openOrders.map((row) => row.clientOrderId));
  const unsettled = new Map(inFlight.map((order) => [order.entry.client_order_id, order.state]));
  const pendingRows = inFlight
    .filter(
      (order) =>
        !known.has(order.entry.client_order_id) &&
        !props.doneOrders.some((row) => row.clientOrderId === order.entry.client_order_id),
    )
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
    const result = validateAmend(row, amending, props.contextFor(row.instrument));
    if (!result.ok) {
      setAmending({ ...amending, error: result.error });
      return;
    }
    setAmending(null);
    props.actions.amend(row, result.qty, result.price);
  };
  /** Enter saves the amend and Escape drops it (and neither reaches the order form's keys). */
  const amendKeys = (row: OrderRow) => (event: KeyboardEvent) => {
    event.stopPropagation();
    if (event.key === "Enter") commitAmend(row);
    else if (event.key === "Escape") setAmending(null);
  };
  const working = props.openOrders.filter((row) => row.orderId !== null).length;

  const account = props.account;
  const fillColumns: Column<Fill>[] = [
    { title: "time", cell: (fill) => formatSimTime(fill.timeMs), tone: () => "muted" },
    { title: "order", cell: (fill) => fill.orderId, tone: () => "mono muted" },
    { title: "side", cell: (fill) => fill.side, tone: (fill) => toneOf(fill.side) },
    { title: "price", numeric: true, cell: (fill) => formatPrice(fill.price, decimals) },
    { title: "qty", numeric: true, cell: (fill) => fill.qty },
    { title: "fee", numeric: true, cell: (fill) => formatMoney(fill.fee, decimals) },
    { title: "liq", cell: (fill) => fill.liquidity },
  ];
  const positionColumns: Column<PositionView>[] = [
    { title: "instrument", cell: (position) => symbol(position.instrument) },
    { title: "qty", numeric: true, cell: (position) => position.qty, tone: (position) => toneOf(position.qty) },
    { title: "avg", numeric: true, cell: (position) => formatPrice(position.avg_price, decimals) },
    { title: "mark", numeric: true, cell: (position) => formatPrice(position.mark_price, decimals) },
    {
      title: "realized",
      numeric: true,
      cell: (position) => formatMoney(position.realized_pnl, decimals),
      tone: (position) => toneOf(position.realized_pnl),
    },
    {
      title: "unrealized",
      numeric: true,
      cell: (position) => formatMoney(position.unrealized_pnl, decimals),
      tone: (position) => toneOf(position.unrealized_pnl),
    },
  ];
  const historyColumns: Column<OrderRow>[] = [
    { title: "id", cell: (row) => row.orderId ?? "—", tone: () => "mono muted" },
    { title: "side", cell: (row) => row.side, tone: (row) => toneOf(row.side) },
    { title: "type", cell: describeType },
    { title: "price", numeric: true, cell: (row) => formatPrice(row.price, decimals) },
    { title: "qty", numeric: true, cell: (row) => row.qty },
    { title: "filled", numeric: true, cell: (row) => row.cumQty },
    { title: "avg", numeric: true, cell: (row) => formatPrice(row.avgPrice, decimals) },
    {
      title: "status",
      cell: (row) =>
        `${row.status}${row.note ? ` — ${row.note}` : row.rejectReason ? ` (${row.rejectReason.replaceAll("_", " ")})` : ""}`,
    },
  ];
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
        {tab === "orders" && (
          <button
            type="button"
            className="danger cancel-all"
            disabled={!canAct || working === 0}
            title="Cancels every working order of this simulator"
            onClick={() => props.actions.cancelAll()}
          >
            Cancel all
          </button>
        )}
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
                        {row.price !== null && (
                          <input
                            aria-label="new price"
                            className="inline"
                            value={amending.price}
                            autoFocus
                            onKeyDown={amendKeys(row)}
                            onChange={(event) => setAmending({ ...amending, price: event.target.value, error: null })}
                          />
                        )}
                      </td>
                      <td className="num">
                        <input
                          aria-label="new quantity"
                          className="inline"
                          value={amending.qty}
                          autoFocus={row.price === null}
                          onKeyDown={amendKeys(row)}
                          onChange={(event) => setAmending({ ...amending, qty: event.target.value, error: null })}
                        />
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
                  <td>
                    {amending?.key === row.key && amending.error ? (
                      <span className="field-error" role="alert">
                        {amending.error}
                      </span>
                    ) : (
                      statusOf(row)
                    )}
                  </td>
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
                            onClick={() =>
                              setAmending({
                                key: row.key,
                                qty: String(row.qty),
                                price: row.price === null ? "" : formatPrice(row.price, decimals),
                                error: null,
                              })
                            }
                          >
                            Amend
                          </button>
                          <button
                            type="button"
                            className="danger"
                            disabled={!canAct}
                            onClick={() => props.actions.cancel(row)}
                          >
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
          <DataTable testId="fills" columns={fillColumns} rows={props.fills} rowKey={(fill) => fill.seq} />
        )}
        {tab === "positions" && (
          <DataTable
            testId="positions"
            columns={positionColumns}
            rows={account?.positions ?? []}
            rowKey={(position) => position.instrument}
          />
        )}
        {tab === "history" && (
          <DataTable
            testId="history"
            columns={historyColumns}
            rows={props.doneOrders}
            rowKey={(row) => row.key}
            rowTitle={(row) => row.note ?? ""}
          />
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
          realized{" "}
          <b className={(account?.realized_pnl ?? 0) >= 0 ? "up" : "down"} data-testid="realized-pnl">
            {formatMoney(account?.realized_pnl, decimals)}
          </b>
        </span>
        <span>
          unrealized{" "}
          <b className={(account?.unrealized_pnl ?? 0) >= 0 ? "up" : "down"} data-testid="unrealized-pnl">
            {formatMoney(account?.unrealized_pnl, decimals)}
          </b>
        </span>
        <span>
          fees <b>{formatMoney(account?.fees_paid, decimals)}</b>
        </span>
      </footer>
    </section>
  );
});
