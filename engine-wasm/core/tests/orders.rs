//! Order entry, matching, market data and accounting, case by case against notes/semantics.md. Black-box: only the
//! public engine API and the wire types, with no background market (Scenario::None) so every event is ours.

mod common;

use common::*;
use rstest::rstest;
use tradesim_protocol::{
    AccountConfig, Bbo, BookDelta, CancelReason, Candle, CandleInterval, CircuitBreaker, Command, EventBody, ExecType,
    ExecutionReport, InstrumentId, Liquidity, OrderId, OrderRef, OrderStatus, OrderType, PositionView, Price, Qty,
    QueuePosition, RejectReason, RequestKind, RequestRejected, Side, StpMode, TimeInForce, TradingStatus,
};

// ---------------------------------------------------------------------------------------------------------------
// New-order checks: one case per reject reason (and per kind of invalid order), each proving the order changed
// nothing but its single rejected report.

/// Limits small enough that each risk check can fail on its own. After setup the user has a working buy of 100 at
/// 9_000 (client id "used") and a working sell of 100 at 10_500, so:
/// buy side position use 100, sell side 100, buying power 5_000_000 - 900_000 - 1_050_000 = 3_050_000.
/// P2 quotes 10 at 9_990 / 10 at 10_010.
fn small_limits(account: &mut AccountConfig) {
    account.initial_cash = 5_000_000;
    account.max_order_qty = Qty(1_000);
    account.max_notional = 5_000_000;
    account.max_position = 600;
    account.leverage_bps = 10_000;
}

struct Quoted {
    sim: Sim,
    p2_bid: OrderId,
}

fn quoted_market() -> Quoted {
    let mut sim = Sim::with_account(small_limits);
    sim.place(sell(10, 10_010).by(P2));
    let p2_bid = sim.place(buy(10, 9_990).by(P2));
    sim.place(buy(100, 9_000).cid("used"));
    sim.place(sell(100, 10_500));
    Quoted { sim, p2_bid }
}

fn nothing(_: &mut Sim) {}

fn halt_sim(sim: &mut Sim) {
    sim.cmd(set_halted(SIM, true));
}

fn halt_odd(sim: &mut Sim) {
    sim.cmd(set_halted(ODD, true));
}

#[rstest]
#[case::duplicate_client_order_id(nothing, buy(1, 9_990).cid("used"), RejectReason::DuplicateClientOrderId)]
#[case::duplicate_is_checked_first(nothing, buy(0, 1).on(NOWHERE).cid("used"), RejectReason::DuplicateClientOrderId)]
#[case::unknown_instrument(nothing, buy(1, 9_990).on(NOWHERE), RejectReason::UnknownInstrument)]
#[case::unknown_instrument_before_invalid(nothing, buy(0, 9_990).on(NOWHERE), RejectReason::UnknownInstrument)]
#[case::zero_qty(nothing, buy(0, 9_990), RejectReason::InvalidOrder)]
#[case::zero_display(nothing, buy(10, 9_990).display(0), RejectReason::InvalidOrder)]
#[case::display_above_qty(nothing, buy(10, 9_990).display(11), RejectReason::InvalidOrder)]
#[case::display_on_market(nothing, market(Side::Buy, 10).display(5), RejectReason::InvalidOrder)]
#[case::display_on_stop_limit(
    nothing, stop_limit(Side::Buy, 10, 10_100, 10_100).display(5), RejectReason::InvalidOrder
)]
#[case::display_with_ioc(nothing, buy(10, 9_990).display(5).ioc(), RejectReason::InvalidOrder)]
#[case::display_with_fok(nothing, buy(10, 9_990).display(5).fok(), RejectReason::InvalidOrder)]
#[case::post_only_market(nothing, market(Side::Buy, 10).post_only(), RejectReason::InvalidOrder)]
#[case::post_only_stop_limit(
    nothing, stop_limit(Side::Buy, 10, 10_100, 10_100).post_only(), RejectReason::InvalidOrder
)]
#[case::post_only_ioc(nothing, buy(10, 9_990).post_only().ioc(), RejectReason::InvalidOrder)]
#[case::post_only_fok(nothing, buy(10, 9_990).post_only().fok(), RejectReason::InvalidOrder)]
#[case::market_gtc(nothing, market(Side::Buy, 10).tif(TimeInForce::Gtc), RejectReason::InvalidOrder)]
#[case::market_day(nothing, market(Side::Buy, 10).day(), RejectReason::InvalidOrder)]
#[case::market_gtd(nothing, market(Side::Buy, 10).gtd(1_000), RejectReason::InvalidOrder)]
#[case::stop_market_ioc(nothing, stop_market(Side::Buy, 10, 10_100).ioc(), RejectReason::InvalidOrder)]
#[case::stop_limit_fok(nothing, stop_limit(Side::Buy, 10, 10_100, 10_100).fok(), RejectReason::InvalidOrder)]
#[case::gtd_already_expired(nothing, buy(10, 9_990).gtd(0), RejectReason::InvalidOrder)]
#[case::invalid_before_halted(halt_sim, buy(0, 9_990), RejectReason::InvalidOrder)]
#[case::halted(halt_sim, buy(10, 9_990), RejectReason::TradingHalted)]
#[case::halted_before_off_tick(halt_odd, buy(10, 10_002).on(ODD), RejectReason::TradingHalted)]
#[case::off_tick(nothing, buy(10, 10_002).on(ODD), RejectReason::OffTick)]
#[case::off_tick_stop_price(nothing, stop_limit(Side::Buy, 10, 10_003, 10_000).on(ODD), RejectReason::OffTick)]
#[case::off_tick_before_off_lot_and_band(nothing, buy(15, 9_002).on(ODD), RejectReason::OffTick)]
#[case::off_lot(nothing, buy(15, 10_000).on(ODD), RejectReason::OffLot)]
#[case::off_lot_display(nothing, buy(20, 10_000).on(ODD).display(15), RejectReason::OffLot)]
#[case::above_band(nothing, buy(1, 11_001), RejectReason::OutsidePriceBand)]
#[case::below_band(nothing, sell(1, 8_999), RejectReason::OutsidePriceBand)]
#[case::above_tick_rounded_band(nothing, buy(10, 10_010).on(ODD), RejectReason::OutsidePriceBand)]
#[case::below_tick_rounded_band(nothing, sell(10, 9_990).on(ODD), RejectReason::OutsidePriceBand)]
#[case::stop_limit_price_outside_band(
    nothing,
    stop_limit(Side::Buy, 1, 10_100, 11_001),
    RejectReason::OutsidePriceBand
)]
#[case::band_before_risk(nothing, buy(2_000, 11_001), RejectReason::OutsidePriceBand)]
#[case::quantity_limit(nothing, buy(1_001, 9_000), RejectReason::QuantityLimit)]
#[case::notional_limit_before_position_limit(nothing, buy(501, 10_000), RejectReason::NotionalLimit)]
#[case::notional_market_buy_at_high_band_edge(nothing, market(Side::Buy, 455), RejectReason::NotionalLimit)]
#[case::notional_market_sell_at_low_band_edge(nothing, market(Side::Sell, 556), RejectReason::NotionalLimit)]
#[case::notional_stop_market_at_band_edge(nothing, stop_market(Side::Buy, 455, 10_100), RejectReason::NotionalLimit)]
#[case::position_limit_buy(nothing, buy(501, 9_000), RejectReason::PositionLimit)]
#[case::position_limit_sell(nothing, sell(501, 9_500), RejectReason::PositionLimit)]
#[case::buying_power(nothing, buy(400, 10_000), RejectReason::InsufficientBuyingPower)]
#[case::buying_power_market_at_band_edge(nothing, market(Side::Buy, 300), RejectReason::InsufficientBuyingPower)]
#[case::post_only_buy_would_cross(nothing, buy(10, 10_010).post_only(), RejectReason::PostOnlyWouldCross)]
#[case::post_only_sell_would_cross(nothing, sell(10, 9_990).post_only(), RejectReason::PostOnlyWouldCross)]
#[case::fok_limit_not_fillable(nothing, buy(11, 10_010).fok(), RejectReason::FokNotFillable)]
#[case::fok_market_not_fillable(nothing, market(Side::Sell, 11).fok(), RejectReason::FokNotFillable)]
fn rejected_new_order_changes_nothing(#[case] setup: fn(&mut Sim), #[case] order: Order, #[case] reason: RejectReason) {
    let Quoted { mut sim, .. } = quoted_market();
    setup(&mut sim);
    let before = sim.screens(&[USER, P2]);

    let report = sole_report(&sim.cmd(order));

    let o = order.0;
    assert_eq!(
        report,
        ExecutionReport {
            participant: o.participant,
            order_id: None,
            client_order_id: o.client_order_id,
            instrument: o.instrument,
            side: o.side,
            exec_type: ExecType::Rejected,
            status: OrderStatus::Rejected,
            price: report.price,
            qty: o.qty,
            cum_qty: Qty::ZERO,
            leaves_qty: report.leaves_qty,
            avg_price: None,
            last_price: None,
            last_qty: None,
            liquidity: None,
            fee: 0,
            reject_reason: Some(reason),
            cancel_reason: None,
        }
    );
    assert_eq!(sim.screens(&[USER, P2]), before);
}

