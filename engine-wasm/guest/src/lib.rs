//! The tradesim engine as a WebAssembly guest: a narrow batch ABI over [`tradesim_core::Engine`].
//!
//! All logic lives in [`Guest`], a plain Rust type that runs natively too (tests, the benchmark baseline); on
//! `wasm32` a thin export layer (module `wasm`) forwards each call to one `Guest` and publishes its output.
//!
//! # ABI (wasm exports; pointers and lengths are `i32`, `seed` and the hash `i64`)
//! Every input and output is a [`tradesim_protocol::codec`] frame (magic, kind byte, protocol version).
//!
//! | export | input | output on success |
//! |---|---|---|
//! | `alloc(len) -> ptr`, `dealloc(ptr, len)` | | a buffer the host writes its input into |
//! | `init(ptr, len, seed) -> status` | `Config` frame of a `SimConfig` | empty |
//! | `execute(ptr, len) -> status` | `Batch` frame | `Events` frame of `Vec<Event>` |
//! | `snapshot() -> status` | | `Snapshot` frame (`Engine::snapshot`) |
//! | `restore(ptr, len) -> status` | `Snapshot` frame | empty |
//! | `view(ptr, len) -> status` | `ViewRequest` frame of a [`ViewRequest`] | `View` frame of an `EngineView` |
//! | `state_hash() -> u64` | | empty (0 and an `Error` frame before `init`) |
//! | `output_ptr() -> ptr`, `output_len() -> len` | | the last call's output |
//!
//! Status 0 is success; any other status is a [`GuestError::status`] code (1 not initialized, 2 bad frame, 3 invalid
//! config, 4 invalid snapshot) and the output is an `Error` frame holding the error's message (a `String`). `init`
//! and `restore` replace any engine already there. A trap (an engine bug; nothing the input can cause by design)
//! leaves the instance unusable: the host discards it and restores the last snapshot into a new one.
//!
//! # Invariants
//! - A failed call changes no engine state: every input is decoded and validated before the engine is touched.
//! - The guest imports nothing (no clock, no randomness, no host functions): time and the seed are inputs, so the
//!   module's output is a pure function of its calls, identical to the native [`Guest`]'s.
//! - The output stays valid until the next call into the guest; its buffer is reused across calls.

use bincode::Encode;
use tradesim_core::{Engine, SnapshotError};
use tradesim_protocol::codec::{self, FrameKind};
use tradesim_protocol::{Batch, CodecError, ConfigError, Event, SimConfig, ViewRequest};

#[cfg(target_arch = "wasm32")]
// The export layer must use raw pointers and `no_mangle`; it is the only place that may.
#[allow(unsafe_code)]
mod wasm;

