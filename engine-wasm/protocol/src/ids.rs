//! Identifiers and numeric newtypes. All are plain integers on the wire except [`ClientOrderId`].

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Encode, Decode,
        )]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_newtype!(
    /// A trading party. The user is [`ParticipantId::USER`]; simulated agents use ids from
    /// [`ParticipantId::FIRST_AGENT`] up. Commands may be submitted for any id, so recorded flow can be replayed.
    ParticipantId(u32)
);
int_newtype!(
    /// Index of an instrument in [`crate::SimConfig::instruments`].
    InstrumentId(u16)
);
int_newtype!(
    /// Exchange-assigned order id, unique within one simulator, increasing.
    OrderId(u64)
);
int_newtype!(
    /// Exchange-assigned trade id, unique within one simulator, increasing.
    TradeId(u64)
);
int_newtype!(
    /// A price in price units (`10^-price_decimals` of the quote currency).
    Price(i64)
);
int_newtype!(
    /// A quantity in whole units of the instrument.
    Qty(u64)
);

impl ParticipantId {
    /// The human user of a simulator.
    pub const USER: Self = Self(1);
    /// Ids at or above this belong to the simulated background market.
    pub const FIRST_AGENT: u32 = 1_000_000;

    pub fn is_agent(self) -> bool {
        self.0 >= Self::FIRST_AGENT
    }
}

/// Largest quantity of one order.
pub const MAX_QTY: u64 = 1_000_000_000;

impl Qty {
    pub const ZERO: Self = Self(0);

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// Longest client order id accepted: room for a UUID in its usual text form.
pub const CLIENT_ORDER_ID_MAX_LEN: usize = 36;

/// A participant's own id for an order, unique per participant for ever. Stored inline (no allocation):
/// 1 to 36 characters of `A-Z a-z 0-9 - _ . :`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct ClientOrderId {
    len: u8,
    bytes: [u8; CLIENT_ORDER_ID_MAX_LEN],
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientOrderIdError {
    #[error("client order id is empty")]
    Empty,
    #[error("client order id is longer than {CLIENT_ORDER_ID_MAX_LEN} characters")]
    TooLong,
    #[error("client order id may contain only letters, digits and - _ . :")]
    InvalidCharacter,
}

impl ClientOrderId {
    pub fn parse(text: &str) -> Result<Self, ClientOrderIdError> {
        if text.is_empty() {
            return Err(ClientOrderIdError::Empty);
        }
        if text.len() > CLIENT_ORDER_ID_MAX_LEN {
            return Err(ClientOrderIdError::TooLong);
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
            return Err(ClientOrderIdError::InvalidCharacter);
        }
        let mut bytes = [0; CLIENT_ORDER_ID_MAX_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(Self { len: text.len() as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        // parse() admits ASCII only, so every prefix is valid UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientOrderId({:?})", self.as_str())
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ClientOrderId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClientOrderId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Encode for ClientOrderId {
    fn encode<E: bincode::enc::Encoder>(&self, encoder: &mut E) -> Result<(), bincode::error::EncodeError> {
        self.as_str().encode(encoder)
    }
}

impl<Context> Decode<Context> for ClientOrderId {
    fn decode<D: bincode::de::Decoder<Context = Context>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let text = String::decode(decoder)?;
        Self::parse(&text).map_err(|e| bincode::error::DecodeError::OtherString(e.to_string()))
    }
}
bincode::impl_borrow_decode!(ClientOrderId);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("", ClientOrderIdError::Empty)]
    #[case("0123456789012345678901234567890123456", ClientOrderIdError::TooLong)]
    #[case("has space", ClientOrderIdError::InvalidCharacter)]
    #[case("é", ClientOrderIdError::InvalidCharacter)]
    fn rejects_bad_client_order_ids(#[case] text: &str, #[case] expected: ClientOrderIdError) {
        assert_eq!(ClientOrderId::parse(text), Err(expected));
    }

    #[test]
    fn client_order_id_round_trips_through_json_and_binary() {
        let id = ClientOrderId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"550e8400-e29b-41d4-a716-446655440000\"");
        assert_eq!(serde_json::from_str::<ClientOrderId>(&json).unwrap(), id);
        let bytes = bincode::encode_to_vec(id, bincode::config::standard()).unwrap();
        let (back, _): (ClientOrderId, _) = bincode::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn json_refuses_invalid_client_order_id() {
        let err = serde_json::from_str::<ClientOrderId>("\"a b\"").unwrap_err();
        assert!(err.to_string().contains("letters, digits"), "{err}");
    }
}
