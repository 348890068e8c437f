//! Engine benchmark: plain wall-clock timing (median of several repetitions), one printed line per figure with its
//! goal. Run with `cargo bench -p tradesim-guest` after `make guest` (the wasm figures need the release module).
//!
//! 1. Matching throughput on a pre-generated stream (60% new limit, 25% cancel, 10% amend, 5% market) against a
//!    book held near 1,000 resting orders: through the Engine API, the native frame path and the wasm guest.
//! 2. Background market cost: simulated seconds per wall second on the calm scenario.
//! 3. Snapshot + restore and state hash of a book with 10,000 resting orders.

#[path = "../tests/support/wasm_host.rs"]
mod wasm_host;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tradesim_core::Engine;
use tradesim_core::rng::Rng;
use tradesim_guest::Guest;
use tradesim_protocol::ViewRequest;
use tradesim_protocol::codec::{self, FrameKind};
use tradesim_protocol::{
    AccountConfig, Batch, Command, Event, EventBody, InstrumentId, NewOrder, OrderId, OrderRef, OrderStatus, OrderType,
    ParticipantId, Price, Qty, Scenario, Side, SimConfig, StpMode, TimeInForce,
};
use wasm_host::WasmGuest;

const REPETITIONS: usize = 5;
const STREAM_COMMANDS: usize = 500_000;
/// `ENGINE_BENCH_PROFILE=<section>` runs one section once, for `valgrind --tool=callgrind
/// --toggle-collect=*profiled*` (instruction counts do not depend on machine load); `ENGINE_BENCH_COMMANDS` sets the
/// stream length (default 500,000).
const PROFILE_SECTIONS: &str = "commanded, replayed, frame, wasm, snapshot, restore";
const BATCH_COMMANDS: usize = 1_000;
const BOOK_TARGET: usize = 1_000;
const PARTICIPANTS: [ParticipantId; 6] =
    [ParticipantId::USER, ParticipantId(2), ParticipantId(3), ParticipantId(4), ParticipantId(5), ParticipantId(6)];