#[rstest]
#[case::limit_at_high_band_edge(buy(1, 11_000))]
#[case::limit_at_low_band_edge(sell(1, 9_000))]
#[case::odd_at_rounded_high_edge(buy(10, 10_005).on(ODD))]
#[case::odd_at_rounded_low_edge(sell(10, 9_995).on(ODD))]
#[case::stop_price_is_not_band_checked(stop_limit(Side::Buy, 1, 12_000, 10_000))]
#[case::buying_power_exactly_used(buy(305, 10_000))]
#[case::same_client_id_for_another_participant(buy(1, 9_000).by(P2).cid("used"))]
#[case::gtd_in_the_future(buy(1, 9_000).gtd(10))]
#[case::post_only_behind_the_market(buy(10, 10_009).post_only())]
#[case::fok_market_fillable(market(Side::Sell, 10).fok())]
fn orders_at_the_limits_are_accepted(#[case] order: Order) {
    let Quoted { mut sim, .. } = quoted_market();
    let report = reports(&sim.cmd(order))[0];
    assert!(matches!(report.exec_type, ExecType::New | ExecType::PendingTrigger), "{report:?}");
}

/// Plenty of buying power, so only the order limits bind; the user already works a buy of 100.
#[rstest]
#[case::notional_and_position_exactly_at_limit(buy(500, 10_000))]
#[case::market_buy_notional_at_band_edge(market(Side::Buy, 454))]
#[case::market_sell_notional_at_band_edge(market(Side::Sell, 555))]
#[case::stop_market_notional_at_band_edge(stop_market(Side::Buy, 454, 10_100))]
fn order_limits_are_inclusive(#[case] order: Order) {
    let mut sim = Sim::with_account(|a| {
        a.max_order_qty = Qty(1_000);
        a.max_notional = 5_000_000;
        a.max_position = 600;
    });
    sim.place(buy(100, 9_000));
    let report = reports(&sim.cmd(order))[0];
    assert!(matches!(report.exec_type, ExecType::New | ExecType::PendingTrigger), "{report:?}");
}

#[test]
fn rejected_order_still_uses_up_its_client_order_id() {
    let mut sim = Sim::new();
    let first = sole_report(&sim.cmd(buy(0, 9_990).cid("r1")));
    assert_eq!(first.reject_reason, Some(RejectReason::InvalidOrder));
    let second = sole_report(&sim.cmd(buy(1, 9_990).cid("r1")));
    assert_eq!(second.reject_reason, Some(RejectReason::DuplicateClientOrderId));
}

#[test]
fn client_order_id_of_a_finished_order_stays_used() {
    let mut sim = Sim::new();
    let id = sim.place(buy(1, 9_990).cid("c"));
    sim.cmd(cancel(USER, id));
    let report = sole_report(&sim.cmd(buy(1, 9_990).cid("c")));
    assert_eq!(report.reject_reason, Some(RejectReason::DuplicateClientOrderId));
}

#[test]
fn gtd_must_expire_after_now() {
    let mut sim = Sim::new();
    sim.advance_to(100);
    let report = sole_report(&sim.cmd(buy(1, 9_990).gtd(100)));
    assert_eq!(report.reject_reason, Some(RejectReason::InvalidOrder));
    let id = sim.place(buy(1, 9_990).gtd(101));
    assert_eq!(exec_types(&sim.advance(1), id), [ExecType::Expired]);
}

// ---------------------------------------------------------------------------------------------------------------
// Order types and matching.

#[test]
fn resting_limit_order_reports_and_publishes_exactly() {
    let mut sim = Sim::new();
    let events = sim.cmd(buy(10, 9_990).cid("a"));
    assert_eq!(kinds(&events), ["execution_report", "book_delta", "bbo", "queue_position", "account"]);
    let id = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(
        reports(&events)[0],
        ExecutionReport {
            participant: USER,
            order_id: Some(id),
            client_order_id: Some(cid("a")),
            instrument: SIM,
            side: Side::Buy,
            exec_type: ExecType::New,
            status: OrderStatus::New,
            price: Some(Price(9_990)),
            qty: Qty(10),
            cum_qty: Qty(0),
            leaves_qty: Qty(10),
            avg_price: None,
            last_price: None,
            last_qty: None,
            liquidity: None,
            fee: 0,
            reject_reason: None,
            cancel_reason: None,
        }
    );
    assert_eq!(
        deltas(&events),
        [BookDelta { instrument: SIM, side: Side::Buy, price: Price(9_990), qty: Qty(10), orders: 1 }]
    );
    assert_eq!(
        bbos(&events),
        [Bbo { instrument: SIM, bid_price: Some(Price(9_990)), bid_qty: Qty(10), ask_price: None, ask_qty: Qty(0) }]
    );
    assert_eq!(
        queue_positions(&events),
        [QueuePosition {
            participant: USER,
            order_id: id,
            client_order_id: Some(cid("a")),
            instrument: SIM,
            side: Side::Buy,
            price: Price(9_990),
            qty_ahead: Qty(0),
            orders_ahead: 0,
        }]
    );
    let account = &accounts(&events, USER)[0];
    // 2x leverage on 1,000,000.00 of equity, less the working order's 99_900.
    assert_eq!(
        (account.cash, account.equity, account.buying_power, account.realized_pnl, account.fees_paid),
        (100_000_000, 100_000_000, 200_000_000 - 99_900, 0, 0)
    );
    let view = sim.view(USER);
    assert_eq!(view.open_orders.len(), 1);
    let open = view.open_orders[0];
    assert_eq!(
        (open.order_id, open.status, open.order_type, open.leaves_qty, open.qty_ahead),
        (id, OrderStatus::New, OrderType::Limit { price: Price(9_990) }, Qty(10), Some(Qty(0)))
    );
}

#[test]
fn full_fill_reports_maker_then_taker_with_fees() {
    let mut sim = Sim::new();
    let maker = sim.place(sell(7, 10_001).by(P2).cid("m"));
    let events = sim.cmd(buy(7, 10_001).cid("t"));
    assert_eq!(
        kinds(&events),
        [
            "execution_report",
            "trade",
            "execution_report",
            "execution_report",
            "book_delta",
            "bbo",
            "account",
            "account"
        ]
    );
    let taker = reports(&events)[0].order_id.expect("accepted");
    let trade = trades(&events)[0];
    assert_eq!((trade.instrument, trade.price, trade.qty, trade.aggressor), (SIM, Price(10_001), Qty(7), Side::Buy));
    let fill = |participant, id, text: &str, side, liquidity, fee| ExecutionReport {
        participant,
        order_id: Some(id),
        client_order_id: Some(cid(text)),
        instrument: SIM,
        side,
        exec_type: ExecType::Fill,
        status: OrderStatus::Filled,
        price: Some(Price(10_001)),
        qty: Qty(7),
        cum_qty: Qty(7),
        leaves_qty: Qty(0),
        avg_price: Some(Price(10_001)),
        last_price: Some(Price(10_001)),
        last_qty: Some(Qty(7)),
        liquidity: Some(liquidity),
        fee,
        reject_reason: None,
        cancel_reason: None,
    };
    // Notional 70_007: maker ceil(-1.40014) = -1, taker ceil(3.50035) = 4.
    assert_eq!(
        reports(&events)[1..],
        [
            fill(P2, maker, "m", Side::Sell, Liquidity::Maker, -1),
            fill(USER, taker, "t", Side::Buy, Liquidity::Taker, 4)
        ]
    );
    assert_eq!(
        deltas(&events),
        [BookDelta { instrument: SIM, side: Side::Sell, price: Price(10_001), qty: Qty(0), orders: 0 }]
    );
    assert_eq!(
        bbos(&events),
        [Bbo { instrument: SIM, bid_price: None, bid_qty: Qty(0), ask_price: None, ask_qty: Qty(0) }]
    );
    let mut participants = account_participants(&events);
    participants.sort();
    assert_eq!(participants, [USER, P2]);
    assert!(sim.open_order_ids(USER).is_empty() && sim.open_order_ids(P2).is_empty());
}

