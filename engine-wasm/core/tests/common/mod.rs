//! Shared helpers for the engine's black-box tests: a small test market, order builders and event finders, so each
//! test reads like the rule it checks. Everything goes through the public API only.

// Each test binary compiles this module and uses its own subset of it.
#![allow(dead_code)]

use tradesim_core::Engine;
use tradesim_protocol::{
    AccountConfig, AccountUpdate, Bbo, BookDelta, BookSnapshot, Candle, CandleInterval, ClientOrderId, Command,
    EngineView, Event, EventBody, ExecType, ExecutionReport, InstrumentConfig, InstrumentId, NewOrder, OrderId,
    OrderRef, OrderType, ParticipantId, PositionView, Price, Qty, QueuePosition, RequestRejected, Scenario, Side,
    SimConfig, StpMode, TimeInForce, Trade, TradingStatus,
};

pub const USER: ParticipantId = ParticipantId::USER;
pub const P2: ParticipantId = ParticipantId(2);
pub const P3: ParticipantId = ParticipantId(3);
pub const P4: ParticipantId = ParticipantId(4);
pub const AGENT: ParticipantId = ParticipantId(ParticipantId::FIRST_AGENT);

/// Tick 1, lot 1, reference 10_000, band ±10 %: [9_000, 11_000].
pub const SIM: InstrumentId = InstrumentId(0);
/// Tick 5, lot 10, reference 10_000, band ±7 bps = [9_993, 10_007], which rounds inwards to ticks: [9_995, 10_005].
pub const ODD: InstrumentId = InstrumentId(1);
/// Not configured.
pub const NOWHERE: InstrumentId = InstrumentId(9);

pub const STEP_MS: u64 = 10;
/// Short trading days so DAY expiry is reachable in a few hundred steps.
pub const DAY_MS: u64 = 1_000;
pub const SEED: u64 = 7;

pub fn config() -> SimConfig {
    let instrument = |symbol: &str, tick, lot, band_bps| InstrumentConfig {
        symbol: symbol.to_owned(),
        price_decimals: 2,
        tick_size: Price(tick),
        lot_size: Qty(lot),
        reference_price: Price(10_000),
        price_band_bps: band_bps,
        circuit_breaker: None,
    };
    SimConfig {
        step_ms: STEP_MS as u32,
        trading_day_ms: DAY_MS,
        instruments: vec![instrument("SIM", 1, 1, 1_000), instrument("ODD", 5, 10, 7)],
        scenario: Scenario::None,
        account: AccountConfig::default(),
    }
}

/// An engine plus the bookkeeping every test wants: each call returns just the events it caused, and every event
/// stream is checked to continue the previous one's `seq` without a gap.
#[derive(Debug)]
pub struct Sim {
    pub engine: Engine,
}

impl Default for Sim {
    fn default() -> Self {
        Self::with(config())
    }
}

impl Sim {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(config: SimConfig) -> Self {
        Self { engine: Engine::new(config, SEED).expect("test config is valid") }
    }

    pub fn with_account(change: impl FnOnce(&mut AccountConfig)) -> Self {
        let mut config = config();
        change(&mut config.account);
        Self::with(config)
    }

