//! `tradesim-loadtest`: N virtual users ([`user`]) against the whole local stack ([`stack`]: a private
//! PostgreSQL, `tradesim-dev` with its hosts) through a fault proxy ([`proxy`]), with scheduled chaos
//! ([`chaos`]), every user checking its stream ([`stream_check`]) and its orders ([`ledger`]), every process
//! sampled ([`resources`]), and a report with charts ([`report`], [`charts`]).
//!
//! A run: start the stack and the proxy; ramp the users up (sign-ups a few at a time); once all trade, run the
//! chaos schedule over the trading time; then every user settles (everything answered, its simulator paused, its
//! ledger compared with a fresh snapshot); stop the stack; write the report.

pub mod chaos;
pub mod charts;
pub mod ledger;
pub mod proxy;
pub mod report;
pub mod resources;
pub mod stack;
pub mod stats;
pub mod stream_check;
pub mod user;

use chaos::Chaos;
use proxy::FaultProxy;
use report::RunResult;
use stack::{LocalStack, StackConfig, StackError};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use user::{Behaviour, Phase, Shared, UserReport};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error("the fault proxy: {0}")]
    Proxy(#[from] std::io::Error),
    #[error(transparent)]
    Report(#[from] report::ReportError),
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub users: usize,
    /// Trading time after the ramp.
    pub duration: Duration,
    pub chaos: Vec<Chaos>,
    pub behaviour: Behaviour,
    pub hosts: usize,
    /// Simulators per host; by default every host can take every user (so one survivor re-homes them all).
    pub host_capacity: Option<u32>,
    /// Sign-ups (argon2 hashes) at a time during the ramp.
    pub setup_concurrency: usize,
    /// How long the ramp may take: a user not trading by then counts as failed to start (and the run goes on
    /// without it), so that a slow ramp cannot outlast the access tokens or stall the run.
    pub ramp_within: Duration,
    /// How long users may take to settle after the trading ends.
    pub settle_within: Duration,
    /// The run's directory (the private cluster, logs).
    pub dir: PathBuf,
    /// Where the report goes; none without.
    pub report: Option<PathBuf>,
    pub dev_bin: PathBuf,
    pub host_bin: PathBuf,
    pub guest_wasm: PathBuf,
}

/// The directory of this executable's build profile (`<target>/release`, or `<target>/debug` for a test in
/// `<target>/debug/deps`): where cargo put `tradesim-dev` and `tradesim-host` beside it.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") { dir.parent().map(std::path::Path::to_path_buf).unwrap_or(dir) } else { dir }
}

impl Default for Settings {
    fn default() -> Self {
        let profile = profile_dir();
        let target = profile.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        Self {
            users: 1000,
            duration: Duration::from_secs(120),
            chaos: Chaos::parse_list("stall,postgres,gateway,kill").expect("the default chaos parses"),
            behaviour: Behaviour {
                order_every: Duration::from_secs(2),
                disrupt_every: Duration::from_secs(60),
                keep_alive_every: Duration::from_secs(20),
            },
            hosts: 2,
            host_capacity: None,
            setup_concurrency: 8,
            ramp_within: Duration::from_secs(600),
            settle_within: Duration::from_secs(120),
            dir: PathBuf::from(".tradesim/loadtest"),
            report: Some(PathBuf::from("docs/loadtest")),
            dev_bin: profile.join("tradesim-dev"),
            host_bin: profile.join("tradesim-host"),
            guest_wasm: target.join("wasm32-unknown-unknown/release/tradesim_guest.wasm"),
        }
    }
}

