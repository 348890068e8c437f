//! The guest ABI, natively and as the release wasm module in the host's sandbox: random differential runs, snapshots
//! crossing between the two, refused frames, and a module that imports nothing.
//!
//! Needs the module built first (`make guest`); see `support::wasm_host::module_path`.

mod support;

use support::commands::CommandGen;
use support::wasm_host::{self, Outcome, WasmGuest};
use tradesim_guest::{Guest, GuestError};
use tradesim_protocol::ViewRequest;
use tradesim_protocol::codec::{self, FrameKind};
use tradesim_protocol::{
    AccountConfig, Batch, CircuitBreaker, Command, Event, EventBody, ExecType, InstrumentConfig, NewOrder, OrderType,
    ParticipantId, Price, Qty, RejectReason, RequestKind, Scenario, Side, SimConfig, StpMode, TimeInForce,
};

/// The two ways to reach a guest, with owned outputs so they compare side by side.
trait Abi {
    fn init(&mut self, frame: &[u8], seed: u64) -> Result<Vec<u8>, (u32, String)>;
    fn execute(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)>;
    fn snapshot(&mut self) -> Result<Vec<u8>, (u32, String)>;
    fn restore(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)>;
    fn view(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)>;
    fn state_hash(&mut self) -> Result<u64, String>;
}

/// Maps a native guest result to the same shape as a wasm one.
fn native_outcome(result: Result<&[u8], GuestError>) -> Outcome<'_> {
    result.map_err(|error| (error.status(), error.to_string()))
}

fn owned(outcome: Outcome<'_>) -> Result<Vec<u8>, (u32, String)> {
    outcome.map(<[u8]>::to_vec)
}

