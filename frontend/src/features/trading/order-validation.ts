import { parsePrice } from "@/lib/format";
import type {
  AccountConfig,
  InstrumentConfig,
  OrderEntry,
  OrderType,
  Side,
  SimConfig,
  StpMode,
  TimeInForce,
} from "@/protocol";
import type { OrderRow } from "./blotter";
import type { TradingSnapshot } from "./trading-store";

/** The order types and times in force the engine supports (OrderType and TimeInForce in command.rs). */
export const ORDER_TYPES = ["limit", "market", "stop_market", "stop_limit"] as const;
export const TIMES_IN_FORCE = ["gtc", "ioc", "fok", "gtd", "day"] as const;
export const STP_MODES: StpMode[] = ["cancel_newest", "cancel_oldest", "cancel_both"];

export interface OrderForm {
  side: Side;
  type: (typeof ORDER_TYPES)[number];
  price: string;
  stopPrice: string;
  qty: string;
  tif: (typeof TIMES_IN_FORCE)[number];
  /** GTD: simulated seconds from now. */
  expireInSeconds: string;
  displayQty: string;
  postOnly: boolean;
  stp: StpMode;
}

/** What the checks need to know about the market and the account. */
export interface OrderContext {
  instrument: number;
  config: InstrumentConfig;
  account: AccountConfig;
  /** Last trade price, or the reference price before the first trade: the price band's centre. */
  referencePrice: number;
  /** Signed position and working quantity on each side (pending stops included). */
  position: number;
  workingBuy: number;
  workingSell: number;
  buyingPower: number | null;
  nowMs: number;
  halted: boolean;
}

/** What the checks of an order in `instrument` need, from the screen's latest state (read when the order is sent). */
export function orderContext(state: TradingSnapshot, config: SimConfig, instrument: number): OrderContext {
  const instrumentConfig = config.instruments[instrument] ?? config.instruments[0]!;
  const book = state.books[instrument];
  let workingBuy = 0;
  let workingSell = 0;
  for (const order of state.openOrders) {
    if (order.instrument !== instrument) continue;
    if (order.side === "buy") workingBuy += order.leavesQty;
    else workingSell += order.leavesQty;
  }
  return {
    instrument,
    config: instrumentConfig,
    account: config.account,
    referencePrice: book?.lastTradePrice ?? instrumentConfig.reference_price,
    position: state.account?.positions.find((entry) => entry.instrument === instrument)?.qty ?? 0,
    workingBuy,
    workingSell,
    buyingPower: state.account?.buying_power ?? null,
    nowMs: state.timeMs,
    halted: book?.halted ?? false,
  };
}

export type FieldErrors = Partial<
  Record<"price" | "stopPrice" | "qty" | "tif" | "displayQty" | "postOnly" | "expire" | "form", string>
>;

export type Validation = { ok: true; entry: OrderEntry } | { ok: false; errors: FieldErrors };

/** The price band around the reference: the low edge rounded up, the high edge down, to ticks (engine.md). */
export function priceBand(context: OrderContext): { low: number; high: number } {
  const tick = context.config.tick_size;
  const width = Math.floor((context.referencePrice * context.config.price_band_bps) / 10_000);
  const low = Math.max(tick, Math.ceil((context.referencePrice - width) / tick) * tick);
  const high = Math.floor((context.referencePrice + width) / tick) * tick;
  return { low, high };
}

function parseQty(text: string): number | null {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : null;
}

/**
 * Checks an order the way the engine will (engine.md "Checks on a new order"), so the user hears about a mistake
 * before sending. The engine checks again; this only saves a round trip.
 */
