//! A hand-written encoder for `Events` frames, byte for byte what [`codec::encode_into_buffer`] writes for a
//! `Vec<Event>` (bincode standard configuration: varint integers, zigzag signed integers, enum variants as varint
//! `u32`, `Option` as a 0/1 tag, strings and vectors as a varint length and the items). Events are most of what
//! crosses the wasm boundary, and bincode's generic field-by-field writer costs a few hundred instructions an event;
//! this one checks the room once per event and then writes plain bytes. Tests compare it with the derived encoding.

use crate::codec::{self, FrameKind};
use crate::event::{Event, EventBody};
use crate::ids::{CLIENT_ORDER_ID_MAX_LEN, ClientOrderId};
use crate::varint::VarintSink;

/// Room one event needs besides its positions (an execution report, the largest, takes under 200 bytes).
const EVENT_ROOM: usize = 256;
/// Room per position of an account event.
const POSITION_ROOM: usize = 64;

/// A write position in a slice (not the `Vec`: through a `Vec` every byte stored makes the compiler reload the
/// vector's pointer and length, which costs more than bincode's own writer).
struct Out<'a> {
    buffer: &'a mut [u8],
    len: usize,
}

/// Makes sure `room` more bytes fit after `len`.
fn reserve(buffer: &mut Vec<u8>, len: usize, room: usize) {
    if buffer.len() < len + room {
        let grown = (buffer.len() * 2).max(len + room);
        buffer.resize(grown, 0);
    }
}

/// Room one event needs.
fn room(event: &Event) -> usize {
    match &event.body {
        EventBody::Account(update) => EVENT_ROOM + POSITION_ROOM * update.positions.len(),
        _ => EVENT_ROOM,
    }
}

impl VarintSink for Out<'_> {
    #[inline(always)]
    fn byte(&mut self, byte: u8) {
        self.buffer[self.len] = byte;
        self.len += 1;
    }

    #[inline(always)]
    fn le<const N: usize>(&mut self, bytes: [u8; N]) {
        self.buffer[self.len..self.len + N].copy_from_slice(&bytes);
        self.len += N;
    }
}

