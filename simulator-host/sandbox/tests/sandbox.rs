//! The sandbox with the real guest module (differential against the native engine, errors, capacity, the disk
//! cache, limits) and with purpose-built bad guests written in WAT that loop, grow memory or trap.
//!
//! Needs the guest module built first (`make guest`); see `tradesim_sandbox::default_guest_path`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tradesim_core::Engine;
use tradesim_guest::{Guest, GuestError};
use tradesim_protocol::codec::{self, FrameKind};
use tradesim_protocol::{
    Batch, ClientOrderId, Command, InstrumentId, NewOrder, OrderType, ParticipantId, Price, Qty, Scenario, Side,
    SimConfig, StpMode, TimeInForce, ViewRequest,
};
use tradesim_sandbox::{Instance, Sandbox, SandboxConfig, SandboxError, default_guest_path};

const SEED: u64 = 42;

fn guest_wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let path = default_guest_path();
        std::fs::read(&path).unwrap_or_else(|error| {
            panic!("guest module {} is missing ({error}); run `make guest` first", path.display())
        })
    })
}

/// A small pool: every test builds its own sandbox, and the tests run in parallel.
fn small_config() -> SandboxConfig {
    SandboxConfig { max_instances: 16, ..SandboxConfig::default() }
}

/// A sandbox of the real guest, compiled once per module build thanks to a cache shared by the tests.
fn guest_sandbox(config: SandboxConfig) -> Sandbox {
    let cache_dir =
        config.cache_dir.clone().or_else(|| Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-cache")));
    Sandbox::new(SandboxConfig { cache_dir, ..config }, guest_wasm()).expect("the guest module loads")
}

fn calm() -> SimConfig {
    SimConfig { scenario: Scenario::Calm, ..SimConfig::default() }
}

fn user_limit(id: &str, side: Side, price: i64) -> Command {
    Command::NewOrder(NewOrder {
        participant: ParticipantId::USER,
        instrument: InstrumentId(0),
        client_order_id: Some(ClientOrderId::parse(id).expect("valid id")),
        side,
        qty: Qty(5),
        order_type: OrderType::Limit { price: Price(price) },
        tif: TimeInForce::Gtc,
        display_qty: None,
        post_only: false,
        stp: StpMode::CancelOldest,
    })
}

fn batches() -> Vec<Batch> {
    vec![
        Batch { commands: vec![], steps: 100 },
        Batch { commands: vec![user_limit("b1", Side::Buy, 9_990), user_limit("s1", Side::Sell, 10_000)], steps: 50 },
        Batch { commands: vec![user_limit("b2", Side::Buy, 10_020)], steps: 500 },
        Batch { commands: vec![], steps: 1_000 },
    ]
}

/// A module with the guest's exports whose `execute` is `execute_body` and whose output is `output_len` bytes at
/// `output_ptr` (bytes 16.. hold "not a frame").
fn bad_guest(execute_body: &str, output_ptr: u32, output_len: u32) -> Vec<u8> {
    let wat = format!(
        r#"(module
            (memory (export "memory") 1)
            (data (i32.const 16) "not a frame")
            (func (export "alloc") (param i32) (result i32) i32.const 1024)
            (func (export "dealloc") (param i32 i32))
            (func (export "init") (param i32 i32 i64) (result i32) i32.const 0)
            (func (export "execute") (param i32 i32) (result i32) {execute_body})
            (func (export "snapshot") (result i32) i32.const 0)
            (func (export "restore") (param i32 i32) (result i32) i32.const 0)
            (func (export "view") (param i32 i32) (result i32) i32.const 0)
            (func (export "state_hash") (result i64) i64.const 7)
            (func (export "output_ptr") (result i32) i32.const {output_ptr})
            (func (export "output_len") (result i32) i32.const {output_len}))"#
    );
    wat::parse_str(wat).expect("valid WAT")
}