export function validateOrder(form: OrderForm, context: OrderContext, clientOrderId: string): Validation {
  const errors: FieldErrors = {};
  const { config, account } = context;
  const decimals = config.price_decimals;
  const tick = config.tick_size;
  const lot = config.lot_size;
  const isLimit = form.type === "limit" || form.type === "stop_limit";
  const isStop = form.type === "stop_market" || form.type === "stop_limit";
  const immediate = form.tif === "ioc" || form.tif === "fok";

  const qty = parseQty(form.qty);
  if (qty === null || qty === 0) errors.qty = "Enter a whole quantity above 0.";
  else if (qty % lot !== 0) errors.qty = `The quantity must be a multiple of the lot size (${lot}).`;
  else if (qty > account.max_order_qty) errors.qty = `At most ${account.max_order_qty} per order.`;

  let price: number | null = null;
  if (isLimit) {
    price = parsePrice(form.price, decimals);
    if (price === null || price <= 0) errors.price = `Enter a price with at most ${decimals} decimals.`;
    else if (price % tick !== 0)
      errors.price = `The price must be a multiple of the tick size (${tick / 10 ** decimals}).`;
    else {
      const band = priceBand(context);
      if (price < band.low || price > band.high) {
        errors.price = `Outside the price band (${band.low / 10 ** decimals}–${band.high / 10 ** decimals}).`;
      }
    }
  }
  let stopPrice: number | null = null;
  if (isStop) {
    stopPrice = parsePrice(form.stopPrice, decimals);
    if (stopPrice === null || stopPrice <= 0) errors.stopPrice = "Enter a stop price above 0.";
    else if (stopPrice % tick !== 0) errors.stopPrice = "The stop price must be a multiple of the tick size.";
  }

  if (form.type === "market" && !immediate) errors.tif = "A market order must be IOC or FOK.";
  if (isStop && immediate) errors.tif = "A stop order cannot be IOC or FOK.";

  let expireAtMs: number | null = null;
  if (form.tif === "gtd") {
    const seconds = parseQty(form.expireInSeconds);
    if (seconds === null || seconds === 0) errors.expire = "Enter how many simulated seconds the order should live.";
    else expireAtMs = context.nowMs + seconds * 1000;
  }

  let displayQty: number | null = null;
  if (form.displayQty.trim() !== "") {
    displayQty = parseQty(form.displayQty);
    if (form.type !== "limit" || immediate) errors.displayQty = "Only resting limit orders can be icebergs.";
    else if (displayQty === null || displayQty === 0) errors.displayQty = "Enter a shown quantity above 0.";
    else if (qty !== null && displayQty > qty) errors.displayQty = "The shown part cannot exceed the quantity.";
    else if (displayQty % lot !== 0)
      errors.displayQty = `The shown quantity must be a multiple of the lot size (${lot}).`;
  }
  if (form.postOnly && (form.type !== "limit" || immediate)) {
    errors.postOnly = "Post-only applies to resting limit orders only.";
  }

  if (context.halted) errors.form = "Trading is halted in this instrument; wait for it to resume.";

  if (qty !== null && qty > 0 && !errors.qty && !errors.price) {
    // Market and stop-market orders are risk-checked at the band edge on their side.
    const band = priceBand(context);
    const riskPrice = price ?? (form.side === "buy" ? band.high : band.low);
    if (riskPrice * qty > account.max_notional) {
      errors.qty = "The order's value is above your maximum order notional.";
    } else {
      const projected =
        form.side === "buy"
          ? context.position + context.workingBuy + qty
          : -context.position + context.workingSell + qty;
      if (projected > account.max_position) errors.qty = "Filling this order could take your position past its limit.";
      const closing = form.side === "buy" ? Math.max(0, -context.position) : Math.max(0, context.position);
      const increasing = Math.max(0, qty - closing);
      if (!errors.qty && context.buyingPower !== null && increasing * riskPrice > context.buyingPower) {
        errors.qty = "Not enough buying power; reduce the size or close positions.";
      }
    }
  }

  if (Object.keys(errors).length > 0 || qty === null) return { ok: false, errors };
  return {
    ok: true,
    entry: {
      instrument: context.instrument,
      client_order_id: clientOrderId,
      side: form.side,
      qty,
      order_type: orderType(form.type, price, stopPrice),
      tif: timeInForce(form.tif, expireAtMs),
      display_qty: displayQty,
      post_only: form.postOnly,
      stp: form.stp,
    },
  };
}

