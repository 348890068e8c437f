import { describe, expect, it } from "vitest";
import type { EventOf, OrderEntry } from "@/protocol";
import { applyExecution, applyOrderAck, applyQueuePosition, emptyBlotter } from "./blotter";
import { TradingStore } from "./trading-store";

function report(patch: Partial<EventOf<"execution_report">>): EventOf<"execution_report"> {
  return {
    seq: 1,
    time_ms: 100,
    type: "execution_report",
    participant: 1,
    order_id: 7,
    client_order_id: "web-1",
    instrument: 0,
    side: "buy",
    exec_type: "new",
    status: "new",
    price: 9_990,
    qty: 10,
    cum_qty: 0,
    leaves_qty: 10,
    avg_price: null,
    last_price: null,
    last_qty: null,
    liquidity: null,
    fee: 0,
    reject_reason: null,
    cancel_reason: null,
    ...patch,
  };
}

const entry: OrderEntry = {
  instrument: 0,
  client_order_id: "web-1",
  side: "buy",
  qty: 10,
  order_type: { type: "limit", price: 9_990 },
  tif: { type: "gtc" },
  display_qty: null,
  post_only: false,
  stp: "cancel_newest",
};

describe("blotter reducer", () => {
  it("follows an order from new through a partial fill to filled, recording each fill once", () => {
    const blotter = emptyBlotter();
    blotter.entries.set("web-1", entry);
    applyExecution(blotter, report({}));
    applyQueuePosition(blotter, {
      seq: 2,
      time_ms: 100,
      type: "queue_position",
      participant: 1,
      order_id: 7,
      client_order_id: "web-1",
      instrument: 0,
      side: "buy",
      price: 9_990,
      qty_ahead: 30,
      orders_ahead: 3,
    });
    expect(blotter.open.get("web-1")).toMatchObject({
      orderId: 7,
      status: "new",
      qtyAhead: 30,
      orderType: entry.order_type,
    });
    applyExecution(
      blotter,
      report({
        seq: 3,
        exec_type: "partial_fill",
        status: "partially_filled",
        cum_qty: 4,
        leaves_qty: 6,
        last_price: 9_990,
        last_qty: 4,
        liquidity: "maker",
        fee: -1,
        avg_price: 9_990,
      }),
    );
    expect(blotter.open.get("web-1")).toMatchObject({ cumQty: 4, leavesQty: 6, qtyAhead: 30 });
    applyExecution(
      blotter,
      report({
        seq: 4,
        exec_type: "fill",
        status: "filled",
        cum_qty: 10,
        leaves_qty: 0,
        last_price: 9_990,
        last_qty: 6,
        liquidity: "maker",
        avg_price: 9_990,
      }),
    );
    expect(blotter.open.size).toBe(0);
    expect(blotter.done.map((row) => [row.key, row.status])).toEqual([["web-1", "filled"]]);
    expect(blotter.fills.map((fill) => [fill.seq, fill.qty])).toEqual([
      [4, 6],
      [3, 4],
    ]);
  });

  it("keeps a rejection's message from the order ack", () => {
    const blotter = emptyBlotter();
    blotter.entries.set("web-1", entry);
    applyExecution(
      blotter,
      report({ order_id: null, exec_type: "rejected", status: "rejected", leaves_qty: 0, reject_reason: "off_tick" }),
    );
    applyOrderAck(blotter, "web-1", {
      status: "rejected",
      reason: "off_tick",
      message: "The price is not a multiple of the tick size.",
      seq: 1,
    });
    expect(blotter.done).toHaveLength(1);
    expect(blotter.done[0]).toMatchObject({
      status: "rejected",
      rejectReason: "off_tick",
      note: expect.stringContaining("tick"),
    });
  });

  it("an order replayed after a reconnect stays one order", () => {
    const store = new TradingStore((callback) => callback());
    store.orderSent(entry);
    const events = [report({ seq: 11 }), report({ seq: 12, exec_type: "replaced", qty: 8, leaves_qty: 8 })];
    store.apply(events, []);
    store.apply([events[1]!], []);
    store.orderAck("web-1", { status: "accepted", order_id: 7, seq: 11 });
    const snapshot = store.snapshot.current();
    expect(snapshot.openOrders.map((row) => [row.clientOrderId, row.qty])).toEqual([["web-1", 8]]);
    expect(snapshot.doneOrders).toEqual([]);
  });

  it("a snapshot replaces the open orders and the account, and persisted state restores the same screen", () => {
    const store = new TradingStore((callback) => callback());
    store.apply([report({})], []);
    store.reset({
      participant: 1,
      seq: 50,
      step: 50,
      time_ms: 500,
      books: [],
      open_orders: [
        {
          order_id: 9,
          client_order_id: "web-2",
          instrument: 0,
          side: "sell",
          order_type: { type: "limit", price: 10_020 },
          tif: { type: "day" },
          status: "new",
          qty: 3,
          cum_qty: 0,
          leaves_qty: 3,
          display_qty: null,
          price: 10_020,
          qty_ahead: 12,
        },
      ],
      account: {
        participant: 1,
        cash: 1,
        equity: 2,
        buying_power: 3,
        realized_pnl: 4,
        unrealized_pnl: 5,
        fees_paid: 6,
        positions: [],
      },
    });
    const snapshot = store.snapshot.current();
    expect(snapshot.openOrders.map((row) => [row.key, row.qtyAhead])).toEqual([["web-2", 12]]);
    expect(snapshot.account?.realized_pnl).toBe(4);
    const copy = new TradingStore((callback) => callback());
    expect(copy.restore(JSON.parse(JSON.stringify(store.persist())))).toBe(true);
    expect(copy.snapshot.current().openOrders).toEqual(snapshot.openOrders);
    expect(copy.restore({ version: 0 })).toBe(false);
  });
});
