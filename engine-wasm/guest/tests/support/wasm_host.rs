//! The guest module in the production sandbox (`tradesim-sandbox`: pooled instances, epoch deadlines, the memory
//! cap), shared by the tests and the benchmark. Outcomes are shaped like the native `Guest`'s, so the two compare
//! directly.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tradesim_sandbox::{Instance, Sandbox, SandboxConfig, SandboxError};

/// A call's result: the output bytes, or the error status and the message of the `Error` frame.
pub type Outcome<'a> = Result<&'a [u8], (u32, String)>;

/// Where the release build of the module is (see [`tradesim_sandbox::default_guest_path`]).
pub fn module_path() -> PathBuf {
    tradesim_sandbox::default_guest_path()
}

/// Fails when a source the module was built from (per cargo's dep-info file beside it) changed after the build,
/// since a stale module makes differential results meaningless.
fn check_fresh(module: &Path) {
    let built = std::fs::metadata(module).and_then(|m| m.modified()).unwrap_or_else(|error| {
        panic!("guest module {} is missing ({error}); run `make guest` first", module.display())
    });
    // An explicitly named module (TRADESIM_GUEST_WASM) usually has no dep-info: it is taken as is.
    let Ok(dep_info) = std::fs::read_to_string(module.with_extension("d")) else { return };
    let Some((_, sources)) = dep_info.split_once(": ") else { return };
    let sources = sources.replace("\\ ", "\0");
    for source in sources.split_whitespace().map(|path| PathBuf::from(path.replace('\0', " "))) {
        let changed = std::fs::metadata(&source).and_then(|m| m.modified()).map_or(true, |time| time > built);
        assert!(
            !changed,
            "guest module {} is older than {}; run `make guest` to rebuild it",
            module.display(),
            source.display()
        );
    }
}

/// The sandbox holding the compiled module, shared by every instance of one process. Loading it checks that the
/// module imports nothing and exports the whole ABI with the right signatures.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let path = module_path();
        check_fresh(&path);
        // Benchmark batches and long background-market runs are far bigger than a host's steps: room to finish.
        let config = SandboxConfig {
            // Fewer slots reserve less address space (`valgrind` cannot reserve the default pool).
            max_instances: std::env::var("TRADESIM_SANDBOX_INSTANCES").ok().and_then(|n| n.parse().ok()).unwrap_or(64),
            memory_limit_bytes: 1 << 30,
            call_deadline: Duration::from_secs(120),
            ..SandboxConfig::default()
        };
        Sandbox::from_file(config, &path).unwrap_or_else(|error| panic!("loading {}: {error}", path.display()))
    })
}

/// One sandboxed instance of the guest module.
pub struct WasmGuest(Instance);

/// The guest's refusal as `(status, message)`; anything else (a trap, the deadline) fails the test.
fn refused<T>(result: Result<T, SandboxError>) -> Result<T, (u32, String)> {
    result.map_err(|error| match error {
        SandboxError::Guest { status, message } => (status, message),
        other => panic!("the guest call failed: {other}"),
    })
}

impl WasmGuest {
    pub fn new() -> Self {
        Self(sandbox().instantiate().expect("instantiate guest"))
    }

    pub fn init(&mut self, config_frame: &[u8], seed: u64) -> Outcome<'_> {
        refused(self.0.init_frame(config_frame, seed))
    }

    pub fn execute(&mut self, batch_frame: &[u8]) -> Outcome<'_> {
        refused(self.0.execute_frame(batch_frame))
    }

    pub fn snapshot(&mut self) -> Result<Vec<u8>, (u32, String)> {
        refused(self.0.snapshot())
    }

    pub fn restore(&mut self, snapshot_frame: &[u8]) -> Result<(), (u32, String)> {
        refused(self.0.restore(snapshot_frame))
    }

    pub fn view(&mut self, request_frame: &[u8]) -> Outcome<'_> {
        refused(self.0.view_frame(request_frame))
    }

    /// The state hash, or the message of the error the guest reported.
    pub fn state_hash(&mut self) -> Result<u64, String> {
        refused(self.0.state_hash()).map_err(|(_, message)| message)
    }
}
