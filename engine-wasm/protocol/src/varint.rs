//! bincode's standard integer layout (varint integers, zigzag signed integers, 0/1 bools and `Option` tags), for the
//! hand-written encoders of the hot paths: the `Events` frame here and the snapshot's orders in the engine. Both
//! must write exactly what the derived code writes; this is the one place that knows how.

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