    fn checked(&self, first_seq: u64, events: Vec<Event>) -> Vec<Event> {
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event.seq, first_seq + i as u64, "seq gap at {event:?}");
            assert_eq!(event.time_ms, self.engine.time_ms(), "event stamped with another time: {event:?}");
        }
        assert_eq!(self.engine.last_seq(), first_seq + events.len() as u64 - 1);
        events
    }

    /// Applies one command at the current time; returns the events it caused.
    pub fn cmd(&mut self, command: impl Into<Command>) -> Vec<Event> {
        let first_seq = self.engine.last_seq() + 1;
        let mut out = Vec::new();
        self.engine.apply(&command.into(), &mut out);
        self.checked(first_seq, out)
    }

    pub fn run(&mut self, commands: impl IntoIterator<Item = Command>) -> Vec<Event> {
        commands.into_iter().flat_map(|command| self.cmd(command)).collect()
    }

    /// Advances `steps` steps; returns the events they caused (stamped with the time of their own step).
    pub fn advance(&mut self, steps: u32) -> Vec<Event> {
        let first_seq = self.engine.last_seq() + 1;
        let mut out = Vec::new();
        self.engine.advance(steps, &mut out);
        for (i, event) in out.iter().enumerate() {
            assert_eq!(event.seq, first_seq + i as u64, "seq gap at {event:?}");
        }
        out
    }

    /// Advances to simulated time `time_ms` (a multiple of the step).
    pub fn advance_to(&mut self, time_ms: u64) -> Vec<Event> {
        let now = self.engine.time_ms();
        assert!(time_ms >= now && (time_ms - now).is_multiple_of(STEP_MS), "cannot advance from {now} to {time_ms}");
        self.advance(((time_ms - now) / STEP_MS) as u32)
    }

    /// Places an order of a commanded participant that must be accepted; returns its id.
    pub fn place(&mut self, order: Order) -> OrderId {
        let events = self.cmd(order);
        let report = reports(&events).into_iter().next().expect("a new order gets a report");
        assert!(
            matches!(report.exec_type, ExecType::New | ExecType::PendingTrigger),
            "order {order:?} was not accepted: {report:?}"
        );
        report.order_id.expect("an accepted order has an id")
    }

    /// P3 rests a buy of 1 at `price` and P4 sells into it: the last trade price becomes `price` (until any stops
    /// it triggers trade). The book must have no ask at or below `price` and no bid above it.
    pub fn trade_at(&mut self, price: i64) -> Vec<Event> {
        let mut events = self.cmd(buy(1, price).by(P3));
        events.extend(self.cmd(sell(1, price).by(P4)));
        // Later trades may follow from stops the print triggers.
        let first = trades(&events).first().map(|t| (t.price.0, t.qty.0));
        assert_eq!(first, Some((price, 1)), "trade_at({price}) did not print first: {events:?}");
        events
    }

    pub fn view(&self, participant: ParticipantId) -> EngineView {
        self.engine.view(participant, 50)
    }

    pub fn book(&self, instrument: InstrumentId) -> BookSnapshot {
        let view = self.view(USER);
        view.books.into_iter().find(|book| book.instrument == instrument).expect("every instrument has a book")
    }

    /// (price, displayed qty, orders) per level, best first.
    pub fn bids(&self, instrument: InstrumentId) -> Vec<(i64, u64, u32)> {
        self.book(instrument).bids.iter().map(|l| (l.price.0, l.qty.0, l.orders)).collect()
    }

    pub fn asks(&self, instrument: InstrumentId) -> Vec<(i64, u64, u32)> {
        self.book(instrument).asks.iter().map(|l| (l.price.0, l.qty.0, l.orders)).collect()
    }

    pub fn account(&self, participant: ParticipantId) -> AccountUpdate {
        self.view(participant).account
    }

    pub fn position(&self, participant: ParticipantId, instrument: InstrumentId) -> PositionView {
        self.account(participant)
            .positions
            .into_iter()
            .find(|p| p.instrument == instrument)
            .unwrap_or_else(|| panic!("{participant} has no position in {instrument}"))
    }

    pub fn open_order_ids(&self, participant: ParticipantId) -> Vec<OrderId> {
        self.view(participant).open_orders.iter().map(|o| o.order_id).collect()
    }

    /// What the participants' screens show, minus the stream position: equal before and after a refused request
    /// means the request changed nothing.
    pub fn screens(&self, participants: &[ParticipantId]) -> Vec<EngineView> {
        participants.iter().map(|&p| EngineView { seq: 0, ..self.view(p) }).collect()
    }
}

pub fn cid(text: &str) -> ClientOrderId {
    ClientOrderId::parse(text).expect("valid client order id")
}

/// A new order under construction: the user's GTC order on SIM unless told otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Order(pub NewOrder);

fn order(side: Side, qty: u64, order_type: OrderType, tif: TimeInForce) -> Order {
    Order(NewOrder {
        participant: USER,
        instrument: SIM,
        client_order_id: None,
        side,
        qty: Qty(qty),
        order_type,
        tif,
        display_qty: None,
        post_only: false,
        stp: StpMode::default(),
    })
}

