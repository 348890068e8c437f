//! The epoch ticker thread lives exactly as long as the sandbox's clones and instances. A test binary of its own,
//! so no other test's sandboxes add ticker threads while it counts.

use tradesim_sandbox::{Sandbox, SandboxConfig};

/// Threads of this process named like the ticker.
fn tickers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "tradesim-epoch")
        .count()
}

/// The ticker names itself once it starts running, a moment after `spawn` returns: wait for that, within reason.
fn wait_for_tickers(expected: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let count = tickers();
        if count == expected || std::time::Instant::now() >= deadline {
            return count;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn the_ticker_stops_when_the_last_clone_and_instance_drop() {
    let module = wat::parse_str(
        r#"(module
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) i32.const 1024)
            (func (export "dealloc") (param i32 i32))
            (func (export "init") (param i32 i32 i64) (result i32) i32.const 0)
            (func (export "execute") (param i32 i32) (result i32) i32.const 0)
            (func (export "snapshot") (result i32) i32.const 0)
            (func (export "restore") (param i32 i32) (result i32) i32.const 0)
            (func (export "view") (param i32 i32) (result i32) i32.const 0)
            (func (export "state_hash") (result i64) i64.const 0)
            (func (export "output_ptr") (result i32) i32.const 0)
            (func (export "output_len") (result i32) i32.const 0))"#,
    )
    .expect("valid WAT");
    assert_eq!(tickers(), 0);
    let sandbox = Sandbox::new(SandboxConfig { max_instances: 4, ..SandboxConfig::default() }, &module).expect("loads");
    let clone = sandbox.clone();
    let instance = clone.instantiate().expect("instance");
    assert_eq!(wait_for_tickers(1), 1, "one ticker per sandbox, shared by clones");
    drop(sandbox);
    drop(clone);
    assert_eq!(tickers(), 1, "a live instance keeps its deadline");
    drop(instance);
    assert_eq!(tickers(), 0, "joined when the last user drops");
}
