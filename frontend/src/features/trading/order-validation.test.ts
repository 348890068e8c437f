import { describe, expect, it } from "vitest";
import { standardConfig } from "@/lib/sim-config";
import { priceBand, validateOrder, type OrderContext, type OrderForm } from "./order-validation";

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