/// Why a guest call failed. The call changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    #[error("the engine is not initialized; call init (or restore) first")]
    NotInitialized,
    #[error("bad input frame: {0}")]
    Frame(#[from] CodecError),
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error("invalid snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
}

impl GuestError {
    pub const STATUS_NOT_INITIALIZED: u32 = 1;
    pub const STATUS_FRAME: u32 = 2;
    pub const STATUS_CONFIG: u32 = 3;
    pub const STATUS_SNAPSHOT: u32 = 4;

    /// The stable nonzero status code a wasm export returns for this error.
    pub fn status(&self) -> u32 {
        match self {
            Self::NotInitialized => Self::STATUS_NOT_INITIALIZED,
            Self::Frame(_) => Self::STATUS_FRAME,
            Self::Config(_) => Self::STATUS_CONFIG,
            Self::Snapshot(_) => Self::STATUS_SNAPSHOT,
        }
    }
}

/// One engine behind the frame ABI, with buffers reused from call to call.
#[derive(Debug, Default)]
pub struct Guest {
    engine: Option<Engine>,
    /// The last batch decoded; its command vector is reused from call to call.
    batch: Batch,
    events: Vec<Event>,
    output: Output,
}

/// The last call's output frame, in a buffer reused from call to call.
#[derive(Debug, Default)]
struct Output {
    /// `buffer[..len]` is the frame. The buffer stays initialized at its full length so frames are encoded into a
    /// slice: about twice as fast as appending to a `Vec`, which checks capacity on every write.
    buffer: Vec<u8>,
    len: usize,
}

/// Smallest output buffer; it doubles whenever a frame does not fit.
const MIN_OUTPUT: usize = 64 * 1024;

impl Output {
    fn get(&self) -> &[u8] {
        &self.buffer[..self.len]
    }

    /// Replaces the output with a frame of `kind` holding `value`, encoded exactly as [`codec::encode`] does.
    fn set<T: Encode>(&mut self, kind: FrameKind, value: &T) -> &[u8] {
        if self.buffer.len() < MIN_OUTPUT {
            self.buffer.resize(MIN_OUTPUT, 0);
        }
        self.len = codec::encode_into_buffer(kind, value, &mut self.buffer);
        self.get()
    }

    /// Replaces the output with an `Events` frame, through the hand-written encoder (the same bytes as
    /// [`Output::set`] would write, faster).
    fn set_events(&mut self, events: &[Event]) -> &[u8] {
        if self.buffer.len() < MIN_OUTPUT {
            self.buffer.resize(MIN_OUTPUT, 0);
        }
        self.len = tradesim_protocol::event_codec::encode_events_into_buffer(events, &mut self.buffer);
        self.get()
    }

    fn clear(&mut self) -> &[u8] {
        self.len = 0;
        self.get()
    }
}

impl Guest {
    pub fn new() -> Self {
        Self::default()
    }

    /// The engine, once `init` or `restore` succeeded.
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// The last call's output (see the module docs).
    pub fn output(&self) -> &[u8] {
        self.output.get()
    }

    /// Starts a new engine from a `Config` frame, replacing any previous one.
    pub fn handle_init(&mut self, config_frame: &[u8], seed: u64) -> Result<&[u8], GuestError> {
        let config: SimConfig = codec::decode(FrameKind::Config, config_frame)?;
        self.engine = Some(Engine::new(config, seed)?);
        Ok(self.output.clear())
    }

    /// Executes a `Batch` frame; the output is an `Events` frame of what the engine emitted.
    pub fn handle_execute(&mut self, batch_frame: &[u8]) -> Result<&[u8], GuestError> {
        let engine = self.engine.as_mut().ok_or(GuestError::NotInitialized)?;
        // Decoded by hand (the same result as `codec::decode`, in a fraction of the time).
        tradesim_protocol::batch_codec::decode_batch_into(batch_frame, &mut self.batch)?;
        self.events.clear();
        engine.execute(&self.batch, &mut self.events);
        Ok(self.output.set_events(&self.events))
    }

    /// The output is the engine's snapshot frame, byte for byte what `Engine::snapshot` returns.
    pub fn handle_snapshot(&mut self) -> Result<&[u8], GuestError> {
        let engine = self.engine.as_ref().ok_or(GuestError::NotInitialized)?;
        // Encoding in place (rather than calling Engine::snapshot) reuses the output buffer.
        Ok(self.output.set(FrameKind::Snapshot, engine))
    }

    /// Replaces the engine (if any) with one restored from a `Snapshot` frame.
    pub fn handle_restore(&mut self, snapshot_frame: &[u8]) -> Result<&[u8], GuestError> {
        self.engine = Some(Engine::restore(snapshot_frame)?);
        Ok(self.output.clear())
    }

    /// The output is a `View` frame of the requested participant's `EngineView`.
    pub fn handle_view(&mut self, request_frame: &[u8]) -> Result<&[u8], GuestError> {
        let engine = self.engine.as_ref().ok_or(GuestError::NotInitialized)?;
        let request: ViewRequest = codec::decode(FrameKind::ViewRequest, request_frame)?;
        let view = engine.view(request.participant, request.depth as usize);
        Ok(self.output.set(FrameKind::View, &view))
    }

    /// The engine's state hash; the output is empty.
    pub fn handle_state_hash(&mut self) -> Result<u64, GuestError> {
        let hash = self.engine.as_ref().map(Engine::state_hash).ok_or(GuestError::NotInitialized)?;
        self.output.clear();
        Ok(hash)
    }

    /// Turns a call's result into its status, leaving an `Error` frame in the output on failure.
    pub fn finish(&mut self, result: Result<(), GuestError>) -> u32 {
        match result {
            Ok(()) => 0,
            Err(error) => {
                self.output.set(FrameKind::Error, &error.to_string());
                error.status()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradesim_protocol::{Command, ParticipantId, Scenario};

    #[test]
    fn outputs_are_the_codecs_frames() {
        let mut guest = Guest::new();
        let config = SimConfig { scenario: Scenario::Calm, ..SimConfig::default() };
        guest.handle_init(&codec::encode(FrameKind::Config, &config), 5).expect("init");
        // Enough steps and commands that the events outgrow the initial buffer (it must grow and re-encode).
        let cancel = Command::MassCancel { participant: ParticipantId::USER, instrument: None, side: None };
        let batch = Batch { commands: vec![cancel; 10], steps: 30_000 };
        let output = guest.handle_execute(&codec::encode(FrameKind::Batch, &batch)).expect("execute").to_vec();
        assert!(output.len() > MIN_OUTPUT, "only {} bytes of events", output.len());
        let events: Vec<Event> = codec::decode(FrameKind::Events, &output).expect("an Events frame");
        assert_eq!(output, codec::encode(FrameKind::Events, &events));

        let snapshot = guest.handle_snapshot().expect("snapshot").to_vec();
        assert_eq!(Some(snapshot), guest.engine().map(Engine::snapshot));

        let request =
            codec::encode(FrameKind::ViewRequest, &ViewRequest { participant: ParticipantId::USER, depth: 3 });
        let view = guest.handle_view(&request).expect("view").to_vec();
        let expected = guest.engine().map(|engine| engine.view(ParticipantId::USER, 3)).expect("engine");
        assert_eq!(view, codec::encode(FrameKind::View, &expected));

        let status = guest.finish(Err(GuestError::NotInitialized));
        assert_eq!(status, GuestError::STATUS_NOT_INITIALIZED);
        assert_eq!(guest.output(), codec::encode(FrameKind::Error, &GuestError::NotInitialized.to_string()));
    }
}
