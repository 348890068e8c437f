import { describe, expect, it } from "vitest";
import { standardConfig } from "@/lib/sim-config";
import { rowFromEntry, type OrderRow } from "./blotter";
import {
  orderContext,
  priceBand,
  validateAmend,
  validateOrder,
  type OrderContext,
  type OrderForm,
} from "./order-validation";
import type { TradingSnapshot } from "./trading-store";

const config = standardConfig("calm");
const context: OrderContext = {
  instrument: 0,
  config: { ...config.instruments[0]!, tick_size: 5, lot_size: 10 },
  account: config.account,
  referencePrice: 10_000,
  position: 0,
  workingBuy: 0,
  workingSell: 0,
  buyingPower: 199_000_000,
  nowMs: 5_000,
  halted: false,
};
const limit: OrderForm = {
  side: "buy",
  type: "limit",
  price: "100.05",
  stopPrice: "",
  qty: "20",
  tif: "gtc",
  expireInSeconds: "60",
  displayQty: "",
  postOnly: false,
  stp: "cancel_newest",
};

function errorsOf(form: Partial<OrderForm>, overrides: Partial<OrderContext> = {}) {
  const result = validateOrder({ ...limit, ...form }, { ...context, ...overrides }, "c-1");
  return result.ok ? {} : result.errors;
}

describe("validateOrder", () => {
  it("builds the wire entry of a valid limit order in price units", () => {
    const result = validateOrder(limit, context, "c-1");
    expect(result).toEqual({
      ok: true,
      entry: {
        instrument: 0,
        client_order_id: "c-1",
        side: "buy",
        qty: 20,
        order_type: { type: "limit", price: 10_005 },
        tif: { type: "gtc" },
        display_qty: null,
        post_only: false,
        stp: "cancel_newest",
      },
    });
  });

  it("refuses prices off the tick and quantities off the lot", () => {
    expect(errorsOf({ price: "100.03" }).price).toMatch(/tick size/);
    expect(errorsOf({ price: "100.055" }).price).toMatch(/2 decimals/);
    expect(errorsOf({ qty: "25" }).qty).toMatch(/lot size \(10\)/);
    expect(errorsOf({ qty: "0" }).qty).toMatch(/above 0/);
  });

  it("refuses limit prices outside the band around the last trade", () => {
    expect(priceBand(context)).toEqual({ low: 9_000, high: 11_000 });
    expect(errorsOf({ price: "110.05" }).price).toMatch(/price band/);
    expect(errorsOf({ price: "110.00" }).price).toBeUndefined();
  });

  it("applies the engine's type and time-in-force rules", () => {
    expect(errorsOf({ type: "market", tif: "gtc" }).tif).toMatch(/IOC or FOK/);
    expect(errorsOf({ type: "stop_market", stopPrice: "99.00", tif: "ioc" }).tif).toMatch(/stop order/);
    expect(errorsOf({ type: "limit", tif: "ioc", displayQty: "10" }).displayQty).toMatch(/icebergs/);
    expect(errorsOf({ displayQty: "30" }).displayQty).toMatch(/cannot exceed/);
    expect(errorsOf({ type: "market", tif: "ioc", postOnly: true }).postOnly).toMatch(/Post-only/);
  });

  it("turns GTD seconds into a simulated expiry and stop prices into stop orders", () => {
    const gtd = validateOrder({ ...limit, tif: "gtd", expireInSeconds: "30" }, context, "c-2");
    expect(gtd.ok && gtd.entry.tif).toEqual({ type: "gtd", expire_at_ms: 35_000 });
    const stop = validateOrder({ ...limit, type: "stop_limit", stopPrice: "99.50", price: "99.45" }, context, "c-3");
    expect(stop.ok && stop.entry.order_type).toEqual({ type: "stop_limit", stop_price: 9_950, price: 9_945 });
  });

  it("checks the risk limits: quantity, notional, position and buying power", () => {
    expect(errorsOf({ qty: "10010" }).qty).toMatch(/maximum order quantity|At most/);
    expect(errorsOf({ qty: "5010", price: "100.00" }).qty).toMatch(/notional/);
    expect(errorsOf({ qty: "100" }, { position: 19_950 }).qty).toMatch(/position past its limit/);
    expect(errorsOf({ qty: "100" }, { buyingPower: 1_000 }).qty).toMatch(/buying power/);
    // Selling out of a long position needs no buying power.
    expect(errorsOf({ side: "sell", qty: "100" }, { buyingPower: 0, position: 100 }).qty).toBeUndefined();
    // A market buy is risk-checked at the top of the band.
    expect(errorsOf({ type: "market", tif: "ioc", qty: "4550" }).qty).toMatch(/notional/);
  });

  it("refuses everything while the instrument is halted", () => {
    expect(errorsOf({}, { halted: true }).form).toMatch(/halted/);
  });
});