/// Risk limits wide enough that the stream measures matching, not rejections.
fn bench_config(scenario: Scenario) -> SimConfig {
    let account = AccountConfig {
        initial_cash: 1_000_000_000_000,
        max_order_qty: Qty(1_000_000),
        max_notional: 1_000_000_000_000,
        max_position: 1_000_000_000,
        leverage_bps: 100_000,
        ..AccountConfig::default()
    };
    SimConfig { scenario, account, ..SimConfig::default() }
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

/// This thread's time on a CPU (Linux schedstat), or None elsewhere. Other load on the machine inflates wall time
/// but hardly on-CPU time, so both are printed.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// Wall and on-CPU time of one measured section.
struct Stopwatch {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Stopwatch {
    fn start() -> Self {
        Self { cpu: cpu_time(), wall: Instant::now() }
    }

    /// (wall, on-CPU); on-CPU falls back to wall where it cannot be read.
    fn stop(&self) -> (Duration, Duration) {
        let wall = self.wall.elapsed();
        let cpu = cpu_time().zip(self.cpu).map_or(wall, |(now, then)| now.saturating_sub(then));
        (wall, cpu)
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".to_owned(), |l| l.trim().to_owned())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn group(n: f64) -> String {
    let digits = format!("{n:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A working order, as the execution reports describe it.
#[derive(Clone, Copy)]
struct Live {
    participant: ParticipantId,
    side: Side,
    price: Price,
    qty: Qty,
    cum_qty: Qty,
}

/// Generates the stream by running it on an engine, so cancels and amends name orders that are live right then.
struct StreamGen {
    rng: Rng,
    engine: Engine,
    events: Vec<Event>,
    live: Vec<OrderId>,
    orders: HashMap<OrderId, (usize, Live)>,
    best_bid: i64,
    best_ask: i64,
}

impl StreamGen {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng::seed_from(seed),
            engine: Engine::new(bench_config(Scenario::None), seed).expect("valid config"),
            events: Vec::new(),
            live: Vec::new(),
            orders: HashMap::new(),
            best_bid: 9_999,
            best_ask: 10_001,
        }
    }

    fn limit(&mut self, side: Side, price: i64, qty: u64) -> Command {
        Command::NewOrder(NewOrder {
            participant: PARTICIPANTS[self.rng.below(PARTICIPANTS.len() as u64) as usize],
            instrument: InstrumentId(0),
            client_order_id: None,
            side,
            qty: Qty(qty),
            order_type: OrderType::Limit { price: Price(price) },
            tif: TimeInForce::Gtc,
            display_qty: None,
            post_only: false,
            stp: StpMode::CancelOldest,
        })
    }

    /// A limit that rests behind the touch, or (more often when the book is above target) one that crosses.
    fn new_limit(&mut self) -> Command {
        let side = if self.rng.below(2) == 0 { Side::Buy } else { Side::Sell };
        let excess = self.live.len() as i64 - BOOK_TARGET as i64;
        let cross_percent = (25 + excess / 4).clamp(0, 95) as u64;
        let qty = 1 + self.rng.below(20);
        let price = if self.rng.below(100) < cross_percent {
            match side {
                Side::Buy => self.best_ask + self.rng.range_i64(0, 2),
                Side::Sell => self.best_bid - self.rng.range_i64(0, 2),
            }
        } else {
            let depth = self.rng.range_i64(0, 40);
            match side {
                Side::Buy => self.best_bid.min(self.best_ask - 1) - depth,
                Side::Sell => self.best_ask.max(self.best_bid + 1) + depth,
            }
        };
        self.limit(side, price, qty)
    }

    fn random_live(&mut self) -> Option<(OrderId, Live)> {
        if self.live.is_empty() {
            return None;
        }
        let id = self.live[self.rng.below(self.live.len() as u64) as usize];
        Some((id, self.orders[&id].1))
    }

    fn command(&mut self) -> Command {
        let roll = self.rng.below(100);
        match (roll, self.random_live()) {
            (60..85, Some((id, live))) => {
                Command::Cancel { participant: live.participant, order: OrderRef::OrderId(id) }
            }
            (85..95, Some((id, live))) => {
                let leaves = live.qty.0 - live.cum_qty.0;
                let (qty, price) = if leaves > 1 && self.rng.below(2) == 0 {
                    (Some(Qty(live.cum_qty.0 + leaves / 2)), None) // keeps priority
                } else {
                    let away = self.rng.range_i64(1, 5) * -live.side.sign();
                    (None, Some(Price(live.price.0 + away))) // re-queues, further from the touch
                };
                Command::Amend { participant: live.participant, order: OrderRef::OrderId(id), qty, price }
            }
            (95.., _) => {
                let mut command = self.limit(if roll.is_multiple_of(2) { Side::Buy } else { Side::Sell }, 0, 1);
                if let Command::NewOrder(order) = &mut command {
                    order.order_type = OrderType::Market;
                    order.tif = TimeInForce::Ioc;
                    order.qty = Qty(1 + self.rng.below(20));
                }
                command
            }
            _ => self.new_limit(),
        }
    }

    fn apply(&mut self, command: &Command) {
        self.events.clear();
        self.engine.apply(command, &mut self.events);
        for event in &self.events {
            match &event.body {
                EventBody::Bbo(bbo) => {
                    // An empty side keeps the last known price, so quotes stay around the market.
                    if let Some(bid) = bbo.bid_price {
                        self.best_bid = bid.0;
                    }
                    if let Some(ask) = bbo.ask_price {
                        self.best_ask = ask.0;
                    }
                }
                EventBody::ExecutionReport(report) => {
                    let Some(id) = report.order_id else { continue };
                    let working = matches!(report.status, OrderStatus::New | OrderStatus::PartiallyFilled);
                    let live = Live {
                        participant: report.participant,
                        side: report.side,
                        price: report.price.unwrap_or_default(),
                        qty: report.qty,
                        cum_qty: report.cum_qty,
                    };
                    match (working, self.orders.get_mut(&id)) {
                        (true, Some(entry)) => entry.1 = live,
                        (true, None) => {
                            self.orders.insert(id, (self.live.len(), live));
                            self.live.push(id);
                        }
                        (false, Some(&mut (index, _))) => {
                            self.orders.remove(&id);
                            self.live.swap_remove(index);
                            if let Some(&moved) = self.live.get(index) {
                                self.orders.get_mut(&moved).expect("tracked").0 = index;
                            }
                        }
                        (false, None) => {}
                    }
                }
                _ => {}
            }
        }
    }
}

/// The warm-up commands that build a book of about `BOOK_TARGET` orders, the stream in batches, and the book size
/// range seen while generating.
fn matching_stream() -> (Vec<Command>, Vec<Batch>, (usize, usize)) {
    let mut generator = StreamGen::new(7);
    let mut warmup = Vec::new();
    while generator.live.len() < BOOK_TARGET {
        let side = if generator.live.len().is_multiple_of(2) { Side::Buy } else { Side::Sell };
        let depth = generator.rng.range_i64(1, 50);
        let price = if side == Side::Buy { 10_000 - depth } else { 10_000 + depth };
        let qty = 1 + generator.rng.below(20);
        let command = generator.limit(side, price, qty);
        generator.apply(&command);
        warmup.push(command);
    }
    let mut batches = Vec::new();
    let mut range = (usize::MAX, 0);
    for _ in 0..stream_commands() / BATCH_COMMANDS {
        let commands: Vec<Command> = (0..BATCH_COMMANDS)
            .map(|_| {
                let command = generator.command();
                generator.apply(&command);
                range = (range.0.min(generator.live.len()), range.1.max(generator.live.len()));
                command
            })
            .collect();
        batches.push(Batch { commands, steps: 0 });
    }
    (warmup, batches, range)
}

/// The same commands under agent ids: no reports, risk checks, fees or accounts. With the wide risk limits nothing
/// is rejected either way, so the orders, ids and trades are the same (checked by the caller).
fn as_agents(command: &Command) -> Command {
    let agent = |participant: ParticipantId| ParticipantId(ParticipantId::FIRST_AGENT + 900 + participant.0);
    let mut command = *command;
    match &mut command {
        Command::NewOrder(order) => order.participant = agent(order.participant),
        Command::Cancel { participant, .. }
        | Command::Amend { participant, .. }
        | Command::MassCancel { participant, .. } => *participant = agent(*participant),
        Command::SetTradingStatus { .. } => {}
    }
    command
}

fn engine_after(commands: &[Command]) -> Engine {
    let mut engine = Engine::new(bench_config(Scenario::None), 7).expect("valid config");
    engine.execute(&Batch { commands: commands.to_vec(), steps: 0 }, &mut Vec::new());
    engine
}

/// A throughput: median commands per second over the repetitions, by wall and by on-CPU time.
struct Rate {
    wall: f64,
    cpu: f64,
}

impl Rate {
    fn show(&self) -> String {
        format!("{:>10} commands/s (on-CPU {:>10})", group(self.wall), group(self.cpu))
    }
}

/// Runs `run` (which sets up a fresh start, times only the stream and returns the final state hash) once per
/// repetition; every run must end in the same state.
fn throughput(commands: usize, mut run: impl FnMut() -> ((Duration, Duration), u64)) -> (Rate, u64) {
    let mut hashes = Vec::new();
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..REPETITIONS)
        .map(|_| {
            let ((wall, cpu), hash) = run();
            hashes.push(hash);
            (commands as f64 / wall.as_secs_f64(), commands as f64 / cpu.as_secs_f64())
        })
        .unzip();
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "runs diverged");
    (Rate { wall: median(&mut wall), cpu: median(&mut cpu) }, hashes[0])
}

/// Runs the batches through the Engine API; returns the timing, the final hash and the trades seen.
fn run_engine(start: &[u8], batches: &[Batch]) -> ((Duration, Duration), u64, usize) {
    let mut engine = Engine::restore(start).expect("restore");
    let mut events = Vec::with_capacity(16 * BATCH_COMMANDS);
    let mut trades = 0;
    let clock = Stopwatch::start();
    for batch in batches {
        events.clear();
        engine.execute(batch, &mut events);
        trades += events.iter().filter(|e| matches!(e.body, EventBody::Trade(_))).count();
    }
    (clock.stop(), engine.state_hash(), trades)
}

fn bench_matching() {
    let (warmup, batches, (book_min, book_max)) = matching_stream();
    let start = engine_after(&warmup).snapshot();
    let commands = batches.len() * BATCH_COMMANDS;
    let frames: Vec<Vec<u8>> = batches.iter().map(|b| codec::encode(FrameKind::Batch, b)).collect();
    let mut reference = Engine::restore(&start).expect("restore");
    let mut events = Vec::new();
    batches.iter().for_each(|batch| reference.execute(batch, &mut events));
    println!(
        "stream: {} commands (60% limit, 25% cancel, 10% amend, 5% market) from {} commanded participants, book \
         {book_min}..{book_max} resting orders, batches of {BATCH_COMMANDS}; {:.1} events/command",
        group(commands as f64),
        PARTICIPANTS.len(),
        events.len() as f64 / commands as f64
    );

    let mut trades = 0;
    let (api, api_hash) = throughput(commands, || {
        let (time, hash, seen) = run_engine(&start, &batches);
        trades = seen;
        (time, hash)
    });
    println!("matching, native Engine API:     {}  goal >= 3,000,000/s: {}", api.show(), verdict(api.wall >= 3e6));

    let paths = frame_vs_wasm(&start, &frames, commands);
    println!(
        "matching, native frame path:     {}  (decode batch, execute, encode {} event bytes/command)",
        paths.frame.show(),
        paths.event_bytes / commands
    );
    println!(
        "matching, wasm guest (wasmtime): {}  wasm/native frame path {:.2} (on-CPU {:.2}), goal >= 0.7: {}",
        paths.wasm.show(),
        paths.ratio,
        paths.cpu_ratio,
        verdict(paths.ratio >= 0.7)
    );
    let (frame_hash, wasm_hash, wasm_view) = (paths.frame_hash, paths.wasm_hash, paths.wasm_view);
    assert!(api_hash == frame_hash && frame_hash == wasm_hash, "the three paths ended in different states");
    let native_view = codec::encode(FrameKind::View, &reference.view(ParticipantId::USER, 5));
    assert!(native_view == wasm_view, "wasm and native views differ");

    // Diagnostic: the same orders without reports, risk or accounts, to show what the matching itself costs.
    let agent_start = engine_after(&warmup.iter().map(as_agents).collect::<Vec<_>>()).snapshot();
    let agent_batches: Vec<Batch> = batches
        .iter()
        .map(|b| Batch { commands: b.commands.iter().map(as_agents).collect(), steps: b.steps })
        .collect();
    let mut agent_trades = 0;
    let (agents, _) = throughput(commands, || {
        let (time, hash, seen) = run_engine(&agent_start, &agent_batches);
        agent_trades = seen;
        (time, hash)
    });
    assert_eq!(agent_trades, trades, "the stream under agent ids traded differently");
    println!("replayed flow (the same orders under agent ids: no reports, risk or accounts):");
    println!(
        "  native Engine API:               {}  goal >= 3,000,000/s: {}",
        agents.show(),
        verdict(agents.wall >= 3e6)
    );
    let agent_frames: Vec<Vec<u8>> = agent_batches.iter().map(|b| codec::encode(FrameKind::Batch, b)).collect();
    let paths = frame_vs_wasm(&agent_start, &agent_frames, commands);
    println!("  native frame path:               {}", paths.frame.show());
    println!(
        "  wasm guest (wasmtime):           {}  wasm/native frame path {:.2} (on-CPU {:.2}), goal >= 0.7: {}",
        paths.wasm.show(),
        paths.ratio,
        paths.cpu_ratio,
        verdict(paths.ratio >= 0.7)
    );
    assert_eq!(paths.frame_hash, paths.wasm_hash, "wasm and native replayed flow ended in different states");
}

/// The native frame path and the wasm guest on the same frames.
struct FrameVsWasm {
    frame: Rate,
    wasm: Rate,
    ratio: f64,
    cpu_ratio: f64,
    event_bytes: usize,
    frame_hash: u64,
    wasm_hash: u64,
    wasm_view: Vec<u8>,
}

/// Runs the frames through the native `Guest` and the wasm guest alternately, so that both see the same machine
/// load; the ratio is the median of the per-repetition ratios.
fn frame_vs_wasm(start: &[u8], frames: &[Vec<u8>], commands: usize) -> FrameVsWasm {
    let (mut frame_runs, mut wasm_runs, mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut frame_hash, mut wasm_hash, mut event_bytes, mut wasm_view) = (0, 0, 0, Vec::new());
    for _ in 0..REPETITIONS {
        let mut guest = Guest::new();
        guest.handle_restore(start).expect("restore");
        event_bytes = 0;
        let clock = Stopwatch::start();
        for frame in frames {
            event_bytes += guest.handle_execute(frame).expect("execute").len();
        }
        let native_time = clock.stop();
        frame_hash = guest.handle_state_hash().expect("hash");

        let mut guest = WasmGuest::new();
        guest.restore(start).expect("restore");
        let clock = Stopwatch::start();
        for frame in frames {
            black_box(guest.execute(frame).expect("execute").len());
        }
        let wasm_time = clock.stop();
        wasm_hash = guest.state_hash().expect("hash");
        let request =
            codec::encode(FrameKind::ViewRequest, &ViewRequest { participant: ParticipantId::USER, depth: 5 });
        wasm_view = guest.view(&request).expect("view").to_vec();

        ratios.push(native_time.0.as_secs_f64() / wasm_time.0.as_secs_f64());
        cpu_ratios.push(native_time.1.as_secs_f64() / wasm_time.1.as_secs_f64());
        frame_runs.push(native_time);
        wasm_runs.push(wasm_time);
    }
    let rate = |runs: &[(Duration, Duration)]| {
        let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = runs
            .iter()
            .map(|(wall, cpu)| (commands as f64 / wall.as_secs_f64(), commands as f64 / cpu.as_secs_f64()))
            .unzip();
        Rate { wall: median(&mut wall), cpu: median(&mut cpu) }
    };
    FrameVsWasm {
        frame: rate(&frame_runs),
        wasm: rate(&wasm_runs),
        ratio: median(&mut ratios),
        cpu_ratio: median(&mut cpu_ratios),
        event_bytes,
        frame_hash,
        wasm_hash,
        wasm_view,
    }
}

fn bench_background_market() {
    const WARMUP_STEPS: u32 = 6_000; // one simulated minute
    const MEASURED_STEPS: u32 = 60_000; // ten simulated minutes
    let config = bench_config(Scenario::Calm);
    let simulated_s = f64::from(MEASURED_STEPS) * f64::from(config.step_ms) / 1_000.0;
    let mut events = Vec::new();
    let mut emitted = 0;
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..REPETITIONS)
        .map(|_| {
            let mut engine = Engine::new(config.clone(), 99).expect("valid config");
            engine.advance(WARMUP_STEPS, &mut events);
            events.clear();
            let clock = Stopwatch::start();
            // A host steps in small groups and drains the events in between.
            for _ in 0..MEASURED_STEPS / 10 {
                engine.advance(10, &mut events);
                emitted += events.len();
                events.clear();
            }
            let (wall, cpu) = clock.stop();
            (simulated_s / wall.as_secs_f64(), simulated_s / cpu.as_secs_f64())
        })
        .unzip();
    let (native, native_cpu) = (median(&mut wall), median(&mut cpu));
    println!(
        "background market (calm), native: {:>8} simulated s per wall s (on-CPU {:>8})  goal >= 1,000: {}  \
         ({:.0} events per simulated s)",
        group(native),
        group(native_cpu),
        verdict(native >= 1_000.0),
        emitted as f64 / REPETITIONS as f64 / simulated_s
    );

    let config_frame = codec::encode(FrameKind::Config, &config);
    let warmup = codec::encode(FrameKind::Batch, &Batch { commands: Vec::new(), steps: WARMUP_STEPS });
    let ten_steps = codec::encode(FrameKind::Batch, &Batch { commands: Vec::new(), steps: 10 });
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..REPETITIONS)
        .map(|_| {
            let mut guest = WasmGuest::new();
            guest.init(&config_frame, 99).expect("init");
            guest.execute(&warmup).expect("warm up");
            let clock = Stopwatch::start();
            for _ in 0..MEASURED_STEPS / 10 {
                black_box(guest.execute(&ten_steps).expect("execute").len());
            }
            let (wall, cpu) = clock.stop();
            (simulated_s / wall.as_secs_f64(), simulated_s / cpu.as_secs_f64())
        })
        .unzip();
    let (wasm, wasm_cpu) = (median(&mut wall), median(&mut cpu));
    println!(
        "background market (calm), wasm:   {:>8} simulated s per wall s (on-CPU {:>8})  goal >= 1,000: {}",
        group(wasm),
        group(wasm_cpu),
        verdict(wasm >= 1_000.0)
    );
}