const LOOPS: &str = "(loop $spin (br $spin)) i32.const 0";
/// Grows until refused, then aborts as Rust's allocator does on exhaustion.
const GROWS_THEN_ABORTS: &str =
    "(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable";
/// Ignores refusals and keeps asking until the deadline stops it.
const GROWS_FOREVER: &str = "(loop $grow (drop (memory.grow (i32.const 16))) (br $grow)) i32.const 0";
const TRAPS: &str = "unreachable";
/// Counts down from forty million: about 20 ms of work here, which ends by itself.
const COUNTS_DOWN: &str = "(local $n i32) (local.set $n (i32.const 40000000))
    (loop $down (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $down (local.get $n))) i32.const 0";

fn bad_sandbox(execute_body: &str) -> Sandbox {
    let config = SandboxConfig { call_deadline: Duration::from_millis(50), ..small_config() };
    Sandbox::new(config, &bad_guest(execute_body, 0, 0)).expect("the bad guest loads")
}

fn assert_poisoned(instance: &mut Instance) {
    let mut events = Vec::new();
    assert_eq!(instance.execute(&Batch::default(), &mut events), Err(SandboxError::Poisoned));
    assert_eq!(instance.init(&calm(), SEED), Err(SandboxError::Poisoned));
    assert_eq!(instance.snapshot(), Err(SandboxError::Poisoned));
    assert_eq!(instance.restore(b"TS"), Err(SandboxError::Poisoned));
    assert_eq!(instance.state_hash(), Err(SandboxError::Poisoned));
    let request = ViewRequest { participant: ParticipantId::USER, depth: 5 };
    assert_eq!(instance.view(request), Err(SandboxError::Poisoned));
    assert!(events.is_empty());
}

#[test]
fn matches_the_native_engine() {
    let sandbox = guest_sandbox(small_config());
    let mut instance = sandbox.instantiate().expect("instance");
    let mut native = Engine::new(calm(), SEED).expect("valid config");
    instance.init(&calm(), SEED).expect("init");

    let (mut events, mut native_events) = (Vec::new(), Vec::new());
    for batch in batches() {
        instance.execute(&batch, &mut events).expect("execute");
        native.execute(&batch, &mut native_events);
    }
    assert!(events.len() > 100, "the calm market trades: only {} events", events.len());
    assert_eq!(events, native_events);
    assert_eq!(instance.state_hash(), Ok(native.state_hash()));
    for depth in [0, 3, 50] {
        let request = ViewRequest { participant: ParticipantId::USER, depth };
        assert_eq!(instance.view(request), Ok(native.view(ParticipantId::USER, depth as usize)));
    }

    // A snapshot carried into a new instance continues exactly as the native engine does.
    let snapshot = instance.snapshot().expect("snapshot");
    assert_eq!(snapshot, native.snapshot());
    let mut restored = sandbox.instantiate().expect("second instance");
    restored.restore(&snapshot).expect("restore");
    assert_eq!(restored.state_hash(), Ok(native.state_hash()));
    let next = Batch { commands: vec![user_limit("s2", Side::Sell, 9_980)], steps: 200 };
    let (mut continued, mut native_continued) = (Vec::new(), Vec::new());
    restored.execute(&next, &mut continued).expect("execute after restore");
    native.execute(&next, &mut native_continued);
    assert_eq!(continued, native_continued);
    assert_eq!(restored.state_hash(), Ok(native.state_hash()));

    // execute appends: earlier events stay in place.
    let mut appended = vec![native_events[0].clone()];
    instance.execute(&next, &mut appended).expect("execute");
    assert_eq!(appended[1..], native_continued[..]);
}

