//! A hand-written encoder and decoder for [`Order`], byte for byte the encoding bincode derives for it (standard
//! configuration: varint integers, zigzag signed integers, enum variants as varint `u32`, `Option` as a 0/1 tag,
//! strings as a varint length and the bytes). Orders are most of a snapshot, and bincode's generic field-by-field
//! path costs several hundred instructions an order each way; this one writes a record into a stack buffer and
//! hands it to the writer in one call, and decodes from the reader's buffer in place. The format is unchanged, so
//! snapshots and state hashes are the same as with the derived code (tests compare the two).

use super::book::Order;
use bincode::Decode;
use bincode::de::Decoder;
use bincode::de::read::Reader;
use bincode::enc::Encoder;
use bincode::enc::write::Writer;
use bincode::error::{DecodeError, EncodeError};
use tradesim_protocol::varint::{Cursor, VarintSink};
use tradesim_protocol::{InstrumentId, OrderId, OrderStatus, OrderType, ParticipantId, Price, Qty, TimeInForce};

/// The longest encoding of one order: 17 integers of at most 9 bytes, the client order id (tag, length, 36 bytes)
/// and a dozen tags, bools and small enums; rounded up.
const MAX_RECORD: usize = 256;
const _: () = assert!(MAX_RECORD.is_power_of_two());

struct Record {
    bytes: [u8; MAX_RECORD],
    len: usize,
}

impl VarintSink for Record {
    // Positions are taken modulo the (power of two) buffer size, which no record reaches: the compiler then needs
    // no bounds checks.
    #[inline(always)]
    fn byte(&mut self, byte: u8) {
        self.bytes[self.len % MAX_RECORD] = byte;
        self.len += 1;
    }

    #[inline(always)]
    fn le<const N: usize>(&mut self, bytes: [u8; N]) {
        self.text(&bytes);
    }
}

impl Record {
    #[inline(always)]
    fn text(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.byte(byte);
        }
    }
}

/// Encodes orders exactly as their derived `Encode` does, each with one call into the writer; keeps its record
/// buffer from order to order.
pub struct OrderEncoder(Record);

impl OrderEncoder {
    pub fn new() -> Self {
        Self(Record { bytes: [0; MAX_RECORD], len: 0 })
    }

    pub fn encode<E: Encoder>(&mut self, order: &Order, encoder: &mut E) -> Result<(), EncodeError> {
        self.0.len = 0;
        self.0.order(order);
        encoder.writer().write(self.0.bytes.get(..self.0.len).ok_or(EncodeError::Other("order record overflow"))?)
    }
}

impl Record {
    fn order(&mut self, order: &Order) {
        let r = self;
        r.uint(order.id.0);
        r.uint(u64::from(order.participant.0));
        r.flag(order.client_order_id.is_some());
        if let Some(client_order_id) = &order.client_order_id {
            let text = client_order_id.as_str().as_bytes();
            r.uint(text.len() as u64);
            r.text(text);
        }
        r.uint(u64::from(order.instrument.0));
        r.byte(order.side as u8);
        match order.order_type {
            OrderType::Limit { price } => {
                r.byte(0);
                r.int(price.0);
            }
            OrderType::Market => r.byte(1),
            OrderType::StopMarket { stop_price } => {
                r.byte(2);
                r.int(stop_price.0);
            }
            OrderType::StopLimit { stop_price, price } => {
                r.byte(3);
                r.int(stop_price.0);
                r.int(price.0);
            }
        }
        match order.tif {
            TimeInForce::Gtc => r.byte(0),
            TimeInForce::Ioc => r.byte(1),
            TimeInForce::Fok => r.byte(2),
            TimeInForce::Gtd { expire_at_ms } => {
                r.byte(3);
                r.uint(expire_at_ms);
            }
            TimeInForce::Day => r.byte(4),
        }
        r.flag(order.price.is_some());
        if let Some(price) = order.price {
            r.int(price.0);
        }
        r.uint(order.qty.0);
        r.uint(order.cum_qty.0);
        r.int(order.cum_notional);
        r.flag(order.display.is_some());
        if let Some(display) = order.display {
            r.uint(display.0);
        }
        r.uint(order.shown.0);
        r.flag(order.post_only);
        r.byte(order.stp as u8);
        r.flag(order.expire_at_ms.is_some());
        if let Some(at) = order.expire_at_ms {
            r.uint(at);
        }
        r.byte(status_index(order.status));
        r.flag(order.triggered);
        r.flag(order.working);
        r.int(order.risk_price.0);
        r.flag(order.last_queue.is_some());
        if let Some((qty, orders)) = order.last_queue {
            r.uint(qty.0);
            r.uint(u64::from(orders));
        }
    }
}

fn status_index(status: OrderStatus) -> u8 {
    match status {
        OrderStatus::PendingTrigger => 0,
        OrderStatus::New => 1,
        OrderStatus::PartiallyFilled => 2,
        OrderStatus::Filled => 3,
        OrderStatus::Cancelled => 4,
        OrderStatus::Expired => 5,
        OrderStatus::Rejected => 6,
    }
}