pub fn limit(side: Side, qty: u64, price: i64) -> Order {
    order(side, qty, OrderType::Limit { price: Price(price) }, TimeInForce::Gtc)
}

pub fn buy(qty: u64, price: i64) -> Order {
    limit(Side::Buy, qty, price)
}

pub fn sell(qty: u64, price: i64) -> Order {
    limit(Side::Sell, qty, price)
}

/// Market orders must be IOC or FOK; IOC is the default here.
pub fn market(side: Side, qty: u64) -> Order {
    order(side, qty, OrderType::Market, TimeInForce::Ioc)
}

pub fn stop_market(side: Side, qty: u64, stop_price: i64) -> Order {
    order(side, qty, OrderType::StopMarket { stop_price: Price(stop_price) }, TimeInForce::Gtc)
}

pub fn stop_limit(side: Side, qty: u64, stop_price: i64, price: i64) -> Order {
    order(side, qty, OrderType::StopLimit { stop_price: Price(stop_price), price: Price(price) }, TimeInForce::Gtc)
}

impl Order {
    pub fn by(mut self, participant: ParticipantId) -> Self {
        self.0.participant = participant;
        self
    }

    pub fn on(mut self, instrument: InstrumentId) -> Self {
        self.0.instrument = instrument;
        self
    }

    pub fn cid(mut self, text: &str) -> Self {
        self.0.client_order_id = Some(cid(text));
        self
    }

    pub fn tif(mut self, tif: TimeInForce) -> Self {
        self.0.tif = tif;
        self
    }

    pub fn ioc(self) -> Self {
        self.tif(TimeInForce::Ioc)
    }

    pub fn fok(self) -> Self {
        self.tif(TimeInForce::Fok)
    }

    pub fn day(self) -> Self {
        self.tif(TimeInForce::Day)
    }

    pub fn gtd(self, expire_at_ms: u64) -> Self {
        self.tif(TimeInForce::Gtd { expire_at_ms })
    }

    pub fn display(mut self, qty: u64) -> Self {
        self.0.display_qty = Some(Qty(qty));
        self
    }

    pub fn post_only(mut self) -> Self {
        self.0.post_only = true;
        self
    }

    pub fn stp(mut self, mode: StpMode) -> Self {
        self.0.stp = mode;
        self
    }
}

impl From<Order> for Command {
    fn from(order: Order) -> Self {
        Self::NewOrder(order.0)
    }
}

pub fn cancel(participant: ParticipantId, id: OrderId) -> Command {
    Command::Cancel { participant, order: OrderRef::OrderId(id) }
}

pub fn cancel_cid(participant: ParticipantId, text: &str) -> Command {
    Command::Cancel { participant, order: OrderRef::ClientOrderId(cid(text)) }
}

pub fn amend(participant: ParticipantId, id: OrderId, qty: Option<u64>, price: Option<i64>) -> Command {
    Command::Amend { participant, order: OrderRef::OrderId(id), qty: qty.map(Qty), price: price.map(Price) }
}

pub fn amend_qty(participant: ParticipantId, id: OrderId, qty: u64) -> Command {
    amend(participant, id, Some(qty), None)
}

pub fn amend_price(participant: ParticipantId, id: OrderId, price: i64) -> Command {
    amend(participant, id, None, Some(price))
}

pub fn mass_cancel(participant: ParticipantId, instrument: Option<InstrumentId>, side: Option<Side>) -> Command {
    Command::MassCancel { participant, instrument, side }
}

pub fn set_halted(instrument: InstrumentId, halted: bool) -> Command {
    Command::SetTradingStatus { instrument, halted }
}

/// The event's type as it is named on the wire.
pub fn kind(event: &Event) -> &'static str {
    event.body.type_name()
}

pub fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(kind).collect()
}

pub fn reports(events: &[Event]) -> Vec<ExecutionReport> {
    events.iter().filter_map(|e| if let EventBody::ExecutionReport(r) = &e.body { Some(*r) } else { None }).collect()
}

pub fn reports_of(events: &[Event], id: OrderId) -> Vec<ExecutionReport> {
    reports(events).into_iter().filter(|r| r.order_id == Some(id)).collect()
}

