//! The one module of tradesim that knows wasmtime: it runs engine guests (the `tradesim-guest` module, whose ABI is
//! documented at that crate's root) in pooled, memory-capped, deadline-bound instances behind a narrow API.
//!
//! A [`Sandbox`] owns one wasmtime engine configured once: the pooling allocator with `max_instances` slots,
//! copy-on-write memory images, NaN canonicalization, and epoch interruption driven by one ticker thread. The
//! epoch only says when to look: a call is stopped for the CPU time its thread has spent in it, never for wall time,
//! so a healthy call whose thread is preempted on a loaded machine runs on (see `instance.rs`, the call deadline). The guest
//! is compiled once (and cached on disk when a cache directory is given) and pre-linked as an `InstancePre`, so
//! [`Sandbox::instantiate`] only claims a pool slot and maps the memory image. Each [`Instance`] is one engine; its
//! methods encode the input frame, call the guest and decode its output frame.
//!
//! # Invariants
//! - Nothing outside this crate touches wasmtime: the API speaks only `tradesim_protocol` types and bytes.
//! - A guest call uses at most `call_deadline` of its thread's CPU time (to within two `epoch_tick`s), however long
//!   it takes in wall time, and its instance's linear memory never exceeds `memory_limit_bytes`.
//! - A call that traps, runs past its deadline or is refused memory poisons its instance: that call returns
//!   [`SandboxError::Deadline`], [`SandboxError::MemoryLimit`] or [`SandboxError::Trap`] and every later call
//!   [`SandboxError::Poisoned`]. Other instances are unaffected. A nonzero guest status or an undecodable output
//!   does not poison: the guest ran to completion and, by its ABI, changed nothing on failure.
//! - The epoch ticker runs while any `Sandbox` clone or `Instance` of it lives, so every live instance has a deadline.
//! - A cached artifact is only ever written whole (temp file, fsync, rename) and is keyed by the engine's
//!   compatibility hash and the module bytes, so a stale or foreign artifact is never loaded for another module.

mod cache;
mod instance;

pub use instance::Instance;

use instance::State;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig, ProfilingStrategy};

/// How a [`Sandbox`] sizes and bounds its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Pooling allocator slots: the most instances alive at once.
    pub max_instances: u32,
    /// Cap on each instance's linear memory.
    pub memory_limit_bytes: usize,
    /// The most CPU time (of the calling thread) a single guest call may use.
    pub call_deadline: Duration,
    /// Period of the epoch ticker: how often a long call's CPU time is looked at, the resolution of `call_deadline`.
    pub epoch_tick: Duration,
    /// Where the precompiled module is cached; `None` compiles in-process every time.
    pub cache_dir: Option<PathBuf>,
    /// Write `/tmp/perf-<pid>.map`, so that `perf` names the guest's functions in JIT code. The default is on when
    /// `TRADESIM_PERF_MAP=1`, so any binary's guest can be profiled without rebuilding it.
    pub perf_map: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            max_instances: 4096,
            memory_limit_bytes: 64 << 20,
            call_deadline: Duration::from_millis(100),
            epoch_tick: Duration::from_millis(1),
            cache_dir: None,
            perf_map: std::env::var_os("TRADESIM_PERF_MAP").is_some_and(|v| v == "1"),
        }
    }
}

/// Why a sandbox operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The engine could not be configured, or the module could not be read or compiled.
    #[error("cannot compile the guest: {0}")]
    Compile(String),
    /// The module is not a guest (imports, missing or mistyped exports) or could not be instantiated.
    #[error("cannot instantiate the guest: {0}")]
    Instantiate(String),
    /// Every pool slot is taken; dropping an [`Instance`] frees one.
    #[error("no free sandbox slot: all instances are in use")]
    CapacityExhausted,
    /// The guest call used more CPU time than its deadline; the instance is poisoned.
    #[error("the guest call used more CPU time than its deadline")]
    Deadline,
    /// The guest was refused memory beyond its cap; the instance is poisoned.
    #[error("the guest exceeded its memory limit")]
    MemoryLimit,
    /// The guest trapped; the instance is poisoned.
    #[error("the guest trapped: {0}")]
    Trap(String),
    /// The guest returned a nonzero status with this message; it changed nothing.
    #[error("the guest refused the call (status {status}): {message}")]
    Guest { status: u32, message: String },
    /// The guest's output was not the frame its ABI promises.
    #[error("the guest's output does not decode: {0}")]
    Protocol(String),
    /// An earlier call on this instance trapped, ran past its deadline or was refused memory.
    #[error("the instance is poisoned by an earlier failed call")]
    Poisoned,
}