/// Reads one order from the decoder's buffer in place when the reader can lend it (a slice reader: the whole
/// remaining input, or [`MAX_RECORD`] bytes of it), otherwise through the derived `Decode`. In place, whatever the
/// [`Cursor`] refuses is an error (and whatever it accepts, the derived code decodes the same).
#[inline(always)]
pub fn decode_order<D: Decoder>(decoder: &mut D) -> Result<Order, DecodeError> {
    let reader = decoder.reader();
    let mut available = MAX_RECORD;
    if reader.peek_read(available).is_none() {
        // Near the end of the input: find how much is left (a slice reader lends any shorter prefix).
        let (mut low, mut high) = (0, MAX_RECORD);
        while low + 1 < high {
            let middle = (low + high) / 2;
            if reader.peek_read(middle).is_some() { low = middle } else { high = middle }
        }
        available = low;
        if available == 0 && reader.peek_read(0).is_none() {
            // A reader that lends nothing (a stream): the generic path.
            return Order::decode(decoder);
        }
    }
    let bytes = reader.peek_read(available).unwrap_or_default();
    let mut cursor = Cursor::new(bytes);
    let order = read_order(&mut cursor).ok_or(DecodeError::Other("snapshot order does not decode"))?;
    let used = cursor.position();
    reader.consume(used);
    Ok(order)
}

