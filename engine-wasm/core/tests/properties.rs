//! Engine invariants under random command streams: mixed order types, times in force and participants (valid and
//! invalid), with time advancing between batches. Checked after every batch against an independent ledger built
//! from the event stream alone.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::{BTreeMap, BTreeSet};
use tradesim_core::Engine;
use tradesim_protocol::{
    AccountConfig, Batch, ClientOrderId, Command, Event, EventBody, ExecType, ExecutionReport, InstrumentId, Liquidity,
    NewOrder, OrderId, OrderRef, OrderStatus, OrderType, ParticipantId, Price, Qty, Scenario, Side, SimConfig, StpMode,
    TimeInForce, Trade,
};

const AGENT_2: ParticipantId = ParticipantId(ParticipantId::FIRST_AGENT + 1);
const COMMANDED: [ParticipantId; 3] = [USER, P2, P3];
const INSTRUMENTS: [InstrumentId; 2] = [SIM, ODD];

/// The shared test config with a wider band on ODD (±1 %), so random prices there trade as well as get refused,
/// and limits tight enough for random orders to meet every risk check.
fn quiet_config() -> SimConfig {
    let mut config = config();
    config.instruments[1].price_band_bps = 100;
    config.account = AccountConfig {
        initial_cash: 600_000,
        max_order_qty: Qty(40),
        max_notional: 350_000,
        max_position: 50,
        leverage_bps: 10_000,
        ..AccountConfig::default()
    };
    config
}

fn calm_config() -> SimConfig {
    SimConfig { scenario: Scenario::Calm, ..quiet_config() }
}

