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
  /** What the checks need, read when the order is sent: the market moves every frame, the form need not render. */
  context: () => OrderContext;
  decimals: number;
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

/** The form's entries typed as text. */
type TextEntry = "qty" | "price" | "stopPrice" | "expireInSeconds" | "displayQty";

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
export const OrderEntry = memo(function OrderEntry({ context, decimals, gate, picked, onSubmit }: Props) {
  const [form, setForm] = useState<OrderForm>(initialForm);
  const [errors, setErrors] = useState<FieldErrors>({});
  const update = (patch: Partial<OrderForm>) => setForm((current) => ({ ...current, ...patch }));

  useEffect(() => {
    if (picked) update({ price: formatPrice(picked.price, decimals), side: picked.side });
  }, [picked, decimals]);

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (!gate.ok) return;
    const result = validateOrder(form, context(), newClientOrderId());
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

  /** A text field's value and its change handler, bound to one of the form's text entries. */
  const text = (key: TextEntry) => ({ value: form[key], onChange: (value: string) => update({ [key]: value }) });
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
          <SelectField
            label="Type"
            name="type"
            value={form.type}
            options={ORDER_TYPES}
            optionLabel={(type) => TYPE_LABELS[type]}
            onChange={(type) =>
              update({
                type,
                tif: type === "market" ? "ioc" : form.tif === "ioc" || form.tif === "fok" ? "gtc" : form.tif,
              })
            }
          />
          <SelectField
            label="TIF"
            name="tif"
            value={form.tif}
            options={TIMES_IN_FORCE}
            optionLabel={(tif) => tif.toUpperCase()}
            onChange={(tif) => update({ tif })}
          />
        </div>
        {field("tif")}
        <div className="row">
          <TextField label="Qty" name="qty" {...text("qty")} />
          {needsPrice && <TextField label="Price" name="price" decimal {...text("price")} />}
          {needsStop && <TextField label="Stop" name="stopPrice" decimal {...text("stopPrice")} />}
        </div>
        {field("qty")}
        {field("price")}
        {field("stopPrice")}
        {form.tif === "gtd" && (
          <TextField label="Expires in (simulated s)" name="expire" {...text("expireInSeconds")} />
        )}
        {field("expire")}
        <details>
          <summary>More: iceberg, post-only, self-trade</summary>
          <div className="row">
            <TextField label="Show qty" name="displayQty" placeholder="all" {...text("displayQty")} />
            <SelectField
              label="STP"
              name="stp"
              value={form.stp}
              options={STP_MODES}
              optionLabel={(mode) => mode.replace("_", " ")}
              onChange={(stp) => update({ stp })}
            />
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

interface TextFieldProps {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  /** A price (decimal keypad) rather than a count. */
  decimal?: boolean;
  placeholder?: string;
}

function TextField({ label, name, value, onChange, decimal = false, placeholder }: TextFieldProps) {
  return (
    <label>
      {label}
      <input
        name={name}
        inputMode={decimal ? "decimal" : "numeric"}
        placeholder={placeholder}
        value={value}
        onChange={(event) => onChange(event.target.value)}
      />
    </label>
  );
}

interface SelectFieldProps<T extends string> {
  label: string;
  name: string;
  value: T;
  options: readonly T[];
  optionLabel: (option: T) => string;
  onChange: (value: T) => void;
}

function SelectField<T extends string>({ label, name, value, options, optionLabel, onChange }: SelectFieldProps<T>) {
  return (
    <label>
      {label}
      <select name={name} value={value} onChange={(event) => onChange(event.target.value as T)}>
        {options.map((option) => (
          <option key={option} value={option}>
            {optionLabel(option)}
          </option>
        ))}
      </select>
    </label>
  );
}