impl Abi for Guest {
    fn init(&mut self, frame: &[u8], seed: u64) -> Result<Vec<u8>, (u32, String)> {
        owned(native_outcome(self.handle_init(frame, seed)))
    }
    fn execute(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)> {
        owned(native_outcome(self.handle_execute(frame)))
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, (u32, String)> {
        owned(native_outcome(self.handle_snapshot()))
    }
    fn restore(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)> {
        owned(native_outcome(self.handle_restore(frame)))
    }
    fn view(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)> {
        owned(native_outcome(self.handle_view(frame)))
    }
    fn state_hash(&mut self) -> Result<u64, String> {
        self.handle_state_hash().map_err(|error| error.to_string())
    }
}

impl Abi for WasmGuest {
    fn init(&mut self, frame: &[u8], seed: u64) -> Result<Vec<u8>, (u32, String)> {
        owned(WasmGuest::init(self, frame, seed))
    }
    fn execute(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)> {
        owned(WasmGuest::execute(self, frame))
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, (u32, String)> {
        WasmGuest::snapshot(self)
    }
    fn restore(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)> {
        // The sandbox checks that a restore leaves no output; success has none, like the native guest's.
        WasmGuest::restore(self, frame).map(|()| Vec::new())
    }
    fn view(&mut self, frame: &[u8]) -> Result<Vec<u8>, (u32, String)> {
        owned(WasmGuest::view(self, frame))
    }
    fn state_hash(&mut self) -> Result<u64, String> {
        WasmGuest::state_hash(self)
    }
}

/// Two instruments: a plain one, and one with coarser ticks and lots and a circuit breaker. Short trading days so
/// DAY orders expire within a run.
fn test_config(scenario: Scenario) -> SimConfig {
    // Tight risk limits, so the workload reaches them.
    let account = AccountConfig {
        initial_cash: 20_000_000,
        max_notional: 30_000_000,
        max_position: 5_000,
        leverage_bps: 10_000,
        ..AccountConfig::default()
    };
    let mut config = SimConfig { scenario, trading_day_ms: 60_000, account, ..SimConfig::default() };
    config.instruments.push(InstrumentConfig {
        symbol: "ALT".to_owned(),
        price_decimals: 2,
        tick_size: Price(5),
        lot_size: Qty(10),
        reference_price: Price(5_000),
        price_band_bps: 500,
        circuit_breaker: Some(CircuitBreaker { move_bps: 500, window_ms: 5_000, halt_ms: 2_000 }),
    });
    config
}

fn config_frame(scenario: Scenario) -> Vec<u8> {
    codec::encode(FrameKind::Config, &test_config(scenario))
}

fn events(frame: &[u8]) -> Vec<Event> {
    codec::decode(FrameKind::Events, frame).expect("an Events frame")
}

/// Asserts equal event frames, naming the first differing event instead of dumping bytes.
fn assert_same_events(context: &str, left: &[u8], right: &[u8]) {
    if left == right {
        return;
    }
    let (left, right) = (events(left), events(right));
    let index = left.iter().zip(&right).position(|(l, r)| l != r).unwrap_or(left.len().min(right.len()));
    panic!(
        "{context}: event streams differ at index {index} ({} vs {} events):\n  {:?}\n  {:?}",
        left.len(),
        right.len(),
        left.get(index),
        right.get(index)
    );
}

/// Feeds the same random batches to every guest, checking after each batch that all emitted the same bytes and
/// agree on the state hash; the generator follows the first guest's events. Returns every event seen.
fn run_together(guests: &mut [&mut dyn Abi], generator: &mut CommandGen, commands: usize, seen: &mut Vec<Event>) {
    let mut sent = 0;
    let mut batch_index = 0_usize;
    while sent < commands {
        let batch = generator.next_batch();
        sent += batch.commands.len();
        let frame = codec::encode(FrameKind::Batch, &batch);
        let (first, rest) = guests.split_first_mut().expect("at least one guest");
        let expected = first.execute(&frame).unwrap_or_else(|error| panic!("batch {batch_index}: {error:?}"));
        for (other, guest) in rest.iter_mut().enumerate() {
            let context = format!("batch {batch_index}, guest {}", other + 1);
            let output = guest.execute(&frame).unwrap_or_else(|error| panic!("{context}: {error:?}"));
            assert_same_events(&context, &expected, &output);
        }
        // Hashing costs O(state), which includes every client order id ever used: check now and then, and last.
        if batch_index.is_multiple_of(16) || sent >= commands {
            let expected_hash = first.state_hash().expect("state hash");
            for (other, guest) in rest.iter_mut().enumerate() {
                assert_eq!(
                    guest.state_hash(),
                    Ok(expected_hash),
                    "batch {batch_index}, guest {}: state hash",
                    other + 1
                );
            }
        }
        if batch_index.is_multiple_of(64) {
            let participant = [ParticipantId::USER, ParticipantId(3)][batch_index / 64 % 2];
            let request = codec::encode(FrameKind::ViewRequest, &ViewRequest { participant, depth: 10 });
            let view = first.view(&request).expect("view");
            for guest in rest.iter_mut() {
                assert!(guest.view(&request).expect("view") == view, "batch {batch_index}: views differ");
            }
        }
        let batch_events = events(&expected);
        // The guest writes Events frames with a hand-written encoder: it must be bincode's encoding to the byte.
        assert!(
            codec::encode(FrameKind::Events, &batch_events) == expected,
            "batch {batch_index}: the guest's Events frame differs from the derived encoding"
        );
        generator.observe(&batch_events);
        seen.extend(batch_events);
        batch_index += 1;
    }
}

fn differential(scenario: Scenario, seed: u64, commands: usize) -> Vec<Event> {
    let config = config_frame(scenario);
    let mut native = Guest::new();
    let mut wasm = WasmGuest::new();
    assert_eq!(Abi::init(&mut native, &config, seed), Ok(Vec::new()));
    assert_eq!(Abi::init(&mut wasm, &config, seed), Ok(Vec::new()));
    let mut generator = CommandGen::new(&test_config(scenario), seed);
    let mut seen = Vec::new();
    run_together(&mut [&mut native, &mut wasm], &mut generator, commands, &mut seen);
    assert_eq!(Abi::snapshot(&mut native), Abi::snapshot(&mut wasm), "final snapshots");
    seen
}

fn exec_types(events: &[Event]) -> Vec<ExecType> {
    let mut types: Vec<ExecType> = Vec::new();
    for event in events {
        if let EventBody::ExecutionReport(report) = &event.body
            && !types.contains(&report.exec_type)
        {
            types.push(report.exec_type);
        }
    }
    types
}

#[test]
fn wasm_matches_native_on_random_commands_without_agents() {
    let seen = differential(Scenario::None, 11, 100_000);
    // The workload really reached every order path.
    let types = exec_types(&seen);
    for expected in [
        ExecType::New,
        ExecType::PendingTrigger,
        ExecType::Triggered,
        ExecType::PartialFill,
        ExecType::Fill,
        ExecType::Cancelled,
        ExecType::Expired,
        ExecType::Replaced,
        ExecType::Rejected,
    ] {
        assert!(types.contains(&expected), "no {expected:?} report in the run; saw {types:?}");
    }
    for request in [RequestKind::Cancel, RequestKind::Amend] {
        assert!(
            seen.iter().any(|e| matches!(&e.body, EventBody::RequestRejected(r) if r.request == request)),
            "no rejected {request:?} in the run"
        );
    }
    let kinds = |f: fn(&EventBody) -> bool| seen.iter().filter(|e| f(&e.body)).count();
    assert!(kinds(|b| matches!(b, EventBody::Trade(_))) > 1_000);
    assert!(kinds(|b| matches!(b, EventBody::Candle(_))) > 0);
    assert!(kinds(|b| matches!(b, EventBody::TradingStatus(_))) > 0);
    assert!(kinds(|b| matches!(b, EventBody::QueuePosition(_))) > 0);
}

#[test]
fn wasm_matches_native_on_random_commands_in_a_calm_market() {
    differential(Scenario::Calm, 12, 100_000);
    // The agents really ran: time alone moves the book.
    let mut guest = Guest::new();
    Abi::init(&mut guest, &config_frame(Scenario::Calm), 12).expect("init");
    let quiet =
        Abi::execute(&mut guest, &codec::encode(FrameKind::Batch, &Batch { commands: Vec::new(), steps: 1_000 }));
    let quiet = events(&quiet.expect("execute"));
    assert!(quiet.iter().any(|e| matches!(e.body, EventBody::Trade(_))), "no agent trades in 10 simulated seconds");
}

#[test]
fn snapshots_cross_between_wasm_and_native() {
    let config = config_frame(Scenario::Calm);
    let mut generator = CommandGen::new(&test_config(Scenario::Calm), 21);
    let mut seen = Vec::new();
    let mut native = Guest::new();
    let mut wasm = WasmGuest::new();
    Abi::init(&mut native, &config, 21).expect("init");
    Abi::init(&mut wasm, &config, 21).expect("init");
    run_together(&mut [&mut native, &mut wasm], &mut generator, 5_000, &mut seen);

    // wasm -> native: the restored guest continues exactly like the two that never stopped.
    let wasm_snapshot = Abi::snapshot(&mut wasm).expect("snapshot");
    assert_eq!(Abi::snapshot(&mut native), Ok(wasm_snapshot.clone()), "snapshots are the same bytes");
    assert_eq!(native.engine().map(|e| e.snapshot()), Some(wasm_snapshot.clone()), "it is Engine::snapshot");
    let mut from_wasm = Guest::new();
    assert_eq!(Abi::restore(&mut from_wasm, &wasm_snapshot), Ok(Vec::new()));
    assert_eq!(Abi::state_hash(&mut from_wasm), Abi::state_hash(&mut wasm));
    run_together(&mut [&mut wasm, &mut from_wasm, &mut native], &mut generator, 5_000, &mut seen);

    // native -> wasm, into a fresh instance that never saw init.
    let native_snapshot = Abi::snapshot(&mut native).expect("snapshot");
    let mut from_native = WasmGuest::new();
    assert_eq!(Abi::restore(&mut from_native, &native_snapshot), Ok(Vec::new()));
    run_together(&mut [&mut native, &mut from_native, &mut wasm, &mut from_wasm], &mut generator, 5_000, &mut seen);
}

fn one_order_batch() -> Vec<u8> {
    let order = NewOrder {
        participant: ParticipantId::USER,
        instrument: tradesim_protocol::InstrumentId(0),
        client_order_id: None,
        side: Side::Buy,
        qty: Qty(5),
        order_type: OrderType::Limit { price: Price(9_990) },
        tif: TimeInForce::Gtc,
        display_qty: None,
        post_only: false,
        stp: StpMode::CancelNewest,
    };
    codec::encode(FrameKind::Batch, &Batch { commands: vec![Command::NewOrder(order)], steps: 2 })
}

/// Every refused input gives its status and message and leaves the guest exactly as it was; afterwards the guest
/// behaves like one that never saw them.
fn refuses_bad_frames(guest: &mut dyn Abi) {
    let not_initialized = Err((GuestError::STATUS_NOT_INITIALIZED, GuestError::NotInitialized.to_string()));
    let batch = one_order_batch();
    let view = codec::encode(FrameKind::ViewRequest, &ViewRequest { participant: ParticipantId::USER, depth: 5 });
    assert_eq!(guest.execute(&batch), not_initialized);
    assert_eq!(guest.snapshot(), not_initialized);
    assert_eq!(guest.view(&view), not_initialized);
    assert_eq!(guest.state_hash(), Err(GuestError::NotInitialized.to_string()));

    let config = config_frame(Scenario::None);
    let mut invalid_config = test_config(Scenario::None);
    invalid_config.step_ms = 0;
    let invalid_config = codec::encode(FrameKind::Config, &invalid_config);
    assert_eq!(
        guest.init(&invalid_config, 1),
        Err((GuestError::STATUS_CONFIG, "invalid config: step_ms must be between 1 and 1000".to_owned()))
    );
    assert_eq!(guest.init(&batch, 1).map_err(|e| e.0), Err(GuestError::STATUS_FRAME));
    assert_eq!(guest.restore(b"garbage").map_err(|e| e.0), Err(GuestError::STATUS_SNAPSHOT));
    assert_eq!(guest.execute(&batch), not_initialized, "failed init and restore left no engine");

    guest.init(&config, 7).expect("init");
    let hash = guest.state_hash().expect("state hash");
    let snapshot = guest.snapshot().expect("snapshot");

    let mut wrong_version = batch.clone();
    wrong_version[3] = 9;
    let mut trailing = batch.clone();
    trailing.push(0);
    let mut bad_body = batch[..5].to_vec();
    bad_body.extend_from_slice(&[0xff; 12]);
    let bad_frames: [(&str, Vec<u8>, &str); 8] = [
        ("empty", Vec::new(), "bad input frame: frame is shorter than its header"),
        ("garbage", b"hello, guest".to_vec(), "bad input frame: frame does not start with the tradesim magic"),
        ("header only", batch[..4].to_vec(), "bad input frame: frame is shorter than its header"),
        ("wrong kind", config.clone(), "bad input frame: expected a Batch frame, got kind 4"),
        ("wrong version", wrong_version, "bad input frame: frame has protocol version 9, this build speaks 1"),
        ("trailing bytes", trailing, "bad input frame: frame has 1 bytes after its body"),
        ("truncated body", batch[..batch.len() - 3].to_vec(), ""),
        ("bad body", bad_body, ""),
    ];
    for (name, frame, message) in &bad_frames {
        let (status, text) = guest.execute(frame).expect_err(name);
        assert_eq!(status, GuestError::STATUS_FRAME, "{name}");
        assert!(text.starts_with("bad input frame: "), "{name}: {text}");
        if !message.is_empty() {
            assert_eq!(&text, message, "{name}");
        }
        assert_eq!(guest.state_hash(), Ok(hash), "{name} changed the state");
    }
    assert_eq!(guest.view(&batch).map_err(|e| e.0), Err(GuestError::STATUS_FRAME));
    assert_eq!(guest.init(&invalid_config, 1).map_err(|e| e.0), Err(GuestError::STATUS_CONFIG));
    let mut bad_snapshot = snapshot.clone();
    bad_snapshot.truncate(bad_snapshot.len() / 2);
    assert_eq!(guest.restore(&bad_snapshot).map_err(|e| e.0), Err(GuestError::STATUS_SNAPSHOT));
    assert_eq!(guest.restore(&batch).map_err(|e| e.0), Err(GuestError::STATUS_SNAPSHOT));
    assert_eq!(guest.snapshot(), Ok(snapshot), "refused inputs changed the state");

    let mut pristine = Guest::new();
    Abi::init(&mut pristine, &config, 7).expect("init");
    let expected = Abi::execute(&mut pristine, &batch).expect("execute");
    assert_same_events("after refused frames", &expected, &guest.execute(&batch).expect("execute"));
    assert_eq!(guest.state_hash(), Abi::state_hash(&mut pristine));
}

#[test]
fn native_guest_refuses_bad_frames() {
    refuses_bad_frames(&mut Guest::new());
}

#[test]
fn wasm_guest_refuses_bad_frames() {
    refuses_bad_frames(&mut WasmGuest::new());
}

#[test]
fn rejected_orders_are_events_not_errors() {
    // An invalid command is the engine's business (a rejected report), not a refused frame.
    let mut guest = Guest::new();
    Abi::init(&mut guest, &config_frame(Scenario::None), 3).expect("init");
    let mut batch: Batch = codec::decode(FrameKind::Batch, &one_order_batch()).expect("batch");
    let Command::NewOrder(order) = &mut batch.commands[0] else { unreachable!() };
    order.qty = Qty(0);
    let output = Abi::execute(&mut guest, &codec::encode(FrameKind::Batch, &batch)).expect("execute");
    let reports: Vec<_> = events(&output)
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::ExecutionReport(report) => Some(report.reject_reason),
            _ => None,
        })
        .collect();
    assert_eq!(reports, [Some(RejectReason::InvalidOrder)]);
}

#[test]
fn module_imports_nothing_and_exports_the_abi() {
    // The sandbox links no imports (no clock, no randomness) and checks every export's signature on a trial
    // instance: loading it is the check, as it is for the host.
    wasm_host::sandbox();
    let mut guest = WasmGuest::new();
    assert_eq!(guest.state_hash(), Err(GuestError::NotInitialized.to_string()));
}