pub fn exec_types(events: &[Event], id: OrderId) -> Vec<ExecType> {
    reports_of(events, id).iter().map(|r| r.exec_type).collect()
}

/// The last report about an order.
pub fn last_report(events: &[Event], id: OrderId) -> ExecutionReport {
    *reports_of(events, id).last().unwrap_or_else(|| panic!("no report for order {id} in {events:?}"))
}

/// The one and only event, which must be an execution report.
pub fn sole_report(events: &[Event]) -> ExecutionReport {
    match events {
        [Event { body: EventBody::ExecutionReport(report), .. }] => *report,
        _ => panic!("expected exactly one execution report, got {events:?}"),
    }
}

/// (order id, last price, last qty) of each fill report, in order.
pub fn fills(events: &[Event]) -> Vec<(OrderId, i64, u64)> {
    reports(events)
        .iter()
        .filter(|r| matches!(r.exec_type, ExecType::Fill | ExecType::PartialFill))
        .map(|r| (r.order_id.expect("fills have ids"), r.last_price.expect("price").0, r.last_qty.expect("qty").0))
        .collect()
}

pub fn trades(events: &[Event]) -> Vec<Trade> {
    events.iter().filter_map(|e| if let EventBody::Trade(t) = &e.body { Some(*t) } else { None }).collect()
}

/// (price, qty) of each trade, in order.
pub fn trade_prints(events: &[Event]) -> Vec<(i64, u64)> {
    trades(events).iter().map(|t| (t.price.0, t.qty.0)).collect()
}

pub fn deltas(events: &[Event]) -> Vec<BookDelta> {
    events.iter().filter_map(|e| if let EventBody::BookDelta(d) = &e.body { Some(*d) } else { None }).collect()
}

pub fn bbos(events: &[Event]) -> Vec<Bbo> {
    events.iter().filter_map(|e| if let EventBody::Bbo(b) = &e.body { Some(*b) } else { None }).collect()
}

pub fn queue_positions(events: &[Event]) -> Vec<QueuePosition> {
    events.iter().filter_map(|e| if let EventBody::QueuePosition(q) = &e.body { Some(*q) } else { None }).collect()
}

/// (qty_ahead, orders_ahead) of each queue position event about one order.
pub fn queue_of(events: &[Event], id: OrderId) -> Vec<(u64, u32)> {
    queue_positions(events).iter().filter(|q| q.order_id == id).map(|q| (q.qty_ahead.0, q.orders_ahead)).collect()
}

pub fn accounts(events: &[Event], participant: ParticipantId) -> Vec<AccountUpdate> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Account(a) if a.participant == participant => Some(a.clone()),
            _ => None,
        })
        .collect()
}

pub fn account_participants(events: &[Event]) -> Vec<ParticipantId> {
    events.iter().filter_map(|e| if let EventBody::Account(a) = &e.body { Some(a.participant) } else { None }).collect()
}

pub fn candles(events: &[Event], interval: CandleInterval) -> Vec<Candle> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Candle(c) if c.interval == interval => Some(*c),
            _ => None,
        })
        .collect()
}

/// (time_ms of the event, status).
pub fn statuses(events: &[Event]) -> Vec<(u64, TradingStatus)> {
    events
        .iter()
        .filter_map(|e| if let EventBody::TradingStatus(s) = &e.body { Some((e.time_ms, *s)) } else { None })
        .collect()
}

/// (maker order id, price, qty) of each maker fill report, in order.
pub fn maker_fills(events: &[Event]) -> Vec<(OrderId, i64, u64)> {
    reports(events)
        .iter()
        .filter(|r| r.liquidity == Some(tradesim_protocol::Liquidity::Maker))
        .map(|r| (r.order_id.expect("fills have ids"), r.last_price.expect("price").0, r.last_qty.expect("qty").0))
        .collect()
}

/// The one and only event, which must be a refused cancel or amend.
pub fn sole_rejection(events: &[Event]) -> RequestRejected {
    match events {
        [Event { body: EventBody::RequestRejected(rejected), .. }] => *rejected,
        _ => panic!("expected exactly one request_rejected, got {events:?}"),
    }
}
