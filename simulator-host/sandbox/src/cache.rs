//! The on-disk cache of the compiled guest: compiling takes seconds, loading a cached artifact milliseconds.
//!
//! An artifact is named by a hash of the engine's `precompile_compatibility_hash` (wasmtime version, target, compiler
//! flags, engine settings) and a hash of the module bytes, so a changed module or engine simply misses the cache.
//! A cache that cannot be read or written costs a compile, never an error.

use crate::SandboxError;
use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::{Engine, Module};

/// The compiled module: from `cache_dir` when it holds an artifact for this engine and module, else compiled (and
/// written there for next time).
pub(crate) fn load(engine: &Engine, wasm: &[u8], cache_dir: Option<&Path>) -> Result<Module, SandboxError> {
    let Some(dir) = cache_dir else { return compile(engine, wasm) };
    let path = dir.join(artifact_name(engine, wasm));
    if path.is_file() {
        match deserialize(engine, &path) {
            Ok(module) => return Ok(module),
            Err(error) => {
                tracing::warn!(path = %path.display(), "cached guest artifact unusable, recompiling: {error:#}")
            }
        }
    }
    let module = compile(engine, wasm)?;
    match module.serialize() {
        Ok(bytes) => {
            if let Err(error) = write_atomically(&path, &bytes) {
                tracing::warn!(path = %path.display(), "cannot cache the compiled guest: {error}");
            }
        }
        Err(error) => tracing::warn!("cannot serialize the compiled guest: {error:#}"),
    }
    Ok(module)
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Module, SandboxError> {
    Module::new(engine, wasm).map_err(|e| SandboxError::Compile(format!("{e:#}")))
}

/// `tradesim-guest-<engine hash>-<module hash>.cwasm`. `DefaultHasher::new()` uses fixed keys, so names are stable
/// across processes of one build; a toolchain that hashes differently only misses the cache.
fn artifact_name(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hasher.finish();
    let mut hasher = DefaultHasher::new();
    wasm.hash(&mut hasher);
    format!("tradesim-guest-{engine_hash:016x}-{:016x}.cwasm", hasher.finish())
}

/// Loads a compiled artifact from our own cache.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Module> {
    // SAFETY: deserializing trusts the file to be an artifact wasmtime produced. The file is our own: its name holds
    // this engine's compatibility hash and the module's hash, it was written by `write_atomically` (temp file,
    // fsync, rename), so it is whole, and it is never modified in place afterwards, so the mapping wasmtime keeps
    // of it cannot change under it (a replacement is a new inode). Wasmtime still checks the header and that the
    // artifact matches this engine's configuration.
    unsafe { Module::deserialize_file(engine, path) }
}

/// Writes `bytes` to `path` so that readers see either no file or the whole file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Unique per process and call, so concurrent writers never share a temp file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp: PathBuf =
        dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let written = File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let result = written.and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        // Best effort: a leftover temp file is harmless, it is never read.
        let _ = std::fs::remove_file(&temp);
    }
    result
}