#[test]
fn guest_errors_carry_the_guest_status_and_poison_nothing() {
    let sandbox = guest_sandbox(small_config());
    let mut instance = sandbox.instantiate().expect("instance");
    let not_initialized = SandboxError::Guest {
        status: GuestError::STATUS_NOT_INITIALIZED,
        message: GuestError::NotInitialized.to_string(),
    };
    let mut events = Vec::new();
    assert_eq!(instance.execute(&Batch::default(), &mut events), Err(not_initialized.clone()));
    assert_eq!(instance.state_hash(), Err(not_initialized.clone()));
    assert_eq!(instance.snapshot(), Err(not_initialized.clone()));
    let request = ViewRequest { participant: ParticipantId::USER, depth: 5 };
    assert_eq!(instance.view(request), Err(not_initialized));

    // The same status and message as the native guest's for a refused snapshot and config.
    let mut native = Guest::new();
    let expected = native.handle_restore(b"TS not a snapshot").map(drop).expect_err("refused natively");
    let restored = instance.restore(b"TS not a snapshot");
    assert_eq!(restored, Err(SandboxError::Guest { status: expected.status(), message: expected.to_string() }));
    let invalid = SimConfig { step_ms: 0, ..calm() };
    let expected = native.handle_init(&codec::encode(FrameKind::Config, &invalid), SEED).map(drop).expect_err("bad");
    assert_eq!(
        instance.init(&invalid, SEED),
        Err(SandboxError::Guest { status: expected.status(), message: expected.to_string() })
    );

    // None of that poisoned the instance.
    instance.init(&calm(), SEED).expect("init after refusals");
    instance.execute(&Batch { commands: vec![], steps: 10 }, &mut events).expect("execute");
    assert!(!events.is_empty());
}

#[test]
fn undecodable_guest_output_is_a_protocol_error() {
    let mut events = Vec::new();
    // Success with garbage where the Events frame should be.
    let sandbox = Sandbox::new(small_config(), &bad_guest("i32.const 0", 16, 11)).expect("loads");
    let mut instance = sandbox.instantiate().expect("instance");
    assert!(matches!(instance.execute(&Batch::default(), &mut events), Err(SandboxError::Protocol(_))));
    assert!(matches!(instance.snapshot(), Err(SandboxError::Protocol(_))));
    let request = ViewRequest { participant: ParticipantId::USER, depth: 1 };
    assert!(matches!(instance.view(request), Err(SandboxError::Protocol(_))));
    // A failed state_hash call must leave an Error frame, not garbage.
    assert!(matches!(instance.state_hash(), Err(SandboxError::Protocol(_))));

    // A nonzero status without an Error frame.
    let sandbox = Sandbox::new(small_config(), &bad_guest("i32.const 9", 16, 11)).expect("loads");
    let mut instance = sandbox.instantiate().expect("instance");
    let result = instance.execute(&Batch::default(), &mut events);
    assert!(matches!(&result, Err(SandboxError::Protocol(m)) if m.contains("status 9")), "{result:?}");

    // An output range outside the guest's memory.
    let sandbox = Sandbox::new(small_config(), &bad_guest("i32.const 0", 65_000, 1_000)).expect("loads");
    let mut instance = sandbox.instantiate().expect("instance");
    assert!(matches!(instance.execute(&Batch::default(), &mut events), Err(SandboxError::Protocol(_))));

    // Protocol errors do not poison: the guest ran to completion.
    assert_eq!(
        instance.init(&calm(), SEED),
        Err(SandboxError::Protocol("output 65000+1000 lies outside the guest's memory".to_owned()))
    );
    assert!(events.is_empty());
}

#[test]
fn a_module_that_is_not_a_guest_is_refused_up_front() {
    let no_exports = wat::parse_str("(module (memory (export \"memory\") 1))").expect("valid WAT");
    assert!(matches!(Sandbox::new(small_config(), &no_exports), Err(SandboxError::Instantiate(_))));
    let imports = wat::parse_str("(module (import \"env\" \"clock\" (func)))").expect("valid WAT");
    assert!(matches!(Sandbox::new(small_config(), &imports), Err(SandboxError::Instantiate(_))));
    assert!(matches!(Sandbox::new(small_config(), b"not wasm"), Err(SandboxError::Compile(_))));
    let missing = PathBuf::from("/nonexistent/tradesim_guest.wasm");
    assert!(
        matches!(Sandbox::from_file(small_config(), &missing), Err(SandboxError::Compile(m)) if m.contains("nonexistent"))
    );
}

