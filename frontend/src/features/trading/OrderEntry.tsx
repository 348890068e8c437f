import { memo, useEffect, useState, type FormEvent } from "react";
import { formatPrice } from "@/lib/format";
import type { OrderEntry as Entry, Side } from "@/protocol";
import {
  newClientOrderId,
  ORDER_TYPES,
  STP_MODES,
  TIMES_IN_FORCE,
  validateOrder,
  type FieldErrors,
  type OrderContext,
  type OrderForm,
} from "./order-validation";

export interface PickedPrice {
  price: number;
  side: Side;
}

interface Props {
  context: OrderContext;
  gate: { ok: boolean; reason?: string };
  picked: PickedPrice | null;
  onSubmit: (entry: Entry) => void;
}

const initialForm: OrderForm = {
  side: "buy",
  type: "limit",
  price: "",
  stopPrice: "",
  qty: "10",
  tif: "gtc",
  expireInSeconds: "60",
  displayQty: "",
  postOnly: false,
  stp: "cancel_newest",
};

const TYPE_LABELS: Record<OrderForm["type"], string> = {
  limit: "Limit",
  market: "Market",
  stop_market: "Stop",
  stop_limit: "Stop limit",
};

/**
 * Order entry for every type and time in force the engine has. Checked against tick, lot and risk limits before
 * sending; blocked (with the reason) while the link cannot carry an order safely.
 * Keys, outside a text field: B buy, S sell, L limit, M market, Esc clear; Ctrl+Enter sends.
 */
export const OrderEntry = memo(function OrderEntry({ context, gate, picked, onSubmit }: Props) {
  const [form, setForm] = useState<OrderForm>(initialForm);
  const [errors, setErrors] = useState<FieldErrors>({});
  const decimals = context.config.price_decimals;
  const update = (patch: Partial<OrderForm>) => setForm((current) => ({ ...current, ...patch }));

  useEffect(() => {
    if (picked) update({ price: formatPrice(picked.price, decimals), side: picked.side });
  }, [picked, decimals]);

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (!gate.ok) return;
    const result = validateOrder(form, context, newClientOrderId());
    if (!result.ok) {
      setErrors(result.errors);
      return;
    }
    setErrors({});
    onSubmit(result.entry);
  };

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      const typing = target?.tagName === "INPUT" || target?.tagName === "SELECT" || target?.tagName === "TEXTAREA";
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submit();
        return;
      }
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      const key = event.key.toLowerCase();
      if (key === "b") update({ side: "buy" });
      else if (key === "s") update({ side: "sell" });
      else if (key === "l") update({ type: "limit", tif: "gtc" });
      else if (key === "m") update({ type: "market", tif: "ioc" });
      else if (key === "escape") {
        setForm(initialForm);
        setErrors({});
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const needsPrice = form.type === "limit" || form.type === "stop_limit";
  const needsStop = form.type === "stop_market" || form.type === "stop_limit";
  const field = (name: keyof FieldErrors) =>
    errors[name] ? (
      <span className="field-error" role="alert">
        {errors[name]}
      </span>
    ) : null;

  return (
    <section className="panel order-entry" data-testid="order-entry">
      <header>
        <h3>Order</h3>
        <span className="muted keys">B/S side · L/M type · Ctrl+Enter send</span>
      </header>
      <form onSubmit={submit}>
        <div className="side-switch">
          <button
            type="button"
            className={form.side === "buy" ? "buy on" : "buy"}
            onClick={() => update({ side: "buy" })}
          >
            Buy
          </button>
          <button
            type="button"
            className={form.side === "sell" ? "sell on" : "sell"}
            onClick={() => update({ side: "sell" })}
          >
            Sell
          </button>
        </div>
        <div className="row">
          <label>
            Type
            <select
              name="type"
              value={form.type}
              onChange={(event) => {
                const type = event.target.value as OrderForm["type"];
                update({
                  type,
                  tif: type === "market" ? "ioc" : form.tif === "ioc" || form.tif === "fok" ? "gtc" : form.tif,
                });
              }}
            >
              {ORDER_TYPES.map((type) => (
                <option key={type} value={type}>
                  {TYPE_LABELS[type]}
                </option>
              ))}
            </select>
          </label>
          <label>
            TIF
            <select
              name="tif"
              value={form.tif}
              onChange={(event) => update({ tif: event.target.value as OrderForm["tif"] })}
            >
              {TIMES_IN_FORCE.map((tif) => (
                <option key={tif} value={tif}>
                  {tif.toUpperCase()}
                </option>
              ))}
            </select>
          </label>
        </div>
        {field("tif")}
        <div className="row">
          <label>
            Qty
            <input
              name="qty"
              inputMode="numeric"
              value={form.qty}
              onChange={(event) => update({ qty: event.target.value })}
            />
          </label>
          {needsPrice && (
            <label>
              Price
              <input
                name="price"
                inputMode="decimal"
                value={form.price}
                onChange={(event) => update({ price: event.target.value })}
              />
            </label>
          )}
          {needsStop && (
            <label>
              Stop
              <input
                name="stopPrice"
                inputMode="decimal"
                value={form.stopPrice}
                onChange={(event) => update({ stopPrice: event.target.value })}
              />
            </label>
          )}
        </div>
        {field("qty")}
        {field("price")}
        {field("stopPrice")}
        {form.tif === "gtd" && (
          <label>
            Expires in (simulated s)
            <input
              name="expire"
              inputMode="numeric"
              value={form.expireInSeconds}
              onChange={(event) => update({ expireInSeconds: event.target.value })}
            />
          </label>
        )}
        {field("expire")}
        <details>
          <summary>More: iceberg, post-only, self-trade</summary>
          <div className="row">
            <label>
              Show qty
              <input
                name="displayQty"
                inputMode="numeric"
                placeholder="all"
                value={form.displayQty}
                onChange={(event) => update({ displayQty: event.target.value })}
              />
            </label>
            <label>
              STP
              <select
                name="stp"
                value={form.stp}
                onChange={(event) => update({ stp: event.target.value as OrderForm["stp"] })}
              >
                {STP_MODES.map((mode) => (
                  <option key={mode} value={mode}>
                    {mode.replace("_", " ")}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <label className="check">
            <input
              type="checkbox"
              checked={form.postOnly}
              onChange={(event) => update({ postOnly: event.target.checked })}
            />
            Post only
          </label>
        </details>
        {field("displayQty")}
        {field("postOnly")}
        {field("form")}
        {!gate.ok && (
          <p className="notice warn" data-testid="order-blocked" role="status">
            {gate.reason}
          </p>
        )}
        <button type="submit" className={`primary ${form.side}`} disabled={!gate.ok} data-testid="submit-order">
          {form.side === "buy" ? "Buy" : "Sell"} {form.qty || "?"} {TYPE_LABELS[form.type].toLowerCase()}
          {needsPrice && form.price ? ` @ ${form.price}` : ""}
        </button>
      </form>
    </section>
  );
});
