//! Replays a recorded command stream through the tradesim engine, natively and deterministically.
//!
//! The input is JSON Lines (format documented in docs/engine.md, example in `examples/basic.jsonl`):
//! - the header, `{"config": {...}, "seed": N}`. `config` may be left out (the default config) or give only the
//!   fields that differ from the default; each instrument's missing fields come from the default instrument.
//! - then `{"step": N, "command": {...}}` (the command applies at step N: the pairs a simulator host journals) or
//!   `{"step": N}` (only advance to step N). Steps never go backwards. Blank lines are skipped.
//!
//! The output is one JSON line per engine event, then `{"final": {"step", "time_ms", "last_seq", "state_hash"}}`.
//! Each line is checked in full before it is applied, so a bad line stops the replay with a [`ReplayError`] naming
//! that line and changes nothing; the events of earlier lines have been written, the final line never is.
//! Unknown fields are refused rather than ignored: a misspelt optional field would otherwise silently change what
//! the replay means.

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::io::{self, BufRead, Write};
use tradesim_core::Engine;
use tradesim_protocol::{ClientOrderId, ClientOrderIdError, Command, ConfigError, Event, SimConfig};

/// The `type` tags of [`Command`], for telling a person what is allowed.
pub const COMMAND_TYPES: [&str; 5] = ["new_order", "cancel", "mass_cancel", "amend", "set_trading_status"];

/// Steps advanced between two writes of events: bounds memory when a line skips far ahead.
const ADVANCE_CHUNK: u32 = 1_000;

const HEADER_SHAPE: &str = r#"{"config": {...}, "seed": N}"#;

/// Where a replay ended, as written on its final line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub step: u64,
    pub time_ms: u64,
    pub last_seq: u64,
    /// [`Engine::state_hash`]; written as 16 lowercase hex digits.
    #[serde(serialize_with = "hex16")]
    pub state_hash: u64,
}

/// The last line of the output, `{"final": {...}}`; a struct so the fields keep their documented order.
#[derive(Serialize)]
struct FinalLine<'a> {
    #[serde(rename = "final")]
    summary: &'a Summary,
}

fn hex16<S: Serializer>(hash: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{hash:016x}"))
}

/// Why a replay stopped. Line numbers count from 1 and include blank lines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("line {line}: expected the header {HEADER_SHAPE} (the config may be left out)")]
    MissingHeader { line: usize },
    #[error("line {line}: invalid JSON: {message}")]
    InvalidJson { line: usize, message: String },
    #[error("line {line}: input is not UTF-8")]
    NotUtf8 { line: usize },
    #[error("line {line}: unknown field `{field}`")]
    UnknownField { line: usize, field: String },
    #[error("line {line}: invalid header: {message}")]
    InvalidHeader { line: usize, message: String },
    #[error("line {line}: config does not parse: {message}")]
    MalformedConfig { line: usize, message: String },
    #[error("line {line}: config is invalid: {error}")]
    InvalidConfig { line: usize, error: ConfigError },
    #[error("line {line}: invalid step line: {message}")]
    InvalidLine { line: usize, message: String },
    #[error("line {line}: step {step} is before step {previous}; steps must not go backwards")]
    StepBackwards { line: usize, step: u64, previous: u64 },
    #[error("line {line}: unknown command type {found}; expected one of {}", COMMAND_TYPES.join(", "))]
    UnknownCommandType { line: usize, found: String },
    #[error("line {line}: invalid client order id {value:?}: {error}")]
    InvalidClientOrderId { line: usize, value: String, error: ClientOrderIdError },
    #[error("line {line}: invalid command: {message}")]
    InvalidCommand { line: usize, message: String },
    #[error("line {line}: cannot read input: {message}")]
    Read { line: usize, message: String },
    #[error("cannot write output: {0}")]
    Write(String),
}

impl ReplayError {
    /// True when the input is at fault (rather than reading or writing failing).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, Self::Read { .. } | Self::Write(_))
    }
}

/// Replays the JSONL stream from `reader`, writing events and the final line to `writer`.
pub fn replay(reader: impl BufRead, mut writer: impl Write) -> Result<Summary, ReplayError> {
    let mut engine = None;
    let mut events = Vec::new();
    let mut last_line = 0;
    for (index, text) in reader.lines().enumerate() {
        let line = index + 1;
        last_line = line;
        let text = text.map_err(|error| read_error(line, error))?;
        if text.trim().is_empty() {
            continue;
        }
        let Some(engine) = &mut engine else {
            engine = Some(parse_header(line, &text)?);
            continue;
        };
        let (target, command) = parse_step_line(line, &text)?;
        if target < engine.step() {
            return Err(ReplayError::StepBackwards { line, step: target, previous: engine.step() });
        }
        while engine.step() < target {
            let steps = u32::try_from(target - engine.step()).unwrap_or(ADVANCE_CHUNK).min(ADVANCE_CHUNK);
            engine.advance(steps, &mut events);
            write_events(&mut writer, &mut events)?;
        }
        if let Some(command) = command {
            engine.apply(&command, &mut events);
            write_events(&mut writer, &mut events)?;
        }
    }
    let Some(engine) = engine else {
        return Err(ReplayError::MissingHeader { line: last_line + 1 });
    };
    let summary = Summary {
        step: engine.step(),
        time_ms: engine.time_ms(),
        last_seq: engine.last_seq(),
        state_hash: engine.state_hash(),
    };
    write_line(&mut writer, &FinalLine { summary: &summary })?;
    writer.flush().map_err(write_error)?;
    Ok(summary)
}

