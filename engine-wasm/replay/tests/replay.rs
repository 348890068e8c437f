//! The replay tool end to end: the shipped example, determinism, agreement with the engine driven directly, bad
//! input, and the built binary.

use rstest::rstest;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command as Process, Output, Stdio};
use tradesim_core::Engine;
use tradesim_protocol::{
    CancelReason, ClientOrderId, ClientOrderIdError, Command, ConfigError, Event, EventBody, ExecType, ExecutionReport,
    InstrumentId, Liquidity, NewOrder, OrderRef, OrderStatus, OrderType, ParticipantId, Price, Qty, RejectReason,
    Scenario, Side, SimConfig, StpMode, TimeInForce,
};
use tradesim_replay::{ReplayError, Summary, replay};

const BASIC: &str = include_str!("../examples/basic.jsonl");
const FEATURES: &str = include_str!("../examples/features.jsonl");
const HEADER: &str = r#"{"config": {"scenario": "none"}, "seed": 1}"#;

/// Replays `input`, returning the output text and the result.
fn run(input: &str) -> (String, Result<Summary, ReplayError>) {
    let mut out = Vec::new();
    let result = replay(input.as_bytes(), &mut out);
    (String::from_utf8(out).expect("output is UTF-8"), result)
}

/// Splits successful output into its events and its final line.
fn parse_output(output: &str) -> (Vec<Event>, serde_json::Value) {
    let mut lines: Vec<&str> = output.lines().collect();
    let last = lines.pop().expect("output has a final line");
    let events = lines.iter().map(|line| serde_json::from_str(line).expect("each line is an event")).collect();
    let last: serde_json::Value = serde_json::from_str(last).expect("final line is JSON");
    (events, last["final"].clone())
}

fn reports<'a>(events: &'a [Event], client_order_id: &'a str) -> impl Iterator<Item = &'a ExecutionReport> {
    events.iter().filter_map(move |event| match &event.body {
        EventBody::ExecutionReport(report)
            if report.client_order_id.is_some_and(|id| id.as_str() == client_order_id) =>
        {
            Some(report)
        }
        _ => None,
    })
}

fn exec_types(events: &[Event], client_order_id: &str) -> Vec<ExecType> {
    reports(events, client_order_id).map(|report| report.exec_type).collect()
}

#[test]
fn basic_example_places_fills_amends_and_cancels() {
    let (output, result) = run(BASIC);
    let summary = result.expect("the example replays");
    let (events, last) = parse_output(&output);

    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "seq is gap-free from 1");
    assert_eq!(summary.last_seq, events.len() as u64);
    assert_eq!((summary.step, summary.time_ms), (150, 1_500));
    assert_eq!(last["step"], 150);
    assert_eq!(last["time_ms"], 1_500);
    assert_eq!(last["last_seq"], summary.last_seq);
    assert_eq!(last["state_hash"], format!("{:016x}", summary.state_hash));
    let final_line = output.lines().last().unwrap();
    assert!(final_line.starts_with(r#"{"final":{"step":150,"time_ms":1500,"last_seq":"#), "{final_line}");

    let trades: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::Trade(trade) => Some((event.time_ms, trade.price, trade.qty, trade.aggressor)),
            _ => None,
        })
        .collect();
    assert_eq!(trades, [(50, Price(10_010), Qty(4), Side::Buy), (500, Price(10_000), Qty(3), Side::Sell)]);

    // The user's IOC buy takes 4 of the resting ask.
    assert_eq!(exec_types(&events, "buy-1")[..2], [ExecType::New, ExecType::Fill]);
    let fill = reports(&events, "buy-1").nth(1).unwrap();
    assert_eq!(
        (fill.last_price, fill.last_qty, fill.liquidity),
        (Some(Price(10_010)), Some(Qty(4)), Some(Liquidity::Taker))
    );
    let maker = reports(&events, "mm-ask-1").find(|r| r.exec_type == ExecType::PartialFill).unwrap();
    assert_eq!((maker.leaves_qty, maker.liquidity), (Qty(6), Some(Liquidity::Maker)));

    // The user's bid is amended up, partly filled by a market sell, then cancelled.
    assert_eq!(
        exec_types(&events, "bid-1"),
        [ExecType::New, ExecType::Replaced, ExecType::PartialFill, ExecType::Cancelled]
    );
    let bid: Vec<_> = reports(&events, "bid-1").collect();
    assert_eq!((bid[1].price, bid[1].qty, bid[1].leaves_qty), (Some(Price(10_000)), Qty(6), Qty(6)));
    assert_eq!((bid[2].cum_qty, bid[2].leaves_qty, bid[2].liquidity), (Qty(3), Qty(3), Some(Liquidity::Maker)));
    assert_eq!((bid[3].status, bid[3].cancel_reason), (OrderStatus::Cancelled, Some(CancelReason::Requested)));

    // Reusing a client order id is refused by the engine (an event, not a replay error).
    let duplicate = reports(&events, "buy-1").last().unwrap();
    assert_eq!(
        (duplicate.exec_type, duplicate.order_id, duplicate.reject_reason),
        (ExecType::Rejected, None, Some(RejectReason::DuplicateClientOrderId))
    );

    assert!(events.iter().any(|event| matches!(event.body, EventBody::Candle(_))), "a 1s candle closed");
    assert!(
        events.iter().any(|event| matches!(&event.body, EventBody::Account(a) if a.participant == ParticipantId::USER))
    );
}