/// Reads one order at the cursor; None on anything but the encoding of a valid order.
#[inline(always)]
fn read_order(cursor: &mut Cursor<'_>) -> Option<Order> {
    let id = OrderId(cursor.u64()?);
    let participant = ParticipantId(cursor.u32()?);
    let client_order_id = if cursor.flag()? { Some(cursor.client_order_id()?) } else { None };
    let instrument = InstrumentId(cursor.u16()?);
    let side = cursor.side()?;
    let order_type = cursor.order_type()?;
    let tif = cursor.time_in_force()?;
    let price = if cursor.flag()? { Some(Price(cursor.int()?)) } else { None };
    let qty = Qty(cursor.u64()?);
    let cum_qty = Qty(cursor.u64()?);
    let cum_notional = cursor.int()?;
    let display = if cursor.flag()? { Some(Qty(cursor.u64()?)) } else { None };
    let shown = Qty(cursor.u64()?);
    let post_only = cursor.flag()?;
    let stp = cursor.stp_mode()?;
    let expire_at_ms = if cursor.flag()? { Some(cursor.u64()?) } else { None };
    let status = match cursor.variant(7)? {
        0 => OrderStatus::PendingTrigger,
        1 => OrderStatus::New,
        2 => OrderStatus::PartiallyFilled,
        3 => OrderStatus::Filled,
        4 => OrderStatus::Cancelled,
        5 => OrderStatus::Expired,
        _ => OrderStatus::Rejected,
    };
    let triggered = cursor.flag()?;
    let working = cursor.flag()?;
    let risk_price = Price(cursor.int()?);
    let last_queue = if cursor.flag()? { Some((Qty(cursor.u64()?), cursor.u32()?)) } else { None };
    Some(Order {
        id,
        participant,
        client_order_id,
        instrument,
        side,
        order_type,
        tif,
        price,
        qty,
        cum_qty,
        cum_notional,
        display,
        shown,
        post_only,
        stp,
        expire_at_ms,
        status,
        triggered,
        working,
        risk_price,
        last_queue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bincode::Encode;
    use bincode::config::standard;
    use bincode::enc::EncoderImpl;
    use bincode::enc::write::SizeWriter;
    use tradesim_protocol::{ClientOrderId, Side, StpMode};

    /// Encodes with the derived `Encode`, the reference the hand-written codec must match.
    fn derived_bytes(order: &Order) -> Vec<u8> {
        bincode::encode_to_vec(order, standard()).expect("encodes")
    }

    struct Fast<'a>(&'a Order);

    impl Encode for Fast<'_> {
        fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
            OrderEncoder::new().encode(self.0, encoder)
        }
    }

    struct FastDecoded(Order);

    impl<Context> Decode<Context> for FastDecoded {
        fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
            decode_order(decoder).map(Self)
        }
    }

    fn sample_orders() -> Vec<Order> {
        let base = Order {
            id: OrderId(1),
            participant: ParticipantId(1),
            client_order_id: None,
            instrument: InstrumentId(0),
            side: Side::Buy,
            order_type: OrderType::Limit { price: Price(10_000) },
            tif: TimeInForce::Gtc,
            price: Some(Price(10_000)),
            qty: Qty(10),
            cum_qty: Qty(0),
            cum_notional: 0,
            display: None,
            shown: Qty(10),
            post_only: false,
            stp: StpMode::CancelNewest,
            expire_at_ms: None,
            status: OrderStatus::New,
            triggered: true,
            working: true,
            risk_price: Price(10_000),
            last_queue: None,
        };
        let mut orders = vec![base.clone()];
        // Integers at every varint width boundary, signs, and every variant of every enum.
        let widths: [u64; 10] = [0, 1, 250, 251, 65_535, 65_536, u64::from(u32::MAX), 1 << 32, u64::MAX - 1, u64::MAX];
        let ints: [i64; 8] = [0, -1, 1, -126, 125, -32_768, i64::MIN, i64::MAX];
        let order_types = [
            OrderType::Limit { price: Price(-5) },
            OrderType::Market,
            OrderType::StopMarket { stop_price: Price(i64::MAX) },
            OrderType::StopLimit { stop_price: Price(300), price: Price(i64::MIN) },
        ];
        let tifs = [
            TimeInForce::Gtc,
            TimeInForce::Ioc,
            TimeInForce::Fok,
            TimeInForce::Gtd { expire_at_ms: 70_000 },
            TimeInForce::Day,
        ];
        let statuses = [
            OrderStatus::PendingTrigger,
            OrderStatus::New,
            OrderStatus::PartiallyFilled,
            OrderStatus::Filled,
            OrderStatus::Cancelled,
            OrderStatus::Expired,
            OrderStatus::Rejected,
        ];
        let stps = [StpMode::CancelNewest, StpMode::CancelOldest, StpMode::CancelBoth];
        for (i, &wide) in widths.iter().enumerate() {
            let int = ints[i % ints.len()];
            orders.push(Order {
                id: OrderId(wide),
                participant: ParticipantId(wide as u32),
                client_order_id: (i % 2 == 0)
                    .then(|| ClientOrderId::parse(&"abc-_.:9".repeat(5)[..(1 + 7 * i).min(36)]).unwrap()),
                instrument: InstrumentId(wide as u16),
                side: if i % 2 == 0 { Side::Sell } else { Side::Buy },
                order_type: order_types[i % order_types.len()],
                tif: tifs[i % tifs.len()],
                price: (i % 3 != 0).then_some(Price(int)),
                qty: Qty(wide),
                cum_qty: Qty(wide / 3),
                cum_notional: int,
                display: (i % 2 == 1).then_some(Qty(wide)),
                shown: Qty(wide / 7),
                post_only: i % 2 == 0,
                stp: stps[i % stps.len()],
                expire_at_ms: (i % 4 != 1).then_some(wide),
                status: statuses[i % statuses.len()],
                triggered: i % 3 == 0,
                working: i % 2 == 1,
                risk_price: Price(int.wrapping_neg() ^ 3),
                last_queue: (i % 3 != 2).then_some((Qty(wide), wide as u32)),
            });
        }
        orders
    }

    #[test]
    fn encodes_exactly_as_the_derived_code() {
        for order in sample_orders() {
            let fast = bincode::encode_to_vec(Fast(&order), standard()).expect("encodes");
            assert_eq!(fast, derived_bytes(&order), "{order:?}");
            let mut size = EncoderImpl::new(SizeWriter::default(), standard());
            OrderEncoder::new().encode(&order, &mut size).expect("encodes");
            assert!(size.into_writer().bytes_written <= MAX_RECORD);
        }
    }

    #[test]
    fn decodes_exactly_as_the_derived_code_in_place_and_through_the_fallback() {
        let orders = sample_orders();
        let mut bytes = Vec::new();
        for order in &orders {
            bytes.extend(derived_bytes(order));
        }
        // Followed by enough bytes that every order decodes in place, and without them (the last ones fall back).
        for padding in [MAX_RECORD, 0] {
            let mut padded = bytes.clone();
            padded.resize(bytes.len() + padding, 0);
            let mut rest = &padded[..];
            for order in &orders {
                let (decoded, used): (FastDecoded, usize) =
                    bincode::decode_from_slice(rest, standard()).expect("decodes");
                assert_eq!(&decoded.0, order);
                rest = &rest[used..];
            }
            assert_eq!(rest.len(), padding);
        }
    }

    #[test]
    fn accepts_only_what_the_derived_code_decodes_the_same() {
        let order = &sample_orders()[3];
        let good = derived_bytes(order);
        for at in 0..good.len() {
            for byte in [0, 1, 2, 7, 36, 37, 250, 251, 252, 253, 254, 255] {
                let mut bad = good.clone();
                bad[at] = byte;
                bad.resize(good.len() + MAX_RECORD, 0);
                // Whatever the in-place decoder accepts, the derived one decodes identically (the derived one is not
                // asked otherwise: a corrupt string length makes it try to allocate that much).
                if let Ok((fast, used)) = bincode::decode_from_slice::<FastDecoded, _>(&bad, standard()) {
                    let derived = bincode::decode_from_slice::<Order, _>(&bad, standard());
                    assert_eq!(derived.ok(), Some((fast.0, used)), "byte {at} = {byte}");
                }
            }
        }
        let mut truncated = good.clone();
        truncated.pop();
        assert!(bincode::decode_from_slice::<FastDecoded, _>(&truncated, standard()).is_err());
    }
}