fn read_error(line: usize, error: io::Error) -> ReplayError {
    match error.kind() {
        io::ErrorKind::InvalidData => ReplayError::NotUtf8 { line },
        _ => ReplayError::Read { line, message: error.to_string() },
    }
}

fn write_error(error: impl ToString) -> ReplayError {
    ReplayError::Write(error.to_string())
}

fn write_line(writer: &mut impl Write, value: &impl Serialize) -> Result<(), ReplayError> {
    serde_json::to_writer(&mut *writer, value).map_err(write_error)?;
    writer.write_all(b"\n").map_err(write_error)
}

fn write_events(writer: &mut impl Write, events: &mut Vec<Event>) -> Result<(), ReplayError> {
    for event in events.drain(..) {
        write_line(writer, &event)?;
    }
    Ok(())
}

fn parse_object(line: usize, text: &str) -> Result<Map<String, Value>, ReplayError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(ReplayError::InvalidJson { line, message: format!("expected an object, found {other}") }),
        Err(error) => Err(ReplayError::InvalidJson { line, message: error.to_string() }),
    }
}

fn parse_header(line: usize, text: &str) -> Result<Engine, ReplayError> {
    let mut header = parse_object(line, text)?;
    if header.contains_key("step") || !header.contains_key("seed") {
        return Err(ReplayError::MissingHeader { line });
    }
    if let Some(field) = header.keys().find(|key| !matches!(key.as_str(), "config" | "seed")) {
        return Err(ReplayError::UnknownField { line, field: field.clone() });
    }
    let seed = header["seed"].as_u64().ok_or_else(|| ReplayError::InvalidHeader {
        line,
        message: format!("`seed` must be an integer from 0 to {}", u64::MAX),
    })?;
    let config = match header.remove("config") {
        None => SimConfig::default(),
        Some(partial) => parse_config(line, partial)?,
    };
    Engine::new(config, seed).map_err(|error| ReplayError::InvalidConfig { line, error })
}

/// Reads a config that gives only the fields that differ from [`SimConfig::default`].
fn parse_config(line: usize, partial: Value) -> Result<SimConfig, ReplayError> {
    // Serializing plain data structs with string keys cannot fail.
    let defaults = serde_json::to_value(SimConfig::default()).expect("configs serialize");
    let merged = with_defaults(partial.clone(), &defaults);
    let config: SimConfig =
        serde_json::from_value(merged).map_err(|e| ReplayError::MalformedConfig { line, message: e.to_string() })?;
    let canonical = serde_json::to_value(&config).expect("configs serialize");
    match unknown_field(&partial, &canonical, "config") {
        Some(field) => Err(ReplayError::UnknownField { line, field }),
        None => Ok(config),
    }
}

/// Fills the fields `value` leaves out from `defaults`. Array elements take their defaults from the first default
/// element, so every instrument written by hand starts from the default instrument.
fn with_defaults(value: Value, defaults: &Value) -> Value {
    match (value, defaults) {
        (Value::Object(mut object), Value::Object(defaults)) => {
            for (key, default) in defaults {
                let merged = match object.remove(key) {
                    Some(given) => with_defaults(given, default),
                    None => default.clone(),
                };
                object.insert(key.clone(), merged);
            }
            Value::Object(object)
        }
        (Value::Array(items), Value::Array(defaults)) => match defaults.first() {
            Some(default) => Value::Array(items.into_iter().map(|item| with_defaults(item, default)).collect()),
            None => Value::Array(items),
        },
        (value, _) => value,
    }
}

/// The path of the first field of `given` that is not in `canonical` (the same value parsed and written back,
/// which names every field the type has), if any.
fn unknown_field(given: &Value, canonical: &Value, path: &str) -> Option<String> {
    match (given, canonical) {
        (Value::Object(given), Value::Object(canonical)) => given.iter().find_map(|(key, value)| {
            let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            match canonical.get(key) {
                Some(known) => unknown_field(value, known, &path),
                None => Some(path),
            }
        }),
        (Value::Array(given), Value::Array(canonical)) => given
            .iter()
            .zip(canonical)
            .enumerate()
            .find_map(|(index, (value, known))| unknown_field(value, known, &format!("{path}[{index}]"))),
        _ => None,
    }
}

