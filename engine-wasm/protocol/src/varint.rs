//! bincode's standard integer layout (varint integers, zigzag signed integers, 0/1 bools and `Option` tags), for the
//! hand-written encoders of the hot paths: the `Events` frame here and the snapshot's orders in the engine. Both
//! must write exactly what the derived code writes, and the decoders read it back ([`Cursor`]); this is the one
//! place that knows how.

use crate::command::{OrderType, Side, StpMode, TimeInForce};
use crate::ids::{CLIENT_ORDER_ID_MAX_LEN, ClientOrderId, Price};

/// The largest integer written as itself, in one byte; the three tags after it announce 2, 4 and 8 bytes.
pub const SINGLE_BYTE_MAX: u8 = 250;
pub const U16_BYTE: u8 = 251;
pub const U32_BYTE: u8 = 252;
pub const U64_BYTE: u8 = 253;

/// A buffer the encoders write into; they supply single bytes and fixed-size little-endian runs, and get the
/// integer encodings from here (monomorphized and inlined, so a sink's write position stays in a register).
pub trait VarintSink {
    fn byte(&mut self, byte: u8);
    fn le<const N: usize>(&mut self, bytes: [u8; N]);

    #[inline(always)]
    fn uint(&mut self, value: u64) {
        if value <= u64::from(SINGLE_BYTE_MAX) {
            self.byte(value as u8);
        } else if value <= u64::from(u16::MAX) {
            self.byte(U16_BYTE);
            self.le((value as u16).to_le_bytes());
        } else if value <= u64::from(u32::MAX) {
            self.byte(U32_BYTE);
            self.le((value as u32).to_le_bytes());
        } else {
            self.byte(U64_BYTE);
            self.le(value.to_le_bytes());
        }
    }

    /// Zigzag: 0, -1, 1, -2, … become 0, 1, 2, 3, ….
    #[inline(always)]
    fn int(&mut self, value: i64) {
        self.uint(if value < 0 { !(value as u64) * 2 + 1 } else { (value as u64) * 2 });
    }

    #[inline(always)]
    fn flag(&mut self, value: bool) {
        self.byte(u8::from(value));
    }
}

/// A read position in encoded bytes, for the hand-written decoders (the `Batch` frame here and the snapshot's
/// orders in the engine). Every reader returns None on running out of bytes and on anything the derived code would
/// refuse (an integer too wide for its type, a tag other than 0 or 1, an unknown variant); a None is the caller's
/// cue to report an error, which it may ask the derived decoder to word.
#[derive(Debug)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[inline(always)]
    pub fn byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    #[inline(always)]
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.bytes.get(self.pos..self.pos + N)?;
        self.pos += N;
        bytes.try_into().ok()
    }

    /// `len` raw bytes.
    #[inline(always)]
    pub fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let bytes = self.bytes.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(bytes)
    }

    /// A varint of at most `max` (the largest value of the integer type): a tag wider than the type is refused, as
    /// bincode refuses it.
    #[inline(always)]
    pub fn uint(&mut self, max: u64) -> Option<u64> {
        let value = match self.byte()? {
            byte @ 0..=SINGLE_BYTE_MAX => u64::from(byte),
            U16_BYTE => u64::from(u16::from_le_bytes(self.array()?)),
            U32_BYTE if max > u64::from(u16::MAX) => u64::from(u32::from_le_bytes(self.array()?)),
            U64_BYTE if max > u64::from(u32::MAX) => u64::from_le_bytes(self.array()?),
            _ => return None,
        };
        (value <= max).then_some(value)
    }

    #[inline(always)]
    pub fn u64(&mut self) -> Option<u64> {
        self.uint(u64::MAX)
    }

    #[inline(always)]
    pub fn u32(&mut self) -> Option<u32> {
        self.uint(u64::from(u32::MAX)).map(|value| value as u32)
    }

    #[inline(always)]
    pub fn u16(&mut self) -> Option<u16> {
        self.uint(u64::from(u16::MAX)).map(|value| value as u16)
    }

    /// A zigzag-encoded signed integer.
    #[inline(always)]
    pub fn int(&mut self) -> Option<i64> {
        let n = self.u64()?;
        Some(if n % 2 == 0 { (n / 2) as i64 } else { !(n / 2) as i64 })
    }

    /// A bool, or an `Option` tag.
    #[inline(always)]
    pub fn flag(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// An enum's variant index (a varint `u32`), below `count`.
    #[inline(always)]
    pub fn variant(&mut self, count: u8) -> Option<u8> {
        let index = self.u32()?;
        (index < u32::from(count)).then_some(index as u8)
    }

    #[inline(always)]
    pub fn side(&mut self) -> Option<Side> {
        Some(if self.variant(2)? == 0 { Side::Buy } else { Side::Sell })
    }

    #[inline(always)]
    pub fn order_type(&mut self) -> Option<OrderType> {
        Some(match self.variant(4)? {
            0 => OrderType::Limit { price: Price(self.int()?) },
            1 => OrderType::Market,
            2 => OrderType::StopMarket { stop_price: Price(self.int()?) },
            _ => OrderType::StopLimit { stop_price: Price(self.int()?), price: Price(self.int()?) },
        })
    }

    #[inline(always)]
    pub fn time_in_force(&mut self) -> Option<TimeInForce> {
        Some(match self.variant(5)? {
            0 => TimeInForce::Gtc,
            1 => TimeInForce::Ioc,
            2 => TimeInForce::Fok,
            3 => TimeInForce::Gtd { expire_at_ms: self.u64()? },
            _ => TimeInForce::Day,
        })
    }

    #[inline(always)]
    pub fn stp_mode(&mut self) -> Option<StpMode> {
        Some(match self.variant(3)? {
            0 => StpMode::CancelNewest,
            1 => StpMode::CancelOldest,
            _ => StpMode::CancelBoth,
        })
    }

    /// A client order id: a string of at most [`CLIENT_ORDER_ID_MAX_LEN`] bytes that [`ClientOrderId::parse`] admits.
    pub fn client_order_id(&mut self) -> Option<ClientOrderId> {
        let len = self.uint(CLIENT_ORDER_ID_MAX_LEN as u64)? as usize;
        ClientOrderId::parse(std::str::from_utf8(self.bytes(len)?).ok()?).ok()
    }
}
