//! Wire types of the tradesim engine, defined once and shared by the engine, the wasm guest, the host, the
//! control plane and (through generated TypeScript) the browser.
//!
//! Two encodings of the same types:
//! - JSON (serde) for people and browsers: snake_case, enums tagged by a `type` field.
//! - A compact binary encoding (bincode, varint integers) for the wasm boundary, snapshots and journals, always
//!   framed by [`codec`] with a magic and a version number.
//!
//! # Invariants
//! - Prices, quantities and money are integers: prices in price units (`10^-price_decimals` of the quote
//!   currency), quantities in whole units, cash in price units times quantity units.
//! - [`PROTOCOL_VERSION`] changes whenever a binary layout changes; decoders refuse other versions.

pub mod batch_codec;
pub mod codec;
pub mod command;
pub mod config;
pub mod event;
pub mod event_codec;
pub mod ids;
pub mod stream;
pub mod varint;
pub mod view;

pub use codec::{Batch, CodecError, PROTOCOL_VERSION};
pub use command::{Command, NewOrder, OrderRef, OrderType, Side, StpMode, TimeInForce};
pub use config::{AccountConfig, CircuitBreaker, ConfigError, InstrumentConfig, Scenario, SimConfig};
pub use event::{
    AccountUpdate, Bbo, BookDelta, CancelReason, Candle, CandleInterval, Event, EventBody, ExecType, ExecutionReport,
    Liquidity, OrderStatus, PositionView, QueuePosition, RejectReason, RequestKind, RequestRejected, Trade,
    TradingStatus,
};
pub use ids::{ClientOrderId, ClientOrderIdError, InstrumentId, OrderId, ParticipantId, Price, Qty, TradeId};
pub use view::{BookLevel, BookSnapshot, EngineView, OpenOrder, ViewRequest};
