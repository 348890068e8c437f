//! A hand-written decoder for `Batch` frames: what [`codec::decode`] gives for a well-formed [`Batch`] frame (bincode
//! standard configuration, see [`crate::varint`]), read in place. Every guest call decodes one, and bincode's
//! generic reader costs a few hundred instructions a command (several times that in wasm). A malformed frame is
//! refused with the same header errors as [`codec::decode`] and a body error of its own; unlike bincode, a corrupt
//! length never makes it reserve memory for that length. Tests compare it with the derived decoding.

use crate::codec::{self, Batch, CodecError, FrameKind};
use crate::command::{Command, NewOrder, OrderRef};
use crate::ids::{InstrumentId, OrderId, ParticipantId, Price, Qty};
use crate::varint::Cursor;

/// The fewest bytes a command takes (a cancel: variant, participant, reference variant, id), so a frame's command
/// count bounds what is reserved for it.
const MIN_COMMAND_BYTES: usize = 4;

/// Decodes a `Batch` frame into `batch`, replacing its contents and reusing its command vector. On error `batch`
/// is left with unspecified (but valid) contents.
pub fn decode_batch_into(frame: &[u8], batch: &mut Batch) -> Result<(), CodecError> {
    let body = codec::frame_body(FrameKind::Batch, frame)?;
    batch.commands.clear();
    let mut cursor = Cursor::new(body);
    if read_batch(&mut cursor, batch).is_none() {
        let at = cursor.position();
        return Err(CodecError::Body(format!("the batch does not decode (at byte {at} of {})", body.len())));
    }
    match cursor.remaining() {
        0 => Ok(()),
        extra => Err(CodecError::TrailingBytes(extra)),
    }
}

fn read_batch(cursor: &mut Cursor<'_>, batch: &mut Batch) -> Option<()> {
    let count = usize::try_from(cursor.u64()?).ok()?;
    batch.commands.reserve(count.min(cursor.remaining() / MIN_COMMAND_BYTES));
    for _ in 0..count {
        batch.commands.push(read_command(cursor)?);
    }
    batch.steps = cursor.u32()?;
    Some(())
}

#[inline(always)]
fn read_command(cursor: &mut Cursor<'_>) -> Option<Command> {
    Some(match cursor.variant(5)? {
        0 => Command::NewOrder(read_new_order(cursor)?),
        1 => Command::Cancel { participant: ParticipantId(cursor.u32()?), order: read_order_ref(cursor)? },
        2 => Command::MassCancel {
            participant: ParticipantId(cursor.u32()?),
            instrument: if cursor.flag()? { Some(InstrumentId(cursor.u16()?)) } else { None },
            side: if cursor.flag()? { Some(cursor.side()?) } else { None },
        },
        3 => Command::Amend {
            participant: ParticipantId(cursor.u32()?),
            order: read_order_ref(cursor)?,
            qty: if cursor.flag()? { Some(Qty(cursor.u64()?)) } else { None },
            price: if cursor.flag()? { Some(Price(cursor.int()?)) } else { None },
        },
        _ => Command::SetTradingStatus { instrument: InstrumentId(cursor.u16()?), halted: cursor.flag()? },
    })
}

#[inline(always)]
fn read_new_order(cursor: &mut Cursor<'_>) -> Option<NewOrder> {
    let participant = ParticipantId(cursor.u32()?);
    let instrument = InstrumentId(cursor.u16()?);
    let client_order_id = if cursor.flag()? { Some(cursor.client_order_id()?) } else { None };
    let side = cursor.side()?;
    let qty = Qty(cursor.u64()?);
    let order_type = cursor.order_type()?;
    let tif = cursor.time_in_force()?;
    let display_qty = if cursor.flag()? { Some(Qty(cursor.u64()?)) } else { None };
    let post_only = cursor.flag()?;
    let stp = cursor.stp_mode()?;
    Some(NewOrder { participant, instrument, client_order_id, side, qty, order_type, tif, display_qty, post_only, stp })
}