#[test]
fn partial_fills_across_levels_report_running_totals() {
    let mut sim = Sim::new();
    for (qty, price) in [(5, 10_000), (4, 10_001), (5, 10_002)] {
        sim.place(sell(qty, price).by(P2));
    }
    let events = sim.cmd(buy(12, 10_002));
    let id = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(trade_prints(&events), [(10_000, 5), (10_001, 4), (10_002, 3)]);
    let progress: Vec<_> = reports_of(&events, id)
        .iter()
        .map(|r| (r.exec_type, r.status, r.cum_qty.0, r.leaves_qty.0, r.avg_price.map(|p| p.0)))
        .collect();
    // Averages: 50_000/5, 90_004/9 = 10_000.44, 120_010/12 = 10_000.83, rounded to nearest.
    assert_eq!(
        progress,
        [
            (ExecType::New, OrderStatus::New, 0, 12, None),
            (ExecType::PartialFill, OrderStatus::PartiallyFilled, 5, 7, Some(10_000)),
            (ExecType::PartialFill, OrderStatus::PartiallyFilled, 9, 3, Some(10_000)),
            (ExecType::Fill, OrderStatus::Filled, 12, 0, Some(10_001)),
        ]
    );
    assert_eq!(sim.asks(SIM), [(10_002, 2, 1)]);
}

#[test]
fn price_time_priority() {
    let mut sim = Sim::new();
    let first = sim.place(buy(5, 9_990).by(P2));
    let second = sim.place(buy(5, 9_990).by(P3));
    let better = sim.place(buy(5, 9_995).by(P2));
    let events = sim.cmd(sell(12, 9_990).by(P4));
    assert_eq!(maker_fills(&events), [(better, 9_995, 5), (first, 9_990, 5), (second, 9_990, 2)]);
    assert_eq!(sim.bids(SIM), [(9_990, 3, 1)]);
}

#[test]
fn market_order_sweeps_levels() {
    let mut sim = Sim::new();
    sim.place(sell(5, 10_000).by(P2));
    sim.place(sell(5, 10_300).by(P2));
    sim.place(sell(5, 10_600).by(P2));
    let events = sim.cmd(market(Side::Buy, 12));
    let id = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(trade_prints(&events), [(10_000, 5), (10_300, 5), (10_600, 2)]);
    let last = last_report(&events, id);
    assert_eq!((last.exec_type, last.status, last.price), (ExecType::Fill, OrderStatus::Filled, None));
}

/// Asks at 10_000 and 11_500 after the last trade moved to 9_500: the band's high edge is 10_450 then, and 11_000
/// once the market order has traded at 10_000, so 11_500 is out of reach either way.
fn ask_beyond_band() -> Sim {
    let mut sim = Sim::new();
    sim.trade_at(10_500);
    sim.place(sell(5, 11_500).by(P2));
    sim.trade_at(9_500);
    sim.place(sell(5, 10_000).by(P2));
    sim
}

#[test]
fn market_order_stops_at_band_edge_and_cancels_rest_for_no_liquidity() {
    let mut sim = ask_beyond_band();
    let events = sim.cmd(market(Side::Buy, 10));
    let id = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(trade_prints(&events), [(10_000, 5)]);
    let last = last_report(&events, id);
    assert_eq!(
        (last.exec_type, last.status, last.cum_qty, last.cancel_reason),
        (ExecType::Cancelled, OrderStatus::Cancelled, Qty(5), Some(CancelReason::NoLiquidity))
    );
    assert_eq!(sim.asks(SIM), [(11_500, 5, 1)]);
}

#[test]
fn fok_market_counts_only_liquidity_inside_band() {
    let mut sim = ask_beyond_band();
    let report = sole_report(&sim.cmd(market(Side::Buy, 10).fok()));
    assert_eq!(report.reject_reason, Some(RejectReason::FokNotFillable));
    let events = sim.cmd(market(Side::Buy, 5).fok());
    assert_eq!(trade_prints(&events), [(10_000, 5)]);
}

#[test]
fn market_order_into_empty_book_is_cancelled_for_no_liquidity() {
    let mut sim = Sim::new();
    let events = sim.cmd(market(Side::Sell, 3));
    let id = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(exec_types(&events, id), [ExecType::New, ExecType::Cancelled]);
    assert_eq!(last_report(&events, id).cancel_reason, Some(CancelReason::NoLiquidity));
    assert!(trades(&events).is_empty());
}

#[test]
fn post_only_behind_the_market_rests() {
    let mut sim = Sim::new();
    sim.place(sell(10, 10_010).by(P2));
    let id = sim.place(buy(10, 10_009).post_only());
    assert_eq!(sim.bids(SIM), [(10_009, 10, 1)]);
    assert_eq!(sim.open_order_ids(USER), [id]);
}

// Time in force against asks of 5 at 10_000 and 5 at 10_002.
#[rstest]
#[case::gtc_rests_remainder(
    TimeInForce::Gtc, 8, 10_001, &[(10_000, 5)], ExecType::PartialFill, None, &[(10_001, 3, 1)]
)]
#[case::day_rests_remainder(
    TimeInForce::Day, 8, 10_001, &[(10_000, 5)], ExecType::PartialFill, None, &[(10_001, 3, 1)]
)]
#[case::gtd_rests_remainder(
    TimeInForce::Gtd { expire_at_ms: 500 }, 8, 10_001, &[(10_000, 5)], ExecType::PartialFill, None, &[(10_001, 3, 1)]
)]
#[case::ioc_cancels_remainder(
    TimeInForce::Ioc, 8, 10_001, &[(10_000, 5)], ExecType::Cancelled, Some(CancelReason::ImmediateRemainder), &[]
)]
#[case::ioc_filled(TimeInForce::Ioc, 3, 10_001, &[(10_000, 3)], ExecType::Fill, None, &[])]
#[case::ioc_nothing_to_take(
    TimeInForce::Ioc, 3, 9_999, &[], ExecType::Cancelled, Some(CancelReason::ImmediateRemainder), &[]
)]
#[case::fok_fillable_across_levels(
    TimeInForce::Fok, 10, 10_002, &[(10_000, 5), (10_002, 5)], ExecType::Fill, None, &[]
)]
#[case::fok_not_fillable(TimeInForce::Fok, 10, 10_001, &[], ExecType::Rejected, None, &[])]
fn time_in_force_of_crossing_buy(
    #[case] tif: TimeInForce,
    #[case] qty: u64,
    #[case] price: i64,
    #[case] expected_trades: &[(i64, u64)],
    #[case] final_exec: ExecType,
    #[case] cancel_reason: Option<CancelReason>,
    #[case] bids_after: &[(i64, u64, u32)],
) {
    let mut sim = Sim::new();
    sim.place(sell(5, 10_000).by(P2));
    sim.place(sell(5, 10_002).by(P2));
    let events = sim.cmd(buy(qty, price).tif(tif));
    assert_eq!(trade_prints(&events), expected_trades);
    let last = *reports(&events).iter().rfind(|r| r.participant == USER).expect("a report");
    assert_eq!((last.exec_type, last.cancel_reason), (final_exec, cancel_reason));
    if final_exec == ExecType::Rejected {
        assert_eq!(last.reject_reason, Some(RejectReason::FokNotFillable));
    }
    assert_eq!(sim.bids(SIM), bids_after);
}

#[test]
fn gtc_survives_trading_days() {
    let mut sim = Sim::new();
    let id = sim.place(buy(10, 9_990));
    let events = sim.advance_to(3 * DAY_MS);
    assert!(reports(&events).is_empty());
    assert_eq!(sim.open_order_ids(USER), [id]);
}

#[test]
fn fok_ignores_own_resting_orders() {
    let mut sim = Sim::new();
    sim.place(sell(5, 10_000));
    sim.place(sell(5, 10_001).by(P2));
    let report = sole_report(&sim.cmd(buy(10, 10_001).fok()));
    assert_eq!(report.reject_reason, Some(RejectReason::FokNotFillable));
}

#[rstest]
#[case::first_step(10, 10)]
#[case::exact_step(50, 50)]
#[case::between_steps(55, 60)]
#[case::one_second(1_000, 1_000)]
fn gtd_expires_at_the_first_step_reaching_its_time(#[case] expire_at_ms: u64, #[case] expires_at: u64) {
    let mut sim = Sim::new();
    let id = sim.place(buy(10, 9_990).gtd(expire_at_ms));
    let before = sim.advance_to(expires_at - STEP_MS);
    assert!(reports_of(&before, id).is_empty());
    assert_eq!(sim.open_order_ids(USER), [id]);
    let events = sim.advance(1);
    let report = last_report(&events, id);
    assert_eq!((report.exec_type, report.status), (ExecType::Expired, OrderStatus::Expired));
    let expiry = events.iter().find(|e| matches!(&e.body, EventBody::ExecutionReport(r) if r.order_id == Some(id)));
    assert_eq!(expiry.map(|e| e.time_ms), Some(expires_at));
    assert_eq!(
        deltas(&events),
        [BookDelta { instrument: SIM, side: Side::Buy, price: Price(9_990), qty: Qty(0), orders: 0 }]
    );
    assert!(sim.open_order_ids(USER).is_empty());
}