#[test]
fn a_full_pool_refuses_until_an_instance_drops() {
    let sandbox = guest_sandbox(SandboxConfig { max_instances: 2, ..SandboxConfig::default() });
    assert_eq!(sandbox.live_instances(), 0);
    let first = sandbox.instantiate().expect("first slot");
    let clone = sandbox.clone();
    let mut second = clone.instantiate().expect("second slot");
    assert_eq!(sandbox.live_instances(), 2);
    assert_eq!(sandbox.instantiate().map(drop), Err(SandboxError::CapacityExhausted));

    drop(first);
    assert_eq!(sandbox.live_instances(), 1);
    let mut third = sandbox.instantiate().expect("the freed slot");
    third.init(&calm(), SEED).expect("init in a reused slot");
    second.init(&calm(), SEED).expect("init");
    assert_eq!(third.state_hash(), second.state_hash());
}

#[test]
fn the_compiled_module_is_cached_on_disk_once() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-cache-test");
    let _ = std::fs::remove_dir_all(&dir);
    let config = SandboxConfig { cache_dir: Some(dir.clone()), ..small_config() };
    let artifacts = || -> Vec<(PathBuf, std::time::SystemTime)> {
        let mut found: Vec<_> = std::fs::read_dir(&dir)
            .expect("cache dir exists")
            .map(|entry| entry.expect("dir entry").path())
            .map(|path| {
                let modified = std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime");
                (path, modified)
            })
            .collect();
        found.sort();
        found
    };

    drop(guest_sandbox(config.clone()));
    let written = artifacts();
    assert_eq!(written.len(), 1, "one artifact and no temp files: {written:?}");
    assert!(written[0].0.extension().is_some_and(|ext| ext == "cwasm"));

    std::thread::sleep(Duration::from_millis(20)); // so a rewrite would show in the mtime
    let sandbox = guest_sandbox(config.clone());
    assert_eq!(artifacts(), written, "the second sandbox loads the artifact without rewriting it");
    let mut instance = sandbox.instantiate().expect("instance from the cached module");
    instance.init(&calm(), SEED).expect("init");
    let native = Engine::new(calm(), SEED).expect("valid config");
    assert_eq!(instance.state_hash(), Ok(native.state_hash()));

    // A damaged artifact is recompiled and replaced, never trusted. It is replaced by a rename, as the cache itself
    // does: a loaded module maps its artifact, so writing into that file in place would pull code from under it.
    drop((instance, sandbox));
    let damaged = dir.join("damaged");
    std::fs::write(&damaged, b"damaged").expect("write");
    std::fs::rename(&damaged, &written[0].0).expect("replace");
    let sandbox = guest_sandbox(config);
    let mut instance = sandbox.instantiate().expect("instance");
    instance.init(&calm(), SEED).expect("init");
    let replaced = artifacts();
    assert_eq!(replaced.len(), 1);
    assert!(std::fs::metadata(&replaced[0].0).expect("artifact").len() > 1_000);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn a_looping_guest_hits_the_deadline_and_only_its_instance_dies() {
    let sandbox = bad_sandbox(LOOPS);
    let mut looping = sandbox.instantiate().expect("instance");
    let mut bystander = sandbox.instantiate().expect("instance");
    assert_eq!(looping.execute(&Batch::default(), &mut Vec::new()), Err(SandboxError::Deadline));
    assert_poisoned(&mut looping);
    bystander.init(&calm(), SEED).expect("the other instance carries on");
    assert_eq!(bystander.state_hash(), Ok(7));

    // The real guest under a tight deadline: a very long batch is cut off.
    let sandbox = guest_sandbox(SandboxConfig { call_deadline: Duration::from_millis(20), ..small_config() });
    let mut instance = sandbox.instantiate().expect("instance");
    instance.init(&calm(), SEED).expect("init");
    let endless = Batch { commands: vec![], steps: u32::MAX };
    assert_eq!(instance.execute(&endless, &mut Vec::new()), Err(SandboxError::Deadline));
    assert_poisoned(&mut instance);
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(time.tv_sec.unsigned_abs(), u32::try_from(time.tv_nsec).expect("nanoseconds"))
}

