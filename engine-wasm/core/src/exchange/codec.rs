//! The exchange's snapshot encoding. Orders are written in book order (bids best first, then asks, each level
//! front of queue first, then pending stops), so the bytes depend only on the state, never on slab layout or hash
//! map history; derived indexes are rebuilt on decode. The number of orders comes first, so restore sizes the slab
//! and its index once instead of regrowing (and copying) them.

use super::book::{BookSide, Order};
use super::order_codec::OrderEncoder;
use super::{Exchange, Instrument, InstrumentState, Pending};
use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use tradesim_protocol::{InstrumentId, Price, Side, SimConfig};

/// The most orders restore reserves room for up front; a larger book still restores, growing as it goes.
const MAX_RESERVED_ORDERS: u64 = 1 << 20;

impl Encode for Exchange {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        debug_assert!(self.pending.levels.is_empty() && self.pending.accounts.is_empty());
        self.config.encode(encoder)?;
        (self.step, self.time_ms, self.seq, self.next_order_id, self.next_trade_id, self.fees_collected)
            .encode(encoder)?;
        (self.orders.len() as u64).encode(encoder)?;
        self.accounts.encode(encoder)?;
        self.used_client_ids.encode(encoder)?;
        let mut orders = OrderEncoder::new();
        for instrument in &self.instruments {
            instrument.state.encode(encoder)?;
            for side in [&instrument.bids, &instrument.asks] {
                (side.levels().count() as u64).encode(encoder)?;
                for (price, level) in side.levels() {
                    (price, level.orders).encode(encoder)?;
                    for slot in level.queue(&self.orders) {
                        orders.encode(self.orders.get(slot), encoder)?;
                    }
                }
            }
            for id in &instrument.state.stops {
                let slot = self.orders.slot(*id).ok_or(EncodeError::Other("pending stop without its order"))?;
                orders.encode(self.orders.get(slot), encoder)?;
            }
        }
        Ok(())
    }
}

impl<Context> Decode<Context> for Exchange {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let config = SimConfig::decode(decoder)?;
        config.validate().map_err(|e| DecodeError::OtherString(e.to_string()))?;
        let mut exchange = Exchange::new(config);
        (
            exchange.step,
            exchange.time_ms,
            exchange.seq,
            exchange.next_order_id,
            exchange.next_trade_id,
            exchange.fees_collected,
        ) = Decode::decode(decoder)?;
        let order_count = u64::decode(decoder)?;
        // Capped, so a corrupt count cannot ask for more memory than a plausible book needs.
        exchange.orders.reserve(order_count.min(MAX_RESERVED_ORDERS) as usize);
        exchange.accounts = Decode::decode(decoder)?;
        exchange.used_client_ids = Decode::decode(decoder)?;
        for index in 0..exchange.instruments.len() {
            let instrument = InstrumentId(index as u16);
            let state = InstrumentState::decode(decoder)?;
            let stops = state.stops.clone();
            if let Some(last) = state.last_trade {
                exchange.set_mark(instrument, last);
            }
            exchange.instruments[index] = Instrument { state, ..Instrument::new(instrument) };
            let (mut levels, mut slots) = (Vec::new(), Vec::new());
            for side in [Side::Buy, Side::Sell] {
                levels.clear();
                slots.clear();
                for _ in 0..u64::decode(decoder)? {
                    let (price, count): (Price, u32) = Decode::decode(decoder)?;
                    for _ in 0..count {
                        let order = decode_order(decoder, &mut exchange, instrument)?;
                        slots.push(exchange.orders.insert(order));
                    }
                    levels.push((price, count));
                }
                let book =
                    BookSide::restore(side, &mut exchange.orders, &levels, &slots).map_err(DecodeError::Other)?;
                *exchange.instruments[index].side_mut(side) = book;
            }
            for _ in &stops {
                let order = decode_order(decoder, &mut exchange, instrument)?;
                exchange.orders.insert(order);
            }
        }
        if exchange.orders.len() as u64 != order_count {
            return Err(DecodeError::Other("snapshot order count does not match its orders"));
        }
        exchange.pending = Pending::default();
        Ok(exchange)
    }
}

/// Decodes one order and rebuilds the indexes it belongs to.
#[inline(always)]
fn decode_order<D: Decoder>(
    decoder: &mut D,
    exchange: &mut Exchange,
    instrument: InstrumentId,
) -> Result<Order, DecodeError> {
    let order = super::order_codec::decode_order(decoder)?;
    if order.instrument != instrument || !order.working {
        return Err(DecodeError::Other("snapshot order is out of place"));
    }
    if let Some(client_order_id) = order.client_order_id {
        exchange.live_client_ids.insert((order.participant, client_order_id), order.id);
    }
    if let Some(at) = order.expire_at_ms {
        exchange.expiries.insert((at, order.id));
    }
    Ok(order)
}

bincode::impl_borrow_decode!(Exchange);