/// An engine whose book holds `orders` resting limit orders spread over the band, none crossing.
fn deep_book(orders: usize) -> Engine {
    let mut generator = StreamGen::new(3);
    for i in 0..orders {
        let side = if i.is_multiple_of(2) { Side::Buy } else { Side::Sell };
        let depth = generator.rng.range_i64(1, 900);
        let price = if side == Side::Buy { 10_000 - depth } else { 10_000 + depth };
        let qty = 1 + generator.rng.below(50);
        let command = generator.limit(side, price, qty);
        generator.apply(&command);
    }
    assert_eq!(generator.live.len(), orders, "every order rests");
    generator.engine
}

/// Median and p99 of `RUNS` wall timings of `f`.
fn latency(mut f: impl FnMut()) -> (Duration, Duration) {
    const RUNS: usize = 300;
    let mut samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let clock = Instant::now();
            f();
            clock.elapsed()
        })
        .collect();
    samples.sort();
    (percentile(&samples, 50), percentile(&samples, 99))
}

fn ms((median, p99): (Duration, Duration)) -> String {
    format!("median {:>6.3} ms, p99 {:>6.3} ms", median.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3)
}

fn bench_snapshot() {
    let engine = deep_book(10_000);
    let snapshot = engine.snapshot();
    let round_trip = latency(|| {
        black_box(Engine::restore(&engine.snapshot()).expect("restore"));
    });
    println!(
        "snapshot + restore, 10,000 orders: {}  goal <= 2 ms: {}  ({} bytes)",
        ms(round_trip),
        verdict(round_trip.1 <= Duration::from_millis(2)),
        group(snapshot.len() as f64)
    );
    println!("  snapshot alone:                  {}", ms(latency(|| drop(black_box(engine.snapshot())))));
    println!(
        "  restore alone:                   {}",
        ms(latency(|| drop(black_box(Engine::restore(&snapshot).expect("restore")))))
    );
    let mut guest = Guest::new();
    guest.handle_restore(&snapshot).expect("restore");
    let guest_round_trip = latency(|| {
        let frame = guest.handle_snapshot().expect("snapshot").to_vec();
        guest.handle_restore(&frame).expect("restore");
    });
    println!("  through the native Guest:        {}  (snapshot encoded into a slice)", ms(guest_round_trip));
    println!(
        "state_hash, 10,000 orders:         {}",
        ms(latency(|| {
            black_box(engine.state_hash());
        }))
    );

    let mut guest = WasmGuest::new();
    guest.restore(&snapshot).expect("restore");
    let wasm_round_trip = latency(|| {
        let frame = guest.snapshot().expect("snapshot");
        guest.restore(&frame).expect("restore");
    });
    println!("snapshot + restore in wasm:        {}  (with the copies out and in)", ms(wasm_round_trip));
}

