//! The browser's TypeScript types are generated from the Rust wire types (the stream protocol, engine views and
//! configs, and the HTTP API's bodies) into `frontend/src/protocol/generated`. This test regenerates them into a
//! scratch directory and fails when the committed files differ; `TRADESIM_WRITE_TS=1` writes them instead.
//! Run it with `cargo test -p tradesim-control --features ts --test typescript` (`make ts-check`).
#![cfg(feature = "ts")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tradesim_control::{
    Credentials, ErrorBody, RefreshRequest, SessionList, SimulatorList, SimulatorStatus, StartSimulator, Ticket,
    TicketRequest, Tokens, User,
};
use tradesim_protocol::stream::{ClientMessage, Envelope, ServerMessage};
use tradesim_protocol::{EngineView, SimConfig};
use ts_rs::{Config, TS};

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../frontend/src/protocol/generated")
}

/// Every root type; ts-rs exports each with everything it refers to, one file per type.
fn export_all(dir: &Path) {
    // JSON numbers: every integer on the wire stays below 2^53 (prices, quantities, money, seqs).
    let config = Config::new().with_large_int("number").with_out_dir(dir);
    let exports = [
        Envelope::<ClientMessage>::export_all(&config),
        ClientMessage::export_all(&config),
        ServerMessage::export_all(&config),
        EngineView::export_all(&config),
        SimConfig::export_all(&config),
        Credentials::export_all(&config),
        User::export_all(&config),
        Tokens::export_all(&config),
        RefreshRequest::export_all(&config),
        SessionList::export_all(&config),
        StartSimulator::export_all(&config),
        SimulatorList::export_all(&config),
        SimulatorStatus::export_all(&config),
        TicketRequest::export_all(&config),
        Ticket::export_all(&config),
        ErrorBody::export_all(&config),
    ];
    for export in exports {
        export.expect("a TypeScript binding could not be exported");
    }
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.expect("readable directory entry").path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "ts"))
                .map(|path| {
                    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(&path).expect("readable binding"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn typescript_bindings_match_the_rust_types() {
    let committed = committed_dir();
    if std::env::var_os("TRADESIM_WRITE_TS").is_some() {
        // Written from scratch so that a type removed in Rust leaves no file behind.
        let _ = std::fs::remove_dir_all(&committed);
        export_all(&committed);
        return;
    }
    let scratch = std::env::temp_dir().join(format!("tradesim-ts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    export_all(&scratch);
    let generated = read_dir(&scratch);
    std::fs::remove_dir_all(&scratch).expect("scratch directory removed");
    let on_disk = read_dir(&committed);
    let names = |files: &BTreeMap<String, String>| files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&on_disk), names(&generated), "binding files differ: run `make ts-generate` and commit");
    for (name, text) in &generated {
        assert_eq!(&on_disk[name], text, "{name} is stale: run `make ts-generate` and commit");
    }
}
