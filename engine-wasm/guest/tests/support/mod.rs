pub mod commands;
pub mod wasm_host;