fn parse_step_line(line: usize, text: &str) -> Result<(u64, Option<Command>), ReplayError> {
    let mut object = parse_object(line, text)?;
    if let Some(field) = object.keys().find(|key| !matches!(key.as_str(), "step" | "command")) {
        return Err(ReplayError::UnknownField { line, field: field.clone() });
    }
    let step = match object.get("step") {
        None => return Err(ReplayError::InvalidLine { line, message: "missing `step`".into() }),
        Some(step) => step.as_u64().ok_or_else(|| ReplayError::InvalidLine {
            line,
            message: format!("`step` must be a non-negative integer, found {step}"),
        })?,
    };
    let command = object.remove("command").map(|command| parse_command(line, command)).transpose()?;
    Ok((step, command))
}

fn parse_command(line: usize, value: Value) -> Result<Command, ReplayError> {
    let invalid = |message: String| ReplayError::InvalidCommand { line, message };
    let Value::Object(object) = &value else {
        return Err(invalid(format!("expected an object, found {value}")));
    };
    match object.get("type") {
        None => return Err(invalid("missing `type`".into())),
        Some(Value::String(kind)) if COMMAND_TYPES.contains(&kind.as_str()) => {}
        Some(other) => return Err(ReplayError::UnknownCommandType { line, found: other.to_string() }),
    }
    // Checked before parsing so the error says which id is wrong and why, not only that a string did not parse.
    let client_order_ids = [object.get("client_order_id"), object.get("order").and_then(|o| o.get("client_order_id"))];
    for id in client_order_ids.into_iter().flatten().filter_map(Value::as_str) {
        ClientOrderId::parse(id).map_err(|error| ReplayError::InvalidClientOrderId {
            line,
            value: id.to_owned(),
            error,
        })?;
    }
    let command: Command = serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
    let canonical = serde_json::to_value(command).expect("commands serialize");
    match unknown_field(&value, &canonical, "command") {
        Some(field) => Err(ReplayError::UnknownField { line, field }),
        None => Ok(command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradesim_protocol::{
        ClientOrderId, InstrumentId, NewOrder, OrderId, OrderRef, OrderType, ParticipantId, Qty, Side, StpMode,
        TimeInForce,
    };

    /// The tag of each command kind; the exhaustive match makes a new kind fail to compile here until it is added.
    fn tag(command: &Command) -> &'static str {
        match command {
            Command::NewOrder(_) => "new_order",
            Command::Cancel { .. } => "cancel",
            Command::MassCancel { .. } => "mass_cancel",
            Command::Amend { .. } => "amend",
            Command::SetTradingStatus { .. } => "set_trading_status",
        }
    }

    #[test]
    fn command_types_name_every_command() {
        let user = ParticipantId::USER;
        let commands = [
            Command::NewOrder(NewOrder {
                participant: user,
                instrument: InstrumentId(0),
                client_order_id: None,
                side: Side::Buy,
                qty: Qty(1),
                order_type: OrderType::Market,
                tif: TimeInForce::Ioc,
                display_qty: None,
                post_only: false,
                stp: StpMode::CancelNewest,
            }),
            Command::Cancel { participant: user, order: OrderRef::ClientOrderId(ClientOrderId::parse("a").unwrap()) },
            Command::MassCancel { participant: user, instrument: None, side: Some(Side::Buy) },
            Command::Amend { participant: user, order: OrderRef::OrderId(OrderId(1)), qty: None, price: None },
            Command::SetTradingStatus { instrument: InstrumentId(0), halted: true },
        ];
        assert_eq!(commands.len(), COMMAND_TYPES.len());
        for (command, expected) in commands.iter().zip(COMMAND_TYPES) {
            assert_eq!(tag(command), expected);
            assert_eq!(serde_json::to_value(command).unwrap()["type"], expected);
        }
    }

    #[test]
    fn partial_config_takes_defaults_field_by_field() {
        let partial = serde_json::json!({
            "scenario": "none",
            "account": {"taker_fee_ppm": 0},
            "instruments": [{"symbol": "A"}, {"symbol": "B", "tick_size": 5}],
        });
        let config = parse_config(1, partial).unwrap();
        let defaults = SimConfig::default();
        assert_eq!(config.step_ms, defaults.step_ms);
        assert_eq!(config.account.taker_fee_ppm, 0);
        assert_eq!(config.account.maker_fee_ppm, defaults.account.maker_fee_ppm);
        assert_eq!(config.instruments.len(), 2);
        assert_eq!(config.instruments[1].symbol, "B");
        assert_eq!(config.instruments[1].tick_size.0, 5);
        assert_eq!(config.instruments[1].reference_price, defaults.instruments[0].reference_price);
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let partial = serde_json::json!({"instruments": [{"symbol": "A"}, {"symbol": "B", "tick": 5}]});
        assert_eq!(
            parse_config(4, partial),
            Err(ReplayError::UnknownField { line: 4, field: "config.instruments[1].tick".into() })
        );
    }
}
