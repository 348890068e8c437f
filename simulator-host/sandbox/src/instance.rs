//! One guest instance: frames in through the guest's `alloc` buffer, frames out through `output_ptr`/`output_len`,
//! every call bounded by its CPU-time deadline and the memory limiter.
//!
//! # The call deadline
//! The deadline is CPU time of the calling thread, looked at on epoch ticks. A call starts with an epoch deadline
//! [`FIRST_CHECK_TICKS`] away, so a short call (nearly all of them) costs nothing beyond wasmtime's epoch checks.
//! A call that reaches it reads its thread's CPU clock there and from then on is allowed `call_deadline` of CPU time:
//! the next look is as many ticks away as the budget has left (a thread cannot use more CPU than the wall time that
//! passes), and a look that finds the budget spent interrupts the guest. Time the thread spends preempted or
//! waiting for a core is not counted, so an overloaded machine slows a healthy call down but never fails it, while a
//! runaway guest is stopped after `call_deadline` of its own CPU time, plus at most the first ticks.

use crate::{SandboxError, Shared};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tradesim_protocol::codec::{self, FrameKind};
use tradesim_protocol::{Batch, EngineView, Event, SimConfig, ViewRequest};
use wasmtime::{
    Memory, PoolConcurrencyLimitError, ResourceLimiter, Store, StoreContextMut, Trap, TypedFunc, UpdateDeadline,
    WasmParams, WasmResults,
};

/// Epoch ticks before a call first reads its thread's CPU clock: two, so that it is at least one tick into the call
/// (the next tick may come at once) and calls shorter than that never read it.
const FIRST_CHECK_TICKS: u64 = 2;

/// The guest's status for "not initialized" (`GuestError::STATUS_NOT_INITIALIZED`): `state_hash` has no status of
/// its own, and that is the only way it fails.
const STATUS_NOT_INITIALIZED: u32 = 1;

/// Smallest input buffer requested from the guest; it grows by doubling.
const MIN_INPUT: u32 = 4096;

/// What the store carries: the memory cap, the call deadline and what happened during the current call.
pub(crate) struct State {
    memory_limit_bytes: usize,
    call_deadline: Duration,
    epoch_tick: Duration,
    /// The thread's CPU clock at the current call's first look, once it has had one.
    cpu_at_first_look: Option<Duration>,
    /// Set when growth was refused during the current call: a trap after it is the guest running out of memory.
    refused_growth: bool,
    poisoned: bool,
}

impl ResourceLimiter for State {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_limit_bytes;
        self.refused_growth |= !allowed;
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.refused_growth = true;
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // The pool's per-table element cap bounds tables; the guest does not grow its table.
        Ok(true)
    }
}

/// The guest's exports (the ABI table at the `tradesim-guest` crate root).
struct Abi {
    alloc: TypedFunc<u32, u32>,
    dealloc: TypedFunc<(u32, u32), ()>,
    init: TypedFunc<(u32, u32, u64), u32>,
    execute: TypedFunc<(u32, u32), u32>,
    snapshot: TypedFunc<(), u32>,
    restore: TypedFunc<(u32, u32), u32>,
    view: TypedFunc<(u32, u32), u32>,
    state_hash: TypedFunc<(), u64>,
    output_ptr: TypedFunc<(), u32>,
    output_len: TypedFunc<(), u32>,
}

/// One engine inside the sandbox. Holds a pool slot until dropped.
pub struct Instance {
    store: Store<State>,
    memory: Memory,
    abi: Abi,
    /// The guest buffer (from `alloc`) inputs are copied into, reused from call to call.
    input_ptr: u32,
    input_capacity: u32,
    /// Where input frames are encoded before the copy, reused from call to call.
    scratch: Vec<u8>,
    /// Last, so it drops after the store: the count falls only once the slot is free.
    _live: Live,
}

/// Counts an instance as live, and keeps the sandbox (its epoch ticker) alive, while it exists.
struct Live(Arc<Shared>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("memory_bytes", &self.memory_bytes())
            .field("poisoned", &self.store.data().poisoned)
            .finish_non_exhaustive()
    }
}