#[test]
fn a_call_slowed_down_by_preemption_is_not_failed_while_its_cpu_time_is_within_the_deadline() {
    use rustix::thread::{CpuSet, gettid, sched_getaffinity, sched_setaffinity};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    // Well above the call's own CPU time (about 30-50 ms in a debug build), so only the deadline's clock can fail it.
    let deadline = Duration::from_millis(200);
    let sandbox =
        Sandbox::new(SandboxConfig { call_deadline: deadline, ..small_config() }, &bad_guest(COUNTS_DOWN, 0, 0))
            .expect("the guest loads");
    // The call's thread shares one core with a thread that never yields, at the lowest priority: it gets about
    // 1.5% of that core, as a host thread might on an overloaded machine.
    let allowed = sched_getaffinity(None).expect("the affinity mask");
    let core = (0..CpuSet::MAX_CPU).find(|&cpu| allowed.is_set(cpu)).expect("a core");
    let mut one_core = CpuSet::new();
    one_core.set(core);
    let (stop, spinning) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let hog = {
        let (stop, spinning) = (Arc::clone(&stop), Arc::clone(&spinning));
        std::thread::spawn(move || {
            sched_setaffinity(None, &one_core).expect("pinning the busy thread");
            spinning.store(true, Ordering::Relaxed);
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    while !spinning.load(Ordering::Relaxed) {
        std::thread::yield_now();
    }
    let (result, wall, cpu) = std::thread::spawn(move || {
        sched_setaffinity(None, &one_core).expect("pinning the call's thread");
        rustix::process::setpriority_process(Some(gettid()), 19).expect("lowering the call's priority");
        let mut instance = sandbox.instantiate().expect("instance");
        let (started, cpu_before) = (std::time::Instant::now(), thread_cpu_time());
        let result = instance.execute_frame(&[]).map(<[u8]>::to_vec);
        (result, started.elapsed(), thread_cpu_time() - cpu_before)
    })
    .join()
    .expect("the call's thread");
    stop.store(true, Ordering::Relaxed);
    hog.join().expect("the busy thread");
    // Without these the test would show nothing: the call took longer than its deadline, yet used less CPU.
    assert!(wall > deadline && cpu < deadline, "wall {wall:?}, CPU {cpu:?}, deadline {deadline:?}");
    assert_eq!(result, Ok(Vec::new()), "wall {wall:?}, CPU {cpu:?}");
}

#[test]
fn a_guest_growing_without_end_hits_the_memory_limit() {
    for body in [GROWS_THEN_ABORTS, GROWS_FOREVER] {
        let sandbox = bad_sandbox(body);
        let mut growing = sandbox.instantiate().expect("instance");
        let mut bystander = sandbox.instantiate().expect("instance");
        assert_eq!(growing.execute(&Batch::default(), &mut Vec::new()), Err(SandboxError::MemoryLimit), "{body}");
        assert!(growing.memory_bytes() <= SandboxConfig::default().memory_limit_bytes);
        assert!(growing.memory_bytes() > SandboxConfig::default().memory_limit_bytes / 2);
        assert_poisoned(&mut growing);
        bystander.init(&calm(), SEED).expect("the other instance carries on");
        assert_eq!(bystander.memory_bytes(), 65_536);
    }

    // The real guest with too little memory for its events: its allocator aborts after the refused grow.
    let start = guest_sandbox(small_config()).instantiate().expect("instance").memory_bytes();
    let config = SandboxConfig {
        memory_limit_bytes: start + (1 << 20),
        call_deadline: Duration::from_secs(10), // memory must run out first
        ..small_config()
    };
    let sandbox = guest_sandbox(config);
    let mut instance = sandbox.instantiate().expect("instance");
    instance.init(&calm(), SEED).expect("init");
    let long = Batch { commands: vec![], steps: 200_000 };
    assert_eq!(instance.execute(&long, &mut Vec::new()), Err(SandboxError::MemoryLimit));
    assert_poisoned(&mut instance);
}

#[test]
fn a_trapping_guest_reports_the_trap_then_is_poisoned() {
    let sandbox = bad_sandbox(TRAPS);
    let mut trapping = sandbox.instantiate().expect("instance");
    let result = trapping.execute(&Batch::default(), &mut Vec::new());
    assert!(matches!(&result, Err(SandboxError::Trap(m)) if m.contains("unreachable")), "{result:?}");
    assert_poisoned(&mut trapping);
    drop(trapping);
    assert_eq!(sandbox.live_instances(), 0);
    let mut fresh = sandbox.instantiate().expect("a new instance in the freed slot");
    fresh.init(&calm(), SEED).expect("a fresh instance works");
}

#[test]
fn good_instances_run_undisturbed_beside_bad_ones() {
    let good = guest_sandbox(small_config());
    let mut native = Engine::new(calm(), SEED).expect("valid config");
    let mut expected = Vec::new();
    for batch in batches() {
        native.execute(&batch, &mut expected);
    }
    let expected_hash = native.state_hash();

    std::thread::scope(|scope| {
        let bad: Vec<_> = [LOOPS, GROWS_THEN_ABORTS, GROWS_FOREVER, TRAPS]
            .into_iter()
            .map(|body| {
                let mut instance = bad_sandbox(body).instantiate().expect("bad instance");
                scope.spawn(move || {
                    let first = instance.execute(&Batch::default(), &mut Vec::new());
                    let second = instance.execute(&Batch::default(), &mut Vec::new());
                    (first, second)
                })
            })
            .collect();
        let good: Vec<_> = (0..4)
            .map(|_| {
                let mut instance = good.instantiate().expect("good instance");
                scope.spawn(move || {
                    instance.init(&calm(), SEED).expect("init");
                    let mut events = Vec::new();
                    for batch in batches() {
                        instance.execute(&batch, &mut events).expect("execute");
                    }
                    (events, instance.state_hash().expect("hash"))
                })
            })
            .collect();
        let outcomes: Vec<_> = bad.into_iter().map(|thread| thread.join().expect("bad thread")).collect();
        assert!(matches!(outcomes[0], (Err(SandboxError::Deadline), Err(SandboxError::Poisoned))));
        assert!(matches!(outcomes[1], (Err(SandboxError::MemoryLimit), Err(SandboxError::Poisoned))));
        assert!(matches!(outcomes[2], (Err(SandboxError::MemoryLimit), Err(SandboxError::Poisoned))));
        assert!(matches!(outcomes[3], (Err(SandboxError::Trap(_)), Err(SandboxError::Poisoned))));
        for thread in good {
            let (events, hash) = thread.join().expect("good thread");
            assert_eq!(events, expected);
            assert_eq!(hash, expected_hash);
        }
    });
}

#[test]
fn sandboxes_and_instances_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Sandbox>();
    send::<Instance>();
    let sandbox = guest_sandbox(small_config());
    let instance = sandbox.instantiate().expect("instance");
    assert!(format!("{sandbox:?}").contains("live_instances: 1"));
    assert!(format!("{instance:?}").contains("poisoned: false"));
}
