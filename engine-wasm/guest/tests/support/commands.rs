//! A seeded generator of random command batches for differential tests: every order type and time in force,
//! icebergs, post-only, all STP modes, amends, cancels (by order id and client id), mass cancels, halts, several
//! participants including the user and an agent id, and a share of invalid commands. It follows the engine's events
//! so cancels and amends mostly target live orders and prices stay around the market.

use std::collections::HashMap;
use tradesim_core::rng::Rng;
use tradesim_protocol::{
    Batch, ClientOrderId, Command, Event, EventBody, InstrumentId, NewOrder, OrderId, OrderRef, OrderStatus, OrderType,
    ParticipantId, Price, Qty, Side, SimConfig, StpMode, TimeInForce,
};

const PARTICIPANTS: [ParticipantId; 5] =
    [ParticipantId::USER, ParticipantId(2), ParticipantId(3), ParticipantId(42), ParticipantId(1_000_777)];

/// A working order of a commanded participant, as the events describe it.
#[derive(Clone, Copy)]
struct Live {
    participant: ParticipantId,
    order_id: OrderId,
    client_order_id: Option<ClientOrderId>,
    price: Option<Price>,
    qty: Qty,
    cum_qty: Qty,
    instrument: usize,
}

struct Instrument {
    tick: i64,
    lot: u64,
    last_price: i64,
    halted: bool,
}

pub struct CommandGen {
    rng: Rng,
    instruments: Vec<Instrument>,
    live: Vec<Live>,
    live_index: HashMap<OrderId, usize>,
    /// An instrument halted by command, and how many commands until it is resumed.
    resume: Option<(usize, u64)>,
    used_client_ids: Vec<(ParticipantId, ClientOrderId)>,
    next_client_id: u64,
    time_ms: u64,
    step_ms: u64,
}

impl CommandGen {
    pub fn new(config: &SimConfig, seed: u64) -> Self {
        let instruments = config
            .instruments
            .iter()
            .map(|i| Instrument {
                tick: i.tick_size.0,
                lot: i.lot_size.0,
                last_price: i.reference_price.0,
                halted: false,
            })
            .collect();
        Self {
            rng: Rng::seed_from(seed ^ 0x5eed),
            instruments,
            live: Vec::new(),
            live_index: HashMap::new(),
            resume: None,
            used_client_ids: Vec::new(),
            next_client_id: 0,
            time_ms: 0,
            step_ms: u64::from(config.step_ms),
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.rng.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.below(items.len() as u64) as usize]
    }

    /// The next batch: up to 30 commands, then usually a few steps, sometimes many, sometimes none.
    pub fn next_batch(&mut self) -> Batch {
        let count = self.rng.below(31);
        let commands = (0..count).map(|_| self.command_or_resume()).collect();
        let steps = match self.rng.below(100) {
            0..30 => 0,
            30..95 => 1 + self.rng.below(3) as u32,
            _ => 10 + self.rng.below(200) as u32,
        };
        self.time_ms += u64::from(steps) * self.step_ms;
        Batch { commands, steps }
    }

    fn command(&mut self) -> Command {
        match self.rng.below(100) {
            0..68 => Command::NewOrder(self.new_order()),
            68..80 => self.cancel(),
            80..98 => self.amend(),
            98 => {
                let participant = self.pick(&PARTICIPANTS);
                let instrument = self.chance(50).then(|| InstrumentId(self.rng.below(3) as u16));
                let side = self.chance(50).then(|| self.pick(&[Side::Buy, Side::Sell]));
                Command::MassCancel { participant, instrument, side }
            }
            _ => {
                let index = self.rng.below(self.instruments.len() as u64) as usize;
                let halted = !self.instruments[index].halted && self.chance(50);
                self.instruments[index].halted = halted;
                if halted {
                    self.resume = Some((index, 3 + self.rng.below(30)));
                }
                Command::SetTradingStatus { instrument: InstrumentId(index as u16), halted }
            }
        }
    }

    /// Halts by command are short: the resume follows a few commands later.
    fn command_or_resume(&mut self) -> Command {
        match &mut self.resume {
            Some((index, 0)) => {
                let instrument = InstrumentId(*index as u16);
                self.resume = None;
                Command::SetTradingStatus { instrument, halted: false }
            }
            Some((_, countdown)) => {
                *countdown -= 1;
                self.command()
            }
            None => self.command(),
        }
    }