// Trading days are DAY_MS = 1_000 long here.
#[rstest]
#[case::entered_at_open(0, 1_000)]
#[case::entered_in_last_step(990, 1_000)]
#[case::entered_at_next_open(1_000, 2_000)]
#[case::entered_mid_day(1_500, 2_000)]
fn day_order_expires_at_end_of_its_trading_day(#[case] entered_at: u64, #[case] expires_at: u64) {
    let mut sim = Sim::new();
    sim.advance_to(entered_at);
    let id = sim.place(buy(10, 9_990).day());
    assert!(reports_of(&sim.advance_to(expires_at - STEP_MS), id).is_empty());
    let events = sim.advance(1);
    assert_eq!(exec_types(&events, id), [ExecType::Expired]);
    assert!(sim.open_order_ids(USER).is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Icebergs.

#[test]
fn iceberg_shows_only_its_display_quantity() {
    let mut sim = Sim::new();
    let events = sim.cmd(sell(30, 10_000).by(P2).display(10));
    assert_eq!(
        deltas(&events),
        [BookDelta { instrument: SIM, side: Side::Sell, price: Price(10_000), qty: Qty(10), orders: 1 }]
    );
    assert_eq!(sim.asks(SIM), [(10_000, 10, 1)]);
    let open = sim.view(P2).open_orders[0];
    assert_eq!((open.leaves_qty, open.display_qty), (Qty(30), Some(Qty(10))));
}

#[test]
fn iceberg_refresh_goes_to_back_of_queue() {
    let mut sim = Sim::new();
    let iceberg = sim.place(sell(30, 10_000).by(P2).display(10));
    let plain = sim.place(sell(10, 10_000).by(P3));
    assert_eq!(sim.asks(SIM), [(10_000, 20, 2)]);

    // The shown 10 fill, the refresh queues behind the plain order, and the buy keeps matching there.
    let events = sim.cmd(buy(15, 10_000));
    assert_eq!(maker_fills(&events), [(iceberg, 10_000, 10), (plain, 10_000, 5)]);
    assert_eq!(sim.asks(SIM), [(10_000, 15, 2)]);
    assert_eq!(queue_of(&events, iceberg), [(5, 1)]);
    assert_eq!(queue_of(&events, plain), [(0, 0)]);

    let events = sim.cmd(buy(5, 10_000));
    assert_eq!(maker_fills(&events), [(plain, 10_000, 5)]);
    assert_eq!(queue_of(&events, iceberg), [(0, 0)]);

    // Alone at the level, the refreshed part is matched again by the same order; what remains shows min(10, 8).
    let events = sim.cmd(buy(12, 10_000));
    assert_eq!(maker_fills(&events), [(iceberg, 10_000, 10), (iceberg, 10_000, 2)]);
    assert_eq!(sim.asks(SIM), [(10_000, 8, 1)]);
    assert_eq!(last_report(&events, iceberg).leaves_qty, Qty(8));
}

// ---------------------------------------------------------------------------------------------------------------
// Self-trade prevention. Asks: P2 3 at 10_000, then the user's own 5 at 10_000, then P2 5 at 10_001; the user buys
// 10 up to 10_001.

#[rstest]
#[case::cancel_newest(
    StpMode::CancelNewest,
    &[(10_000, 3)],
    Some(CancelReason::SelfTradePrevention),
    false,
    &[],
    &[(10_000, 5, 1), (10_001, 5, 1)],
)]
#[case::cancel_oldest(StpMode::CancelOldest, &[(10_000, 3), (10_001, 5)], None, true, &[(10_001, 2, 1)], &[])]
#[case::cancel_both(
    StpMode::CancelBoth, &[(10_000, 3)], Some(CancelReason::SelfTradePrevention), true, &[], &[(10_001, 5, 1)]
)]
fn self_trade_prevention(
    #[case] mode: StpMode,
    #[case] expected_trades: &[(i64, u64)],
    #[case] incoming_cancel: Option<CancelReason>,
    #[case] resting_cancelled: bool,
    #[case] bids_after: &[(i64, u64, u32)],
    #[case] asks_after: &[(i64, u64, u32)],
) {
    let mut sim = Sim::new();
    sim.place(sell(3, 10_000).by(P2));
    let own = sim.place(sell(5, 10_000));
    sim.place(sell(5, 10_001).by(P2));

    let events = sim.cmd(buy(10, 10_001).stp(mode));
    let incoming = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(trade_prints(&events), expected_trades);
    assert_eq!(last_report(&events, incoming).cancel_reason, incoming_cancel);
    let own_reports = reports_of(&events, own);
    if resting_cancelled {
        assert_eq!(own_reports.len(), 1);
        assert_eq!(
            (own_reports[0].exec_type, own_reports[0].cancel_reason),
            (ExecType::Cancelled, Some(CancelReason::SelfTradePrevention))
        );
    } else {
        assert!(own_reports.is_empty(), "{own_reports:?}");
        assert!(sim.open_order_ids(USER).contains(&own));
    }
    assert_eq!(sim.bids(SIM), bids_after);
    assert_eq!(sim.asks(SIM), asks_after);
}

// ---------------------------------------------------------------------------------------------------------------
// Stops.

#[test]
fn stop_market_waits_outside_the_book_and_triggers_on_last_trade() {
    let mut sim = Sim::new();
    sim.trade_at(10_000);
    sim.place(sell(10, 10_100).by(P2));
    let events = sim.cmd(stop_market(Side::Buy, 5, 10_050));
    let stop = reports(&events)[0].order_id.expect("accepted");
    let pending = reports(&events)[0];
    assert_eq!(
        (pending.exec_type, pending.status, pending.price),
        (ExecType::PendingTrigger, OrderStatus::PendingTrigger, None)
    );
    assert!(deltas(&events).is_empty());
    assert_eq!(sim.bids(SIM), []);
    assert_eq!(sim.view(USER).open_orders[0].status, OrderStatus::PendingTrigger);

    assert!(reports_of(&sim.trade_at(10_040), stop).is_empty());

    let events = sim.trade_at(10_050);
    assert_eq!(exec_types(&events, stop), [ExecType::Triggered, ExecType::Fill]);
    assert_eq!(reports_of(&events, stop)[0].status, OrderStatus::New);
    assert_eq!(trade_prints(&events), [(10_050, 1), (10_100, 5)]);
    // The stop works only after the command that caused the triggering trade has finished matching.
    let sequence: Vec<_> = reports(&events).iter().map(|r| (r.participant, r.exec_type)).collect();
    assert_eq!(
        sequence,
        [
            (P3, ExecType::New),
            (P4, ExecType::New),
            (P3, ExecType::Fill),
            (P4, ExecType::Fill),
            (USER, ExecType::Triggered),
            (P2, ExecType::PartialFill),
            (USER, ExecType::Fill)
        ]
    );
}

#[test]
fn stop_limit_triggers_into_a_resting_limit_order() {
    let mut sim = Sim::new();
    sim.trade_at(10_000);
    let stop = sim.place(stop_limit(Side::Sell, 5, 9_950, 9_940));
    let events = sim.trade_at(9_950);
    assert_eq!(exec_types(&events, stop), [ExecType::Triggered]);
    assert_eq!(sim.asks(SIM), [(9_940, 5, 1)]);
    assert_eq!(queue_of(&events, stop), [(0, 0)]);
}

#[test]
fn stop_already_through_its_price_triggers_at_entry() {
    let mut sim = Sim::new();
    sim.trade_at(10_000);
    sim.place(sell(5, 10_050).by(P2));
    let events = sim.cmd(stop_limit(Side::Buy, 5, 9_990, 10_100));
    let stop = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(exec_types(&events, stop), [ExecType::PendingTrigger, ExecType::Triggered, ExecType::Fill]);
    assert_eq!(trade_prints(&events), [(10_050, 5)]);
}

#[test]
fn stop_does_not_trigger_before_the_first_trade() {
    let mut sim = Sim::new();
    let stop = sim.place(stop_market(Side::Buy, 5, 9_000));
    assert!(reports_of(&sim.advance(10), stop).is_empty());
    assert_eq!(sim.open_order_ids(USER), [stop]);
}

/// P2 bids 5 at each of 9_990, 9_980, 9_970 and 9_960; P3 has sell stops A (stop 9_975) then B (stop 9_985).
fn stops_over_bids() -> (Sim, OrderId, OrderId) {
    let mut sim = Sim::new();
    for price in [9_990, 9_980, 9_970, 9_960] {
        sim.place(buy(5, price).by(P2));
    }
    let a = sim.place(stop_market(Side::Sell, 5, 9_975).by(P3));
    let b = sim.place(stop_market(Side::Sell, 5, 9_985).by(P3));
    (sim, a, b)
}

fn p3_steps(events: &[tradesim_protocol::Event]) -> Vec<(OrderId, ExecType)> {
    reports(events).iter().filter(|r| r.participant == P3).map(|r| (r.order_id.expect("id"), r.exec_type)).collect()
}