impl Instance {
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Self, SandboxError> {
        let state = State {
            memory_limit_bytes: shared.memory_limit_bytes,
            call_deadline: shared.call_deadline,
            epoch_tick: shared.epoch_tick,
            cpu_at_first_look: None,
            refused_growth: false,
            poisoned: false,
        };
        let mut store = Store::new(shared.pre.module().engine(), state);
        store.limiter(|state| state);
        store.epoch_deadline_callback(look_at_cpu_time);
        // Instantiation runs guest code (data initializers, a start function) under the same deadline.
        store.set_epoch_deadline(FIRST_CHECK_TICKS);
        let instance = shared.pre.instantiate(&mut store).map_err(|error| {
            if error.is::<PoolConcurrencyLimitError>() {
                SandboxError::CapacityExhausted
            } else {
                SandboxError::Instantiate(format!("{error:#}"))
            }
        })?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| SandboxError::Instantiate("the guest does not export `memory`".to_owned()))?;
        macro_rules! export {
            ($name:literal) => {
                instance
                    .get_typed_func(&mut store, $name)
                    .map_err(|e| SandboxError::Instantiate(format!("guest export `{}`: {e:#}", $name)))?
            };
        }
        let abi = Abi {
            alloc: export!("alloc"),
            dealloc: export!("dealloc"),
            init: export!("init"),
            execute: export!("execute"),
            snapshot: export!("snapshot"),
            restore: export!("restore"),
            view: export!("view"),
            state_hash: export!("state_hash"),
            output_ptr: export!("output_ptr"),
            output_len: export!("output_len"),
        };
        shared.live.fetch_add(1, Ordering::Relaxed);
        Ok(Self { store, memory, abi, input_ptr: 0, input_capacity: 0, scratch: Vec::new(), _live: Live(shared) })
    }

    /// Starts the guest's engine from `config` and `seed`, replacing any engine already there.
    pub fn init(&mut self, config: &SimConfig, seed: u64) -> Result<(), SandboxError> {
        self.with_frame(
            |out| codec::encode_into(FrameKind::Config, config, out),
            |this, frame| this.init_frame(frame, seed).map(drop),
        )
    }

    /// Executes `batch` and appends the events the engine emitted to `events`.
    pub fn execute(&mut self, batch: &Batch, events: &mut Vec<Event>) -> Result<(), SandboxError> {
        self.with_frame(
            |out| codec::encode_into(FrameKind::Batch, batch, out),
            |this, frame| {
                let mut emitted: Vec<Event> =
                    codec::decode(FrameKind::Events, this.execute_frame(frame)?).map_err(protocol)?;
                events.append(&mut emitted);
                Ok(())
            },
        )
    }

    /// The engine's snapshot: a `Snapshot` frame, byte for byte what `Engine::snapshot` returns natively.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, SandboxError> {
        let status = call(&mut self.store, &self.abi.snapshot, ())?;
        let frame = self.output(status)?;
        // Only the header is checked: the body is opaque here and is checked by `restore`.
        codec::frame_body(FrameKind::Snapshot, frame).map_err(protocol)?;
        Ok(frame.to_vec())
    }

    /// Replaces the guest's engine (if any) with one restored from a `Snapshot` frame.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<(), SandboxError> {
        let (ptr, len) = self.put_input(snapshot)?;
        let status = call(&mut self.store, &self.abi.restore, (ptr, len))?;
        self.output(status).map(drop)
    }

    /// The engine's state hash.
    pub fn state_hash(&mut self) -> Result<u64, SandboxError> {
        let hash = call(&mut self.store, &self.abi.state_hash, ())?;
        // Success leaves the output empty; failure leaves an Error frame (and a hash of 0).
        let status = match call(&mut self.store, &self.abi.output_len, ())? {
            0 => 0,
            _ => STATUS_NOT_INITIALIZED,
        };
        self.output(status)?;
        Ok(hash)
    }

    /// A participant's view of the engine.
    pub fn view(&mut self, request: ViewRequest) -> Result<EngineView, SandboxError> {
        self.with_frame(
            |out| codec::encode_into(FrameKind::ViewRequest, &request, out),
            |this, frame| codec::decode(FrameKind::View, this.view_frame(frame)?).map_err(protocol),
        )
    }

    /// `init` from an encoded `Config` frame. The `_frame` calls take and return the guest's frames as they are,
    /// for callers that compare them byte for byte with the native guest's (the guest's differential tests).
    pub fn init_frame(&mut self, config: &[u8], seed: u64) -> Result<&[u8], SandboxError> {
        let (ptr, len) = self.put_input(config)?;
        let status = call(&mut self.store, &self.abi.init, (ptr, len, seed))?;
        self.output(status)
    }

    /// `execute` from an encoded `Batch` frame: the `Events` frame.
    pub fn execute_frame(&mut self, batch: &[u8]) -> Result<&[u8], SandboxError> {
        let (ptr, len) = self.put_input(batch)?;
        let status = call(&mut self.store, &self.abi.execute, (ptr, len))?;
        self.output(status)
    }

    /// `view` from an encoded `ViewRequest` frame: the `View` frame.
    pub fn view_frame(&mut self, request: &[u8]) -> Result<&[u8], SandboxError> {
        let (ptr, len) = self.put_input(request)?;
        let status = call(&mut self.store, &self.abi.view, (ptr, len))?;
        self.output(status)
    }

    /// The current size of the guest's linear memory.
    pub fn memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    /// Encodes an input frame with `encode` into the reused scratch buffer and hands it to `call`.
    fn with_frame<T>(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>),
        call: impl FnOnce(&mut Self, &[u8]) -> Result<T, SandboxError>,
    ) -> Result<T, SandboxError> {
        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        encode(&mut frame);
        let result = call(self, &frame);
        self.scratch = frame;
        result
    }

    fn put_input(&mut self, bytes: &[u8]) -> Result<(u32, u32), SandboxError> {
        // An input past the 32-bit address space can never fit: the same outcome as a refused grow.
        let Ok(len) = u32::try_from(bytes.len()) else { return Err(self.poison(SandboxError::MemoryLimit)) };
        if len > self.input_capacity {
            if self.input_capacity > 0 {
                call(&mut self.store, &self.abi.dealloc, (self.input_ptr, self.input_capacity))?;
                self.input_capacity = 0;
            }
            let capacity = len.max(self.input_capacity.saturating_mul(2)).max(MIN_INPUT);
            let ptr = call(&mut self.store, &self.abi.alloc, capacity)?;
            if ptr == 0 {
                // The guest's allocator returns null only when memory is exhausted.
                return Err(self.poison(SandboxError::MemoryLimit));
            }
            (self.input_ptr, self.input_capacity) = (ptr, capacity);
        }
        let start = self.input_ptr as usize;
        let buffer =
            self.memory.data_mut(&mut self.store).get_mut(start..start + bytes.len()).ok_or_else(|| {
                SandboxError::Protocol("alloc returned a buffer outside the guest's memory".to_owned())
            })?;
        buffer.copy_from_slice(bytes);
        Ok((self.input_ptr, len))
    }

    /// The last call's output if `status` is 0, else the guest's error.
    fn output(&mut self, status: u32) -> Result<&[u8], SandboxError> {
        let ptr = call(&mut self.store, &self.abi.output_ptr, ())? as usize;
        let len = call(&mut self.store, &self.abi.output_len, ())? as usize;
        let output = self
            .memory
            .data(&self.store)
            .get(ptr..ptr + len)
            .ok_or_else(|| SandboxError::Protocol(format!("output {ptr}+{len} lies outside the guest's memory")))?;
        if status == 0 {
            return Ok(output);
        }
        Err(match codec::decode::<String>(FrameKind::Error, output) {
            Ok(message) => SandboxError::Guest { status, message },
            Err(error) => SandboxError::Protocol(format!("status {status} without an Error frame: {error}")),
        })
    }

    fn poison(&mut self, error: SandboxError) -> SandboxError {
        self.store.data_mut().poisoned = true;
        error
    }
}