fn proptest_config(cases: u32) -> ProptestConfig {
    // No regression files: the test tree is shared; a failure prints its minimal input instead.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------------------------
// Strategies.

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn instrument() -> impl Strategy<Value = InstrumentId> {
    prop_oneof![10 => Just(SIM), 4 => Just(ODD), 1 => Just(NOWHERE)]
}

/// Close to 10_000 so orders cross often: mostly on ODD's 5-tick grid, some off it, a few far outside any band.
fn price() -> impl Strategy<Value = Price> {
    prop_oneof![
        6 => (-4i64..=4).prop_map(|k| Price(10_000 + 5 * k)),
        3 => (-15i64..=15).prop_map(|d| Price(10_000 + d)),
        1 => prop::sample::select(vec![Price(8_000), Price(12_000)]),
    ]
}

/// Whole lots of ODD (10) often enough that orders there are not mostly off-lot.
fn qty() -> impl Strategy<Value = Qty> {
    prop_oneof![12 => (1u64..=20).prop_map(Qty), 8 => (1u64..=5).prop_map(|k| Qty(10 * k)), 1 => Just(Qty(0))]
}

/// A pool small enough that client order ids repeat (duplicates) and cancels by client id find orders.
fn client_order_id() -> impl Strategy<Value = ClientOrderId> {
    (0u8..40).prop_map(|n| cid(&format!("c{n}")))
}

fn order_type() -> impl Strategy<Value = OrderType> {
    prop_oneof![
        6 => price().prop_map(|price| OrderType::Limit { price }),
        2 => Just(OrderType::Market),
        1 => price().prop_map(|stop_price| OrderType::StopMarket { stop_price }),
        2 => (price(), price()).prop_map(|(stop_price, price)| OrderType::StopLimit { stop_price, price }),
    ]
}

fn tif() -> impl Strategy<Value = TimeInForce> {
    prop_oneof![
        5 => Just(TimeInForce::Gtc),
        2 => Just(TimeInForce::Ioc),
        1 => Just(TimeInForce::Fok),
        1 => (0u64..20_000).prop_map(|expire_at_ms| TimeInForce::Gtd { expire_at_ms }),
        1 => Just(TimeInForce::Day),
    ]
}

fn stp() -> impl Strategy<Value = StpMode> {
    prop_oneof![Just(StpMode::CancelNewest), Just(StpMode::CancelOldest), Just(StpMode::CancelBoth)]
}

/// Most orders are made well-formed (so the book fills and trades); the rest keep whatever field mix they drew.
fn new_order(participants: &'static [ParticipantId]) -> impl Strategy<Value = NewOrder> {
    let fields = (
        prop::sample::select(participants),
        instrument(),
        prop::option::weighted(0.5, client_order_id()),
        side(),
        qty(),
        order_type(),
        tif(),
        prop::option::weighted(0.15, 1u64..=25),
        prop::bool::weighted(0.1),
        stp(),
        prop::bool::weighted(0.9),
    );
    fields.prop_map(
        |(
            participant,
            instrument,
            client_order_id,
            side,
            qty,
            order_type,
            mut tif,
            display,
            mut post_only,
            stp,
            tidy,
        )| {
            let mut display_qty = display.map(Qty);
            if tidy {
                let immediate = matches!(tif, TimeInForce::Ioc | TimeInForce::Fok);
                match order_type {
                    OrderType::Market if !immediate => tif = TimeInForce::Ioc,
                    OrderType::StopMarket { .. } | OrderType::StopLimit { .. } if immediate => tif = TimeInForce::Gtc,
                    _ => {}
                }
                let resting_limit = matches!(order_type, OrderType::Limit { .. })
                    && !matches!(tif, TimeInForce::Ioc | TimeInForce::Fok);
                if !resting_limit || display_qty.is_some_and(|d| d > qty) {
                    display_qty = None;
                }
                post_only &= resting_limit;
            }
            NewOrder {
                participant,
                instrument,
                client_order_id,
                side,
                qty,
                order_type,
                tif,
                display_qty,
                post_only,
                stp,
            }
        },
    )
}

fn order_ref() -> impl Strategy<Value = OrderRef> {
    prop_oneof![
        3 => (1u64..=40).prop_map(|n| OrderRef::OrderId(OrderId(n))),
        1 => client_order_id().prop_map(OrderRef::ClientOrderId),
    ]
}

/// One input of a batch. Cancels and amends of working orders are picked when the batch runs, from the orders the
/// event stream says are working, so most of them hit; blind ones (mostly unknown orders) are drawn as well.
#[derive(Clone, Debug)]
enum Action {
    Command(Command),
    CancelWorking {
        pick: Index,
        by_client_order_id: bool,
    },
    /// `qty_change` is in lots.
    AmendWorking {
        pick: Index,
        qty_change: Option<i64>,
        price: Option<Price>,
    },
}

#[derive(Clone, Debug)]
struct Input {
    actions: Vec<Action>,
    steps: u32,
}

fn action(participants: &'static [ParticipantId]) -> impl Strategy<Value = Action> {
    let who = || prop::sample::select(participants);
    prop_oneof![
        12 => new_order(participants).prop_map(|order| Action::Command(Command::NewOrder(order))),
        2 => (any::<Index>(), prop::bool::weighted(0.3))
            .prop_map(|(pick, by_client_order_id)| Action::CancelWorking { pick, by_client_order_id }),
        4 => (any::<Index>(), prop::option::weighted(0.7, -6i64..=6), prop::option::of(price()))
            .prop_map(|(pick, qty_change, price)| Action::AmendWorking { pick, qty_change, price }),
        1 => (who(), order_ref())
            .prop_map(|(participant, order)| Action::Command(Command::Cancel { participant, order })),
        1 => (who(), order_ref(), prop::option::of(qty()), prop::option::of(price())).prop_map(
            |(participant, order, qty, price)| Action::Command(Command::Amend { participant, order, qty, price })
        ),
        1 => (who(), prop::option::of(instrument()), prop::option::of(side())).prop_map(
            |(participant, instrument, side)| Action::Command(Command::MassCancel { participant, instrument, side })
        ),
        // Halts are rarer than resumes so the market is mostly open.
        1 => (instrument(), prop::bool::weighted(0.2)).prop_map(
            |(instrument, halted)| Action::Command(Command::SetTradingStatus { instrument, halted })
        ),
    ]
}

fn inputs(
    participants: &'static [ParticipantId],
    steps: impl Strategy<Value = u32> + Clone,
    count: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Input>> {
    let input = (prop::collection::vec(action(participants), 0..8), steps)
        .prop_map(|(actions, steps)| Input { actions, steps });
    prop::collection::vec(input, count)
}

/// Mostly within a second; sometimes across second boundaries, GTD expiries and a trading day.
fn quiet_steps() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![4 => 0u32..3, 3 => 1u32..30, 1 => 80u32..150]
}

const QUIET_PARTICIPANTS: &[ParticipantId] = &[USER, P2, P3, AGENT, AGENT_2];

// ---------------------------------------------------------------------------------------------------------------
// The ledger: what the event stream alone says, to compare with the engine's own views.

#[derive(Debug)]
struct Tracked {
    participant: ParticipantId,
    client_order_id: Option<ClientOrderId>,
    instrument: InstrumentId,
    status: OrderStatus,
    qty: u64,
    cum: u64,
}

/// A trade whose fill reports are still arriving.
#[derive(Debug)]
struct OpenTrade {
    trade: Trade,
    maker_reported: bool,
    taker_reported: bool,
}

#[derive(Debug)]
struct Ledger {
    initial_cash: i64,
    next_seq: u64,
    last_trade_id: u64,
    /// Commanded participants' positions, from their fill reports.
    positions: BTreeMap<(ParticipantId, InstrumentId), i64>,
    /// The agents' net position: the sides of trades no report accounts for.
    agents: BTreeMap<InstrumentId, i64>,
    /// Cash from fills (sells in, buys out), before fees.
    flows: BTreeMap<ParticipantId, i64>,
    fees: BTreeMap<ParticipantId, i64>,
    orders: BTreeMap<OrderId, Tracked>,
    open_trade: Option<OpenTrade>,
}

impl Ledger {
    fn new(account: &AccountConfig) -> Self {
        Self {
            initial_cash: account.initial_cash,
            next_seq: 1,
            last_trade_id: 0,
            positions: BTreeMap::new(),
            agents: BTreeMap::new(),
            flows: BTreeMap::new(),
            fees: BTreeMap::new(),
            orders: BTreeMap::new(),
            open_trade: None,
        }
    }

    /// Books the sides of the last trade that no report claimed to the agents.
    fn close_trade(&mut self) {
        if let Some(open) = self.open_trade.take() {
            let signed = open.trade.aggressor.sign() * open.trade.qty.0 as i64;
            let net = self.agents.entry(open.trade.instrument).or_default();
            if !open.taker_reported {
                *net += signed;
            }
            if !open.maker_reported {
                *net -= signed;
            }
        }
    }

    fn record(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        for event in events {
            prop_assert_eq!(event.seq, self.next_seq, "seq gap");
            self.next_seq += 1;
            let fill_report = matches!(&event.body,
                EventBody::ExecutionReport(r) if matches!(r.exec_type, ExecType::Fill | ExecType::PartialFill));
            if !matches!(event.body, EventBody::Trade(_)) && !fill_report {
                self.close_trade();
            }
            match &event.body {
                EventBody::Trade(trade) => {
                    self.close_trade();
                    prop_assert!(trade.trade_id.0 > self.last_trade_id, "trade ids increase: {:?}", trade);
                    prop_assert!(trade.qty.0 > 0);
                    self.last_trade_id = trade.trade_id.0;
                    self.open_trade = Some(OpenTrade { trade: *trade, maker_reported: false, taker_reported: false });
                }
                EventBody::ExecutionReport(report) => self.report(report)?,
                EventBody::QueuePosition(q) => {
                    prop_assert!(!q.participant.is_agent());
                    let working = self.orders.get(&q.order_id).is_some_and(|o| !o.status.is_terminal());
                    prop_assert!(working, "queue position of an order that is not working: {:?}", q);
                }
                EventBody::Account(a) => prop_assert!(!a.participant.is_agent()),
                EventBody::RequestRejected(r) => prop_assert!(!r.participant.is_agent()),
                EventBody::BookDelta(_) | EventBody::Bbo(_) | EventBody::Candle(_) | EventBody::TradingStatus(_) => {}
            }
        }
        self.close_trade();
        Ok(())
    }

    fn report(&mut self, report: &ExecutionReport) -> Result<(), TestCaseError> {
        prop_assert!(!report.participant.is_agent(), "agents get no reports: {:?}", report);
        prop_assert_eq!(report.reject_reason.is_some(), report.exec_type == ExecType::Rejected, "{:?}", report);
        prop_assert_eq!(report.cancel_reason.is_some(), report.exec_type == ExecType::Cancelled, "{:?}", report);
        let Some(id) = report.order_id else {
            prop_assert_eq!((report.exec_type, report.status), (ExecType::Rejected, OrderStatus::Rejected));
            return Ok(());
        };
        let expected_status: &[OrderStatus] = match report.exec_type {
            ExecType::New | ExecType::Triggered => &[OrderStatus::New],
            ExecType::PendingTrigger => &[OrderStatus::PendingTrigger],
            ExecType::PartialFill => &[OrderStatus::PartiallyFilled],
            ExecType::Fill => &[OrderStatus::Filled],
            ExecType::Cancelled => &[OrderStatus::Cancelled],
            ExecType::Expired => &[OrderStatus::Expired],
            ExecType::Replaced => &[OrderStatus::New, OrderStatus::PartiallyFilled, OrderStatus::PendingTrigger],
            ExecType::Rejected => &[],
        };
        prop_assert!(expected_status.contains(&report.status), "status does not fit exec type: {:?}", report);

        if matches!(report.exec_type, ExecType::New | ExecType::PendingTrigger) {
            prop_assert!(!self.orders.contains_key(&id), "order id reused: {:?}", report);
            prop_assert_eq!(report.cum_qty, Qty::ZERO);
            let tracked = Tracked {
                participant: report.participant,
                client_order_id: report.client_order_id,
                instrument: report.instrument,
                status: report.status,
                qty: report.qty.0,
                cum: 0,
            };
            self.orders.insert(id, tracked);
        }
        let Some(order) = self.orders.get_mut(&id) else {
            return Err(TestCaseError::fail(format!("report before the order's first report: {report:?}")));
        };
        prop_assert_eq!(order.participant, report.participant);
        prop_assert!(!order.status.is_terminal(), "report after a terminal state: {:?}", report);

        let filled = report.last_qty.map_or(0, |q| q.0);
        prop_assert_eq!(report.cum_qty.0, order.cum + filled, "cum_qty is the sum of fills: {:?}", report);
        order.cum = report.cum_qty.0;
        order.qty = report.qty.0;
        order.status = report.status;
        if !report.status.is_terminal() {
            prop_assert_eq!(report.leaves_qty.0, order.qty - order.cum, "{:?}", report);
        }
        if !matches!(report.exec_type, ExecType::Fill | ExecType::PartialFill) {
            prop_assert!(report.last_qty.is_none() && report.liquidity.is_none() && report.fee == 0, "{:?}", report);
            return Ok(());
        }

        // A fill: it follows its trade, maker before taker, and moves position and cash.
        let (Some(price), Some(liquidity)) = (report.last_price, report.liquidity) else {
            return Err(TestCaseError::fail(format!("fill without price or liquidity: {report:?}")));
        };
        let Some(open) = self.open_trade.as_mut() else {
            return Err(TestCaseError::fail(format!("fill report not right after its trade: {report:?}")));
        };
        prop_assert_eq!(
            (price, Qty(filled), report.instrument),
            (open.trade.price, open.trade.qty, open.trade.instrument)
        );
        match liquidity {
            Liquidity::Maker => {
                prop_assert!(!open.maker_reported && !open.taker_reported, "maker reported first, once: {:?}", report);
                prop_assert_eq!(report.side, open.trade.aggressor.opposite());
                open.maker_reported = true;
            }
            Liquidity::Taker => {
                prop_assert!(!open.taker_reported, "{:?}", report);
                prop_assert_eq!(report.side, open.trade.aggressor);
                open.taker_reported = true;
            }
        }
        let signed = report.side.sign() * filled as i64;
        *self.positions.entry((report.participant, report.instrument)).or_default() += signed;
        *self.flows.entry(report.participant).or_default() -= signed * price.0;
        *self.fees.entry(report.participant).or_default() += report.fee;
        Ok(())
    }

    /// Turns the inputs into commands against the orders working now (lot-sized quantity changes on each
    /// instrument: 1 on SIM, 10 on ODD).
    fn resolve(&self, input: &Input) -> Batch {
        let working: Vec<(&OrderId, &Tracked)> = self.orders.iter().filter(|(_, o)| !o.status.is_terminal()).collect();
        let commands = input
            .actions
            .iter()
            .filter_map(|action| match *action {
                Action::Command(command) => Some(command),
                Action::CancelWorking { pick, by_client_order_id } => {
                    let (&id, order) = *pick_from(pick, &working)?;
                    let order_ref = match order.client_order_id {
                        Some(text) if by_client_order_id => OrderRef::ClientOrderId(text),
                        _ => OrderRef::OrderId(id),
                    };
                    Some(Command::Cancel { participant: order.participant, order: order_ref })
                }
                Action::AmendWorking { pick, qty_change, price } => {
                    let (&id, order) = *pick_from(pick, &working)?;
                    let lot = if order.instrument == ODD { 10 } else { 1 };
                    let qty = qty_change.map(|change| Qty(order.qty.saturating_add_signed(change * lot)));
                    Some(Command::Amend { participant: order.participant, order: OrderRef::OrderId(id), qty, price })
                }
            })
            .collect();
        Batch { commands, steps: input.steps }
    }

    /// Compares the engine's state with the ledger.
    fn check(&self, engine: &Engine) -> Result<(), TestCaseError> {
        let (last_seq, hash) = (engine.last_seq(), engine.state_hash());
        prop_assert_eq!(last_seq, self.next_seq - 1);
        // The engine's own structural checks: intact level links and totals, every live order in a book or stop list.
        if let Err(problem) = engine.check_invariants() {
            return Err(TestCaseError::fail(problem));
        }

        let market = engine.view(USER, 1_000);
        for book in &market.books {
            let sorted = |levels: &[tradesim_protocol::BookLevel], better: fn(Price, Price) -> bool| {
                levels.windows(2).all(|w| better(w[0].price, w[1].price))
                    && levels.iter().all(|l| l.qty.0 > 0 && l.orders > 0)
            };
            prop_assert!(sorted(&book.bids, |a, b| a > b) && sorted(&book.asks, |a, b| a < b), "{:?}", book);
            if let (Some(bid), Some(ask)) = (book.bids.first(), book.asks.first()) {
                prop_assert!(bid.price < ask.price, "crossed book at rest: {:?}", book);
            }
        }

        let mut net: BTreeMap<InstrumentId, i64> = self.agents.clone();
        for participant in COMMANDED {
            let view = engine.view(participant, 0);
            let account = &view.account;
            let fees = self.fees.get(&participant).copied().unwrap_or(0);
            let flows = self.flows.get(&participant).copied().unwrap_or(0);
            prop_assert_eq!(account.cash, self.initial_cash + flows - fees, "cash of {}", participant);
            prop_assert_eq!(account.fees_paid, fees, "fees of {}", participant);
            prop_assert_eq!(
                account.equity,
                self.initial_cash + account.realized_pnl + account.unrealized_pnl - fees,
                "equity = initial + realized + unrealized - fees: {:?}",
                account
            );
            for instrument in INSTRUMENTS {
                let engine_qty = account.positions.iter().find(|p| p.instrument == instrument).map_or(0, |p| p.qty);
                let ledger_qty = self.positions.get(&(participant, instrument)).copied().unwrap_or(0);
                prop_assert_eq!(engine_qty, ledger_qty, "position of {} in {}", participant, instrument);
                *net.entry(instrument).or_default() += engine_qty;
            }
            for position in &account.positions {
                let book = market.books.iter().find(|b| b.instrument == position.instrument);
                let mark = book.and_then(|b| b.last_trade_price).unwrap_or(Price(10_000));
                prop_assert_eq!(position.mark_price, mark, "mark = last trade price, else reference: {:?}", position);
                prop_assert_eq!(position.unrealized_pnl, mark.0 * position.qty - position.cost_basis, "{:?}", position);
            }

            let open: BTreeSet<OrderId> = view.open_orders.iter().map(|o| o.order_id).collect();
            let working: BTreeSet<OrderId> = self
                .orders
                .iter()
                .filter(|(_, o)| o.participant == participant && !o.status.is_terminal())
                .map(|(id, _)| *id)
                .collect();
            prop_assert_eq!(open, working, "open orders of {} vs. non-terminal reports", participant);
            for order in &view.open_orders {
                let tracked = &self.orders[&order.order_id];
                prop_assert_eq!(
                    (order.status, order.qty.0, order.cum_qty.0),
                    (tracked.status, tracked.qty, tracked.cum)
                );
                prop_assert_eq!(order.leaves_qty.0, tracked.qty - tracked.cum);
            }
        }
        for (instrument, sum) in net {
            prop_assert_eq!(sum, 0, "positions in {} do not sum to zero", instrument);
        }
        prop_assert_eq!((engine.last_seq(), engine.state_hash()), (last_seq, hash), "views change nothing");
        Ok(())
    }
}

/// `Index::get` panics on an empty slice; with nothing working, the action is dropped.
fn pick_from<T>(pick: Index, items: &[T]) -> Option<&T> {
    (!items.is_empty()).then(|| pick.get(items))
}

fn run_checked(config: SimConfig, seed: u64, stream: &[Input]) -> Result<(), TestCaseError> {
    let mut ledger = Ledger::new(&config.account);
    let mut engine = Engine::new(config, seed).expect("valid config");
    let mut events = Vec::new();
    for input in stream {
        events.clear();
        engine.execute(&ledger.resolve(input), &mut events);
        ledger.record(&events)?;
        ledger.check(&engine)?;
    }
    Ok(())
}

/// Runs `stream` on two engines built alike and, from input `restore_at` on, on a third restored from the first's
/// snapshot: all three must agree event for event and hash for hash.
fn run_twins(config: SimConfig, seed: u64, stream: &[Input], restore_at: usize) -> Result<(), TestCaseError> {
    let mut ledger = Ledger::new(&config.account);
    let mut a = Engine::new(config.clone(), seed).expect("valid config");
    let mut b = Engine::new(config, seed).expect("valid config");
    let mut restored: Option<Engine> = None;
    for (i, input) in stream.iter().enumerate() {
        if i == restore_at {
            let engine = Engine::restore(&a.snapshot()).expect("own snapshot restores");
            prop_assert_eq!(engine.state_hash(), a.state_hash(), "restored state differs");
            prop_assert_eq!(
                (engine.step(), engine.time_ms(), engine.last_seq()),
                (a.step(), a.time_ms(), a.last_seq())
            );
            restored = Some(engine);
        }
        let batch = ledger.resolve(input);
        let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
        a.execute(&batch, &mut from_a);
        b.execute(&batch, &mut from_b);
        prop_assert_eq!(&from_a, &from_b, "same input, different events at input {}", i);
        prop_assert_eq!(a.state_hash(), b.state_hash());
        if let Some(engine) = restored.as_mut() {
            let mut from_restored = Vec::new();
            engine.execute(&batch, &mut from_restored);
            prop_assert_eq!(&from_a, &from_restored, "restored engine diverged at input {}", i);
            prop_assert_eq!(a.state_hash(), engine.state_hash());
        }
        ledger.record(&from_a)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(256))]

    #[test]
    fn ledger_and_views_agree_after_every_batch(stream in inputs(QUIET_PARTICIPANTS, quiet_steps(), 1..40)) {
        run_checked(quiet_config(), SEED, &stream)?;
    }

    #[test]
    fn deterministic_and_snapshot_restore_is_seamless(
        stream in inputs(QUIET_PARTICIPANTS, quiet_steps(), 1..40),
        restore_at in any::<Index>(),
    ) {
        let restore_at = restore_at.index(stream.len());
        run_twins(quiet_config(), SEED, &stream, restore_at)?;
    }
}

proptest! {
    // The background market makes each case longer; fewer cases keep the file quick.
    #![proptest_config(proptest_config(48))]

    #[test]
    fn calm_market_keeps_the_invariants(
        seed in any::<u64>(),
        stream in inputs(&COMMANDED, prop_oneof![1 => 0u32..5, 2 => 20u32..300], 1..12),
    ) {
        run_checked(calm_config(), seed, &stream)?;
    }

    #[test]
    fn calm_market_is_deterministic_across_snapshots(
        seed in any::<u64>(),
        stream in inputs(&COMMANDED, prop_oneof![1 => 0u32..5, 2 => 20u32..300], 1..12),
        restore_at in any::<Index>(),
    ) {
        let restore_at = restore_at.index(stream.len());
        run_twins(calm_config(), seed, &stream, restore_at)?;
    }
}
