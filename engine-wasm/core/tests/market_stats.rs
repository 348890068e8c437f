//! The background market against the real engine: it must look like a market (tight two-sided book, fat-tailed
//! returns with volatility clustering), every scenario must keep a book, the flash crash must crash, and a
//! restored snapshot must continue the same market.

use tradesim_core::Engine;
use tradesim_protocol::{
    CandleInterval, ClientOrderId, Command, Event, EventBody, InstrumentId, NewOrder, OrderType, ParticipantId, Qty,
    Scenario, Side, SimConfig, StpMode, TimeInForce,
};

const SEED: u64 = 20_240_601;

/// What one run of the market looked like, sampled once per simulated second.
#[derive(Debug, Default)]
struct Tape {
    /// Per second: (best bid, best ask) at the end of the second.
    quotes: Vec<(Option<i64>, Option<i64>)>,
    /// Close of each one-minute candle.
    minute_closes: Vec<i64>,
    /// Last trade price at the end of each second (once there was a trade).
    prices: Vec<i64>,
    trades: u64,
    /// Longest run of consecutive one-second samples with a side of the book empty.
    longest_one_sided_s: usize,
}

fn run(scenario: Scenario, seed: u64, seconds: u64) -> Tape {
    let config = SimConfig { scenario, ..SimConfig::default() };
    let steps_per_second = 1000 / config.step_ms;
    let mut engine = Engine::new(config, seed).expect("default config is valid");
    let mut tape = Tape::default();
    let (mut bid, mut ask, mut last) = (None, None, None);
    let mut one_sided = 0;
    let mut events: Vec<Event> = Vec::new();
    for _ in 0..seconds {
        events.clear();
        engine.advance(steps_per_second, &mut events);
        for event in &events {
            match &event.body {
                EventBody::Bbo(bbo) if bbo.instrument == InstrumentId(0) => {
                    bid = bbo.bid_price.map(|p| p.0);
                    ask = bbo.ask_price.map(|p| p.0);
                }
                EventBody::Trade(trade) => {
                    tape.trades += 1;
                    last = Some(trade.price.0);
                }
                EventBody::Candle(candle) if candle.interval == CandleInterval::OneMinute => {
                    tape.minute_closes.push(candle.close.0);
                }
                _ => {}
            }
        }
        tape.quotes.push((bid, ask));
        tape.prices.extend(last);
        one_sided = if bid.is_some() && ask.is_some() { 0 } else { one_sided + 1 };
        tape.longest_one_sided_s = tape.longest_one_sided_s.max(one_sided);
    }
    tape
}

