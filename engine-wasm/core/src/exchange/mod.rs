//! The exchange: validation, price-time matching, stops, expiry, halts, accounts and market data.
//!
//! Every entry point (a command, an agent action, a step boundary) ends with a flush that turns what changed into
//! market-data events, so the events depend only on the sequence of entry points, never on how they were batched.
//!
//! The hot helpers here and in `book` and `account` are `#[cfg_attr(target_arch = "wasm32", inline(always))]`: in
//! wasm a call costs several times what it costs natively (a prologue with a stack-limit check, the shadow stack,
//! spills around it), while natively LLVM's own inlining choices are kept. The code is the same either way.
//!
//! # Invariants
//! - The book is never crossed after an entry point returns.
//! - Every accepted order ends in exactly one terminal state, reported once (for commanded participants).
//! - `seq` increases by one per event; nothing else emits.
//! - `pending` is empty between entry points, and derived indexes (`live_client_ids`, `expiries`, `marks`) are
//!   rebuilt from the snapshotted state on restore.

mod account;
mod book;
mod codec;
mod market_data;
mod order_codec;
mod venue;

use account::{Account, Accounts, fee, notional};
use book::{BookSide, Order, Orders, Slot};
use market_data::{CandleState, Halt};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use tradesim_protocol::ids::MAX_QTY;
use tradesim_protocol::{
    AccountUpdate, Bbo, BookDelta, BookLevel, BookSnapshot, CancelReason, ClientOrderId, Command, EngineView, Event,
    EventBody, ExecType, ExecutionReport, InstrumentConfig, InstrumentId, Liquidity, NewOrder, OpenOrder, OrderId,
    OrderRef, OrderStatus, OrderType, ParticipantId, Price, Qty, QueuePosition, RejectReason, RequestKind,
    RequestRejected, Side, SimConfig, StpMode, TimeInForce, Trade, TradeId, TradingStatus,
};

pub use venue::ExchangeVenue;

/// Per-instrument state other than the resting orders themselves.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
struct InstrumentState {
    last_trade: Option<Price>,
    halt: Option<Halt>,
    last_bbo: Bbo,
    candles: [CandleState; 2],
    /// (time, last trade price) once a simulated second, for the circuit breaker's look-back.
    breaker_samples: Vec<(u64, Price)>,
    /// Pending stop orders, ascending id.
    stops: Vec<OrderId>,
}

#[derive(Debug)]
struct Instrument {
    state: InstrumentState,
    bids: BookSide,
    asks: BookSide,
}

impl Instrument {
    fn new(id: InstrumentId) -> Self {
        Self {
            state: InstrumentState {
                last_trade: None,
                halt: None,
                last_bbo: Bbo {
                    instrument: id,
                    bid_price: None,
                    bid_qty: Qty::ZERO,
                    ask_price: None,
                    ask_qty: Qty::ZERO,
                },
                candles: [CandleState::default(), CandleState::default()],
                breaker_samples: Vec::new(),
                stops: Vec::new(),
            },
            bids: BookSide::new(Side::Buy),
            asks: BookSide::new(Side::Sell),
        }
    }

    fn side(&self, side: Side) -> &BookSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BookSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn bbo(&self, id: InstrumentId) -> Bbo {
        let bid = self.bids.best();
        let ask = self.asks.best();
        Bbo {
            instrument: id,
            bid_price: bid.map(|(price, _)| price),
            bid_qty: bid.map_or(Qty::ZERO, |(_, level)| level.shown),
            ask_price: ask.map(|(price, _)| price),
            ask_qty: ask.map_or(Qty::ZERO, |(_, level)| level.shown),
        }
    }
}

/// What changed since the last flush.
#[derive(Debug, Default)]
struct Pending {
    levels: Vec<(InstrumentId, Side, Price)>,
    accounts: Vec<ParticipantId>,
    /// Scratch space (kept to avoid allocating per flush): levels holding commanded orders, and their changes.
    queued_levels: Vec<(InstrumentId, Side, Price)>,
    queue_changes: Vec<(Slot, (Qty, u32))>,
}

/// An order's effect on its participant's risk; see [`Exchange::check_risk`].
#[derive(Clone, Copy, Debug)]
struct RiskCheck {
    instrument: InstrumentId,
    side: Side,
    price: Price,
    order_qty: Qty,
    added_qty: Qty,
    added_notional: Option<i64>,
}

/// What became of an order that was worked against the book.
#[derive(Clone, Copy, Debug, Default)]
struct Worked {
    filled: Qty,
    resting: bool,
}

#[derive(Debug)]
pub struct Exchange {
    config: SimConfig,
    step: u64,
    time_ms: u64,
    seq: u64,
    next_order_id: u64,
    next_trade_id: u64,
    fees_collected: i64,
    instruments: Vec<Instrument>,
    orders: Orders,
    accounts: Accounts,
    used_client_ids: BTreeSet<(ParticipantId, ClientOrderId)>,
    live_client_ids: FxHashMap<(ParticipantId, ClientOrderId), OrderId>,
    expiries: BTreeSet<(u64, OrderId)>,
    /// Mark price per instrument: last trade, or the reference price before the first trade.
    marks: Vec<Price>,
    /// Price band per instrument, derived from `marks`.
    bands: Vec<(Price, Price)>,
    pending: Pending,
}

fn crosses(side: Side, limit: Price, opposite: Price) -> bool {
    match side {
        Side::Buy => opposite <= limit,
        Side::Sell => opposite >= limit,
    }
}