#[test]
fn stop_cascade_triggers_until_none_does() {
    let (mut sim, a, b) = stops_over_bids();
    // The sell ends at 9_980, which triggers B only; B's sale at 9_970 then triggers A.
    let events = sim.cmd(sell(10, 9_980).by(P4));
    assert_eq!(trade_prints(&events), [(9_990, 5), (9_980, 5), (9_970, 5), (9_960, 5)]);
    assert_eq!(
        p3_steps(&events),
        [(b, ExecType::Triggered), (b, ExecType::Fill), (a, ExecType::Triggered), (a, ExecType::Fill)]
    );
}

#[test]
fn stops_triggered_together_run_lowest_order_id_first() {
    let (mut sim, a, b) = stops_over_bids();
    let events = sim.cmd(sell(15, 9_970).by(P4));
    assert_eq!(trade_prints(&events), [(9_990, 5), (9_980, 5), (9_970, 5), (9_960, 5)]);
    assert_eq!(
        p3_steps(&events),
        [(a, ExecType::Triggered), (a, ExecType::Fill), (b, ExecType::Triggered), (b, ExecType::Cancelled)]
    );
    assert_eq!(last_report(&events, b).cancel_reason, Some(CancelReason::NoLiquidity));
}

// ---------------------------------------------------------------------------------------------------------------
// Cancel, mass cancel, amend.

#[test]
fn cancel_by_client_order_id() {
    let mut sim = Sim::new();
    let id = sim.place(buy(10, 9_990).cid("c"));
    let events = sim.cmd(cancel_cid(USER, "c"));
    assert_eq!(kinds(&events), ["execution_report", "book_delta", "bbo", "account"]);
    let report = reports(&events)[0];
    assert_eq!(
        (report.order_id, report.exec_type, report.status, report.cancel_reason, report.cum_qty),
        (Some(id), ExecType::Cancelled, OrderStatus::Cancelled, Some(CancelReason::Requested), Qty(0))
    );
    assert_eq!(sim.bids(SIM), []);
}

#[test]
fn cancel_of_partially_filled_order_keeps_its_fills() {
    let mut sim = Sim::new();
    let id = sim.place(buy(10, 9_990));
    sim.cmd(sell(4, 9_990).by(P2));
    let report = last_report(&sim.cmd(cancel(USER, id)), id);
    assert_eq!((report.exec_type, report.cum_qty), (ExecType::Cancelled, Qty(4)));
}

#[test]
fn cancel_of_filled_order_is_refused_as_unknown() {
    let mut sim = Sim::new();
    let id = sim.place(buy(10, 9_990));
    sim.cmd(sell(10, 9_990).by(P2));
    assert_eq!(
        sole_rejection(&sim.cmd(cancel(USER, id))),
        RequestRejected {
            participant: USER,
            request: RequestKind::Cancel,
            order_id: Some(id),
            client_order_id: None,
            reason: RejectReason::UnknownOrder
        }
    );
}

#[test]
fn pending_stops_can_be_amended() {
    let mut sim = Sim::new();
    let stop_limit_id = sim.place(stop_limit(Side::Buy, 10, 10_100, 10_150));
    let events = sim.cmd(amend(USER, stop_limit_id, Some(6), Some(10_120)));
    let report = sole_report(&events[..1]);
    assert_eq!(
        (report.exec_type, report.status, report.qty, report.leaves_qty, report.price),
        (ExecType::Replaced, OrderStatus::PendingTrigger, Qty(6), Qty(6), Some(Price(10_120)))
    );
    let stop_market_id = sim.place(stop_market(Side::Sell, 10, 9_900));
    let report = sole_report(&sim.cmd(amend_qty(USER, stop_market_id, 4))[..1]);
    assert_eq!((report.exec_type, report.qty), (ExecType::Replaced, Qty(4)));
    assert!(sim.bids(SIM).is_empty() && sim.asks(SIM).is_empty(), "still not in the book");

    // Triggered, the amended stop-limit buys 6 at up to 10_120.
    sim.place(sell(10, 10_110).by(P2));
    let events = sim.trade_at(10_100);
    assert_eq!(exec_types(&events, stop_limit_id), [ExecType::Triggered, ExecType::Fill]);
    assert_eq!(
        fills(&events).iter().filter(|f| f.0 == stop_limit_id).map(|f| (f.1, f.2)).collect::<Vec<_>>(),
        [(10_110, 6)]
    );
}

/// The user works a buy and a sell on each instrument and a pending buy stop; P2 has a bid that must survive.
#[rstest]
#[case::everything(None, None, &["sim buy", "sim sell", "odd buy", "odd sell", "stop"])]
#[case::one_instrument(Some(SIM), None, &["sim buy", "sim sell", "stop"])]
#[case::one_side(None, Some(Side::Buy), &["sim buy", "odd buy", "stop"])]
#[case::instrument_and_side(Some(ODD), Some(Side::Sell), &["odd sell"])]
fn mass_cancel_filters(
    #[case] instrument: Option<InstrumentId>,
    #[case] side: Option<Side>,
    #[case] expected: &[&str],
) {
    let mut sim = Sim::new();
    let p2_bid = sim.place(buy(5, 9_980).by(P2));
    let orders = [
        ("sim buy", sim.place(buy(5, 9_990))),
        ("sim sell", sim.place(sell(5, 10_010))),
        ("odd buy", sim.place(buy(10, 9_995).on(ODD))),
        ("odd sell", sim.place(sell(10, 10_005).on(ODD))),
        ("stop", sim.place(stop_market(Side::Buy, 5, 10_100))),
    ];
    let events = sim.cmd(mass_cancel(USER, instrument, side));
    let cancelled: Vec<_> = reports(&events)
        .iter()
        .map(|r| {
            assert_eq!((r.exec_type, r.cancel_reason), (ExecType::Cancelled, Some(CancelReason::MassCancel)));
            orders.iter().find(|(_, id)| Some(*id) == r.order_id).expect("one of the user's orders").0
        })
        .collect();
    assert_eq!(cancelled, expected);
    let left: Vec<_> = orders.iter().filter(|(name, _)| !expected.contains(name)).map(|(_, id)| *id).collect();
    assert_eq!(sim.open_order_ids(USER), left);
    assert_eq!(sim.open_order_ids(P2), [p2_bid]);
}

#[test]
fn mass_cancel_without_working_orders_says_nothing() {
    let mut sim = Sim::new();
    let id = sim.place(buy(5, 9_990));
    sim.cmd(cancel(USER, id));
    assert_eq!(sim.cmd(mass_cancel(USER, None, None)), []);
    assert_eq!(sim.cmd(mass_cancel(P3, None, None)), []);
}

/// Two bids of 10 at 9_990, the user's first, then P3's; the amends run before P2 sells 6 into them.
#[rstest]
#[case::qty_decrease_keeps_priority(&[(Some(8), None)], true)]
#[case::qty_increase_loses_priority(&[(Some(15), None)], false)]
#[case::price_change_loses_priority(&[(None, Some(9_989)), (None, Some(9_990))], false)]
#[case::price_and_qty_change_loses_priority(&[(Some(8), Some(9_989)), (None, Some(9_990))], false)]
fn amend_priority(#[case] amends: &[(Option<u64>, Option<i64>)], #[case] user_first: bool) {
    let mut sim = Sim::new();
    let a = sim.place(buy(10, 9_990));
    let b = sim.place(buy(10, 9_990).by(P3));
    for &(qty, price) in amends {
        assert_eq!(exec_types(&sim.cmd(amend(USER, a, qty, price)), a), [ExecType::Replaced]);
    }
    let events = sim.cmd(sell(6, 9_990).by(P2));
    let first = if user_first { a } else { b };
    assert_eq!(maker_fills(&events), [(first, 9_990, 6)]);
}

#[test]
fn amend_decrease_reports_replaced_and_keeps_queue_position() {
    let mut sim = Sim::new();
    let a = sim.place(buy(10, 9_990).cid("a"));
    let b = sim.place(buy(10, 9_990).by(P3));
    let events = sim.cmd(amend_qty(USER, a, 6));
    let report = sole_report(&events[..1]);
    assert_eq!(
        (report.exec_type, report.status, report.qty, report.leaves_qty, report.price),
        (ExecType::Replaced, OrderStatus::New, Qty(6), Qty(6), Some(Price(9_990)))
    );
    assert_eq!(queue_of(&events, a), []);
    assert_eq!(queue_of(&events, b), [(6, 1)]);
    assert_eq!(
        deltas(&events),
        [BookDelta { instrument: SIM, side: Side::Buy, price: Price(9_990), qty: Qty(16), orders: 2 }]
    );
}

#[test]
fn amend_increase_moves_to_back_of_queue() {
    let mut sim = Sim::new();
    let a = sim.place(buy(10, 9_990));
    let b = sim.place(buy(10, 9_990).by(P3));
    let events = sim.cmd(amend_qty(USER, a, 15));
    assert_eq!((reports(&events)[0].qty, reports(&events)[0].leaves_qty), (Qty(15), Qty(15)));
    assert_eq!(queue_of(&events, a), [(10, 1)]);
    assert_eq!(queue_of(&events, b), [(0, 0)]);
}