/// Calls a guest export under the deadline and the memory cap; a trap poisons the instance.
fn call<P: WasmParams, R: WasmResults>(
    store: &mut Store<State>,
    func: &TypedFunc<P, R>,
    params: P,
) -> Result<R, SandboxError> {
    let state = store.data_mut();
    if state.poisoned {
        return Err(SandboxError::Poisoned);
    }
    state.refused_growth = false;
    state.cpu_at_first_look = None;
    store.set_epoch_deadline(FIRST_CHECK_TICKS);
    func.call(&mut *store, params).map_err(|error| {
        let state = store.data_mut();
        state.poisoned = true;
        // The backtrace is only worth a debug line: the caller reports the error and discards the instance.
        tracing::debug!("guest call failed, instance poisoned: {error:?}");
        if state.refused_growth {
            // Running out of memory shows up as whatever the guest does next: an abort, or looping to the deadline.
            SandboxError::MemoryLimit
        } else if let Some(trap) = error.downcast_ref::<Trap>() {
            match trap {
                Trap::Interrupt => SandboxError::Deadline,
                trap => SandboxError::Trap(trap.to_string()),
            }
        } else {
            SandboxError::Trap(format!("{error:#}"))
        }
    })
}

/// The epoch deadline of a call has come: interrupt it if it has used its CPU time, else look again once it could
/// have (see the module's documentation).
fn look_at_cpu_time(mut store: StoreContextMut<'_, State>) -> wasmtime::Result<UpdateDeadline> {
    let state = store.data_mut();
    let now = thread_cpu_time();
    let used = now.saturating_sub(*state.cpu_at_first_look.get_or_insert(now));
    let Some(left) = state.call_deadline.checked_sub(used).filter(|left| !left.is_zero()) else {
        return Ok(UpdateDeadline::Interrupt);
    };
    let ticks = left.as_nanos().div_ceil(state.epoch_tick.as_nanos().max(1));
    Ok(UpdateDeadline::Continue(u64::try_from(ticks).unwrap_or(u64::MAX).max(1)))
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(time.tv_nsec).unwrap_or(0);
    Duration::new(seconds, nanos)
}

fn protocol(error: codec::CodecError) -> SandboxError {
    SandboxError::Protocol(error.to_string())
}
