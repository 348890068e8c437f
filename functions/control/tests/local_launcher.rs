//! LocalLauncher against the real `tradesim-host` binary: launched on a free port, answering `/health` as
//! itself, then stopped with SIGTERM. Needs the binary and the engine module built beforehand (see `artifact`).

use std::path::PathBuf;
use std::time::Duration;
use tradesim_control::hosts::{HostClient, HttpHostClient};
use tradesim_control::{ControlError, Launcher, LocalLauncher, LocalLauncherConfig};
use tradesim_journal::testing::TestDatabase;

const SERVICE_TOKEN: &str = "launcher-test-token";

/// The target directory: `CARGO_TARGET_DIR`, or the one this test binary was built into (`<target>/debug/deps`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors().nth(3).expect("the test binary lies in <target>/debug/deps").to_path_buf()
}

/// `variable` if set, else `default` under the target directory; a missing file fails the test with how to build
/// it, so the test cannot pass without running the host.
fn artifact(variable: &str, default: &str, build: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(|| target_dir().join(default), PathBuf::from);
    assert!(path.is_file(), "{} does not exist: build it with `{build}` (or set {variable})", path.display());
    path
}

fn config(binary: PathBuf, database_url: &str) -> LocalLauncherConfig {
    let guest = artifact("TRADESIM_GUEST_WASM", "wasm32-unknown-unknown/release/tradesim_guest.wasm", "make guest");
    let mut config = LocalLauncherConfig::new(binary, database_url, SERVICE_TOKEN, "launcher-test-secret", guest);
    config.capacity = 8;
    config.env = vec![("TRADESIM_SHARDS".into(), "1".into()), ("TRADESIM_LOG".into(), "warn".into())];
    config.start_timeout = Duration::from_secs(120);
    config
}

#[tokio::test]
async fn a_launched_host_answers_health_and_stops_on_sigterm() {
    let binary = artifact("TRADESIM_HOST_BIN", "debug/tradesim-host", "cargo build -p tradesim-host");
    let database = TestDatabase::create().await;
    let launcher = LocalLauncher::new(config(binary, database.url())).unwrap();

    let host = launcher.launch().await.unwrap();
    assert!(host.id.starts_with("local-") && host.address.starts_with("http://127.0.0.1:"), "{host:?}");
    let client = HttpHostClient::new(SERVICE_TOKEN, Duration::from_secs(5)).unwrap();
    let health = client.health(&host).await.unwrap();
    assert_eq!((health.host_id.as_str(), health.simulators, health.capacity), (host.id.as_str(), 0, 8));
    let listed = launcher.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].alive && listed[0].target == host);

    launcher.stop(&host.id).await.unwrap();
    assert!(launcher.list().await.unwrap().is_empty());
    assert!(matches!(client.health(&host).await, Err(ControlError::HostUnavailable(_))));
    // Stopping again, or a host it never started, is a no-op.
    launcher.stop(&host.id).await.unwrap();
}

#[tokio::test]
async fn a_missing_binary_fails_the_launch_saying_how_to_build_it() {
    let launcher = LocalLauncher::new(config("/nonexistent/tradesim-host".into(), "postgres://unused")).unwrap();
    let error = launcher.launch().await.unwrap_err();
    assert_eq!(error.code(), "launch_failed");
    let ControlError::LaunchFailed(detail) = error else { unreachable!() };
    assert!(detail.contains("cargo build -p tradesim-host"), "{detail}");
}
