import type {
  AccountUpdate,
  EventOf,
  OpenOrder,
  OrderEntry,
  OrderOutcome,
  OrderStatus,
  OrderType,
  RejectReason,
  Side,
  TimeInForce,
} from "@/protocol";

/** One of the user's orders as the blotter shows it. */
export interface OrderRow {
  /** The client order id, or `#<order id>` for an order that has none. */
  key: string;
  orderId: number | null;
  clientOrderId: string | null;
  instrument: number;
  side: Side;
  orderType: OrderType | null;
  tif: TimeInForce | null;
  status: OrderStatus;
  price: number | null;
  qty: number;
  cumQty: number;
  leavesQty: number;
  avgPrice: number | null;
  qtyAhead: number | null;
  ordersAhead: number | null;
  rejectReason: RejectReason | null;
  /** What a rejection or a refusal means, for people. */
  note: string | null;
  updatedMs: number;
}

export interface Fill {
  seq: number;
  timeMs: number;
  orderId: number | null;
  clientOrderId: string | null;
  instrument: number;
  side: Side;
  price: number;
  qty: number;
  fee: number;
  liquidity: string | null;
}

export interface Blotter {
  /** Working orders, by key. */
  open: Map<string, OrderRow>;
  /** Orders that reached a terminal state, newest first (bounded). */
  done: OrderRow[];
  /** Newest first (bounded). */
  fills: Fill[];
  account: AccountUpdate | null;
  /** What the user sent, by client order id, so rows can show type and time in force. */
  entries: Map<string, OrderEntry>;
}

export const MAX_DONE = 200;
export const MAX_FILLS = 500;

export function emptyBlotter(): Blotter {
  return { open: new Map(), done: [], fills: [], account: null, entries: new Map() };
}

function keyOf(clientOrderId: string | null, orderId: number | null): string {
  return clientOrderId ?? `#${orderId ?? "?"}`;
}

function findRow(blotter: Blotter, clientOrderId: string | null, orderId: number | null): OrderRow | undefined {
  const direct = blotter.open.get(keyOf(clientOrderId, orderId));
  if (direct || orderId === null) return direct;
  for (const row of blotter.open.values()) if (row.orderId === orderId) return row;
  return undefined;
}

function retire(blotter: Blotter, row: OrderRow): void {
  blotter.open.delete(row.key);
  blotter.done = [row, ...blotter.done.filter((other) => other.key !== row.key)].slice(0, MAX_DONE);
}

/** Applies an execution report: the order's new state, and a fill when it traded. */
export function applyExecution(blotter: Blotter, event: EventOf<"execution_report">): void {
  const existing = findRow(blotter, event.client_order_id, event.order_id);
  const entry = event.client_order_id ? blotter.entries.get(event.client_order_id) : undefined;
  const row: OrderRow = {
    key: existing?.key ?? keyOf(event.client_order_id, event.order_id),
    orderId: event.order_id ?? existing?.orderId ?? null,
    clientOrderId: event.client_order_id ?? existing?.clientOrderId ?? null,
    instrument: event.instrument,
    side: event.side,
    orderType: existing?.orderType ?? entry?.order_type ?? null,
    tif: existing?.tif ?? entry?.tif ?? null,
    status: event.status,
    price: event.price,
    qty: event.qty,
    cumQty: event.cum_qty,
    leavesQty: event.leaves_qty,
    avgPrice: event.avg_price,
    qtyAhead: event.status === "partially_filled" || event.status === "new" ? (existing?.qtyAhead ?? null) : null,
    ordersAhead: existing?.ordersAhead ?? null,
    rejectReason: event.reject_reason,
    note: existing?.note ?? null,
    updatedMs: event.time_ms,
  };
  if (event.last_qty !== null && event.last_price !== null) {
    const fill: Fill = {
      seq: event.seq,
      timeMs: event.time_ms,
      orderId: row.orderId,
      clientOrderId: row.clientOrderId,
      instrument: event.instrument,
      side: event.side,
      price: event.last_price,
      qty: event.last_qty,
      fee: event.fee,
      liquidity: event.liquidity,
    };
    blotter.fills = [fill, ...blotter.fills].slice(0, MAX_FILLS);
  }
  if (
    event.status === "filled" ||
    event.status === "cancelled" ||
    event.status === "expired" ||
    event.status === "rejected"
  ) {
    retire(blotter, row);
  } else {
    blotter.open.set(row.key, row);
  }
}

export function applyQueuePosition(blotter: Blotter, event: EventOf<"queue_position">): void {
  const row = findRow(blotter, event.client_order_id, event.order_id);
  if (row) blotter.open.set(row.key, { ...row, qtyAhead: event.qty_ahead, ordersAhead: event.orders_ahead });
}

export function applyAccount(blotter: Blotter, event: AccountUpdate): void {
  blotter.account = event;
}

/** The outcome of an order: a rejection is kept with its message (its execution report may already be there). */
export function applyOrderAck(blotter: Blotter, clientOrderId: string, outcome: OrderOutcome): void {
  if (outcome.status === "accepted") return;
  const note =
    outcome.status === "rejected"
      ? outcome.message
      : `This client order id was already used in simulator ${outcome.sim}; the order was not entered.`;
  const done = blotter.done.find((row) => row.clientOrderId === clientOrderId);
  if (done) {
    done.note = note;
    blotter.done = [...blotter.done];
    return;
  }
  const entry = blotter.entries.get(clientOrderId);
  if (!entry) return;
  retire(blotter, {
    ...rowFromEntry(entry),
    status: "rejected",
    rejectReason: outcome.status === "rejected" ? outcome.reason : null,
    note,
  });
}

/** A row for an order the server has not confirmed yet. */
export function rowFromEntry(entry: OrderEntry): OrderRow {
  const type = entry.order_type;
  return {
    key: entry.client_order_id,
    orderId: null,
    clientOrderId: entry.client_order_id,
    instrument: entry.instrument,
    side: entry.side,
    orderType: type,
    tif: entry.tif,
    status: "new",
    price: type.type === "limit" || type.type === "stop_limit" ? type.price : null,
    qty: entry.qty,
    cumQty: 0,
    leavesQty: entry.qty,
    avgPrice: null,
    qtyAhead: null,
    ordersAhead: null,
    rejectReason: null,
    note: null,
    updatedMs: 0,
  };
}

/** A snapshot's working order. */
export function rowFromOpenOrder(order: OpenOrder, timeMs: number): OrderRow {
  return {
    key: keyOf(order.client_order_id, order.order_id),
    orderId: order.order_id,
    clientOrderId: order.client_order_id,
    instrument: order.instrument,
    side: order.side,
    orderType: order.order_type,
    tif: order.tif,
    status: order.status,
    price: order.price,
    qty: order.qty,
    cumQty: order.cum_qty,
    leavesQty: order.leaves_qty,
    avgPrice: null,
    qtyAhead: order.qty_ahead,
    ordersAhead: null,
    rejectReason: null,
    note: null,
    updatedMs: timeMs,
  };
}