#[test]
fn amend_qty_is_total_including_filled_part() {
    let mut sim = Sim::new();
    let a = sim.place(buy(10, 10_000));
    sim.cmd(sell(4, 10_000).by(P2));
    let report = sole_report(&sim.cmd(amend_qty(USER, a, 5))[..1]);
    assert_eq!(
        (report.exec_type, report.status, report.qty, report.cum_qty, report.leaves_qty),
        (ExecType::Replaced, OrderStatus::PartiallyFilled, Qty(5), Qty(4), Qty(1))
    );
    assert_eq!(sim.bids(SIM), [(10_000, 1, 1)]);
}

#[test]
fn amended_price_that_crosses_trades_as_taker() {
    let mut sim = Sim::new();
    let maker = sim.place(sell(10, 10_010).by(P2));
    let a = sim.place(buy(10, 10_000));
    let events = sim.cmd(amend_price(USER, a, 10_010));
    assert_eq!(&kinds(&events)[..4], ["execution_report", "trade", "execution_report", "execution_report"]);
    assert_eq!(exec_types(&events, a), [ExecType::Replaced, ExecType::Fill]);
    assert_eq!(trades(&events)[0].aggressor, Side::Buy);
    assert_eq!(maker_fills(&events), [(maker, 10_010, 10)]);
    let fill = last_report(&events, a);
    // Notional 100_100 at 50 ppm = 5.005, rounded up.
    assert_eq!((fill.liquidity, fill.fee), (Some(Liquidity::Taker), 6));
}

#[test]
fn amend_by_client_order_id() {
    let mut sim = Sim::new();
    let a = sim.place(buy(10, 9_990).cid("x"));
    let command = Command::Amend {
        participant: USER,
        order: OrderRef::ClientOrderId(cid("x")),
        qty: None,
        price: Some(Price(9_980)),
    };
    assert_eq!(exec_types(&sim.cmd(command), a), [ExecType::Replaced]);
    assert_eq!(sim.bids(SIM), [(9_980, 10, 1)]);
}

/// The quoted market plus, for the user: A = buy 10 at 9_995 with 4 filled, P = post-only buy at 9_100, S = a
/// pending buy stop, O = a buy on ODD, F = a filled buy. P2 adds an ask at 10_020.
struct AmendIds {
    a: OrderId,
    post_only: OrderId,
    stop: OrderId,
    odd: OrderId,
    filled: OrderId,
    p2_bid: OrderId,
}

fn amend_market() -> (Sim, AmendIds) {
    let Quoted { mut sim, p2_bid } = quoted_market();
    let a = sim.place(buy(10, 9_995).cid("a"));
    sim.cmd(sell(4, 9_995).by(P3));
    let post_only = sim.place(buy(10, 9_100).post_only());
    let stop = sim.place(stop_market(Side::Buy, 10, 10_200));
    let odd = sim.place(buy(10, 10_000).on(ODD));
    let filled = sim.place(buy(10, 10_010));
    sim.place(sell(10, 10_020).by(P2));
    (sim, AmendIds { a, post_only, stop, odd, filled, p2_bid })
}

#[rstest]
#[case::amend_unknown_order(
    nothing, |_: &AmendIds| amend_qty(USER, OrderId(999_999), 5), RequestKind::Amend, RejectReason::UnknownOrder
)]
#[case::amend_other_participants_order(
    nothing, |ids: &AmendIds| amend_qty(USER, ids.p2_bid, 5), RequestKind::Amend, RejectReason::UnknownOrder
)]
#[case::amend_filled_order(
    nothing, |ids: &AmendIds| amend_qty(USER, ids.filled, 20), RequestKind::Amend, RejectReason::UnknownOrder
)]
#[case::amend_nothing(
    nothing, |ids: &AmendIds| amend(USER, ids.a, None, None), RequestKind::Amend, RejectReason::InvalidAmend
)]
#[case::amend_to_filled_qty(
    nothing, |ids: &AmendIds| amend_qty(USER, ids.a, 4), RequestKind::Amend, RejectReason::InvalidAmend
)]
#[case::amend_below_filled_qty(
    nothing, |ids: &AmendIds| amend_qty(USER, ids.a, 3), RequestKind::Amend, RejectReason::InvalidAmend
)]
#[case::amend_price_of_stop_market(
    nothing, |ids: &AmendIds| amend_price(USER, ids.stop, 10_300), RequestKind::Amend, RejectReason::InvalidAmend
)]
#[case::amend_while_halted(
    halt_sim, |ids: &AmendIds| amend_qty(USER, ids.a, 8), RequestKind::Amend, RejectReason::TradingHalted
)]
#[case::amend_off_tick(
    nothing, |ids: &AmendIds| amend_price(USER, ids.odd, 10_002), RequestKind::Amend, RejectReason::OffTick
)]
#[case::amend_off_lot(nothing, |ids: &AmendIds| amend_qty(USER, ids.odd, 15), RequestKind::Amend, RejectReason::OffLot)]
#[case::amend_outside_band(
    nothing, |ids: &AmendIds| amend_price(USER, ids.a, 12_000), RequestKind::Amend, RejectReason::OutsidePriceBand
)]
#[case::amend_outside_rounded_band(
    nothing, |ids: &AmendIds| amend_price(USER, ids.odd, 10_010), RequestKind::Amend, RejectReason::OutsidePriceBand
)]
#[case::amend_over_quantity_limit(
    nothing, |ids: &AmendIds| amend_qty(USER, ids.a, 1_001), RequestKind::Amend, RejectReason::QuantityLimit
)]
#[case::amend_over_notional_limit(
    nothing, |ids: &AmendIds| amend_qty(USER, ids.a, 600), RequestKind::Amend, RejectReason::NotionalLimit
)]
#[case::amend_post_only_to_cross(
    nothing,
    |ids: &AmendIds| amend_price(USER, ids.post_only, 10_020),
    RequestKind::Amend,
    RejectReason::PostOnlyWouldCross,
)]
#[case::cancel_unknown_order(
    nothing, |_: &AmendIds| cancel(USER, OrderId(999_999)), RequestKind::Cancel, RejectReason::UnknownOrder
)]
#[case::cancel_unknown_client_order_id(
    nothing, |_: &AmendIds| cancel_cid(USER, "nope"), RequestKind::Cancel, RejectReason::UnknownOrder
)]
#[case::cancel_other_participants_order(
    nothing, |ids: &AmendIds| cancel(USER, ids.p2_bid), RequestKind::Cancel, RejectReason::UnknownOrder
)]
#[case::cancel_filled_order(
    nothing, |ids: &AmendIds| cancel(USER, ids.filled), RequestKind::Cancel, RejectReason::UnknownOrder
)]
fn refused_request_changes_nothing(
    #[case] setup: fn(&mut Sim),
    #[case] request: fn(&AmendIds) -> Command,
    #[case] kind: RequestKind,
    #[case] reason: RejectReason,
) {
    let (mut sim, ids) = amend_market();
    setup(&mut sim);
    let before = sim.screens(&[USER, P2]);
    let rejected = sole_rejection(&sim.cmd(request(&ids)));
    assert_eq!((rejected.participant, rejected.request, rejected.reason), (USER, kind, reason));
    assert_eq!(sim.screens(&[USER, P2]), before);
}

fn amend_cid(participant: tradesim_protocol::ParticipantId, text: &str, qty: u64) -> Command {
    Command::Amend { participant, order: OrderRef::ClientOrderId(cid(text)), qty: Some(Qty(qty)), price: None }
}

/// The rejection names the order as the request did, completed from the order while it is working.
#[rstest]
#[case::by_order_id(|ids: &AmendIds| amend_qty(USER, ids.a, 4), |ids: &AmendIds| (Some(ids.a), Some(cid("a"))))]
#[case::by_client_order_id(|_: &AmendIds| amend_cid(USER, "a", 4), |ids: &AmendIds| (Some(ids.a), Some(cid("a"))))]
#[case::unknown_client_order_id(|_: &AmendIds| cancel_cid(USER, "nope"), |_: &AmendIds| (None, Some(cid("nope"))))]
#[case::unknown_order_id(|_: &AmendIds| cancel(USER, OrderId(999_999)), |_: &AmendIds| (Some(OrderId(999_999)), None))]
fn request_rejected_names_the_order(
    #[case] request: fn(&AmendIds) -> Command,
    #[case] expected: fn(&AmendIds) -> (Option<OrderId>, Option<tradesim_protocol::ClientOrderId>),
) {
    let (mut sim, ids) = amend_market();
    let rejected = sole_rejection(&sim.cmd(request(&ids)));
    assert_eq!((rejected.order_id, rejected.client_order_id), expected(&ids));
}

// ---------------------------------------------------------------------------------------------------------------
// Halts.

