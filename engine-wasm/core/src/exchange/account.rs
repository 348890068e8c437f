//! Accounts: cash, positions with exact cost basis, realized P&L, fees and the working-order totals that risk
//! checks need, kept incrementally.
//!
//! # Invariants
//! - Integer arithmetic only, in i64 with saturation; i128 only as the fallback when an intermediate product or
//!   sum would overflow (wasm has no native 128-bit multiply or divide, so the hot path avoids it).
//! - `cost_basis` has the sign of `qty` and is zero when flat.
//! - [`Accounts`] holds at most one account per participant, in ascending participant order.

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use tradesim_protocol::{AccountConfig, AccountUpdate, InstrumentId, ParticipantId, PositionView, Price, Qty, Side};

pub fn clamp_i64(value: i128) -> i64 {
    value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The product of `a` and `b` surely fits an i64: their magnitudes have at most 63 significant bits between them.
/// Only wasm takes this fast path: it has no overflow-checked 64-bit multiply and lowers one to a 128-bit software
/// multiply, while natively the check is part of the multiply instruction and the test would only add work. The
/// results are the same either way.
#[inline(always)]
fn small_factors(a: i64, b: i64) -> bool {
    cfg!(target_arch = "wasm32") && a.unsigned_abs().leading_zeros() + b.unsigned_abs().leading_zeros() >= 65
}

/// `a.saturating_mul(b)`, with a fast path for the usual small factors in wasm (see `small_factors`).
#[inline(always)]
pub fn saturating_mul(a: i64, b: i64) -> i64 {
    if small_factors(a, b) { a * b } else { a.saturating_mul(b) }
}

/// `a.checked_mul(b)`, with the fast path of [`saturating_mul`].
#[inline(always)]
pub fn checked_mul(a: i64, b: i64) -> Option<i64> {
    if small_factors(a, b) { Some(a * b) } else { a.checked_mul(b) }
}

/// `numerator / denominator` rounded to the nearest integer, halves away from zero.
pub fn round_div(numerator: i64, denominator: i64) -> i64 {
    let (numerator, denominator) = if denominator < 0 { (-numerator, -denominator) } else { (numerator, denominator) };
    let half_up = match numerator.unsigned_abs().checked_mul(2).and_then(|n| n.checked_add(denominator as u64)) {
        Some(twice) => (twice / (2 * denominator as u64)) as i64,
        None => clamp_i64((2 * i128::from(numerator).abs() + i128::from(denominator)) / (2 * i128::from(denominator))),
    };
    if numerator < 0 { -half_up } else { half_up }
}

/// `a * b / divisor`, truncated toward zero; exact whenever the result fits, even if the product does not.
pub fn mul_div(a: i64, b: i64, divisor: i64) -> i64 {
    match checked_mul(a, b) {
        Some(product) => product / divisor,
        None => clamp_i64(i128::from(a) * i128::from(b) / i128::from(divisor)),
    }
}

/// Whether `signed + a + b` exceeds `limit`, exactly: in 64 bits, with the 128-bit sum only when that overflows
/// (or goes negative, which never exceeds).
pub fn exceeds(signed: i64, a: u64, b: u64, limit: u64) -> bool {
    match a.checked_add(b).and_then(|sum| sum.checked_add_signed(signed)) {
        Some(total) => total > limit,
        None => i128::from(signed) + i128::from(a) + i128::from(b) > i128::from(limit),
    }
}

pub fn notional(price: Price, qty: Qty) -> i64 {
    saturating_mul(price.0, i64::try_from(qty.0).unwrap_or(i64::MAX))
}

/// Fee on a notional at `ppm` parts per million, rounded up: charges round against the payer, rebates down.
pub fn fee(notional: i64, ppm: i32) -> i64 {
    match checked_mul(notional, i64::from(ppm)) {
        Some(exact) => exact.div_euclid(1_000_000) + i64::from(exact.rem_euclid(1_000_000) != 0),
        None => {
            let exact = i128::from(notional) * i128::from(ppm);
            clamp_i64(exact.div_euclid(1_000_000) + i128::from(exact.rem_euclid(1_000_000) != 0))
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Position {
    pub qty: i64,
    pub cost_basis: i64,
    pub realized: i64,
    /// Working orders (resting or waiting for a stop) on each side, and their notional at risk price.
    pub working_buy: u64,
    pub working_sell: u64,
    pub working_notional: i64,
}

impl Position {
    /// Shown in account events: an open position, or a flat one with realized P&L.
    pub fn is_open(&self) -> bool {
        self.qty != 0 || self.realized != 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Account {
    pub cash: i64,
    pub fees_paid: i64,
    pub positions: Vec<Position>,
    /// Fingerprint of what the last account event said (see [`Account::fingerprint`]), so only changes are sent.
    pub last_sent: Option<u64>,
}

impl Account {
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn new(cash: i64, instruments: usize) -> Self {
        Self { cash, fees_paid: 0, positions: vec![Position::default(); instruments], last_sent: None }
    }

    /// Books a fill of `qty` at `price` on `side`, paying `fee`.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn fill(&mut self, instrument: InstrumentId, side: Side, price: Price, qty: Qty, fee: i64) {
        let value = notional(price, qty);
        self.cash = self.cash.saturating_sub(side.sign() * value).saturating_sub(fee);
        self.fees_paid = self.fees_paid.saturating_add(fee);
        let position = &mut self.positions[usize::from(instrument.0)];
        let delta = side.sign() * qty.0 as i64;
        if position.qty == 0 || position.qty.signum() == delta.signum() {
            position.qty += delta;
            position.cost_basis = position.cost_basis.saturating_add(saturating_mul(delta, price.0));
            return;
        }
        let closed = delta.abs().min(position.qty.abs());
        let removed = mul_div(position.cost_basis, closed, position.qty.abs());
        let realized = saturating_mul(saturating_mul(closed, price.0), position.qty.signum()).saturating_sub(removed);
        position.realized = position.realized.saturating_add(realized);
        position.cost_basis = position.cost_basis.saturating_sub(removed);
        position.qty += delta.signum() * closed;
        let opened = delta.abs() - closed;
        if opened > 0 {
            position.qty += delta.signum() * opened;
            position.cost_basis = saturating_mul(delta.signum() * opened, price.0);
        }
    }

    /// Adds (or with a negative `sign`, removes) `qty` of working order at `risk_price`.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn add_working(&mut self, instrument: InstrumentId, side: Side, risk_price: Price, qty: Qty, sign: i64) {
        let position = &mut self.positions[usize::from(instrument.0)];
        let working = match side {
            Side::Buy => &mut position.working_buy,
            Side::Sell => &mut position.working_sell,
        };
        *working = working.wrapping_add_signed(sign * qty.0 as i64);
        position.working_notional = position.working_notional.saturating_add(sign * notional(risk_price, qty));
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn equity(&self, marks: &[Price]) -> i64 {
        let held = self.positions.iter().zip(marks).map(|(p, mark)| saturating_mul(p.qty, mark.0));
        held.fold(self.cash, i64::saturating_add)
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn buying_power(&self, config: &AccountConfig, marks: &[Price]) -> i64 {
        self.buying_power_with(self.equity(marks), config, marks)
    }

    /// [`Account::buying_power`] given the account's equity, for callers that have it already.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn buying_power_with(&self, equity: i64, config: &AccountConfig, marks: &[Price]) -> i64 {
        let exposure = self.positions.iter().zip(marks).map(|(p, mark)| saturating_mul(p.qty, mark.0).saturating_abs());
        let working = self.positions.iter().map(|p| p.working_notional);
        let allowed = mul_div(equity, i64::from(config.leverage_bps), 10_000);
        exposure.chain(working).fold(allowed, i64::saturating_sub)
    }

    /// A 64-bit digest of everything [`Account::view`] depends on: two accounts with equal fingerprints show the
    /// same view (up to hash collisions), and computing it allocates nothing.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn fingerprint(&self, marks: &[Price]) -> u64 {
        let mut hasher = crate::hash::WordHasher::default();
        hasher.write(self.cash);
        hasher.write(self.fees_paid);
        for (position, mark) in self.positions.iter().zip(marks) {
            // A mark shows (in the position and in equity) only where there is a position to mark.
            let shown_mark = if position.is_open() { mark.0 } else { 0 };
            for word in [position.qty, position.cost_basis, position.realized, position.working_notional, shown_mark] {
                hasher.write(word);
            }
        }
        hasher.finish()
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn view(&self, participant: ParticipantId, config: &AccountConfig, marks: &[Price]) -> AccountUpdate {
        // Sized exactly: one small allocation per account event (the default growth would take four slots).
        let mut positions = Vec::with_capacity(self.positions.iter().filter(|position| position.is_open()).count());
        positions.extend(
            self.positions.iter().zip(marks).enumerate().filter(|(_, (position, _))| position.is_open()).map(
                |(index, (position, mark))| PositionView {
                    instrument: InstrumentId(index as u16),
                    qty: position.qty,
                    avg_price: (position.qty != 0).then(|| Price(round_div(position.cost_basis, position.qty))),
                    cost_basis: position.cost_basis,
                    mark_price: *mark,
                    realized_pnl: position.realized,
                    unrealized_pnl: saturating_mul(position.qty, mark.0).saturating_sub(position.cost_basis),
                },
            ),
        );
        let equity = self.equity(marks);
        AccountUpdate {
            participant,
            cash: self.cash,
            equity,
            buying_power: self.buying_power_with(equity, config, marks),
            realized_pnl: self.positions.iter().map(|p| p.realized).fold(0, i64::saturating_add),
            unrealized_pnl: positions.iter().map(|p| p.unrealized_pnl).fold(0, i64::saturating_add),
            fees_paid: self.fees_paid,
            positions,
        }
    }
}

/// Every participant's account, in a vector sorted by participant: a lookup is a binary search over a few
/// contiguous entries (no tree nodes to hop, no hashing, both of which wasm runs several times slower than native
/// code). Encoded exactly as the `BTreeMap<ParticipantId, Account>` it replaced: a count, then each participant and
/// its account in participant order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accounts(Vec<(ParticipantId, Account)>);

impl Accounts {
    #[inline]
    fn find(&self, participant: ParticipantId) -> Result<usize, usize> {
        self.0.binary_search_by_key(&participant, |(id, _)| *id)
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn get(&self, participant: ParticipantId) -> Option<&Account> {
        self.find(participant).ok().map(|index| &self.0[index].1)
    }

    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn get_mut(&mut self, participant: ParticipantId) -> Option<&mut Account> {
        self.find(participant).ok().map(|index| &mut self.0[index].1)
    }

    /// The participant's account, opened with `open` if it has none yet.
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    pub fn get_or_open(&mut self, participant: ParticipantId, open: impl FnOnce() -> Account) -> &mut Account {
        let index = match self.find(participant) {
            Ok(index) => index,
            Err(index) => {
                self.0.insert(index, (participant, open()));
                index
            }
        };
        &mut self.0[index].1
    }

    /// Every account, in participant order.
    pub fn iter(&self) -> impl Iterator<Item = (ParticipantId, &Account)> {
        self.0.iter().map(|(participant, account)| (*participant, account))
    }
}

impl Encode for Accounts {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        // A vector of pairs encodes as a map does: the length, then each key and value.
        self.0.encode(encoder)
    }
}

impl<Context> Decode<Context> for Accounts {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let entries: Vec<(ParticipantId, Account)> = Decode::decode(decoder)?;
        if !entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return Err(DecodeError::Other("snapshot accounts are not in ascending participant order"));
        }
        Ok(Self(entries))
    }
}
bincode::impl_borrow_decode!(Accounts);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(1_000_000, 50, 50)]
    #[case(1_000_001, 50, 51)]
    #[case(999, 50, 1)]
    #[case(1_000_000, -20, -20)]
    #[case(1_000_001, -20, -20)]
    #[case(999, -20, 0)]
    fn fees_round_against_the_payer(#[case] notional: i64, #[case] ppm: i32, #[case] expected: i64) {
        assert_eq!(fee(notional, ppm), expected);
    }

    #[test]
    fn fast_multiplies_agree_with_the_standard_ones() {
        // Natively the fast path is off; it is the same arithmetic as the fallback, checked here on its own too.
        let fast =
            |a: i64, b: i64| (a.unsigned_abs().leading_zeros() + b.unsigned_abs().leading_zeros() >= 65).then(|| a * b);
        let mut values = vec![0, 1, -1, 7, -9, 1 << 40, i64::MAX, i64::MIN, i64::MIN + 1];
        for bits in [31, 32, 33, 62, 63] {
            values.extend([
                (1i64 << bits).wrapping_sub(1),
                1 << bits.min(62),
                -(1 << bits.min(62)),
                -(1i64 << bits.min(62)) + 1,
            ]);
        }
        values.extend([3_037_000_499, 3_037_000_500, -3_037_000_500, 1_000_000_000_000, 100_000]);
        for &a in &values {
            for &b in &values {
                assert_eq!(saturating_mul(a, b), a.saturating_mul(b), "{a} * {b}");
                assert_eq!(checked_mul(a, b), a.checked_mul(b), "{a} * {b}");
                if let Some(product) = fast(a, b) {
                    assert_eq!(Some(product), a.checked_mul(b), "{a} * {b}");
                }
            }
        }
    }

    #[test]
    fn exceeds_is_the_exact_sum() {
        let signed = [0, 1, -1, 7, -7, i64::MAX, i64::MIN, i64::MIN + 1];
        let unsigned = [0, 1, 6, 7, u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) - 1];
        for &s in &signed {
            for &a in &unsigned {
                for &b in &unsigned {
                    for &limit in &unsigned {
                        let exact = i128::from(s) + i128::from(a) + i128::from(b) > i128::from(limit);
                        assert_eq!(exceeds(s, a, b, limit), exact, "{s} + {a} + {b} > {limit}");
                    }
                }
            }
        }
    }

    #[rstest]
    #[case(-120_000, -12, 10_000)]
    #[case(7, 2, 4)]
    #[case(-7, 2, -4)]
    #[case(5, 3, 2)]
    fn round_div_rounds_halves_away_from_zero(#[case] n: i64, #[case] d: i64, #[case] expected: i64) {
        assert_eq!(round_div(n, d), expected);
    }

    #[test]
    fn accounts_encode_as_the_map_they_replaced_and_decode_only_in_order() {
        let mut accounts = Accounts::default();
        let mut map = std::collections::BTreeMap::new();
        for (id, cash) in [(7, 70), (1_000_300, -5), (1, 10), (300, 3)] {
            accounts.get_or_open(ParticipantId(id), || Account::new(cash, 2)).fill(
                InstrumentId(1),
                Side::Sell,
                Price(cash),
                Qty(3),
                1,
            );
            map.insert(ParticipantId(id), accounts.get(ParticipantId(id)).cloned().expect("opened"));
        }
        let ids: Vec<u32> = accounts.iter().map(|(participant, _)| participant.0).collect();
        assert_eq!(ids, [1, 7, 300, 1_000_300]);
        let config = bincode::config::standard();
        let bytes = bincode::encode_to_vec(&accounts, config).expect("encodes");
        assert_eq!(bytes, bincode::encode_to_vec(&map, config).expect("encodes"));
        let (decoded, _): (Accounts, usize) = bincode::decode_from_slice(&bytes, config).expect("decodes");
        assert_eq!(decoded, accounts);
        let mut reversed: Vec<_> = map.into_iter().collect();
        reversed.reverse();
        let unordered = bincode::encode_to_vec(&reversed, config).expect("encodes");
        assert!(bincode::decode_from_slice::<Accounts, _>(&unordered, config).is_err());
    }

    #[test]
    fn average_cost_realizes_on_reduction_and_flip() {
        let mut account = Account::new(0, 1);
        let inst = InstrumentId(0);
        account.fill(inst, Side::Buy, Price(100), Qty(10), 0);
        account.fill(inst, Side::Sell, Price(110), Qty(4), 0);
        let p = &account.positions[0];
        assert_eq!((p.qty, p.cost_basis, p.realized), (6, 600, 40));
        account.fill(inst, Side::Sell, Price(90), Qty(10), 0);
        let p = &account.positions[0];
        assert_eq!((p.qty, p.cost_basis, p.realized), (-4, -360, 40 - 60));
        account.fill(inst, Side::Buy, Price(80), Qty(4), 0);
        let p = &account.positions[0];
        assert_eq!((p.qty, p.cost_basis, p.realized), (0, 0, -20 + 40));
        assert_eq!(account.cash, -1000 + 440 + 900 - 320);
    }
}