impl Out<'_> {
    #[inline(always)]
    fn opt_uint(&mut self, value: Option<u64>) {
        self.flag(value.is_some());
        if let Some(value) = value {
            self.uint(value);
        }
    }

    #[inline(always)]
    fn opt_int(&mut self, value: Option<i64>) {
        self.flag(value.is_some());
        if let Some(value) = value {
            self.int(value);
        }
    }

    /// A fieldless enum's variant index (all of them have fewer than 251 variants: one byte).
    #[inline(always)]
    fn opt_variant(&mut self, index: Option<u8>) {
        self.flag(index.is_some());
        if let Some(index) = index {
            self.byte(index);
        }
    }

    #[inline(always)]
    fn client_order_id(&mut self, id: &Option<ClientOrderId>) {
        self.flag(id.is_some());
        if let Some(id) = id {
            let text = id.as_str().as_bytes();
            debug_assert!(text.len() <= CLIENT_ORDER_ID_MAX_LEN);
            self.byte(text.len() as u8);
            self.buffer[self.len..self.len + text.len()].copy_from_slice(text);
            self.len += text.len();
        }
    }

    // Inlined into the loop over events, so the write position lives in a register rather than behind `self`
    // (where every byte stored would force it to be reloaded).
    #[inline(always)]
    fn event(&mut self, event: &Event) {
        self.uint(event.seq);
        self.uint(event.time_ms);
        match &event.body {
            EventBody::ExecutionReport(r) => {
                self.byte(0);
                self.uint(u64::from(r.participant.0));
                self.opt_uint(r.order_id.map(|id| id.0));
                self.client_order_id(&r.client_order_id);
                self.uint(u64::from(r.instrument.0));
                self.byte(r.side as u8);
                self.byte(r.exec_type as u8);
                self.byte(r.status as u8);
                self.opt_int(r.price.map(|p| p.0));
                self.uint(r.qty.0);
                self.uint(r.cum_qty.0);
                self.uint(r.leaves_qty.0);
                self.opt_int(r.avg_price.map(|p| p.0));
                self.opt_int(r.last_price.map(|p| p.0));
                self.opt_uint(r.last_qty.map(|q| q.0));
                self.opt_variant(r.liquidity.map(|l| l as u8));
                self.int(r.fee);
                self.opt_variant(r.reject_reason.map(|r| r as u8));
                self.opt_variant(r.cancel_reason.map(|r| r as u8));
            }
            EventBody::Trade(t) => {
                self.byte(1);
                self.uint(t.trade_id.0);
                self.uint(u64::from(t.instrument.0));
                self.int(t.price.0);
                self.uint(t.qty.0);
                self.byte(t.aggressor as u8);
            }
            EventBody::BookDelta(d) => {
                self.byte(2);
                self.uint(u64::from(d.instrument.0));
                self.byte(d.side as u8);
                self.int(d.price.0);
                self.uint(d.qty.0);
                self.uint(u64::from(d.orders));
            }
            EventBody::Bbo(b) => {
                self.byte(3);
                self.uint(u64::from(b.instrument.0));
                self.opt_int(b.bid_price.map(|p| p.0));
                self.uint(b.bid_qty.0);
                self.opt_int(b.ask_price.map(|p| p.0));
                self.uint(b.ask_qty.0);
            }
            EventBody::Candle(c) => {
                self.byte(4);
                self.uint(u64::from(c.instrument.0));
                self.byte(c.interval as u8);
                self.uint(c.open_time_ms);
                self.int(c.open.0);
                self.int(c.high.0);
                self.int(c.low.0);
                self.int(c.close.0);
                self.uint(c.volume.0);
                self.uint(u64::from(c.trades));
            }
            EventBody::Account(a) => {
                self.byte(5);
                self.uint(u64::from(a.participant.0));
                self.int(a.cash);
                self.int(a.equity);
                self.int(a.buying_power);
                self.int(a.realized_pnl);
                self.int(a.unrealized_pnl);
                self.int(a.fees_paid);
                self.uint(a.positions.len() as u64);
                for p in &a.positions {
                    self.uint(u64::from(p.instrument.0));
                    self.int(p.qty);
                    self.opt_int(p.avg_price.map(|p| p.0));
                    self.int(p.cost_basis);
                    self.int(p.mark_price.0);
                    self.int(p.realized_pnl);
                    self.int(p.unrealized_pnl);
                }
            }
            EventBody::QueuePosition(q) => {
                self.byte(6);
                self.uint(u64::from(q.participant.0));
                self.uint(q.order_id.0);
                self.client_order_id(&q.client_order_id);
                self.uint(u64::from(q.instrument.0));
                self.byte(q.side as u8);
                self.int(q.price.0);
                self.uint(q.qty_ahead.0);
                self.uint(u64::from(q.orders_ahead));
            }
            EventBody::TradingStatus(s) => {
                self.byte(7);
                self.uint(u64::from(s.instrument.0));
                self.flag(s.halted);
                self.opt_uint(s.resumes_at_ms);
            }
            EventBody::RequestRejected(r) => {
                self.byte(8);
                self.uint(u64::from(r.participant.0));
                self.byte(r.request as u8);
                self.opt_uint(r.order_id.map(|id| id.0));
                self.client_order_id(&r.client_order_id);
                self.byte(r.reason as u8);
            }
        }
    }
}