    fn client_order_id(&mut self, participant: ParticipantId) -> Option<ClientOrderId> {
        if participant != ParticipantId::USER && self.chance(20) {
            return None;
        }
        if !self.used_client_ids.is_empty() && self.chance(1) {
            // A deliberate duplicate (of any participant's id, so some are not duplicates for this one).
            let recent = self.rng.below(self.used_client_ids.len().min(50) as u64) as usize;
            return Some(self.used_client_ids[self.used_client_ids.len() - 1 - recent].1);
        }
        self.next_client_id += 1;
        let id = ClientOrderId::parse(&format!("c-{}", self.next_client_id)).expect("valid client order id");
        self.used_client_ids.push((participant, id));
        Some(id)
    }

    /// A price `offset` ticks from the last trade, now and then off tick or far outside the band.
    fn price(&mut self, instrument: usize, side: Side, spread_ticks: i64) -> Price {
        let (tick, last_price) = self.instruments.get(instrument).map_or((1, 10_000), |i| (i.tick, i.last_price));
        let base = last_price - last_price % tick;
        // Buyers mostly bid below, sellers mostly offer above, with enough overlap to trade.
        let offset = self.rng.range_i64(-spread_ticks, spread_ticks / 5) * side.sign();
        let mut price = base + offset * tick;
        match self.rng.below(100) {
            0..3 => price += 1 + self.rng.range_i64(0, tick.max(2) - 2), // off tick when tick > 1
            3..5 => price = base * 2,                                    // outside the band
            _ => {}
        }
        Price(price.max(tick))
    }

    fn qty(&mut self, lot: u64) -> Qty {
        Qty(match self.rng.below(100) {
            0 => 0,
            1 => 1_000_000,     // past max_order_qty
            2 => lot + lot / 2, // off lot when lot > 1
            3..6 => lot * self.rng.range_i64(50, 400) as u64,
            6..8 => lot * self.rng.range_i64(1_000, 3_000) as u64, // notional, position or buying power limits
            _ => lot * (1 + self.rng.below(20)),
        })
    }

    fn tif(&mut self) -> TimeInForce {
        match self.rng.below(100) {
            0..40 => TimeInForce::Gtc,
            40..55 => TimeInForce::Ioc,
            55..65 => TimeInForce::Fok,
            65..80 => {
                // Now and then already expired (invalid_order).
                let ahead = self.rng.range_i64(-50, 5_000);
                TimeInForce::Gtd { expire_at_ms: self.time_ms.saturating_add_signed(ahead) }
            }
            _ => TimeInForce::Day,
        }
    }

    fn new_order(&mut self) -> NewOrder {
        let participant = self.pick(&PARTICIPANTS);
        let instrument = if self.chance(2) { 7 } else { self.rng.below(self.instruments.len() as u64) as usize };
        let lot = self.instruments.get(instrument).map_or(1, |i| i.lot);
        let side = self.pick(&[Side::Buy, Side::Sell]);
        let qty = self.qty(lot);
        let (order_type, tif) = match self.rng.below(100) {
            0..70 => (OrderType::Limit { price: self.price(instrument, side, 30) }, self.tif()),
            70..80 => {
                let tif = if self.chance(90) { self.pick(&[TimeInForce::Ioc, TimeInForce::Fok]) } else { self.tif() };
                (OrderType::Market, tif)
            }
            80..90 => {
                // Stops sit on the far side of the market (buy stops above); the mirrored price usually triggers.
                let stop_price = self.price(instrument, side.opposite(), 20);
                (OrderType::StopMarket { stop_price }, self.tif())
            }
            _ => {
                let stop_price = self.price(instrument, side.opposite(), 20);
                (OrderType::StopLimit { stop_price, price: self.price(instrument, side, 10) }, self.tif())
            }
        };
        let display_qty = match self.rng.below(100) {
            0..10 => Some(Qty((qty.0 / 4 / lot).max(1) * lot)),
            10 => Some(Qty(0)),
            11 => Some(Qty(qty.0 + lot)),
            _ => None,
        };
        NewOrder {
            participant,
            instrument: InstrumentId(instrument as u16),
            client_order_id: self.client_order_id(participant),
            side,
            qty,
            order_type,
            tif,
            display_qty,
            post_only: self.chance(10),
            stp: self.pick(&[StpMode::CancelNewest, StpMode::CancelOldest, StpMode::CancelBoth]),
        }
    }