impl Settings {
    /// Settings from `--name value` pairs over the defaults (see `tradesim-loadtest --help`).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut settings = Self::default();
        let mut args = args.into_iter();
        while let Some(name) = args.next() {
            let value = args.next().ok_or_else(|| format!("{name} wants a value"))?;
            let number = |value: &str| value.parse::<u64>().map_err(|_| format!("{name} {value:?} is not a number"));
            match name.as_str() {
                "--users" => settings.users = number(&value)? as usize,
                "--duration" => settings.duration = Duration::from_secs(number(&value)?),
                "--ramp-within" => settings.ramp_within = Duration::from_secs(number(&value)?),
                "--chaos" => settings.chaos = Chaos::parse_list(&value)?,
                "--order-every-ms" => settings.behaviour.order_every = Duration::from_millis(number(&value)?),
                "--disrupt-every" => settings.behaviour.disrupt_every = Duration::from_secs(number(&value)?),
                "--hosts" => settings.hosts = number(&value)? as usize,
                "--dir" => settings.dir = value.into(),
                "--report" => settings.report = (value != "none").then(|| value.into()),
                "--dev-bin" => settings.dev_bin = value.into(),
                "--host-bin" => settings.host_bin = value.into(),
                "--guest-wasm" => settings.guest_wasm = value.into(),
                other => return Err(format!("unknown option {other}")),
            }
        }
        if settings.users == 0 || settings.hosts == 0 {
            return Err("--users and --hosts must be at least 1".into());
        }
        Ok(settings)
    }

    fn listed(&self) -> Vec<(String, String)> {
        let chaos: Vec<String> = self.chaos.iter().map(Chaos::name).collect();
        [
            ("users", self.users.to_string()),
            ("trading time", format!("{} s", self.duration.as_secs())),
            ("chaos", chaos.join("; ")),
            ("mean time between orders or cancels, per user", format!("{:?}", self.behaviour.order_every)),
            (
                "mean time between a user's own drops (cut, reload, slice)",
                format!("{:?}", self.behaviour.disrupt_every),
            ),
            ("keep-alive every", format!("{:?}", self.behaviour.keep_alive_every)),
            ("hosts at the start", self.hosts.to_string()),
            ("simulators per host", self.capacity().to_string()),
            ("sign-ups at a time during the ramp", self.setup_concurrency.to_string()),
            ("the ramp may take", format!("{} s", self.ramp_within.as_secs())),
            ("simulator speed", "1x, calm scenario, one instrument".into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    fn capacity(&self) -> u32 {
        self.host_capacity.unwrap_or(self.users as u32 + 100)
    }
}

/// Runs the load test: its result (the report is written if [`Settings::report`] says where).
pub async fn run(settings: &Settings) -> Result<RunResult, LoadError> {
    let load_before = resources::load_average();
    let started_utc = chaos::utc(SystemTime::now());
    let config = StackConfig {
        dir: std::path::absolute(&settings.dir).map_err(|e| LoadError::Settings(e.to_string()))?,
        dev_bin: settings.dev_bin.clone(),
        host_bin: settings.host_bin.clone(),
        guest_wasm: settings.guest_wasm.clone(),
        hosts: settings.hosts,
        host_capacity: settings.capacity(),
        origin: user::ORIGIN.into(),
        start_timeout: Duration::from_secs(180),
    };
    println!("[{started_utc}] starting the stack (load average {load_before})");
    let stack = Arc::new(LocalStack::start(&config).await?);
    let outcome = drive(settings, &stack).await;
    println!("[{}] stopping the stack", chaos::utc(SystemTime::now()));
    stack.stop(Duration::from_secs(90)).await?;
    let mut result = outcome?;
    result.started_utc = started_utc;
    result.load_before = load_before;
    result.load_after = resources::load_average();
    if let Some(dir) = &settings.report {
        report::write(&result, dir)?;
        println!("report: {}", dir.join("report.md").display());
    }
    Ok(result)
}

async fn drive(settings: &Settings, stack: &Arc<LocalStack>) -> Result<RunResult, LoadError> {
    let proxy = Arc::new(FaultProxy::start(stack.gateway()).await?);
    let started = Instant::now();
    let (phase, phase_watch) = watch::channel(Phase::Trading);
    let (settle_by, settle_by_watch) = watch::channel(None);
    let shared = Arc::new(Shared {
        control: stack.control(Duration::from_secs(15))?,
        proxy: Arc::clone(&proxy),
        started,
        phase: phase_watch,
        ramp_by: started + settings.ramp_within,
        live: AtomicUsize::new(0),
        frames: AtomicU64::new(0),
        behaviour: settings.behaviour,
        settle_by: settle_by_watch,
    });
    let (stop_sampling, sampling_stopped) = watch::channel(false);
    let sampler = tokio::spawn(resources::sample(Arc::clone(stack), started, sampling_stopped));

    let setups = Arc::new(Semaphore::new(settings.setup_concurrency));
    let (ready, mut readiness) = mpsc::channel(settings.users);
    let users: Vec<_> = (0..settings.users)
        .map(|index| tokio::spawn(user::run(index, Arc::clone(&shared), Arc::clone(&setups), ready.clone())))
        .collect();
    drop(ready);
    let (mut trading, mut failed) = (0, 0);
    while trading + failed < settings.users {
        match readiness.recv().await {
            Some(true) => trading += 1,
            Some(false) => failed += 1,
            None => break,
        }
    }
    let steady = Instant::now();
    let frames_at_steady = shared.frames.load(Ordering::Relaxed);
    let at = |instant: Instant| instant.duration_since(started).as_secs_f64();
    println!(
        "[{}] +{:.1} s {trading} users trading ({failed} failed to start); trading for {} s",
        chaos::utc(SystemTime::now()),
        at(steady),
        settings.duration.as_secs()
    );
    let trading_end = steady + settings.duration;
    let settle_deadline = trading_end + settings.settle_within;
    let schedule = chaos::schedule(&settings.chaos, settings.duration);
    let chaos = {
        let (stack, proxy, shared) = (Arc::clone(stack), Arc::clone(&proxy), Arc::clone(&shared));
        let times = chaos::Times { started, from: steady, watch_until: settle_deadline };
        tokio::spawn(async move { chaos::run(&schedule, &stack, &proxy, &shared.live, trading, times).await })
    };
    tokio::time::sleep_until(trading_end).await;
    let trading_frames = shared.frames.load(Ordering::Relaxed) - frames_at_steady;
    println!("[{}] +{:.1} s trading over; users settle", chaos::utc(SystemTime::now()), at(Instant::now()));
    let _ = settle_by.send(Some(settle_deadline));
    let _ = phase.send(Phase::Settling);
    let mut reports = Vec::with_capacity(users.len());
    for user in users {
        match user.await {
            Ok(report) => reports.push(report),
            Err(error) => reports
                .push(UserReport { failure: Some(format!("the user task failed: {error}")), ..UserReport::default() }),
        }
    }
    println!("[{}] +{:.1} s every user done", chaos::utc(SystemTime::now()), at(Instant::now()));
    let chaos = chaos.await.unwrap_or_default();
    let _ = stop_sampling.send(true);
    let sampled = sampler.await.unwrap_or_default();

    let mut result = RunResult {
        users: settings.users,
        duration_s: settings.duration.as_secs_f64(),
        steady_from: at(steady),
        trading_until: at(trading_end),
        ready: trading,
        chaos,
        faults: proxy.counts(),
        sampled,
        trading_frames,
        settings: settings.listed(),
        ..RunResult::default()
    };
    for report in reports {
        merge(&mut result, report);
    }
    Ok(result)
}

fn merge(result: &mut RunResult, report: UserReport) {
    result.settled += usize::from(report.settled);
    if let Some(failure) = report.failure {
        *result.failures.entry(failure).or_default() += 1;
    }
    result.violations.add(&report.violations);
    result.ledger.add(&report.ledger);
    result.differences += report.differences.len();
    let room = 10usize.saturating_sub(result.difference_examples.len());
    result
        .difference_examples
        .extend(report.differences.into_iter().take(room).map(|d| format!("user {}: {d}", report.index)));
    result.round_trips.extend(report.round_trips);
    result.market_data_lag.extend(report.market_data_lag);
    result.reconnects.extend(report.reconnects);
    for (code, count) in report.errors {
        *result.errors.entry(code).or_default() += count;
    }
    result.frames += report.frames;
}