#[inline(always)]
fn read_order_ref(cursor: &mut Cursor<'_>) -> Option<OrderRef> {
    Some(match cursor.variant(2)? {
        0 => OrderRef::OrderId(OrderId(cursor.u64()?)),
        _ => OrderRef::ClientOrderId(cursor.client_order_id()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{OrderType, Side, StpMode, TimeInForce};
    use crate::ids::ClientOrderId;

    /// Every command variant and every variant of their enums, with integers at the varint width boundaries.
    fn sample_batch() -> Batch {
        let wide: [u64; 8] = [0, 250, 251, 65_535, 65_536, u64::from(u32::MAX), 1 << 32, u64::MAX];
        let ints: [i64; 8] = [0, -1, 125, -126, 32_767, i64::MIN, i64::MAX, -(1 << 40)];
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
        let stps = [StpMode::CancelNewest, StpMode::CancelOldest, StpMode::CancelBoth];
        let mut commands = Vec::new();
        for i in 0..40 {
            let (w, x) = (wide[i % wide.len()], ints[i % ints.len()]);
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let cid = ClientOrderId::parse(&"x1-_.:".repeat(7)[..1 + (5 * i) % 36]).unwrap();
            let some = i % 2 == 1;
            let reference = if i % 3 == 0 { OrderRef::ClientOrderId(cid) } else { OrderRef::OrderId(OrderId(w)) };
            commands.push(match i % 5 {
                0 | 1 => Command::NewOrder(NewOrder {
                    participant: ParticipantId(w as u32),
                    instrument: InstrumentId(w as u16),
                    client_order_id: (i % 3 != 1).then_some(cid),
                    side,
                    qty: Qty(w),
                    order_type: order_types[i % order_types.len()],
                    tif: tifs[i % tifs.len()],
                    display_qty: some.then_some(Qty(w / 3)),
                    post_only: !some,
                    stp: stps[i % stps.len()],
                }),
                2 => Command::Cancel { participant: ParticipantId(w as u32), order: reference },
                3 => Command::MassCancel {
                    participant: ParticipantId(w as u32),
                    instrument: some.then_some(InstrumentId(w as u16)),
                    side: (i % 3 != 0).then_some(side),
                },
                _ => Command::Amend {
                    participant: ParticipantId(w as u32),
                    order: reference,
                    qty: some.then_some(Qty(w)),
                    price: (i % 3 != 2).then_some(Price(x)),
                },
            });
            if i % 7 == 0 {
                commands.push(Command::SetTradingStatus { instrument: InstrumentId(w as u16), halted: some });
            }
        }
        Batch { commands, steps: u32::MAX }
    }

    fn decoded(frame: &[u8]) -> Result<Batch, CodecError> {
        let mut batch =
            Batch { commands: vec![Command::SetTradingStatus { instrument: InstrumentId(1), halted: true }], steps: 9 };
        decode_batch_into(frame, &mut batch).map(|()| batch)
    }

    /// The derived decoding of a whole frame, or None if it refuses it. Limited, so that a corrupt length makes it
    /// fail rather than try to reserve that much.
    fn derived(frame: &[u8]) -> Option<Batch> {
        let body = codec::frame_body(FrameKind::Batch, frame).ok()?;
        let config = bincode::config::standard().with_limit::<1_000_000>();
        let (batch, used) = bincode::decode_from_slice(body, config).ok()?;
        (used == body.len()).then_some(batch)
    }

    #[test]
    fn decodes_exactly_as_the_derived_code() {
        let batch = sample_batch();
        for n in 0..=batch.commands.len() {
            let prefix = Batch { commands: batch.commands[..n].to_vec(), steps: n as u32 * 1_000 };
            let frame = codec::encode(FrameKind::Batch, &prefix);
            assert_eq!(decoded(&frame), Ok(prefix), "{n} commands");
        }
    }

    #[test]
    fn accepts_exactly_what_the_derived_code_accepts() {
        let frame = codec::encode(FrameKind::Batch, &sample_batch());
        for at in 0..frame.len() {
            for byte in [0, 1, 2, 4, 5, 36, 37, 250, 251, 252, 253, 254, 255] {
                let mut changed = frame.clone();
                changed[at] = byte;
                assert_eq!(decoded(&changed).ok(), derived(&changed), "byte {at} = {byte}");
            }
        }
        for len in 0..frame.len() {
            assert_eq!(decoded(&frame[..len]).ok(), derived(&frame[..len]), "{len} bytes");
            assert!(decoded(&frame[..len]).is_err());
        }
    }

    #[test]
    fn refuses_with_the_codecs_header_errors_and_a_body_error() {
        let frame = codec::encode(FrameKind::Batch, &sample_batch());
        for bad in [&frame[..3], &frame[..frame.len() - 1]] {
            let expected = codec::decode::<Batch>(FrameKind::Batch, bad).map(drop);
            match (decoded(bad).map(drop), expected) {
                (Err(CodecError::Body(_)), Err(CodecError::Body(_))) => {}
                (ours, theirs) => assert_eq!(ours, theirs),
            }
        }
        let mut trailing = frame.clone();
        trailing.push(0);
        assert_eq!(decoded(&trailing), Err(CodecError::TrailingBytes(1)));
        let mut huge = frame[..5].to_vec();
        huge.extend([253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(decoded(&huge), Err(CodecError::Body("the batch does not decode (at byte 9 of 9)".to_owned())));
    }
}