    /// A live order to act on, sometimes under another participant's name; `None` for an unknown order.
    fn target(&mut self) -> Option<(ParticipantId, OrderRef, Live)> {
        if self.live.is_empty() || self.chance(10) {
            return None;
        }
        let live = self.live[self.rng.below(self.live.len() as u64) as usize];
        let participant = if self.chance(5) { self.pick(&PARTICIPANTS) } else { live.participant };
        let order = match live.client_order_id {
            Some(id) if self.chance(30) => OrderRef::ClientOrderId(id),
            _ => OrderRef::OrderId(live.order_id),
        };
        Some((participant, order, live))
    }

    fn unknown_target(&mut self) -> (ParticipantId, OrderRef) {
        let participant = self.pick(&PARTICIPANTS);
        let order = if self.chance(50) {
            OrderRef::OrderId(OrderId(self.rng.below(1_000_000)))
        } else {
            OrderRef::ClientOrderId(ClientOrderId::parse("never-used").expect("valid client order id"))
        };
        (participant, order)
    }

    fn cancel(&mut self) -> Command {
        let (participant, order) = match self.target() {
            Some((participant, order, _)) => (participant, order),
            None => self.unknown_target(),
        };
        Command::Cancel { participant, order }
    }

    fn amend(&mut self) -> Command {
        let Some((participant, order, live)) = self.target() else {
            let (participant, order) = self.unknown_target();
            return Command::Amend { participant, order, qty: Some(Qty(10)), price: None };
        };
        let (tick, lot) = self.instruments.get(live.instrument).map_or((1, 1), |i| (i.tick, i.lot));
        let new_qty = match self.rng.below(100) {
            0..5 => Some(live.cum_qty), // at or below the filled part: invalid_amend
            5..30 => Some(Qty(live.cum_qty.0 + lot * (1 + self.rng.below(20)))),
            30..45 => Some(Qty((live.qty.0.saturating_sub(lot)).max(live.cum_qty.0 + lot))),
            _ => None,
        };
        let new_price = match live.price {
            Some(price) if new_qty.is_none() || self.chance(40) => {
                Some(Price((price.0 + self.rng.range_i64(-5, 5) * tick).max(tick)))
            }
            // A price on a priceless order, or neither field: invalid_amend.
            None if self.chance(10) => Some(Price(10_000)),
            _ => None,
        };
        Command::Amend { participant, order, qty: new_qty, price: new_price }
    }

    /// Follows what the engine said: live orders, last trade prices.
    pub fn observe(&mut self, events: &[Event]) {
        for event in events {
            match &event.body {
                EventBody::Trade(trade) => {
                    if let Some(instrument) = self.instruments.get_mut(usize::from(trade.instrument.0)) {
                        instrument.last_price = trade.price.0;
                    }
                }
                EventBody::TradingStatus(status) => {
                    if let Some(instrument) = self.instruments.get_mut(usize::from(status.instrument.0)) {
                        instrument.halted = status.halted;
                    }
                }
                EventBody::ExecutionReport(report) => {
                    let Some(order_id) = report.order_id else { continue };
                    let working = matches!(
                        report.status,
                        OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::PendingTrigger
                    );
                    if working {
                        let live = Live {
                            participant: report.participant,
                            order_id,
                            client_order_id: report.client_order_id,
                            price: report.price,
                            qty: report.qty,
                            cum_qty: report.cum_qty,
                            instrument: usize::from(report.instrument.0),
                        };
                        match self.live_index.get(&order_id) {
                            Some(&index) => self.live[index] = live,
                            None => {
                                self.live_index.insert(order_id, self.live.len());
                                self.live.push(live);
                            }
                        }
                    } else if let Some(index) = self.live_index.remove(&order_id) {
                        self.live.swap_remove(index);
                        if let Some(moved) = self.live.get(index) {
                            self.live_index.insert(moved.order_id, index);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