fn log_returns(closes: &[i64]) -> Vec<f64> {
    closes.windows(2).map(|w| (w[1] as f64 / w[0] as f64).ln()).collect()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn excess_kurtosis(xs: &[f64]) -> f64 {
    let m = mean(xs);
    let m2 = mean(&xs.iter().map(|x| (x - m).powi(2)).collect::<Vec<_>>());
    let m4 = mean(&xs.iter().map(|x| (x - m).powi(4)).collect::<Vec<_>>());
    m4 / (m2 * m2) - 3.0
}

fn autocorrelation(xs: &[f64], lag: usize) -> f64 {
    let m = mean(xs);
    let var: f64 = xs.iter().map(|x| (x - m).powi(2)).sum();
    let cov: f64 = xs.windows(lag + 1).map(|w| (w[0] - m) * (w[lag] - m)).sum();
    cov / var
}

/// Largest fall from a running peak, as a fraction of the peak.
fn max_drawdown(prices: &[i64]) -> f64 {
    let mut peak = f64::MIN;
    let mut worst: f64 = 0.0;
    for &price in prices {
        peak = peak.max(price as f64);
        worst = worst.max(1.0 - price as f64 / peak);
    }
    worst
}

#[test]
fn calm_market_has_a_tight_book_fat_tails_and_volatility_clustering() {
    // A simulated day gives ~1,400 one-minute returns in a few seconds of test time.
    let hours = 24;
    let tape = run(Scenario::Calm, SEED, hours * 3600);
    let samples = tape.quotes.len() as f64;
    let two_sided = tape.quotes.iter().filter(|(bid, ask)| bid.is_some() && ask.is_some()).count() as f64 / samples;
    let tight = tape.quotes.iter().filter(|quote| matches!(quote, (Some(bid), Some(ask)) if ask - bid <= 5)).count()
        as f64
        / samples;
    let returns = log_returns(&tape.minute_closes);
    let absolute: Vec<f64> = returns.iter().map(|r| r.abs()).collect();
    let kurtosis = excess_kurtosis(&returns);
    let acf: Vec<f64> = (1..=5).map(|lag| autocorrelation(&absolute, lag)).collect();
    let vol_bps = mean(&returns.iter().map(|r| r * r).collect::<Vec<_>>()).sqrt() * 1e4;
    println!(
        "calm {hours} h: {} trades, {} one-minute returns (sd {vol_bps:.1} bps), two-sided {two_sided:.3}, \
         spread <= 5 ticks {tight:.3}, excess kurtosis {kurtosis:.2}, |r| autocorrelation lags 1-5 {acf:.3?}",
        tape.trades,
        returns.len()
    );
    assert!(returns.len() >= 1_000, "{} returns", returns.len());
    assert!(two_sided >= 0.95, "both sides quoted in {two_sided:.3} of seconds");
    assert!(tight >= 0.80, "spread at most 5 ticks in {tight:.3} of seconds");
    assert!(kurtosis > 0.0, "excess kurtosis {kurtosis}");
    assert!(mean(&acf) > 0.0, "autocorrelations of absolute returns {acf:?}");
}

#[test]
fn every_scenario_keeps_a_two_sided_book_for_an_hour() {
    for scenario in Scenario::ALL {
        let tape = run(scenario, SEED, 3600);
        println!("{scenario:?}: {} trades, longest one-sided stretch {} s", tape.trades, tape.longest_one_sided_s);
        if scenario == Scenario::None {
            assert_eq!(tape.trades, 0);
            assert_eq!(tape.quotes.last(), Some(&(None, None)));
            continue;
        }
        assert!(tape.trades > 10_000, "{scenario:?}: {} trades", tape.trades);
        assert!(tape.longest_one_sided_s <= 30, "{scenario:?}: a side was empty for {} s", tape.longest_one_sided_s);
    }
}

#[test]
fn flash_crash_falls_several_percent_then_partly_recovers() {
    let tape = run(Scenario::FlashCrash, SEED, 3600);
    let drawdown = max_drawdown(&tape.prices);
    let (trough_at, trough) = tape.prices.iter().enumerate().min_by_key(|&(_, p)| *p).expect("trades happened");
    let before = tape.prices[500];
    let after = *tape.prices.last().expect("trades happened");
    println!(
        "flash crash: drawdown {:.1} %, before {before}, trough {trough} at {trough_at} s, end {after}",
        drawdown * 100.0
    );
    assert!(drawdown >= 0.04, "drawdown {drawdown}");
    assert!((590..700).contains(&trough_at), "trough at {trough_at} s");
    assert!(after > trough + (before - trough) / 4, "recovered from {trough} to {after} (before: {before})");
    assert!(after < before, "the recovery is partial: {after} vs {before}");
}

#[test]
fn restored_snapshot_continues_the_same_market() {
    let config = SimConfig { scenario: Scenario::FlashCrash, ..SimConfig::default() };
    let mut engine = Engine::new(config, SEED).expect("default config is valid");
    let mut events = Vec::new();
    engine.advance(59_000, &mut events);
    let mut restored = Engine::restore(&engine.snapshot()).expect("snapshot restores");
    assert_eq!(restored.state_hash(), engine.state_hash());
    let (mut original_events, mut restored_events) = (Vec::new(), Vec::new());
    engine.advance(3_000, &mut original_events);
    restored.advance(3_000, &mut restored_events);
    assert!(original_events.iter().any(|e| matches!(e.body, EventBody::Trade(_))));
    assert_eq!(original_events, restored_events);
    assert_eq!(restored.state_hash(), engine.state_hash());
}

#[test]
fn a_large_user_order_moves_the_price_and_the_book_refills() {
    let config = SimConfig { scenario: Scenario::Calm, ..SimConfig::default() };
    let mut engine = Engine::new(config, SEED).expect("default config is valid");
    let mut events = Vec::new();
    engine.advance(60_000, &mut events);
    let best_ask = |engine: &Engine| engine.view(ParticipantId::USER, 1).books[0].asks.first().map(|level| level.price);
    let ask_before = best_ask(&engine).expect("the market has asks");
    events.clear();
    engine.apply(
        &Command::NewOrder(NewOrder {
            participant: ParticipantId::USER,
            instrument: InstrumentId(0),
            client_order_id: Some(ClientOrderId::parse("sweep-1").unwrap()),
            side: Side::Buy,
            qty: Qty(400),
            order_type: OrderType::Market,
            tif: TimeInForce::Ioc,
            display_qty: None,
            post_only: false,
            stp: StpMode::CancelNewest,
        }),
        &mut events,
    );
    let highest = events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::Trade(trade) => Some(trade.price),
            _ => None,
        })
        .max()
        .expect("the sweep traded");
    assert!(highest > ask_before, "a 400-lot sweep should walk up the book from {ask_before}, got {highest}");
    engine.advance(200, &mut events);
    let view = engine.view(ParticipantId::USER, 1);
    let book = &view.books[0];
    let (bid, ask) = (book.bids.first().expect("bids refilled").price, book.asks.first().expect("asks refilled").price);
    assert!(ask.0 - bid.0 <= 10, "the spread closes again within 2 s: {bid}..{ask}");
    assert!(bid > ask_before, "the price stays up for a while: bid {bid}, ask before the sweep {ask_before}");
}