#[test]
fn halt_blocks_entry_allows_cancel_and_resumes() {
    let mut sim = Sim::new();
    let id = sim.place(buy(10, 9_990));
    let halted = TradingStatus { instrument: SIM, halted: true, resumes_at_ms: None };
    assert_eq!(statuses(&sim.cmd(set_halted(SIM, true))), [(0, halted)]);
    assert!(sim.cmd(set_halted(SIM, true)).is_empty(), "no change, no event");
    assert_eq!(sim.book(SIM).status, halted);

    let report = sole_report(&sim.cmd(sell(1, 9_990).by(P2)));
    assert_eq!(report.reject_reason, Some(RejectReason::TradingHalted));
    sim.place(buy(10, 10_000).on(ODD));
    assert_eq!(exec_types(&sim.cmd(cancel(USER, id)), id), [ExecType::Cancelled]);

    let resumed = TradingStatus { instrument: SIM, halted: false, resumes_at_ms: None };
    assert_eq!(statuses(&sim.cmd(set_halted(SIM, false))), [(0, resumed)]);
    sim.place(buy(10, 9_990));

    assert!(sim.cmd(set_halted(NOWHERE, true)).is_empty(), "unknown instrument: nothing happens");
}

#[test]
fn circuit_breaker_halts_on_a_large_move_and_resumes_by_itself() {
    let mut config = config();
    config.instruments[0].circuit_breaker = Some(CircuitBreaker { move_bps: 100, window_ms: 1_000, halt_ms: 500 });
    let mut sim = Sim::with(config);
    sim.trade_at(10_000);
    sim.advance_to(2_000);

    // Exactly 100 bps from the price a window ago is not "more than".
    assert!(statuses(&sim.trade_at(10_100)).is_empty());
    let events = sim.trade_at(10_101);
    assert_eq!(
        statuses(&events),
        [(2_000, TradingStatus { instrument: SIM, halted: true, resumes_at_ms: Some(2_500) })]
    );
    let report = sole_report(&sim.cmd(buy(1, 10_000)));
    assert_eq!(report.reject_reason, Some(RejectReason::TradingHalted));

    assert!(statuses(&sim.advance_to(2_490)).is_empty());
    let events = sim.advance(1);
    assert_eq!(statuses(&events), [(2_500, TradingStatus { instrument: SIM, halted: false, resumes_at_ms: None })]);
    sim.place(buy(1, 10_000));
}

// ---------------------------------------------------------------------------------------------------------------
// Market data.

#[test]
fn book_deltas_run_bids_then_asks_best_first_then_bbo() {
    let mut sim = Sim::new();
    sim.place(buy(5, 9_990).by(P2));
    sim.place(buy(5, 9_980).by(P2));
    let events = sim.cmd(sell(15, 9_980));
    let id = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(
        kinds(&events),
        [
            "execution_report",
            "trade",
            "execution_report",
            "execution_report",
            "trade",
            "execution_report",
            "execution_report",
            "book_delta",
            "book_delta",
            "book_delta",
            "bbo",
            "queue_position",
            "account",
            "account"
        ]
    );
    let level =
        |side, price, qty, orders| BookDelta { instrument: SIM, side, price: Price(price), qty: Qty(qty), orders };
    assert_eq!(
        deltas(&events),
        [level(Side::Buy, 9_990, 0, 0), level(Side::Buy, 9_980, 0, 0), level(Side::Sell, 9_980, 5, 1)]
    );
    assert_eq!(
        bbos(&events),
        [Bbo { instrument: SIM, bid_price: None, bid_qty: Qty(0), ask_price: Some(Price(9_980)), ask_qty: Qty(5) }]
    );
    assert_eq!(queue_of(&events, id), [(0, 0)]);
}

#[test]
fn no_bbo_when_the_top_of_book_is_unchanged() {
    let mut sim = Sim::new();
    sim.place(buy(5, 9_990).by(P2));
    let events = sim.cmd(buy(5, 9_980));
    assert_eq!(deltas(&events).len(), 1);
    assert!(bbos(&events).is_empty());
}

#[test]
fn queue_position_follows_orders_ahead() {
    let mut sim = Sim::new();
    let first = sim.place(buy(5, 9_990).by(P2));
    let second = sim.place(buy(3, 9_990).by(P3));
    let events = sim.cmd(buy(4, 9_990));
    let mine = reports(&events)[0].order_id.expect("accepted");
    assert_eq!(queue_of(&events, mine), [(8, 2)]);
    assert_eq!(sim.view(USER).open_orders[0].qty_ahead, Some(Qty(8)));

    let events = sim.cmd(cancel(P2, first));
    assert_eq!(queue_of(&events, mine), [(3, 1)]);
    assert_eq!(queue_of(&events, second), [(0, 0)]);

    let events = sim.cmd(sell(2, 9_990).by(P4));
    assert_eq!(queue_of(&events, mine), [(1, 1)]);
    assert_eq!(queue_of(&events, second), [], "unchanged position, no event");

    let events = sim.cmd(sell(1, 9_990).by(P4));
    assert_eq!(queue_of(&events, mine), [(0, 0)]);
    assert_eq!(sim.view(USER).open_orders[0].qty_ahead, Some(Qty(0)));
}

#[test]
fn queue_position_counts_only_displayed_iceberg_quantity() {
    let mut sim = Sim::new();
    sim.place(buy(30, 9_990).by(P2).display(10));
    let events = sim.cmd(buy(5, 9_990));
    assert_eq!(queue_positions(&events).iter().map(|q| (q.qty_ahead.0, q.orders_ahead)).collect::<Vec<_>>(), [(10, 1)]);
}

#[test]
fn candles_close_each_interval_and_stay_flat_when_quiet() {
    let candle = |open_time_ms, [open, high, low, close]: [i64; 4], volume, trades| Candle {
        instrument: SIM,
        interval: CandleInterval::OneSecond,
        open_time_ms,
        open: Price(open),
        high: Price(high),
        low: Price(low),
        close: Price(close),
        volume: Qty(volume),
        trades,
    };
    let mut sim = Sim::new();
    assert!(candles(&sim.advance_to(2_000), CandleInterval::OneSecond).is_empty(), "none before the first trade");

    for price in [10_000, 10_005, 9_998] {
        sim.trade_at(price);
    }
    assert!(candles(&sim.advance_to(2_990), CandleInterval::OneSecond).is_empty());
    // The step that reaches 3_000 closes [2_000, 3_000).
    let events = sim.advance(1);
    assert_eq!(candles(&events, CandleInterval::OneSecond), [candle(2_000, [10_000, 10_005, 9_998, 9_998], 3, 3)]);
    let closed_at: Vec<_> =
        events.iter().filter(|e| matches!(e.body, EventBody::Candle(_))).map(|e| e.time_ms).collect();
    assert_eq!(closed_at, [3_000]);

    let events = sim.advance_to(4_000);
    assert_eq!(candles(&events, CandleInterval::OneSecond), [candle(3_000, [9_998; 4], 0, 0)]);

    sim.trade_at(10_010);
    let events = sim.advance_to(5_000);
    assert_eq!(candles(&events, CandleInterval::OneSecond), [candle(4_000, [10_010; 4], 1, 1)]);

    let events = sim.advance_to(60_000);
    let seconds = candles(&events, CandleInterval::OneSecond);
    assert_eq!(seconds.len(), 55);
    assert!(seconds.iter().all(|c| *c == candle(c.open_time_ms, [10_010; 4], 0, 0)), "{seconds:?}");
    let minute = Candle { interval: CandleInterval::OneMinute, ..candle(0, [10_000, 10_010, 9_998, 10_010], 4, 4) };
    assert_eq!(candles(&events, CandleInterval::OneMinute), [minute]);
}

// ---------------------------------------------------------------------------------------------------------------
// Accounting. The user takes liquidity P2 offers (or bids), so the user pays the taker fee.

fn user_takes(sim: &mut Sim, side: Side, qty: u64, price: i64) {
    sim.place(limit(side.opposite(), qty, price).by(P2));
    let events = sim.cmd(limit(side, qty, price));
    assert_eq!(trade_prints(&events), [(price, qty)]);
}