fn stream_commands() -> usize {
    std::env::var("ENGINE_BENCH_COMMANDS").ok().and_then(|n| n.parse().ok()).unwrap_or(STREAM_COMMANDS)
}

/// The measured part of a profiled section; callgrind counts only inside it (`--toggle-collect=*profiled*`).
#[inline(never)]
fn profiled<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}

/// One section, once: see [`PROFILE_SECTIONS`].
fn profile(section: &str) {
    let agents = section == "replayed";
    let (warmup, batches, _) = matching_stream();
    let (warmup, batches): (Vec<Command>, Vec<Batch>) = if agents {
        let batches = batches
            .iter()
            .map(|b| Batch { commands: b.commands.iter().map(as_agents).collect(), steps: b.steps })
            .collect();
        (warmup.iter().map(as_agents).collect(), batches)
    } else {
        (warmup, batches)
    };
    let start = engine_after(&warmup).snapshot();
    let commands = batches.len() * BATCH_COMMANDS;
    let frames: Vec<Vec<u8>> = batches.iter().map(|b| codec::encode(FrameKind::Batch, b)).collect();
    let hash = match section {
        "commanded" | "replayed" => {
            let mut engine = Engine::restore(&start).expect("restore");
            let mut events = Vec::with_capacity(16 * BATCH_COMMANDS);
            profiled(|| {
                for batch in &batches {
                    events.clear();
                    engine.execute(batch, &mut events);
                }
            });
            engine.state_hash()
        }
        "frame" => {
            let mut guest = Guest::new();
            guest.handle_restore(&start).expect("restore");
            profiled(|| frames.iter().map(|frame| guest.handle_execute(frame).expect("execute").len()).sum::<usize>());
            guest.handle_state_hash().expect("hash")
        }
        "wasm" => {
            let mut guest = WasmGuest::new();
            guest.restore(&start).expect("restore");
            profiled(|| frames.iter().map(|frame| guest.execute(frame).expect("execute").len()).sum::<usize>());
            guest.state_hash().expect("hash")
        }
        "snapshot" | "restore" => {
            let engine = deep_book(10_000);
            let snapshot = engine.snapshot();
            for _ in 0..10 {
                if section == "snapshot" {
                    profiled(|| engine.snapshot());
                } else {
                    profiled(|| Engine::restore(&snapshot).expect("restore"));
                }
            }
            println!("{} bytes", snapshot.len());
            engine.state_hash()
        }
        _ => panic!("unknown ENGINE_BENCH_PROFILE section {section:?}; one of {PROFILE_SECTIONS}"),
    };
    println!("profiled {section}: {commands} commands, final state hash {hash:016x}");
}

fn main() {
    if let Ok(section) = std::env::var("ENGINE_BENCH_PROFILE") {
        profile(&section);
        return;
    }
    // `cargo bench` passes --bench; this plain harness takes no filter.
    // Compiling the module first fails fast, before any measuring, when it is missing or stale.
    wasm_host::sandbox();
    let module = wasm_host::module_path();
    let size = std::fs::metadata(&module).map_or(0, |m| m.len());
    println!("load average before: {}", load_average());
    println!("wasm module: {} bytes ({})", group(size as f64), module.display());
    bench_matching();
    bench_background_market();
    bench_snapshot();
    println!("load average after: {}", load_average());
}