impl Exchange {
    pub fn new(config: SimConfig) -> Self {
        let instruments = (0..config.instruments.len()).map(|i| Instrument::new(InstrumentId(i as u16))).collect();
        let marks: Vec<Price> = config.instruments.iter().map(|spec| spec.reference_price).collect();
        let bands = config.instruments.iter().zip(&marks).map(|(spec, mark)| band_around(spec, *mark)).collect();
        let mut accounts = Accounts::default();
        accounts
            .get_or_open(ParticipantId::USER, || Account::new(config.account.initial_cash, config.instruments.len()));
        Self {
            config,
            step: 0,
            time_ms: 0,
            seq: 0,
            next_order_id: 1,
            next_trade_id: 1,
            fees_collected: 0,
            instruments,
            orders: Orders::default(),
            accounts,
            used_client_ids: BTreeSet::new(),
            live_client_ids: FxHashMap::default(),
            expiries: BTreeSet::new(),
            marks,
            bands,
            pending: Pending::default(),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn step(&self) -> u64 {
        self.step
    }

    pub fn time_ms(&self) -> u64 {
        self.time_ms
    }

    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Working orders, all participants.
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    pub fn venue<'a>(&'a mut self, out: &'a mut Vec<Event>) -> ExchangeVenue<'a> {
        ExchangeVenue::new(self, out)
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn emit(&mut self, out: &mut Vec<Event>, body: EventBody) {
        self.seq += 1;
        out.push(Event { seq: self.seq, time_ms: self.time_ms, body });
    }

    fn spec(&self, instrument: InstrumentId) -> &InstrumentConfig {
        &self.config.instruments[usize::from(instrument.0)]
    }

    fn instrument(&self, instrument: InstrumentId) -> &Instrument {
        &self.instruments[usize::from(instrument.0)]
    }

    fn instrument_mut(&mut self, instrument: InstrumentId) -> &mut Instrument {
        &mut self.instruments[usize::from(instrument.0)]
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn account_mut(&mut self, participant: ParticipantId) -> &mut Account {
        let cash = if participant.is_agent() { 0 } else { self.config.account.initial_cash };
        let instruments = self.config.instruments.len();
        self.accounts.get_or_open(participant, || Account::new(cash, instruments))
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn touch_account(&mut self, participant: ParticipantId) {
        if !participant.is_agent() {
            self.pending.accounts.push(participant);
        }
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn touch_level(&mut self, instrument: InstrumentId, side: Side, price: Price) {
        self.pending.levels.push((instrument, side, price));
    }

    /// Inclusive range of acceptable limit prices: the band around the last trade (or reference), on ticks.
    pub fn price_band(&self, instrument: InstrumentId) -> (Price, Price) {
        self.bands[usize::from(instrument.0)]
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn set_mark(&mut self, instrument: InstrumentId, price: Price) {
        let index = usize::from(instrument.0);
        if self.marks[index] != price {
            self.marks[index] = price;
            self.bands[index] = band_around(&self.config.instruments[index], price);
        }
    }

    fn is_halted(&self, instrument: InstrumentId) -> bool {
        self.instrument(instrument).state.halt.is_some()
    }

    // ---- entry points -------------------------------------------------------------------------------------------

    pub fn apply(&mut self, command: &Command, out: &mut Vec<Event>) {
        match *command {
            Command::NewOrder(order) => {
                self.new_order(order, out);
            }
            Command::Cancel { participant, order } => self.cancel_request(participant, order, out),
            Command::MassCancel { participant, instrument, side } => {
                self.mass_cancel(participant, instrument, side, out);
            }
            Command::Amend { participant, order, qty, price } => self.amend(participant, order, qty, price, out),
            Command::SetTradingStatus { instrument, halted } => {
                if usize::from(instrument.0) < self.instruments.len() {
                    let halt = halted.then_some(Halt { resumes_at_ms: None });
                    self.set_halt(instrument, halt, out);
                }
            }
        }
        self.settle(out);
    }

    /// Starts a step: time advances, orders expire, automatic halts end.
    pub fn begin_step(&mut self, out: &mut Vec<Event>) {
        self.step += 1;
        self.time_ms = self.step * u64::from(self.config.step_ms);
        while let Some(&(at, id)) = self.expiries.first() {
            if at > self.time_ms {
                break;
            }
            self.expiries.pop_first();
            if let Some(slot) = self.orders.slot(id) {
                self.terminate(slot);
                self.report_terminal(slot, ExecType::Expired, OrderStatus::Expired, None, out);
            }
        }
        for index in 0..self.instruments.len() {
            let instrument = InstrumentId(index as u16);
            if let Some(Halt { resumes_at_ms: Some(at) }) = self.instrument(instrument).state.halt
                && at <= self.time_ms
            {
                self.set_halt(instrument, None, out);
            }
        }
        // Stops reached while trading was halted trigger when it resumes.
        self.trigger_stops(out);
        self.flush(out);
    }

    /// Ends a step: candles close, the circuit breaker samples, accounts are re-marked each simulated second.
    pub fn end_step(&mut self, out: &mut Vec<Event>) {
        let second_boundary = self.time_ms / 1_000 != (self.time_ms - u64::from(self.config.step_ms)) / 1_000;
        for index in 0..self.instruments.len() {
            let instrument = InstrumentId(index as u16);
            self.roll_candles(instrument, self.time_ms, out);
            if second_boundary {
                self.sample_breaker(instrument);
            }
        }
        if second_boundary {
            // Re-mark open positions; the flush sends only the accounts whose view changed.
            let open = self.accounts.iter().filter(|(participant, account)| {
                !participant.is_agent() && account.positions.iter().any(|position| position.qty != 0)
            });
            self.pending.accounts.extend(open.map(|(participant, _)| participant));
        }
        self.flush(out);
    }

    /// After a command or an agent action: stops triggered by its trades, circuit breakers, then the flush.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn settle(&mut self, out: &mut Vec<Event>) {
        // The breaker looks first, so a crash halts trading before the stops it would trigger can sweep the book;
        // those stops trigger when trading resumes.
        self.check_breakers(out);
        if self.trigger_stops(out) {
            self.check_breakers(out);
        }
        self.flush(out);
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn check_breakers(&mut self, out: &mut Vec<Event>) {
        for index in 0..self.instruments.len() {
            self.check_breaker(InstrumentId(index as u16), out);
        }
    }

    // ---- new orders ---------------------------------------------------------------------------------------------

    fn new_order(&mut self, order: NewOrder, out: &mut Vec<Event>) -> crate::venue::Submitted {
        let rejected = |reason| crate::venue::Submitted {
            order_id: None,
            filled: Qty::ZERO,
            resting: false,
            rejected: Some(reason),
        };
        if let Some(client_order_id) = order.client_order_id
            && !self.used_client_ids.insert((order.participant, client_order_id))
        {
            self.report_rejected(&order, RejectReason::DuplicateClientOrderId, out);
            return rejected(RejectReason::DuplicateClientOrderId);
        }
        if let Err(reason) = self.check_new(&order) {
            self.report_rejected(&order, reason, out);
            return rejected(reason);
        }
        let id = OrderId(self.next_order_id);
        self.next_order_id += 1;
        let (price, stop) = match order.order_type {
            OrderType::Limit { price } => (Some(price), false),
            OrderType::Market => (None, false),
            OrderType::StopMarket { .. } => (None, true),
            OrderType::StopLimit { price, .. } => (Some(price), true),
        };
        let expire_at_ms = match order.tif {
            TimeInForce::Gtd { expire_at_ms } => Some(expire_at_ms),
            TimeInForce::Day => Some((self.time_ms / self.config.trading_day_ms + 1) * self.config.trading_day_ms),
            TimeInForce::Gtc | TimeInForce::Ioc | TimeInForce::Fok => None,
        };
        let slot = self.orders.insert(Order {
            id,
            participant: order.participant,
            client_order_id: order.client_order_id,
            instrument: order.instrument,
            side: order.side,
            order_type: order.order_type,
            tif: order.tif,
            price,
            qty: order.qty,
            cum_qty: Qty::ZERO,
            cum_notional: 0,
            display: order.display_qty,
            shown: Qty::ZERO,
            post_only: order.post_only,
            stp: order.stp,
            expire_at_ms,
            status: if stop { OrderStatus::PendingTrigger } else { OrderStatus::New },
            triggered: !stop,
            working: false,
            risk_price: self.risk_price(&order),
            last_queue: None,
        });
        if let Some(client_order_id) = order.client_order_id {
            self.live_client_ids.insert((order.participant, client_order_id), id);
        }
        if let Some(at) = expire_at_ms {
            self.expiries.insert((at, id));
        }
        if stop {
            self.report(slot, ExecType::PendingTrigger, None, out);
            self.make_working(slot);
            let stops = &mut self.instrument_mut(order.instrument).state.stops;
            stops.push(id);
            return crate::venue::Submitted { order_id: Some(id), filled: Qty::ZERO, resting: true, rejected: None };
        }
        self.report(slot, ExecType::New, None, out);
        let worked = self.work(slot, out);
        crate::venue::Submitted { order_id: Some(id), filled: worked.filled, resting: worked.resting, rejected: None }
    }

    /// The price risk checks use: the limit price, or the band edge a priceless order could reach.
    fn risk_price(&self, order: &NewOrder) -> Price {
        match order.order_type {
            OrderType::Limit { price } | OrderType::StopLimit { price, .. } => price,
            OrderType::Market | OrderType::StopMarket { .. } => {
                let (low, high) = self.price_band(order.instrument);
                match order.side {
                    Side::Buy => high,
                    Side::Sell => low,
                }
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn check_new(&self, order: &NewOrder) -> Result<(), RejectReason> {
        let spec =
            self.config.instruments.get(usize::from(order.instrument.0)).ok_or(RejectReason::UnknownInstrument)?;
        let is_limit = matches!(order.order_type, OrderType::Limit { .. });
        let immediate = matches!(order.tif, TimeInForce::Ioc | TimeInForce::Fok);
        let (limit_price, stop_price) = match order.order_type {
            OrderType::Limit { price } => (Some(price), None),
            OrderType::Market => (None, None),
            OrderType::StopMarket { stop_price } => (None, Some(stop_price)),
            OrderType::StopLimit { stop_price, price } => (Some(price), Some(stop_price)),
        };
        let invalid = order.qty.is_zero()
            || order.qty.0 > MAX_QTY
            || order
                .display_qty
                .is_some_and(|display| display.is_zero() || display > order.qty || !is_limit || immediate)
            || (order.post_only && (!is_limit || immediate))
            || (matches!(order.order_type, OrderType::Market) && !immediate)
            || (stop_price.is_some() && immediate)
            || stop_price.is_some_and(|stop| stop.0 <= 0)
            || matches!(order.tif, TimeInForce::Gtd { expire_at_ms } if expire_at_ms <= self.time_ms);
        if invalid {
            return Err(RejectReason::InvalidOrder);
        }
        if self.is_halted(order.instrument) {
            return Err(RejectReason::TradingHalted);
        }
        let off_tick = |price: Option<Price>| price.is_some_and(|p| p.0 % spec.tick_size.0 != 0);
        if off_tick(limit_price) || off_tick(stop_price) {
            return Err(RejectReason::OffTick);
        }
        if !order.qty.0.is_multiple_of(spec.lot_size.0)
            || order.display_qty.is_some_and(|d| !d.0.is_multiple_of(spec.lot_size.0))
        {
            return Err(RejectReason::OffLot);
        }
        let (low, high) = self.price_band(order.instrument);
        if limit_price.is_some_and(|price| price < low || price > high) {
            return Err(RejectReason::OutsidePriceBand);
        }
        if !order.participant.is_agent() {
            let check = RiskCheck {
                instrument: order.instrument,
                side: order.side,
                price: self.risk_price(order),
                order_qty: order.qty,
                added_qty: order.qty,
                added_notional: None,
            };
            self.check_risk(order.participant, check)?;
        }
        if let Some(price) = limit_price.filter(|_| order.post_only) {
            let opposite = self.instrument(order.instrument).side(order.side.opposite()).best();
            if opposite.is_some_and(|(best, _)| crosses(order.side, price, best)) {
                return Err(RejectReason::PostOnlyWouldCross);
            }
        }
        if order.tif == TimeInForce::Fok {
            let limit = limit_price.unwrap_or_else(|| self.risk_price(order));
            if self.fillable(order.participant, order.instrument, order.side, limit, order.stp, order.qty) < order.qty {
                return Err(RejectReason::FokNotFillable);
            }
        }
        Ok(())
    }

    /// Risk checks for a commanded participant's order of `order_qty` at `price` that adds `added_qty` to its
    /// working orders; `added_notional` is the exposure it adds, or None for "the part of `added_qty` that does
    /// not reduce the position".
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn check_risk(&self, participant: ParticipantId, check: RiskCheck) -> Result<(), RejectReason> {
        let limits = &self.config.account;
        if check.order_qty > limits.max_order_qty {
            return Err(RejectReason::QuantityLimit);
        }
        if notional(check.price, check.order_qty) > limits.max_notional {
            return Err(RejectReason::NotionalLimit);
        }
        let fresh;
        let account = match self.accounts.get(participant) {
            Some(account) => account,
            None => {
                fresh = Account::new(limits.initial_cash, self.config.instruments.len());
                &fresh
            }
        };
        let position = &account.positions[usize::from(check.instrument.0)];
        let (directional, working) = match check.side {
            Side::Buy => (position.qty, position.working_buy),
            Side::Sell => (-position.qty, position.working_sell),
        };
        if !check.added_qty.is_zero() && account::exceeds(directional, working, check.added_qty.0, limits.max_position)
        {
            return Err(RejectReason::PositionLimit);
        }
        let added_notional = check.added_notional.unwrap_or_else(|| {
            let reducing = (-directional).max(0) as u64;
            notional(check.price, Qty(check.added_qty.0.saturating_sub(reducing)))
        });
        if added_notional > 0 && added_notional > account.buying_power(limits, &self.marks) {
            return Err(RejectReason::InsufficientBuyingPower);
        }
        Ok(())
    }

    /// Quantity an order could fill at once, walking the book in matching order: own orders stop it unless its
    /// self-trade mode cancels the resting side; icebergs count their reserve.
    fn fillable(
        &self,
        participant: ParticipantId,
        instrument: InstrumentId,
        side: Side,
        limit: Price,
        stp: StpMode,
        wanted: Qty,
    ) -> Qty {
        let book = self.instrument(instrument).side(side.opposite());
        let mut total = 0u64;
        for (price, level) in book.levels() {
            if !crosses(side, limit, price) {
                break;
            }
            for slot in level.queue(&self.orders) {
                let resting = self.orders.get(slot);
                if resting.participant == participant {
                    if stp == StpMode::CancelOldest {
                        continue;
                    }
                    return Qty(total);
                }
                total += resting.leaves().0;
                if total >= wanted.0 {
                    return Qty(total);
                }
            }
        }
        Qty(total)
    }

    /// Matches an incoming (or re-priced, or triggered) order, then rests or cancels what is left.
    fn work(&mut self, slot: Slot, out: &mut Vec<Event>) -> Worked {
        let (participant, instrument, side, stp, price) = {
            let order = self.orders.get(slot);
            (order.participant, order.instrument, order.side, order.stp, order.price)
        };
        let limit = price.unwrap_or_else(|| {
            // Market orders sweep to the band as it stands now, not as it stood at entry.
            let (low, high) = self.price_band(instrument);
            if side == Side::Buy { high } else { low }
        });
        let mut filled = Qty::ZERO;
        while let Some((best, level)) = self.instrument(instrument).side(side.opposite()).best() {
            if !crosses(side, limit, best) {
                break;
            }
            let maker = level.front();
            if self.orders.get(maker).participant == participant {
                match stp {
                    StpMode::CancelNewest => {
                        self.cancel(slot, CancelReason::SelfTradePrevention, out);
                        return Worked { filled, resting: false };
                    }
                    StpMode::CancelOldest => {
                        self.cancel(maker, CancelReason::SelfTradePrevention, out);
                        continue;
                    }
                    StpMode::CancelBoth => {
                        self.cancel(maker, CancelReason::SelfTradePrevention, out);
                        self.cancel(slot, CancelReason::SelfTradePrevention, out);
                        return Worked { filled, resting: false };
                    }
                }
            }
            let qty = self.orders.get(slot).leaves().min(self.orders.get(maker).shown);
            filled.0 += qty.0;
            if self.fill(slot, maker, best, qty, out) {
                return Worked { filled, resting: false };
            }
        }
        let order = self.orders.get(slot);
        let reason = match (order.price, order.tif) {
            (None, _) => Some(CancelReason::NoLiquidity),
            (Some(_), TimeInForce::Ioc | TimeInForce::Fok) => Some(CancelReason::ImmediateRemainder),
            _ => None,
        };
        if let Some(reason) = reason {
            self.cancel(slot, reason, out);
            return Worked { filled, resting: false };
        }
        self.rest(slot);
        Worked { filled, resting: true }
    }

    /// Puts an order at the back of its price level.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn rest(&mut self, slot: Slot) {
        let order = self.orders.get_mut(slot);
        order.shown = order.display.map_or(order.leaves(), |display| display.min(order.leaves()));
        // A new place in a queue is always announced, even if the numbers happen to match the old one.
        order.last_queue = None;
        let (instrument, side, price) = (order.instrument, order.side, order.price.unwrap_or_default());
        let index = usize::from(instrument.0);
        self.instruments[index].side_mut(side).push_back(&mut self.orders, slot);
        self.touch_level(instrument, side, price);
        self.make_working(slot);
    }

    /// Counts an order (resting or pending stop) in its participant's working totals.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn make_working(&mut self, slot: Slot) {
        let order = self.orders.get_mut(slot);
        order.working = true;
        let (participant, instrument, side, price, leaves) =
            (order.participant, order.instrument, order.side, order.risk_price, order.leaves());
        if !participant.is_agent() {
            self.account_mut(participant).add_working(instrument, side, price, leaves, 1);
            self.touch_account(participant);
        }
    }

    /// Takes an order out of the book (or the stop list) and out of its participant's working totals.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn unwork(&mut self, slot: Slot) {
        let order = self.orders.get(slot);
        if !order.working {
            return;
        }
        let (participant, instrument, side, price, leaves, risk_price, triggered, id) = (
            order.participant,
            order.instrument,
            order.side,
            order.price.unwrap_or_default(),
            order.leaves(),
            order.risk_price,
            order.triggered,
            order.id,
        );
        if triggered {
            self.instruments[usize::from(instrument.0)].side_mut(side).unlink(&mut self.orders, slot);
            self.touch_level(instrument, side, price);
        } else {
            self.instrument_mut(instrument).state.stops.retain(|stop| *stop != id);
        }
        self.orders.get_mut(slot).working = false;
        if !participant.is_agent() {
            self.account_mut(participant).add_working(instrument, side, risk_price, leaves, -1);
            self.touch_account(participant);
        }
    }

    /// Removes an order for good; it stays readable (`self.orders.removed_mut(slot)`) until the next insert.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn terminate(&mut self, slot: Slot) {
        self.unwork(slot);
        self.orders.remove(slot);
        let order = self.orders.removed_mut(slot);
        if let Some(client_order_id) = order.client_order_id {
            self.live_client_ids.remove(&(order.participant, client_order_id));
        }
        if let Some(at) = order.expire_at_ms {
            self.expiries.remove(&(at, order.id));
        }
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn cancel(&mut self, slot: Slot, reason: CancelReason, out: &mut Vec<Event>) {
        self.terminate(slot);
        self.report_terminal(slot, ExecType::Cancelled, OrderStatus::Cancelled, Some(reason), out);
    }

    /// One fill between the incoming order at `taker` and the resting order at `maker`. Returns true when the
    /// taker is completely filled (and gone).
    fn fill(&mut self, taker: Slot, maker: Slot, price: Price, qty: Qty, out: &mut Vec<Event>) -> bool {
        let trade_id = TradeId(self.next_trade_id);
        self.next_trade_id += 1;
        let (instrument, taker_side, taker_participant) = {
            let order = self.orders.get(taker);
            (order.instrument, order.side, order.participant)
        };
        let (maker_participant, maker_risk_price, maker_display) = {
            let order = self.orders.get(maker);
            (order.participant, order.risk_price, order.display)
        };
        let value = notional(price, qty);
        for slot in [taker, maker] {
            let order = self.orders.get_mut(slot);
            order.cum_qty.0 += qty.0;
            order.cum_notional = order.cum_notional.saturating_add(value);
            order.status = if order.leaves().is_zero() { OrderStatus::Filled } else { OrderStatus::PartiallyFilled };
        }
        let index = usize::from(instrument.0);
        let maker_side = taker_side.opposite();
        let maker_shown = Qty(self.orders.get(maker).shown.0 - qty.0);
        self.instruments[index].side_mut(maker_side).set_shown(&mut self.orders, maker, maker_shown);
        self.touch_level(instrument, maker_side, price);

        let maker_fee = self.fee_for(maker_participant, value, Liquidity::Maker);
        let taker_fee = self.fee_for(taker_participant, value, Liquidity::Taker);
        self.fees_collected = self.fees_collected.saturating_add(maker_fee).saturating_add(taker_fee);
        // One lookup per account (the two are distinct: self-trade prevention never lets an order meet its own).
        let maker_account = self.account_mut(maker_participant);
        maker_account.fill(instrument, maker_side, price, qty, maker_fee);
        if !maker_participant.is_agent() {
            maker_account.add_working(instrument, maker_side, maker_risk_price, qty, -1);
        }
        self.account_mut(taker_participant).fill(instrument, taker_side, price, qty, taker_fee);
        self.touch_account(maker_participant);
        self.touch_account(taker_participant);

        self.instruments[index].state.last_trade = Some(price);
        self.set_mark(instrument, price);
        self.roll_candles(instrument, self.time_ms, out);
        market_data::add_trade(&mut self.instruments[index].state.candles, self.time_ms, price, qty);
        self.emit(out, EventBody::Trade(Trade { trade_id, instrument, price, qty, aggressor: taker_side }));
        let fill = |liquidity, fee| Some((price, qty, liquidity, fee));
        self.report(maker, exec_type_after_fill(self.orders.get(maker)), fill(Liquidity::Maker, maker_fee), out);
        self.report(taker, exec_type_after_fill(self.orders.get(taker)), fill(Liquidity::Taker, taker_fee), out);

        let maker_order = self.orders.get(maker);
        if maker_order.leaves().is_zero() {
            self.terminate(maker);
        } else if maker_order.shown.is_zero() {
            // Iceberg refresh: the new slice queues behind everyone already at this price.
            let refresh = maker_display.map_or(maker_order.leaves(), |d| d.min(maker_order.leaves()));
            self.instruments[index].side_mut(maker_side).unlink(&mut self.orders, maker);
            self.orders.get_mut(maker).shown = refresh;
            self.instruments[index].side_mut(maker_side).push_back(&mut self.orders, maker);
        }
        if self.orders.get(taker).leaves().is_zero() {
            self.terminate(taker);
            return true;
        }
        false
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn fee_for(&self, participant: ParticipantId, value: i64, liquidity: Liquidity) -> i64 {
        if participant.is_agent() {
            return 0;
        }
        match liquidity {
            Liquidity::Maker => fee(value, self.config.account.maker_fee_ppm),
            Liquidity::Taker => fee(value, self.config.account.taker_fee_ppm),
        }
    }

    /// Triggers and works every stop whose price was reached, lowest order id first; true if any triggered.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn trigger_stops(&mut self, out: &mut Vec<Event>) -> bool {
        let mut any = false;
        loop {
            let mut next: Option<OrderId> = None;
            for instrument in &self.instruments {
                let Some(last) = instrument.state.last_trade.filter(|_| instrument.state.halt.is_none()) else {
                    continue;
                };
                let triggered = instrument.state.stops.iter().copied().find(|id| {
                    self.orders.slot(*id).is_some_and(|slot| {
                        let order = self.orders.get(slot);
                        let stop = order.stop_price().unwrap_or_default();
                        match order.side {
                            Side::Buy => last >= stop,
                            Side::Sell => last <= stop,
                        }
                    })
                });
                next = match (next, triggered) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            let Some(slot) = next.and_then(|id| self.orders.slot(id)) else { return any };
            any = true;
            self.unwork(slot);
            let order = self.orders.get_mut(slot);
            order.triggered = true;
            order.status = OrderStatus::New;
            self.report(slot, ExecType::Triggered, None, out);
            self.work(slot, out);
        }
    }

    // ---- cancels and amends -------------------------------------------------------------------------------------

    /// The working order `reference` names, if it belongs to `participant`.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn resolve(&self, participant: ParticipantId, reference: OrderRef) -> Option<Slot> {
        let id = match reference {
            OrderRef::OrderId(id) => id,
            OrderRef::ClientOrderId(client_order_id) => *self.live_client_ids.get(&(participant, client_order_id))?,
        };
        self.orders.slot(id).filter(|slot| self.orders.get(*slot).participant == participant)
    }

    fn reject_request(
        &mut self,
        participant: ParticipantId,
        request: RequestKind,
        reference: OrderRef,
        known: Option<Slot>,
        reason: RejectReason,
        out: &mut Vec<Event>,
    ) {
        if participant.is_agent() {
            return;
        }
        let (mut order_id, mut client_order_id) = match reference {
            OrderRef::OrderId(id) => (Some(id), None),
            OrderRef::ClientOrderId(client_order_id) => (None, Some(client_order_id)),
        };
        if let Some(slot) = known {
            let order = self.orders.get(slot);
            order_id = Some(order.id);
            client_order_id = order.client_order_id;
        }
        let body = RequestRejected { participant, request, order_id, client_order_id, reason };
        self.emit(out, EventBody::RequestRejected(body));
    }

    fn cancel_request(&mut self, participant: ParticipantId, reference: OrderRef, out: &mut Vec<Event>) {
        match self.resolve(participant, reference) {
            Some(slot) => self.cancel(slot, CancelReason::Requested, out),
            None => {
                self.reject_request(participant, RequestKind::Cancel, reference, None, RejectReason::UnknownOrder, out)
            }
        }
    }

    fn mass_cancel(
        &mut self,
        participant: ParticipantId,
        instrument: Option<InstrumentId>,
        side: Option<Side>,
        out: &mut Vec<Event>,
    ) {
        let mut ids: Vec<OrderId> = self
            .orders
            .iter()
            .filter(|order| {
                order.working
                    && order.participant == participant
                    && instrument.is_none_or(|i| i == order.instrument)
                    && side.is_none_or(|s| s == order.side)
            })
            .map(|order| order.id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(slot) = self.orders.slot(id) {
                self.cancel(slot, CancelReason::MassCancel, out);
            }
        }
    }

    fn amend(
        &mut self,
        participant: ParticipantId,
        reference: OrderRef,
        qty: Option<Qty>,
        price: Option<Price>,
        out: &mut Vec<Event>,
    ) {
        let Some(slot) = self.resolve(participant, reference) else {
            self.reject_request(participant, RequestKind::Amend, reference, None, RejectReason::UnknownOrder, out);
            return;
        };
        let (new_qty, new_price) = match self.check_amend(slot, qty, price) {
            Ok(accepted) => accepted,
            Err(reason) => {
                self.reject_request(participant, RequestKind::Amend, reference, Some(slot), reason, out);
                return;
            }
        };
        let order = self.orders.get(slot);
        let keeps_priority = order.triggered && new_price == order.price && new_qty <= order.qty;
        if keeps_priority {
            let (instrument, side, old_leaves, risk_price) =
                (order.instrument, order.side, order.leaves(), order.risk_price);
            let new_leaves = Qty(new_qty.0 - order.cum_qty.0);
            let (old_shown, shown) = (order.shown, order.shown.min(new_leaves));
            self.orders.get_mut(slot).qty = new_qty;
            if shown != old_shown {
                self.instruments[usize::from(instrument.0)].side_mut(side).set_shown(&mut self.orders, slot, shown);
                self.touch_level(instrument, side, order_price(self.orders.get(slot)));
            }
            if !participant.is_agent() {
                let account = self.account_mut(participant);
                account.add_working(instrument, side, risk_price, Qty(old_leaves.0 - new_leaves.0), -1);
                self.touch_account(participant);
            }
            self.report(slot, ExecType::Replaced, None, out);
            return;
        }
        let was_stop = !order.triggered;
        self.unwork(slot);
        let order = self.orders.get_mut(slot);
        order.qty = new_qty;
        if let Some(new_price) = new_price {
            order.price = Some(new_price);
            order.risk_price = new_price;
            if let OrderType::StopLimit { stop_price, .. } = order.order_type {
                order.order_type = OrderType::StopLimit { stop_price, price: new_price };
            } else if let OrderType::Limit { .. } = order.order_type {
                order.order_type = OrderType::Limit { price: new_price };
            }
        }
        self.report(slot, ExecType::Replaced, None, out);
        if was_stop {
            self.make_working(slot);
            let order = self.orders.get(slot);
            let (instrument, id) = (order.instrument, order.id);
            let stops = &mut self.instrument_mut(instrument).state.stops;
            let at = stops.partition_point(|stop| *stop < id);
            stops.insert(at, id);
        } else {
            self.work(slot, out);
        }
    }

    fn check_amend(
        &self,
        slot: Slot,
        qty: Option<Qty>,
        price: Option<Price>,
    ) -> Result<(Qty, Option<Price>), RejectReason> {
        let order = self.orders.get(slot);
        let spec = self.spec(order.instrument);
        if qty.is_none() && price.is_none() {
            return Err(RejectReason::InvalidAmend);
        }
        if price.is_some() && order.price.is_none() {
            return Err(RejectReason::InvalidAmend);
        }
        let new_qty = qty.unwrap_or(order.qty);
        if new_qty <= order.cum_qty || new_qty.0 > MAX_QTY {
            return Err(RejectReason::InvalidAmend);
        }
        if self.is_halted(order.instrument) {
            return Err(RejectReason::TradingHalted);
        }
        if price.is_some_and(|p| p.0 % spec.tick_size.0 != 0) {
            return Err(RejectReason::OffTick);
        }
        if !new_qty.0.is_multiple_of(spec.lot_size.0) {
            return Err(RejectReason::OffLot);
        }
        let (low, high) = self.price_band(order.instrument);
        if price.is_some_and(|p| p < low || p > high) {
            return Err(RejectReason::OutsidePriceBand);
        }
        let new_price = price.or(order.price);
        if !order.participant.is_agent() {
            let price = new_price.unwrap_or(order.risk_price);
            let new_leaves = Qty(new_qty.0 - order.cum_qty.0);
            let check = RiskCheck {
                instrument: order.instrument,
                side: order.side,
                price,
                order_qty: new_qty,
                added_qty: Qty(new_leaves.0.saturating_sub(order.leaves().0)),
                added_notional: Some(notional(price, new_leaves) - notional(order.risk_price, order.leaves())),
            };
            self.check_risk(order.participant, check)?;
        }
        if order.post_only
            && let Some(p) = new_price
            && let Some((best, _)) = self.instrument(order.instrument).side(order.side.opposite()).best()
            && crosses(order.side, p, best)
        {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        Ok((new_qty, price.or(if order.triggered { order.price } else { None })))
    }

    // ---- halts and the circuit breaker --------------------------------------------------------------------------

    fn set_halt(&mut self, instrument: InstrumentId, halt: Option<Halt>, out: &mut Vec<Event>) {
        let now = self.time_ms;
        let state = &mut self.instrument_mut(instrument).state;
        if state.halt == halt {
            return;
        }
        state.halt = halt;
        if halt.is_none() {
            // A fresh look-back after a halt, so the move that caused it does not halt again at once.
            state.breaker_samples.clear();
            if let Some(last) = state.last_trade {
                state.breaker_samples.push((now, last));
            }
        }
        let status =
            TradingStatus { instrument, halted: halt.is_some(), resumes_at_ms: halt.and_then(|h| h.resumes_at_ms) };
        self.emit(out, EventBody::TradingStatus(status));
    }

    fn sample_breaker(&mut self, instrument: InstrumentId) {
        let Some(breaker) = self.spec(instrument).circuit_breaker else { return };
        let now = self.time_ms;
        let state = &mut self.instrument_mut(instrument).state;
        if let Some(last) = state.last_trade {
            state.breaker_samples.push((now, last));
        }
        let stale = state.breaker_samples.iter().take_while(|(at, _)| now - at > breaker.window_ms).count();
        state.breaker_samples.drain(..stale);
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn check_breaker(&mut self, instrument: InstrumentId, out: &mut Vec<Event>) {
        let Some(breaker) = self.spec(instrument).circuit_breaker else { return };
        let state = &self.instrument(instrument).state;
        let (Some(last), Some(&(_, reference)), None) = (state.last_trade, state.breaker_samples.first(), state.halt)
        else {
            return;
        };
        let moved = i128::from((last.0 - reference.0).abs()) * 10_000;
        if moved > i128::from(breaker.move_bps) * i128::from(reference.0) {
            let halt = Halt { resumes_at_ms: Some(self.time_ms + breaker.halt_ms) };
            self.set_halt(instrument, Some(halt), out);
        }
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn roll_candles(&mut self, instrument: InstrumentId, now: u64, out: &mut Vec<Event>) {
        let mut closed = Vec::new();
        market_data::roll_candles(&mut self.instrument_mut(instrument).state.candles, instrument, now, &mut closed);
        for candle in closed {
            self.emit(out, EventBody::Candle(candle));
        }
    }

    // ---- reports and the flush ----------------------------------------------------------------------------------

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn report(
        &mut self,
        slot: Slot,
        exec_type: ExecType,
        fill: Option<(Price, Qty, Liquidity, i64)>,
        out: &mut Vec<Event>,
    ) {
        let order = self.orders.get(slot);
        if order.is_reported() {
            let report = execution_report(order, exec_type, fill, None);
            self.emit(out, EventBody::ExecutionReport(report));
        }
    }

    /// Reports the end of the order just terminated at `slot`.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn report_terminal(
        &mut self,
        slot: Slot,
        exec_type: ExecType,
        status: OrderStatus,
        cancel_reason: Option<CancelReason>,
        out: &mut Vec<Event>,
    ) {
        let order = self.orders.removed_mut(slot);
        order.status = status;
        let participant = order.participant;
        let report = order.is_reported().then(|| execution_report(order, exec_type, None, cancel_reason));
        self.touch_account(participant);
        if let Some(report) = report {
            self.emit(out, EventBody::ExecutionReport(report));
        }
    }

    fn report_rejected(&mut self, order: &NewOrder, reason: RejectReason, out: &mut Vec<Event>) {
        if order.participant.is_agent() {
            return;
        }
        let price = match order.order_type {
            OrderType::Limit { price } | OrderType::StopLimit { price, .. } => Some(price),
            OrderType::Market | OrderType::StopMarket { .. } => None,
        };
        let report = ExecutionReport {
            participant: order.participant,
            order_id: None,
            client_order_id: order.client_order_id,
            instrument: order.instrument,
            side: order.side,
            exec_type: ExecType::Rejected,
            status: OrderStatus::Rejected,
            price,
            qty: order.qty,
            cum_qty: Qty::ZERO,
            leaves_qty: Qty::ZERO,
            avg_price: None,
            last_price: None,
            last_qty: None,
            liquidity: None,
            fee: 0,
            reject_reason: Some(reason),
            cancel_reason: None,
        };
        self.emit(out, EventBody::ExecutionReport(report));
    }

    /// Turns what changed since the last flush into market-data events.
    fn flush(&mut self, out: &mut Vec<Event>) {
        if !self.pending.levels.is_empty() {
            let mut levels = std::mem::take(&mut self.pending.levels);
            levels.sort_unstable_by_key(|&(instrument, side, price)| {
                (instrument, side == Side::Sell, if side == Side::Buy { -price.0 } else { price.0 })
            });
            levels.dedup();
            let mut queued = std::mem::take(&mut self.pending.queued_levels);
            for &(instrument, side, price) in &levels {
                let level = self.instrument(instrument).side(side).level(price);
                let (qty, orders) = level.map_or((Qty::ZERO, 0), |level| (level.shown, level.orders));
                if level.is_some_and(|level| level.reported > 0) {
                    queued.push((instrument, side, price));
                }
                self.emit(out, EventBody::BookDelta(BookDelta { instrument, side, price, qty, orders }));
            }
            // Levels are sorted by instrument: check each touched instrument's BBO once.
            let mut previous = None;
            for &(instrument, _, _) in &levels {
                if previous.replace(instrument) == Some(instrument) {
                    continue;
                }
                let bbo = self.instrument(instrument).bbo(instrument);
                if bbo != self.instrument(instrument).state.last_bbo {
                    self.instrument_mut(instrument).state.last_bbo = bbo;
                    self.emit(out, EventBody::Bbo(bbo));
                }
            }
            for &(instrument, side, price) in &queued {
                self.flush_queue_positions(instrument, side, price, out);
            }
            queued.clear();
            self.pending.queued_levels = queued;
            levels.clear();
            self.pending.levels = levels;
        }
        if !self.pending.accounts.is_empty() {
            let mut participants = std::mem::take(&mut self.pending.accounts);
            participants.sort_unstable();
            participants.dedup();
            for &participant in &participants {
                let Some(account) = self.accounts.get_mut(participant) else { continue };
                let fingerprint = account.fingerprint(&self.marks);
                if account.last_sent != Some(fingerprint) {
                    account.last_sent = Some(fingerprint);
                    let update = account.view(participant, &self.config.account, &self.marks);
                    self.emit(out, EventBody::Account(update));
                }
            }
            participants.clear();
            self.pending.accounts = participants;
        }
    }

    /// Sends the queue positions that changed on a level holding orders of commanded participants.
    fn flush_queue_positions(&mut self, instrument: InstrumentId, side: Side, price: Price, out: &mut Vec<Event>) {
        let mut changed = std::mem::take(&mut self.pending.queue_changes);
        self.instruments[usize::from(instrument.0)].side_mut(side).queue_changes(&self.orders, price, &mut changed);
        for &(slot, (qty_ahead, orders_ahead)) in &changed {
            let order = self.orders.get_mut(slot);
            order.last_queue = Some((qty_ahead, orders_ahead));
            let position = QueuePosition {
                participant: order.participant,
                order_id: order.id,
                client_order_id: order.client_order_id,
                instrument,
                side,
                price,
                qty_ahead,
                orders_ahead,
            };
            self.emit(out, EventBody::QueuePosition(position));
        }
        changed.clear();
        self.pending.queue_changes = changed;
    }

    /// Checks the structural invariants: intact levels, no crossed book, every live order accounted for.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut linked = 0;
        for (index, instrument) in self.instruments.iter().enumerate() {
            linked += instrument.bids.check(&self.orders)? + instrument.asks.check(&self.orders)?;
            linked += instrument.state.stops.len();
            if let (Some((bid, _)), Some((ask, _))) = (instrument.bids.best(), instrument.asks.best())
                && bid >= ask
            {
                return Err(format!("instrument {index}: crossed book, bid {bid} >= ask {ask}"));
            }
        }
        if linked != self.orders.len() {
            return Err(format!("{} live orders but {linked} in books and stop lists", self.orders.len()));
        }
        Ok(())
    }

    // ---- views --------------------------------------------------------------------------------------------------

    pub fn book_snapshot(&self, instrument: InstrumentId, depth: usize) -> BookSnapshot {
        let book = self.instrument(instrument);
        let levels = |side: &BookSide| {
            side.levels()
                .take(depth)
                .map(|(price, level)| BookLevel { price, qty: level.shown, orders: level.orders })
                .collect()
        };
        let halt = book.state.halt;
        BookSnapshot {
            instrument,
            bids: levels(&book.bids),
            asks: levels(&book.asks),
            last_trade_price: book.state.last_trade,
            status: TradingStatus {
                instrument,
                halted: halt.is_some(),
                resumes_at_ms: halt.and_then(|h| h.resumes_at_ms),
            },
        }
    }

    pub fn account_update(&self, participant: ParticipantId) -> AccountUpdate {
        let fresh = Account::new(self.config.account.initial_cash, self.config.instruments.len());
        let account = self.accounts.get(participant).unwrap_or(&fresh);
        account.view(participant, &self.config.account, &self.marks)
    }

    pub fn view(&self, participant: ParticipantId, depth: usize) -> EngineView {
        let mut open_orders: Vec<OpenOrder> = self
            .orders
            .iter()
            .filter(|order| order.working && order.participant == participant)
            .map(|order| OpenOrder {
                order_id: order.id,
                client_order_id: order.client_order_id,
                instrument: order.instrument,
                side: order.side,
                order_type: order.order_type,
                tif: order.tif,
                status: order.status,
                qty: order.qty,
                cum_qty: order.cum_qty,
                leaves_qty: order.leaves(),
                display_qty: order.display,
                price: order.price,
                qty_ahead: order.triggered.then(|| self.qty_ahead(order)),
            })
            .collect();
        open_orders.sort_unstable_by_key(|order| order.order_id);
        EngineView {
            participant,
            seq: self.seq,
            step: self.step,
            time_ms: self.time_ms,
            books: (0..self.instruments.len()).map(|i| self.book_snapshot(InstrumentId(i as u16), depth)).collect(),
            open_orders,
            account: self.account_update(participant),
        }
    }

    fn qty_ahead(&self, order: &Order) -> Qty {
        let book = self.instrument(order.instrument).side(order.side);
        let ahead = book
            .queue(&self.orders, order_price(order))
            .map(|slot| self.orders.get(slot))
            .take_while(|other| other.id != order.id)
            .map(|other| other.shown.0)
            .sum();
        Qty(ahead)
    }
}

/// The price band around `reference`: `price_band_bps` either side, inward to ticks, never below one tick.
fn band_around(spec: &InstrumentConfig, reference: Price) -> (Price, Price) {
    let (reference, tick) = (reference.0, spec.tick_size.0);
    // At most `reference` (the band is at most 10000 bps), so exact.
    let delta = account::mul_div(reference, i64::from(spec.price_band_bps), 10_000);
    let low = (reference - delta + tick - 1).div_euclid(tick) * tick;
    let high = (reference + delta).div_euclid(tick) * tick;
    (Price(low.max(tick)), Price(high))
}

fn order_price(order: &Order) -> Price {
    order.price.unwrap_or_default()
}

fn exec_type_after_fill(order: &Order) -> ExecType {
    if order.leaves().is_zero() { ExecType::Fill } else { ExecType::PartialFill }
}

fn execution_report(
    order: &Order,
    exec_type: ExecType,
    fill: Option<(Price, Qty, Liquidity, i64)>,
    cancel_reason: Option<CancelReason>,
) -> ExecutionReport {
    let terminal = order.status.is_terminal();
    let avg_price = (!order.cum_qty.is_zero())
        .then(|| Price(account::round_div(order.cum_notional, i64::try_from(order.cum_qty.0).unwrap_or(i64::MAX))));
    ExecutionReport {
        participant: order.participant,
        order_id: Some(order.id),
        client_order_id: order.client_order_id,
        instrument: order.instrument,
        side: order.side,
        exec_type,
        status: order.status,
        price: order.price,
        qty: order.qty,
        cum_qty: order.cum_qty,
        leaves_qty: if terminal { Qty::ZERO } else { order.leaves() },
        avg_price,
        last_price: fill.map(|(price, ..)| price),
        last_qty: fill.map(|(_, qty, ..)| qty),
        liquidity: fill.map(|(_, _, liquidity, _)| liquidity),
        fee: fill.map_or(0, |(.., fee)| fee),
        reject_reason: None,
        cancel_reason,
    }
}