/** A working buy of 100 at 100.00 (tick 5, lot 10), 40 filled. */
function working(overrides: Partial<OrderRow> = {}): OrderRow {
  const row = rowFromEntry({
    instrument: 0,
    client_order_id: "w-1",
    side: "buy",
    qty: 100,
    order_type: { type: "limit", price: 10_000 },
    tif: { type: "gtc" },
    display_qty: null,
    post_only: false,
    stp: "cancel_newest",
  });
  return { ...row, orderId: 7, cumQty: 40, leavesQty: 60, ...overrides };
}

function amendError(typed: { qty?: string; price?: string }, row = working(), overrides: Partial<OrderContext> = {}) {
  const result = validateAmend(row, { qty: "", price: "", ...typed }, { ...context, workingBuy: 60, ...overrides });
  return result.ok ? null : result.error;
}

describe("validateAmend", () => {
  it("sends only what changes: the new total quantity, the new price, or both", () => {
    const amend = (typed: { qty: string; price: string }) => validateAmend(working(), typed, context);
    expect(amend({ qty: "80", price: "100.00" })).toEqual({ ok: true, qty: 80, price: null });
    expect(amend({ qty: "", price: "99.95" })).toEqual({ ok: true, qty: null, price: 9_995 });
    expect(amend({ qty: "120", price: "100.05" })).toEqual({ ok: true, qty: 120, price: 10_005 });
    expect(amend({ qty: "100", price: "100.00" })).toEqual({ ok: false, error: "Change the quantity or the price." });
  });

  it("refuses what the engine would: the filled part, tick, lot, band, halts", () => {
    expect(amendError({ qty: "40" })).toMatch(/above what has already filled \(40\)/);
    expect(amendError({ qty: "1.5" })).toMatch(/whole quantity/);
    expect(amendError({ qty: "85" })).toMatch(/lot size \(10\)/);
    expect(amendError({ price: "100.02" })).toMatch(/tick size/);
    expect(amendError({ price: "120.00" })).toMatch(/price band/);
    expect(amendError({ qty: "90" }, working(), { halted: true })).toMatch(/halted/);
  });

  it("checks the risk limits on the new total and on what it adds", () => {
    expect(amendError({ qty: "10010" })).toMatch(/At most 10000/);
    // 20,000 at the position limit: the 60 working already count, the 20 added do not fit.
    expect(amendError({ qty: "120" }, working(), { position: 19_930 })).toMatch(/position past its limit/);
    // Shrinking adds nothing, so it passes even at the limit.
    expect(amendError({ qty: "60" }, working(), { position: 19_940 })).toBeNull();
    // Adding 20 at 100.00 costs 2,000.00 of buying power.
    expect(amendError({ qty: "120" }, working(), { buyingPower: 199_999 })).toMatch(/buying power/);
    expect(amendError({ qty: "120" }, working(), { buyingPower: 200_000 })).toBeNull();
  });

  it("leaves the price of an order without one alone", () => {
    const stop = working({ price: null, orderType: { type: "stop_market", stop_price: 10_100 } });
    expect(validateAmend(stop, { qty: "90", price: "99.00" }, context)).toEqual({ ok: true, qty: 90, price: null });
  });
});

describe("orderContext", () => {
  it("reads the instrument's last trade, halt, position and working quantities from the screen's state", () => {
    const state = {
      timeMs: 12_345,
      books: [{ bids: [], asks: [], lastTradePrice: 10_050, halted: true, resumesAtMs: null }],
      openOrders: [
        working(),
        working({ key: "w-2", side: "sell", leavesQty: 30 }),
        working({ key: "w-3", instrument: 1 }),
      ],
      account: {
        participant: 1,
        cash: 0,
        equity: 0,
        buying_power: 5_000,
        realized_pnl: 0,
        unrealized_pnl: 0,
        fees_paid: 0,
        positions: [{ instrument: 0, qty: -7, avg_price: 0, mark_price: 0, realized_pnl: 0, unrealized_pnl: 0 }],
      },
    } as unknown as TradingSnapshot;
    expect(orderContext(state, config, 0)).toMatchObject({
      referencePrice: 10_050,
      halted: true,
      position: -7,
      workingBuy: 60,
      workingSell: 30,
      buyingPower: 5_000,
      nowMs: 12_345,
    });
  });
});
