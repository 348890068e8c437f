//! A minimal wasmtime host for the guest module, shared by the tests and the benchmark. It speaks the ABI exactly as
//! documented at the guest crate root and returns outcomes shaped like the native `Guest`'s, so the two compare
//! directly.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tradesim_protocol::codec::{self, FrameKind};
use wasmtime::{Instance, Memory, Module, Store, TypedFunc};

/// A call's result: the output bytes, or the error status and the message of the `Error` frame.
pub type Outcome<'a> = Result<&'a [u8], (u32, String)>;

/// Where the release build of the module is: `TRADESIM_GUEST_WASM`, else under the cargo target directory.
pub fn module_path() -> PathBuf {
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

/// The compiled module, shared by every instance of one process.
pub fn module() -> &'static Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| {
        let path = module_path();
        check_fresh(&path);
        let engine = wasmtime::Engine::default();
        Module::from_file(&engine, &path).unwrap_or_else(|error| panic!("compiling {}: {error:?}", path.display()))
    })
}

/// One instance of the guest module, with one reusable input buffer in its memory.
pub struct WasmGuest {
    store: Store<()>,
    memory: Memory,
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
    input_ptr: u32,
    input_capacity: u32,
}

impl WasmGuest {
    pub fn new() -> Self {
        let module = module();
        let mut store = Store::new(module.engine(), ());
        let instance = Instance::new(&mut store, module, &[]).expect("instantiate guest");
        let memory = instance.get_memory(&mut store, "memory").expect("guest exports its memory");
        macro_rules! func {
            ($name:literal) => {
                instance.get_typed_func(&mut store, $name).expect(concat!("guest export ", $name))
            };
        }
        Self {
            alloc: func!("alloc"),
            dealloc: func!("dealloc"),
            init: func!("init"),
            execute: func!("execute"),
            snapshot: func!("snapshot"),
            restore: func!("restore"),
            view: func!("view"),
            state_hash: func!("state_hash"),
            output_ptr: func!("output_ptr"),
            output_len: func!("output_len"),
            store,
            memory,
            input_ptr: 0,
            input_capacity: 0,
        }
    }

    /// Copies `bytes` into the guest's input buffer (grown through alloc/dealloc when too small).
    fn put_input(&mut self, bytes: &[u8]) -> (u32, u32) {
        let len = u32::try_from(bytes.len()).expect("input fits in wasm32");
        if len > self.input_capacity {
            if self.input_capacity > 0 {
                self.dealloc.call(&mut self.store, (self.input_ptr, self.input_capacity)).expect("dealloc");
            }
            let capacity = len.max(self.input_capacity.saturating_mul(2)).max(4096);
            self.input_ptr = self.alloc.call(&mut self.store, capacity).expect("alloc");
            assert_ne!(self.input_ptr, 0, "guest out of memory");
            self.input_capacity = capacity;
        }
        let start = self.input_ptr as usize;
        self.memory.data_mut(&mut self.store)[start..start + bytes.len()].copy_from_slice(bytes);
        (self.input_ptr, len)
    }

    fn output(&mut self, status: u32) -> Outcome<'_> {
        let ptr = self.output_ptr.call(&mut self.store, ()).expect("output_ptr") as usize;
        let len = self.output_len.call(&mut self.store, ()).expect("output_len") as usize;
        let output = &self.memory.data(&self.store)[ptr..ptr + len];
        if status == 0 {
            return Ok(output);
        }
        let message: String = codec::decode(FrameKind::Error, output).expect("a failed call leaves an Error frame");
        Err((status, message))
    }

    pub fn init(&mut self, config_frame: &[u8], seed: u64) -> Outcome<'_> {
        let (ptr, len) = self.put_input(config_frame);
        let status = self.init.call(&mut self.store, (ptr, len, seed)).expect("init trapped");
        self.output(status)
    }

    pub fn execute(&mut self, batch_frame: &[u8]) -> Outcome<'_> {
        let (ptr, len) = self.put_input(batch_frame);
        let status = self.execute.call(&mut self.store, (ptr, len)).expect("execute trapped");
        self.output(status)
    }

    pub fn snapshot(&mut self) -> Outcome<'_> {
        let status = self.snapshot.call(&mut self.store, ()).expect("snapshot trapped");
        self.output(status)
    }

    pub fn restore(&mut self, snapshot_frame: &[u8]) -> Outcome<'_> {
        let (ptr, len) = self.put_input(snapshot_frame);
        let status = self.restore.call(&mut self.store, (ptr, len)).expect("restore trapped");
        self.output(status)
    }

    pub fn view(&mut self, request_frame: &[u8]) -> Outcome<'_> {
        let (ptr, len) = self.put_input(request_frame);
        let status = self.view.call(&mut self.store, (ptr, len)).expect("view trapped");
        self.output(status)
    }

    /// The state hash, or the message of the error the guest reported (it returns 0 then).
    pub fn state_hash(&mut self) -> Result<u64, String> {
        let hash = self.state_hash.call(&mut self.store, ()).expect("state_hash trapped");
        let ptr = self.output_ptr.call(&mut self.store, ()).expect("output_ptr") as usize;
        let len = self.output_len.call(&mut self.store, ()).expect("output_len") as usize;
        match len {
            0 => Ok(hash),
            _ => {
                let output = &self.memory.data(&self.store)[ptr..ptr + len];
                assert_eq!(hash, 0, "a failed state_hash returns 0");
                Err(codec::decode(FrameKind::Error, output).expect("an Error frame"))
            }
        }
    }
}