/// docs/engine.md quotes this example's output for every kind of event and execution report.
#[test]
fn features_example_shows_every_event_and_exec_type() {
    let (output, result) = run(FEATURES);
    let summary = result.expect("the example replays");
    assert_eq!((summary.step, summary.time_ms), (6_000, 60_000));
    let (events, _) = parse_output(&output);
    let types: BTreeSet<&str> = events.iter().map(|event| event.body.type_name()).collect();
    assert_eq!(types.len(), 9, "{types:?}");
    let exec_types: BTreeSet<String> = events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::ExecutionReport(report) => Some(serde_json::to_string(&report.exec_type).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(
        exec_types.into_iter().collect::<Vec<_>>().join(" "),
        r#""cancelled" "expired" "fill" "new" "partial_fill" "pending_trigger" "rejected" "replaced" "triggered""#
    );
    let halts: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.body {
            EventBody::TradingStatus(status) => Some((event.time_ms, status.halted, status.resumes_at_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(halts, [(1_500, true, Some(2_500)), (2_500, false, None), (3_000, true, None), (3_100, false, None)]);
    let expired: Vec<_> = reports(&events, "gtd-1").chain(reports(&events, "day-1")).map(|r| r.exec_type).collect();
    assert_eq!(expired, [ExecType::New, ExecType::Expired, ExecType::New, ExecType::Expired]);
}

#[test]
fn same_input_gives_identical_output() {
    let (first, first_result) = run(BASIC);
    let (second, second_result) = run(BASIC);
    assert!(first_result.is_ok());
    assert_eq!(first_result, second_result);
    assert_eq!(first, second);
}

fn order(participant: u32, id: &str, side: Side, qty: u64, order_type: OrderType, tif: TimeInForce) -> Command {
    Command::NewOrder(NewOrder {
        participant: ParticipantId(participant),
        instrument: InstrumentId(0),
        client_order_id: Some(ClientOrderId::parse(id).unwrap()),
        side,
        qty: Qty(qty),
        order_type,
        tif,
        display_qty: None,
        post_only: false,
        stp: StpMode::CancelNewest,
    })
}

#[test]
fn replay_equals_driving_the_engine_directly() {
    let limit = |price| OrderType::Limit { price: Price(price) };
    let script: Vec<(u64, Option<Command>)> = vec![
        (0, Some(order(2, "a1", Side::Sell, 20, limit(10_020), TimeInForce::Gtc))),
        (3, Some(order(1, "b1", Side::Buy, 5, limit(10_020), TimeInForce::Gtc))),
        (3, Some(order(1, "s1", Side::Sell, 7, OrderType::StopMarket { stop_price: Price(10_000) }, TimeInForce::Gtc))),
        (40, Some(order(3, "b2", Side::Buy, 8, limit(10_010), TimeInForce::Gtd { expire_at_ms: 2_500 }))),
        (
            40,
            Some(Command::Amend {
                participant: ParticipantId(2),
                order: OrderRef::ClientOrderId(ClientOrderId::parse("a1").unwrap()),
                qty: Some(Qty(12)),
                price: None,
            }),
        ),
        (120, Some(order(2, "a2", Side::Sell, 10, OrderType::Market, TimeInForce::Ioc))),
        (130, Some(Command::SetTradingStatus { instrument: InstrumentId(0), halted: true })),
        (130, Some(Command::MassCancel { participant: ParticipantId(2), instrument: None, side: None })),
        (2_500, None),
        (6_200, None),
    ];
    let config = SimConfig { scenario: Scenario::Calm, ..SimConfig::default() };
    let seed = 7;

    let mut input = serde_json::json!({ "config": config, "seed": seed }).to_string();
    for (step, command) in &script {
        let line = match command {
            Some(command) => serde_json::json!({ "step": step, "command": command }),
            None => serde_json::json!({ "step": step }),
        };
        input.push('\n');
        input.push_str(&line.to_string());
    }
    let (output, result) = run(&input);
    let summary = result.expect("the script replays");
    let (replayed, _) = parse_output(&output);

    let mut engine = Engine::new(config, seed).unwrap();
    let mut direct = Vec::new();
    for (step, command) in &script {
        engine.advance((step - engine.step()) as u32, &mut direct);
        if let Some(command) = command {
            engine.apply(command, &mut direct);
        }
    }
    assert_eq!(replayed.len(), direct.len());
    assert_eq!(replayed, direct);
    assert_eq!(summary.state_hash, engine.state_hash());
    assert_eq!(summary.last_seq, engine.last_seq());
}

#[test]
fn advances_far_ahead_in_chunks() {
    let input = format!("{HEADER}\n{{\"step\": 12345}}\n");
    let (output, result) = run(&input);
    let summary = result.unwrap();
    assert_eq!((summary.step, summary.time_ms), (12_345, 123_450));
    assert_eq!(output.lines().count(), 1, "an empty market says nothing: {output}");
}

fn new_order_line(step: u64, client_order_id: &str, extra: &str) -> String {
    format!(
        r#"{{"step": {step}, "command": {{"type": "new_order", "participant": 1, "instrument": 0, "client_order_id": "{client_order_id}", "side": "buy", "qty": 1, "order_type": {{"type": "limit", "price": 9900}}, "tif": {{"type": "gtc"}}{extra}}}}}"#
    )
}

fn after_header(lines: &[&str]) -> String {
    std::iter::once(HEADER).chain(lines.iter().copied()).collect::<Vec<_>>().join("\n")
}

fn json_error(line: usize, message: &str) -> ReplayError {
    ReplayError::InvalidJson { line, message: message.into() }
}

#[rstest]
#[case::empty_input("", ReplayError::MissingHeader { line: 1 })]
#[case::only_blank_lines("\n  \n", ReplayError::MissingHeader { line: 3 })]
#[case::step_before_header(r#"{"step": 0}"#, ReplayError::MissingHeader { line: 1 })]
#[case::header_without_seed(r#"{"config": {}}"#, ReplayError::MissingHeader { line: 1 })]
#[case::not_json("hello", json_error(1, "expected value at line 1 column 1"))]
#[case::not_an_object("[1, 2]", json_error(1, "expected an object, found [1,2]"))]
#[case::negative_seed(
    r#"{"seed": -1}"#,
    ReplayError::InvalidHeader { line: 1, message: "`seed` must be an integer from 0 to 18446744073709551615".into() }
)]
#[case::unknown_header_field(r#"{"seed": 1, "speed": 2}"#, ReplayError::UnknownField { line: 1, field: "speed".into() })]
#[case::config_invalid(
    r#"{"seed": 1, "config": {"step_ms": 0}}"#,
    ReplayError::InvalidConfig { line: 1, error: ConfigError::StepOutOfRange }
)]
#[case::config_wrong_type(
    r#"{"seed": 1, "config": {"step_ms": "fast"}}"#,
    ReplayError::MalformedConfig { line: 1, message: r#"invalid type: string "fast", expected u32"#.into() }
)]
#[case::config_unknown_scenario(
    r#"{"seed": 1, "config": {"scenario": "calmer"}}"#,
    ReplayError::MalformedConfig {
        line: 1,
        message: "unknown variant `calmer`, expected one of `calm`, `volatile`, `trending`, `flash_crash`, \
                  `thin_liquidity`, `none`".into()
    }
)]
#[case::config_unknown_field(
    r#"{"seed": 1, "config": {"instruments": [{"symbol": "A", "tick": 5}]}}"#,
    ReplayError::UnknownField { line: 1, field: "config.instruments[0].tick".into() }
)]
#[case::bad_json_later(&after_header(&["", r#"{"step": 1"#]), json_error(3, "EOF while parsing an object at line 1 column 10"))]
#[case::step_missing(
    &after_header(&[r#"{"command": {"type": "set_trading_status", "instrument": 0, "halted": true}}"#]),
    ReplayError::InvalidLine { line: 2, message: "missing `step`".into() }
)]
#[case::step_negative(
    &after_header(&[r#"{"step": -3}"#]),
    ReplayError::InvalidLine { line: 2, message: "`step` must be a non-negative integer, found -3".into() }
)]
#[case::unknown_line_field(&after_header(&[r#"{"step": 1, "comand": {}}"#]), ReplayError::UnknownField { line: 2, field: "comand".into() })]
#[case::second_header(&after_header(&[HEADER]), ReplayError::UnknownField { line: 2, field: "config".into() })]
#[case::step_backwards(
    &after_header(&[r#"{"step": 5}"#, "", r#"{"step": 4}"#]),
    ReplayError::StepBackwards { line: 4, step: 4, previous: 5 }
)]
#[case::unknown_command_type(
    &after_header(&[r#"{"step": 1, "command": {"type": "buy", "qty": 1}}"#]),
    ReplayError::UnknownCommandType { line: 2, found: r#""buy""#.into() }
)]
#[case::command_without_type(
    &after_header(&[r#"{"step": 1, "command": {"participant": 1}}"#]),
    ReplayError::InvalidCommand { line: 2, message: "missing `type`".into() }
)]
#[case::command_not_an_object(
    &after_header(&[r#"{"step": 1, "command": "cancel"}"#]),
    ReplayError::InvalidCommand { line: 2, message: r#"expected an object, found "cancel""#.into() }
)]
#[case::invalid_client_order_id(
    &after_header(&[&new_order_line(1, "my order", "")]),
    ReplayError::InvalidClientOrderId { line: 2, value: "my order".into(), error: ClientOrderIdError::InvalidCharacter }
)]
#[case::empty_client_order_id_in_cancel(
    &after_header(&[r#"{"step": 1, "command": {"type": "cancel", "participant": 1, "order": {"client_order_id": ""}}}"#]),
    ReplayError::InvalidClientOrderId { line: 2, value: String::new(), error: ClientOrderIdError::Empty }
)]
#[case::missing_command_field(
    &after_header(&[r#"{"step": 1, "command": {"type": "cancel", "participant": 1}}"#]),
    ReplayError::InvalidCommand { line: 2, message: "missing field `order`".into() }
)]
#[case::misspelt_command_field(
    &after_header(&[&new_order_line(1, "o-1", r#", "postonly": true"#)]),
    ReplayError::UnknownField { line: 2, field: "command.postonly".into() }
)]
#[case::misspelt_nested_field(
    &after_header(&[r#"{"step": 1, "command": {"type": "new_order", "participant": 1, "instrument": 0, "side": "buy", "qty": 1, "order_type": {"type": "limit", "price": 9900, "stop": 9800}, "tif": {"type": "gtc"}}}"#]),
    ReplayError::UnknownField { line: 2, field: "command.order_type.stop".into() }
)]
fn bad_input_is_refused_with_its_line(#[case] input: &str, #[case] expected: ReplayError) {
    let (output, result) = run(input);
    assert_eq!(result, Err(expected.clone()));
    assert!(expected.is_input_error());
    assert!(!output.contains("\"final\""), "no final line after an error: {output}");
}

#[test]
fn input_that_is_not_utf8_is_refused() {
    let mut input = format!("{HEADER}\n").into_bytes();
    input.extend_from_slice(b"{\"step\": \xff}\n");
    let result = replay(input.as_slice(), Vec::new());
    assert_eq!(result, Err(ReplayError::NotUtf8 { line: 2 }));
}

#[test]
fn error_messages_name_the_line_and_the_problem() {
    let error = run(&after_header(&[r#"{"step": 1, "command": {"type": "buy"}}"#])).1.unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"line 2: unknown command type "buy"; expected one of new_order, cancel, mass_cancel, amend, set_trading_status"#
    );
    let error = run(r#"{"step": 0}"#).1.unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"line 1: expected the header {"config": {...}, "seed": N} (the config may be left out)"#
    );
}

fn binary(args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_tradesim-replay")).args(args).output().expect("the binary runs")
}

#[test]
fn binary_replays_a_file_into_a_file() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/basic.jsonl");
    let out_path = format!("{}/basic-{}.out.jsonl", env!("CARGO_TARGET_TMPDIR"), std::process::id());
    let output = binary(&[example, "-o", &out_path]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stdout.is_empty());
    let written = std::fs::read_to_string(&out_path).unwrap();
    std::fs::remove_file(&out_path).unwrap();
    assert_eq!(written, run(BASIC).0);

    let to_stdout = binary(&[example]);
    assert!(to_stdout.status.success());
    assert_eq!(String::from_utf8(to_stdout.stdout).unwrap(), written);
}

#[test]
fn binary_reads_stdin() {
    let mut child = Process::new(env!("CARGO_BIN_EXE_tradesim-replay"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child.stdin.take().unwrap().write_all(BASIC.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), run(BASIC).0);
}

#[test]
fn binary_exits_2_on_bad_input_without_a_final_line() {
    let path = format!("{}/bad-{}.jsonl", env!("CARGO_TARGET_TMPDIR"), std::process::id());
    std::fs::write(&path, after_header(&[r#"{"step": 3}"#, r#"{"step": 2}"#])).unwrap();
    let output = binary(&[&path]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("line 3: step 2 is before step 3; steps must not go backwards"), "{stderr}");
    assert!(!String::from_utf8(output.stdout).unwrap().contains("\"final\""));
}

#[test]
fn binary_exits_2_on_bad_usage_and_1_on_a_missing_file() {
    assert_eq!(binary(&["--frobnicate"]).status.code(), Some(2));
    assert_eq!(binary(&["a", "b"]).status.code(), Some(2));
    let missing = binary(&["/nonexistent/input.jsonl"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8(missing.stderr).unwrap().contains("cannot open /nonexistent/input.jsonl"));
    assert!(binary(&["--help"]).status.success());
}

/// docs/engine.md quotes output lines of the examples; they must stay what the engine really says. The state hash
/// is masked: it changes with every change to the state's layout, which the events do not.
#[test]
fn docs_quote_real_output() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/engine.md")).unwrap();
    let mask = |line: &str| match line.find(r#""state_hash":""#) {
        Some(at) => format!("{}{}", &line[..at], &line[at + 30..]),
        None => line.to_owned(),
    };
    let outputs: Vec<String> = [run(BASIC).0, run(FEATURES).0].iter().flat_map(|o| o.lines().map(mask)).collect();
    let quoted: Vec<&str> =
        docs.lines().filter(|line| line.starts_with(r#"{"seq":"#) || line.starts_with(r#"{"final":"#)).collect();
    assert!(quoted.len() > 20, "the docs quote events");
    for line in quoted {
        assert!(outputs.contains(&mask(line)), "not in any example's output: {line}");
    }
    assert!(docs.contains(BASIC.trim_end()), "docs/engine.md shows examples/basic.jsonl as it is");
}