export type AmendValidation = { ok: true; qty: number | null; price: number | null } | { ok: false; error: string };

/**
 * Checks an amend of a working order as the engine will (its amend checks: a change, a total quantity above what
 * has filled, tick, lot, band, then the risk limits on the new total and on what it adds). `qty` is the new total
 * quantity and `price` the new limit price as typed; an empty field keeps what the order has. Only what changes
 * is sent.
 */
export function validateAmend(
  row: OrderRow,
  typed: { qty: string; price: string },
  context: OrderContext,
): AmendValidation {
  const { config, account } = context;
  const decimals = config.price_decimals;
  let qty = row.qty;
  if (typed.qty.trim() !== "") {
    const parsed = parseQty(typed.qty);
    if (parsed === null || parsed === 0) return { ok: false, error: "Enter a whole quantity above 0." };
    qty = parsed;
  }
  let price = row.price;
  if (typed.price.trim() !== "" && row.price !== null) {
    const parsed = parsePrice(typed.price, decimals);
    if (parsed === null || parsed <= 0) return { ok: false, error: `Enter a price with at most ${decimals} decimals.` };
    price = parsed;
  }
  const newQty = qty !== row.qty ? qty : null;
  const newPrice = price !== row.price ? price : null;
  if (newQty === null && newPrice === null) return { ok: false, error: "Change the quantity or the price." };
  if (qty <= row.cumQty)
    return { ok: false, error: `The new quantity must stay above what has already filled (${row.cumQty}).` };
  if (context.halted) return { ok: false, error: "Trading is halted in this instrument; wait for it to resume." };
  if (newPrice !== null && newPrice % config.tick_size !== 0)
    return {
      ok: false,
      error: `The price must be a multiple of the tick size (${config.tick_size / 10 ** decimals}).`,
    };
  if (qty % config.lot_size !== 0)
    return { ok: false, error: `The quantity must be a multiple of the lot size (${config.lot_size}).` };
  const band = priceBand(context);
  if (newPrice !== null && (newPrice < band.low || newPrice > band.high))
    return {
      ok: false,
      error: `Outside the price band (${band.low / 10 ** decimals}–${band.high / 10 ** decimals}).`,
    };
  if (qty > account.max_order_qty) return { ok: false, error: `At most ${account.max_order_qty} per order.` };
  const riskPrice = price ?? (row.side === "buy" ? band.high : band.low);
  if (riskPrice * qty > account.max_notional)
    return { ok: false, error: "The order's value is above your maximum order notional." };
  const leaves = qty - row.cumQty;
  const added = Math.max(0, leaves - row.leavesQty);
  const directional = row.side === "buy" ? context.position : -context.position;
  const working = row.side === "buy" ? context.workingBuy : context.workingSell;
  if (added > 0 && directional + working + added > account.max_position)
    return { ok: false, error: "Filling this order could take your position past its limit." };
  const addedNotional = riskPrice * leaves - (row.price ?? riskPrice) * row.leavesQty;
  if (addedNotional > 0 && context.buyingPower !== null && addedNotional > context.buyingPower)
    return { ok: false, error: "Not enough buying power; reduce the size or close positions." };
  return { ok: true, qty: newQty, price: newPrice };
}

function orderType(type: OrderForm["type"], price: number | null, stopPrice: number | null): OrderType {
  switch (type) {
    case "limit":
      return { type, price: price ?? 0 };
    case "market":
      return { type };
    case "stop_market":
      return { type, stop_price: stopPrice ?? 0 };
    case "stop_limit":
      return { type, stop_price: stopPrice ?? 0, price: price ?? 0 };
  }
}

function timeInForce(tif: OrderForm["tif"], expireAtMs: number | null): TimeInForce {
  return tif === "gtd" ? { type: "gtd", expire_at_ms: expireAtMs ?? 0 } : { type: tif };
}

/** A new client order id: unique for ever (a random UUID fits the protocol's 36 characters). */
export function newClientOrderId(): string {
  return crypto.randomUUID();
}
