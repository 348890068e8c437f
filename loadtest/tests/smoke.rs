//! A short load and chaos run of the whole local stack: a handful of users for a few seconds, trading through the
//! fault proxy with their own cuts, reloads and slices, and the local gateway restarted under them. Needs
//! `tradesim-dev` and `tradesim-host` built beside this test (`cargo build -p tradesim-devstack -p
//! tradesim-host`; `cargo test --workspace` builds them) and the engine module (`make guest`).

use std::time::Duration;
use tradesim_loadtest::chaos::Chaos;
use tradesim_loadtest::user::Behaviour;
use tradesim_loadtest::{Settings, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handful_of_users_survive_a_gateway_restart_with_nothing_lost_or_duplicated() {
    let dir = std::env::temp_dir().join(format!("tradesim-loadtest-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = Settings {
        users: 4,
        duration: Duration::from_secs(8),
        chaos: vec![Chaos::RestartGateway],
        behaviour: Behaviour {
            order_every: Duration::from_millis(300),
            disrupt_every: Duration::from_secs(3),
            keep_alive_every: Duration::from_secs(2),
        },
        settle_within: Duration::from_secs(60),
        dir: dir.clone(),
        report: Some(dir.join("report")),
        ..Settings::default()
    };
    for binary in [&settings.dev_bin, &settings.host_bin, &settings.guest_wasm] {
        assert!(
            binary.is_file(),
            "{} is missing: `cargo build -p tradesim-devstack -p tradesim-host`, `make guest`",
            binary.display()
        );
    }
    let result = run(&settings).await.expect("the run completes");

    let missed: Vec<String> = result
        .goals()
        .into_iter()
        .filter(|g| g.integrity && !g.met)
        .map(|g| format!("{}: {}", g.name, g.measured))
        .collect();
    assert!(
        missed.is_empty(),
        "{missed:?}; failures {:?}; differences {:?}",
        result.failures,
        result.difference_examples
    );
    assert!(result.ledger.acknowledged >= 20, "the users traded: {:?}", result.ledger);
    assert!(result.ledger.attempts > result.ledger.orders, "drops made the users retry: {:?}", result.ledger);
    assert!(!result.reconnects.is_empty() && !result.round_trips.is_empty() && !result.market_data_lag.is_empty());
    assert!(result.chaos[0].survived(), "{:?}", result.chaos);
    assert!(result.trading_frames > 0, "frames are counted while trading");
    assert!(result.sampled.processes.iter().any(|s| s.process.starts_with("host ")), "the hosts were sampled");
    let report = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    assert!(report.contains("gateway"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