/// A compiled guest and the pool its instances live in. Cheap to clone: clones share everything.
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
}

/// What a sandbox's clones and instances share.
pub(crate) struct Shared {
    pre: wasmtime::InstancePre<State>,
    memory_limit_bytes: usize,
    call_deadline: Duration,
    epoch_tick: Duration,
    live: AtomicUsize,
    /// Dropped last (fields drop in order), once nothing can run guest code any more.
    _ticker: Ticker,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("memory_limit_bytes", &self.shared.memory_limit_bytes)
            .field("call_deadline", &self.shared.call_deadline)
            .field("live_instances", &self.live_instances())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Configures an engine, compiles `wasm` (or loads it from the cache) and checks that it is a guest.
    pub fn new(config: SandboxConfig, wasm: &[u8]) -> Result<Self, SandboxError> {
        if config.epoch_tick.is_zero() {
            return Err(SandboxError::Compile("epoch_tick must be positive".to_owned()));
        }
        let engine = Engine::new(&engine_config(&config)).map_err(|e| SandboxError::Compile(format!("{e:#}")))?;
        let module = cache::load(&engine, wasm, config.cache_dir.as_deref())?;
        let pre = Linker::new(&engine)
            .instantiate_pre(&module)
            .map_err(|e| SandboxError::Instantiate(format!("the guest must import nothing: {e:#}")))?;
        let sandbox = Self {
            shared: Arc::new(Shared {
                pre,
                memory_limit_bytes: config.memory_limit_bytes,
                call_deadline: config.call_deadline,
                epoch_tick: config.epoch_tick,
                live: AtomicUsize::new(0),
                _ticker: Ticker::start(engine, config.epoch_tick)?,
            }),
        };
        // A trial instance checks the exports now rather than at the first user's instantiate.
        drop(sandbox.instantiate()?);
        Ok(sandbox)
    }

    /// [`Sandbox::new`] with the module read from `path`.
    pub fn from_file(config: SandboxConfig, path: &Path) -> Result<Self, SandboxError> {
        let wasm =
            std::fs::read(path).map_err(|e| SandboxError::Compile(format!("reading {}: {e}", path.display())))?;
        Self::new(config, &wasm)
    }

    /// A fresh instance of the guest (not yet initialized), in a free pool slot.
    pub fn instantiate(&self) -> Result<Instance, SandboxError> {
        Instance::new(Arc::clone(&self.shared))
    }

    /// Instances alive now (each holds a pool slot).
    pub fn live_instances(&self) -> usize {
        self.shared.live.load(Ordering::Relaxed)
    }
}

fn engine_config(config: &SandboxConfig) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    // The guest has one memory and one table; every slot of the pool holds one instance.
    pool.total_core_instances(config.max_instances)
        .total_memories(config.max_instances)
        .total_tables(config.max_instances)
        // The limiter refuses growth first (and records it); the pool's cap only backs it up.
        .max_memory_size(config.memory_limit_bytes);
    let mut engine = Config::new();
    engine
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        // The engine is deterministic natively and in wasm only if NaN bit patterns are too.
        .cranelift_nan_canonicalization(true)
        .epoch_interruption(true);
    if config.perf_map {
        engine.profiler(ProfilingStrategy::PerfMap);
    }
    engine
}

/// The thread that advances the engine's epoch every tick, stopped and joined on drop.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> Result<Self, SandboxError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tradesim-epoch".to_owned())
            .spawn(move || {
                // Dropping the sender disconnects the channel and ends the loop at once.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| SandboxError::Compile(format!("starting the epoch ticker: {e}")))?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the sandbox epoch ticker panicked");
        }
    }
}

/// The guest module to load: `TRADESIM_GUEST_WASM` if set, else the release build under the cargo target directory
/// (`CARGO_TARGET_DIR`, else the workspace's `target`).
pub fn default_guest_path() -> PathBuf {
    if let Some(path) = std::env::var_os("TRADESIM_GUEST_WASM") {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir), // an absolute dir replaces the workspace prefix
        None => workspace.join("target"),
    };
    target.join("wasm32-unknown-unknown/release/tradesim_guest.wasm")
}