/// Encodes `events` as an `Events` frame at the start of `buffer` (grown as needed, reusable from call to call) and
/// returns the frame's length: the same bytes as `codec::encode_into_buffer(FrameKind::Events, events, buffer)`.
pub fn encode_events_into_buffer(events: &[Event], buffer: &mut Vec<u8>) -> usize {
    let mut len = codec::encode_into_buffer(FrameKind::Events, &(), buffer);
    reserve(buffer, len, 16);
    let mut out = Out { buffer: &mut buffer[..], len };
    out.uint(events.len() as u64);
    len = out.len;
    let mut rest = events;
    while !rest.is_empty() {
        // As many events as surely fit in the buffer as it is, then grow it.
        let mut room_left = buffer.len() - len;
        let fitting = rest
            .iter()
            .take_while(|event| {
                let needed = room(event);
                let fits = needed <= room_left;
                room_left = room_left.saturating_sub(needed);
                fits
            })
            .count();
        if fitting == 0 {
            reserve(buffer, len, room(&rest[0]));
            continue;
        }
        let mut out = Out { buffer: &mut buffer[..], len };
        for event in &rest[..fitting] {
            out.event(event);
        }
        len = out.len;
        rest = &rest[fitting..];
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Side;
    use crate::event::*;
    use crate::ids::{InstrumentId, OrderId, ParticipantId, Price, Qty, TradeId};

    /// Every variant, with integers at the varint width boundaries and of both signs, options both ways.
    fn sample_events() -> Vec<Event> {
        let wide: [u64; 8] = [0, 250, 251, 65_535, 65_536, u64::from(u32::MAX), 1 << 32, u64::MAX];
        let ints: [i64; 8] = [0, -1, 125, -126, 32_767, i64::MIN, i64::MAX, -(1 << 40)];
        let exec_types = [
            ExecType::New,
            ExecType::PendingTrigger,
            ExecType::Triggered,
            ExecType::PartialFill,
            ExecType::Fill,
            ExecType::Cancelled,
            ExecType::Expired,
            ExecType::Replaced,
            ExecType::Rejected,
        ];
        let statuses = [
            OrderStatus::PendingTrigger,
            OrderStatus::New,
            OrderStatus::PartiallyFilled,
            OrderStatus::Filled,
            OrderStatus::Cancelled,
            OrderStatus::Expired,
            OrderStatus::Rejected,
        ];
        let rejects = [
            RejectReason::UnknownInstrument,
            RejectReason::InvalidOrder,
            RejectReason::OffTick,
            RejectReason::OffLot,
            RejectReason::QuantityLimit,
            RejectReason::NotionalLimit,
            RejectReason::PositionLimit,
            RejectReason::OutsidePriceBand,
            RejectReason::InsufficientBuyingPower,
            RejectReason::DuplicateClientOrderId,
            RejectReason::UnknownOrder,
            RejectReason::PostOnlyWouldCross,
            RejectReason::FokNotFillable,
            RejectReason::TradingHalted,
            RejectReason::InvalidAmend,
        ];
        let cancels = [
            CancelReason::Requested,
            CancelReason::MassCancel,
            CancelReason::SelfTradePrevention,
            CancelReason::ImmediateRemainder,
            CancelReason::NoLiquidity,
        ];
        let mut events = Vec::new();
        for i in 0..30 {
            let (w, x) = (wide[i % wide.len()], ints[i % ints.len()]);
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let cid = (i % 3 != 0).then(|| ClientOrderId::parse(&"x1-_.:".repeat(7)[..1 + (5 * i) % 36]).unwrap());
            let some = i % 2 == 1;
            let body = match i % 9 {
                0 => EventBody::ExecutionReport(ExecutionReport {
                    participant: ParticipantId(w as u32),
                    order_id: some.then_some(OrderId(w)),
                    client_order_id: cid,
                    instrument: InstrumentId(w as u16),
                    side,
                    exec_type: exec_types[i % exec_types.len()],
                    status: statuses[i % statuses.len()],
                    price: some.then_some(Price(x)),
                    qty: Qty(w),
                    cum_qty: Qty(w / 3),
                    leaves_qty: Qty(w / 5),
                    avg_price: (!some).then_some(Price(x / 3)),
                    last_price: some.then_some(Price(x / -7)),
                    last_qty: (!some).then_some(Qty(w / 2)),
                    liquidity: [None, Some(Liquidity::Maker), Some(Liquidity::Taker)][i % 3],
                    fee: x,
                    reject_reason: some.then_some(rejects[i % rejects.len()]),
                    cancel_reason: (i % 3 == 0).then_some(cancels[i % cancels.len()]),
                }),
                1 => EventBody::Trade(Trade {
                    trade_id: TradeId(w),
                    instrument: InstrumentId(w as u16),
                    price: Price(x),
                    qty: Qty(w),
                    aggressor: side,
                }),
                2 => EventBody::BookDelta(BookDelta {
                    instrument: InstrumentId(3),
                    side,
                    price: Price(x),
                    qty: Qty(w),
                    orders: w as u32,
                }),
                3 => EventBody::Bbo(Bbo {
                    instrument: InstrumentId(w as u16),
                    bid_price: some.then_some(Price(x)),
                    bid_qty: Qty(w),
                    ask_price: (!some).then_some(Price(x.wrapping_neg())),
                    ask_qty: Qty(w / 9),
                }),
                4 => EventBody::Candle(Candle {
                    instrument: InstrumentId(1),
                    interval: if some { CandleInterval::OneMinute } else { CandleInterval::OneSecond },
                    open_time_ms: w,
                    open: Price(x),
                    high: Price(x / 2),
                    low: Price(x / -3),
                    close: Price(7),
                    volume: Qty(w),
                    trades: w as u32,
                }),
                5 => EventBody::Account(AccountUpdate {
                    participant: ParticipantId(w as u32),
                    cash: x,
                    equity: x / -2,
                    buying_power: x / 3,
                    realized_pnl: 5,
                    unrealized_pnl: -300,
                    fees_paid: x / 11,
                    positions: (0..i % 4)
                        .map(|k| PositionView {
                            instrument: InstrumentId(k as u16 * 300),
                            qty: ints[k],
                            avg_price: (k % 2 == 0).then_some(Price(x)),
                            cost_basis: ints[(k + 3) % 8],
                            mark_price: Price(w as i64),
                            realized_pnl: ints[(k + 5) % 8],
                            unrealized_pnl: -(k as i64),
                        })
                        .collect(),
                }),
                6 => EventBody::QueuePosition(QueuePosition {
                    participant: ParticipantId(1),
                    order_id: OrderId(w),
                    client_order_id: cid,
                    instrument: InstrumentId(w as u16),
                    side,
                    price: Price(x),
                    qty_ahead: Qty(w),
                    orders_ahead: w as u32,
                }),
                7 => EventBody::TradingStatus(TradingStatus {
                    instrument: InstrumentId(0),
                    halted: some,
                    resumes_at_ms: (!some).then_some(w),
                }),
                _ => EventBody::RequestRejected(RequestRejected {
                    participant: ParticipantId(w as u32),
                    request: if some { RequestKind::Amend } else { RequestKind::Cancel },
                    order_id: some.then_some(OrderId(w)),
                    client_order_id: cid,
                    reason: rejects[(i * 7) % rejects.len()],
                }),
            };
            events.push(Event { seq: w, time_ms: wide[(i + 3) % wide.len()], body });
        }
        events
    }

    #[test]
    fn encodes_exactly_as_the_derived_code() {
        let events = sample_events();
        // Every prefix (so each event is also the last), from a buffer that starts too small and is then reused.
        let mut buffer = vec![0; 3];
        for n in 0..=events.len() {
            let len = encode_events_into_buffer(&events[..n], &mut buffer);
            assert_eq!(&buffer[..len], &codec::encode(FrameKind::Events, &events[..n].to_vec())[..], "{n} events");
        }
        // Many events at once: the buffer grows mid-frame.
        let many: Vec<Event> = events.iter().cycle().take(5_000).cloned().collect();
        let mut buffer = Vec::new();
        let len = encode_events_into_buffer(&many, &mut buffer);
        assert_eq!(&buffer[..len], &codec::encode(FrameKind::Events, &many)[..]);
    }
}
