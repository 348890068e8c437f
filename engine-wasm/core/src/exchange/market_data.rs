//! Candles and halts: the parts of market data that carry state between entry points.

use bincode::{Decode, Encode};
use tradesim_protocol::{Candle, CandleInterval, InstrumentId, Price, Qty};

/// A trading halt; `resumes_at_ms` is None for an operator's halt, which lasts until lifted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Halt {
    pub resumes_at_ms: Option<u64>,
}

/// The forming candle of one interval; `started` is false until the instrument's first trade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct CandleState {
    started: bool,
    open_time_ms: u64,
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Qty,
    trades: u32,
}

/// Closes every candle whose interval ended at or before `now`, appending them to `closed`; quiet intervals
/// close flat at the last price.
pub fn roll_candles(candles: &mut [CandleState; 2], instrument: InstrumentId, now: u64, closed: &mut Vec<Candle>) {
    for (state, interval) in candles.iter_mut().zip(CandleInterval::ALL) {
        let length = interval.millis();
        while state.started && state.open_time_ms + length <= now {
            closed.push(Candle {
                instrument,
                interval,
                open_time_ms: state.open_time_ms,
                open: state.open,
                high: state.high,
                low: state.low,
                close: state.close,
                volume: state.volume,
                trades: state.trades,
            });
            let close = state.close;
            *state = CandleState {
                started: true,
                open_time_ms: state.open_time_ms + length,
                open: close,
                high: close,
                low: close,
                close,
                volume: Qty::ZERO,
                trades: 0,
            };
        }
    }
}

/// Adds a trade at `now` to the forming candles (already rolled to `now`).
pub fn add_trade(candles: &mut [CandleState; 2], now: u64, price: Price, qty: Qty) {
    for (state, interval) in candles.iter_mut().zip(CandleInterval::ALL) {
        if !state.started {
            let length = interval.millis();
            *state = CandleState {
                started: true,
                open_time_ms: now / length * length,
                open: price,
                high: price,
                low: price,
                close: price,
                volume: Qty::ZERO,
                trades: 0,
            };
        }
        if state.trades == 0 {
            // The first trade of an interval opens it; only quiet intervals show the previous close.
            (state.open, state.high, state.low) = (price, price, price);
        }
        state.high = state.high.max(price);
        state.low = state.low.min(price);
        state.close = price;
        state.volume.0 += qty.0;
        state.trades += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candles_close_with_ohlcv_and_quiet_intervals_are_flat() {
        let mut candles = [CandleState::default(); 2];
        let mut closed = Vec::new();
        roll_candles(&mut candles, InstrumentId(0), 5_000, &mut closed);
        assert!(closed.is_empty(), "no candles before the first trade");
        add_trade(&mut candles, 1_200, Price(100), Qty(2));
        add_trade(&mut candles, 1_500, Price(103), Qty(1));
        add_trade(&mut candles, 1_900, Price(99), Qty(4));
        roll_candles(&mut candles, InstrumentId(0), 3_000, &mut closed);
        add_trade(&mut candles, 3_100, Price(98), Qty(1));
        roll_candles(&mut candles, InstrumentId(0), 4_000, &mut closed);
        let seconds: Vec<_> = closed.iter().filter(|c| c.interval == CandleInterval::OneSecond).collect();
        assert_eq!(seconds.len(), 3);
        let first = seconds[0];
        assert_eq!(
            (first.open_time_ms, first.open, first.high, first.low, first.close, first.volume, first.trades),
            (1_000, Price(100), Price(103), Price(99), Price(99), Qty(7), 3)
        );
        let quiet = seconds[1];
        assert_eq!((quiet.open_time_ms, quiet.open, quiet.close, quiet.volume), (2_000, Price(99), Price(99), Qty(0)));
        let after_quiet = seconds[2];
        assert_eq!(
            (after_quiet.open, after_quiet.high, after_quiet.low, after_quiet.close),
            (Price(98), Price(98), Price(98), Price(98)),
            "a traded interval opens at its first trade, not at the previous close"
        );
    }
}