#[test]
fn cash_position_and_pnl_through_add_reduce_and_flip() {
    let mut sim = Sim::new();
    let position = |sim: &Sim| sim.position(USER, SIM);

    user_takes(&mut sim, Side::Buy, 7, 10_001); // notional 70_007, fee ceil(3.50035) = 4
    let account = sim.account(USER);
    assert_eq!((account.cash, account.fees_paid), (100_000_000 - 70_007 - 4, 4));
    assert_eq!(
        position(&sim),
        PositionView {
            instrument: SIM,
            qty: 7,
            avg_price: Some(Price(10_001)),
            cost_basis: 70_007,
            mark_price: Price(10_001),
            realized_pnl: 0,
            unrealized_pnl: 0
        }
    );
    assert_eq!(sim.account(P2).cash, 100_000_000 + 70_007 + 1, "maker rebate ceil(-1.40014) = -1");

    // Sell 3 at 10_011: removes 70_007 * 3 / 7 = 30_003 of cost, realizes 30_033 - 30_003; fee ceil(1.50165) = 2.
    user_takes(&mut sim, Side::Sell, 3, 10_011);
    assert_eq!(
        position(&sim),
        PositionView {
            instrument: SIM,
            qty: 4,
            avg_price: Some(Price(10_001)),
            cost_basis: 40_004,
            mark_price: Price(10_011),
            realized_pnl: 30,
            unrealized_pnl: 40_044 - 40_004
        }
    );

    // Sell 10 at 9_995: closes 4 (realizes 39_980 - 40_004 = -24) and opens -6 at 9_995; fee ceil(4.9975) = 5.
    user_takes(&mut sim, Side::Sell, 10, 9_995);
    assert_eq!(
        position(&sim),
        PositionView {
            instrument: SIM,
            qty: -6,
            avg_price: Some(Price(9_995)),
            cost_basis: -59_970,
            mark_price: Price(9_995),
            realized_pnl: 6,
            unrealized_pnl: 0
        }
    );
    let account = sim.account(USER);
    let cash = 100_000_000 - 70_007 - 4 + 30_033 - 2 + 99_950 - 5;
    let equity = cash - 59_970;
    assert_eq!(
        (
            account.cash,
            account.equity,
            account.buying_power,
            account.realized_pnl,
            account.unrealized_pnl,
            account.fees_paid
        ),
        (cash, equity, equity * 2 - 59_970, 6, 0, 11)
    );
    assert_eq!(equity, 100_000_000 + 6 - 11, "equity = initial + realized + unrealized - fees");
}

#[rstest]
#[case::average_rounds_up(&[(Side::Buy, 1, 10_000), (Side::Buy, 2, 10_001)], (3, 30_002, 10_001, 0, 1))]
#[case::average_rounds_down(&[(Side::Buy, 2, 10_000), (Side::Buy, 1, 10_001)], (3, 30_001, 10_000, 0, 2))]
// Removed cost 30_002 * 1 / 3 = 10_000 (toward zero); realized 10_005 - 10_000; unrealized at 10_005: 20_010 - 20_002.
#[case::long_reduce_truncates_removed_cost(
    &[(Side::Buy, 1, 10_000), (Side::Buy, 2, 10_001), (Side::Sell, 1, 10_005)], (2, 20_002, 10_001, 5, 8)
)]
// Removed cost -30_002 * 1 / 3 = -10_000 (toward zero, not -10_001); realized -9_990 + 10_000;
// unrealized -19_980 + 20_002.
#[case::short_reduce_truncates_toward_zero(
    &[(Side::Sell, 1, 10_000), (Side::Sell, 2, 10_001), (Side::Buy, 1, 9_990)], (-2, -20_002, 10_001, 10, 22)
)]
#[case::flip_opens_rest_at_fill_price(&[(Side::Buy, 2, 10_000), (Side::Sell, 5, 10_003)], (-3, -30_009, 10_003, 6, 0))]
fn position_arithmetic(#[case] fills: &[(Side, u64, i64)], #[case] expected: (i64, i64, i64, i64, i64)) {
    let mut sim = Sim::new();
    for &(side, qty, price) in fills {
        user_takes(&mut sim, side, qty, price);
    }
    let p = sim.position(USER, SIM);
    assert_eq!(
        (p.qty, p.cost_basis, p.avg_price.map(|p| p.0).unwrap_or(0), p.realized_pnl, p.unrealized_pnl),
        expected
    );
}

// fee = ceil(notional * ppm / 1e6) for both signs.
#[rstest]
#[case::defaults_fractional(-20, 50, 10_001, 7, -1, 4)]
#[case::defaults_exact(-20, 50, 10_000, 100, -20, 50)]
#[case::small_positive_rounds_up_small_rebate_rounds_to_zero(10, -5, 9_999, 3, 1, 0)]
#[case::rebate_below_one_unit_is_zero(-30, -30, 10_000, 1, 0, 0)]
#[case::no_fees(0, 0, 10_000, 5, 0, 0)]
#[case::large_fees(1_000, 100_000, 10_000, 3, 30, 3_000)]
#[case::large_rebate(-10_000, 7, 9_001, 11, -990, 1)]
fn maker_and_taker_fees(
    #[case] maker_ppm: i32,
    #[case] taker_ppm: i32,
    #[case] price: i64,
    #[case] qty: u64,
    #[case] maker_fee: i64,
    #[case] taker_fee: i64,
) {
    let mut sim = Sim::with_account(|a| {
        a.maker_fee_ppm = maker_ppm;
        a.taker_fee_ppm = taker_ppm;
    });
    let maker = sim.place(sell(qty, price).by(P2));
    let events = sim.cmd(buy(qty, price));
    let taker = reports(&events)[0].order_id.expect("accepted");
    assert_eq!((last_report(&events, maker).fee, last_report(&events, taker).fee), (maker_fee, taker_fee));
    let notional = price * qty as i64;
    let initial = AccountConfig::default().initial_cash;
    assert_eq!(sim.account(P2).cash, initial + notional - maker_fee);
    assert_eq!(sim.account(USER).cash, initial - notional - taker_fee);
    assert_eq!((sim.account(P2).fees_paid, sim.account(USER).fees_paid), (maker_fee, taker_fee));
}

#[test]
fn buying_power_limits_only_the_part_that_adds_exposure() {
    let mut sim = Sim::with_account(|a| {
        a.initial_cash = 1_000_000;
        a.leverage_bps = 10_000;
    });
    // Exactly all the buying power: accepted.
    let bid = sim.place(buy(100, 10_000));
    assert_eq!(sim.account(USER).buying_power, 0);
    let report = sole_report(&sim.cmd(buy(1, 9_000)));
    assert_eq!(report.reject_reason, Some(RejectReason::InsufficientBuyingPower));

    // Filled as maker: cash 1_000_000 - 1_000_000 + 20 rebate; equity 1_000_020 less 1_000_000 of exposure.
    let events = sim.cmd(market(Side::Sell, 100).by(P2));
    assert_eq!(exec_types(&events, bid), [ExecType::Fill]);
    let account = sim.account(USER);
    assert_eq!((account.cash, account.equity, account.buying_power), (20, 1_000_020, 20));

    // Selling 101 would open a short of 1 (10_000 > 20); selling 100 only reduces.
    let report = sole_report(&sim.cmd(sell(101, 10_000)));
    assert_eq!(report.reject_reason, Some(RejectReason::InsufficientBuyingPower));
    sim.place(sell(100, 10_000));
}

#[test]
fn position_limit_counts_position_and_working_orders_per_side() {
    let mut sim = Sim::with_account(|a| a.max_position = 100);
    user_takes(&mut sim, Side::Buy, 50, 10_000);

    let report = sole_report(&sim.cmd(buy(51, 9_000)));
    assert_eq!(report.reject_reason, Some(RejectReason::PositionLimit));
    sim.place(buy(30, 9_000));
    let report = sole_report(&sim.cmd(buy(21, 9_000)));
    assert_eq!(report.reject_reason, Some(RejectReason::PositionLimit));
    sim.place(buy(20, 9_000));

    // Short side: -50 + 150 = 100.
    let report = sole_report(&sim.cmd(sell(151, 10_500)));
    assert_eq!(report.reject_reason, Some(RejectReason::PositionLimit));
    sim.place(sell(150, 10_500));
}

#[test]
fn open_positions_are_marked_at_each_second() {
    let mut sim = Sim::new();
    user_takes(&mut sim, Side::Buy, 7, 10_001);
    // Whether the mark moves at the trade or at the second boundary, by then the user has been told.
    let mut events = sim.trade_at(10_050);
    events.extend(sim.advance(100));
    let marked = accounts(&events, USER);
    let position = marked.last().expect("re-marked").positions[0];
    assert_eq!((position.mark_price, position.unrealized_pnl), (Price(10_050), 70_350 - 70_007));
    assert_eq!(sim.position(USER, SIM), position);
}

#[test]
fn agents_get_no_reports_no_fees_and_no_risk_checks() {
    let mut sim = Sim::new();
    let events = sim.cmd(sell(10, 10_000).by(AGENT));
    assert!(reports(&events).is_empty() && accounts(&events, AGENT).is_empty());
    let events = sim.cmd(buy(10, 10_000));
    assert_eq!(reports(&events).iter().filter(|r| r.participant != USER).count(), 0);
    assert_eq!(fills(&events).len(), 1);
    assert_eq!(trade_prints(&events), [(10_000, 10)]);

    // Far above the user's max_order_qty and max_notional.
    let events = sim.cmd(buy(20_000, 9_000).by(AGENT));
    assert!(reports(&events).is_empty());
    assert_eq!(sim.bids(SIM), [(9_000, 20_000, 1)]);
}
