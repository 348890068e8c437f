//! A session's life through the local gateway, with the simulator manager's sweeper: keep-alive moves the idle
//! deadline, a session left idle expires, and after the cool-down its simulator is stopped on its host and its
//! client told so. The sweeper's clock is moved forward instead of waiting; the host, the gateway, the
//! control plane and PostgreSQL are real. Needs the guest module: `make guest`.

mod support;

use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{Api, Stack, has_market_data, until};
use tradesim_control::manager::{Parts, Sweeper};
use tradesim_control::{LocalLauncher, LocalLauncherConfig, ManagerConfig};
use tradesim_protocol::stream::{ServerMessage, SimState};

/// The user's only session, as the session list reports it.
async fn listed(api: &Api, access: &str) -> Value {
    let (_, list) = api.call(Method::GET, "/v1/sessions", Some(access), None).await;
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(1), "{list}");
    list["sessions"][0].clone()
}

fn deadline(session: &Value, field: &str) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(session[field].as_u64().unwrap_or_else(|| panic!("{field} in {session}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_and_its_simulator_is_reclaimed_after_the_cool_down() {
    let stack = Stack::start().await;
    let api = &stack.api;
    let access = api.sign_up("idler").await;
    let session = api.session(&access).await;
    let sim = api.start_simulator(&access, &session).await;
    let (mut socket, _) = api.open(&access, &sim, 0).await;
    until(&mut socket, has_market_data).await;

    // Keep-alive moves the idle deadline on (never past the absolute one).
    let before = listed(api, &access).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let kept = api.post(&format!("/v1/sessions/{session}/keep-alive"), Some(&access), None).await;
    let idle_deadline = deadline(&kept, "idle_deadline_ms");
    assert!(idle_deadline > deadline(&before, "idle_deadline_ms"), "{before} then {kept}");
    assert!(idle_deadline <= deadline(&kept, "absolute_deadline_ms"));

    // No host dies here, so the launcher (which only fences dead hosts) is never called.
    let launcher = LocalLauncher::new(LocalLauncherConfig::new(
        "tradesim-host",
        "postgres://unused",
        &api.secrets.service_token,
        &api.secrets.ticket_secret,
        tradesim_sandbox::default_guest_path(),
    ))
    .unwrap();
    let config = ManagerConfig { cool_down: Duration::from_secs(60), ..ManagerConfig::default() };
    let hosts = Arc::clone(&api.plane.plane.hosts) as _;
    let sweeper = Sweeper::new(Parts::new(api.pool.clone(), hosts, Arc::new(launcher), &config), &config);

    // Before the deadline nothing happens.
    stack.heartbeat_at(idle_deadline - Duration::from_secs(1)).await;
    let report = sweeper.tick(idle_deadline - Duration::from_secs(1)).await.unwrap();
    assert_eq!((report.sessions_ended, report.simulators_stopped), (0, 0), "{report:?}");

    // Past it the session ends, but its simulator keeps running through the cool-down (a reload may come back).
    let expired = idle_deadline + Duration::from_secs(1);
    stack.heartbeat_at(expired).await;
    let report = sweeper.tick(expired).await.unwrap();
    assert_eq!((report.sessions_ended, report.simulators_stopped), (1, 0), "{report:?}");
    let ended = listed(api, &access).await;
    assert_eq!((&ended["state"], &ended["end_reason"]), (&Value::from("ended"), &Value::from("idle")), "{ended}");
    let (_, status) = api.call(Method::GET, &format!("/v1/simulators/{sim}"), Some(&access), None).await;
    assert_eq!(status["simulator"]["state"], "running", "{status}");

    // After the cool-down the simulator is stopped on its host, which tells its client so.
    let cooled = expired + config.cool_down;
    stack.heartbeat_at(cooled).await;
    let report = sweeper.tick(cooled).await.unwrap();
    assert_eq!((report.simulators_stopped, report.failures), (1, 0), "{report:?}");
    let (_, status) = api.call(Method::GET, &format!("/v1/simulators/{sim}"), Some(&access), None).await;
    assert_eq!(status["simulator"]["state"], "stopped", "{status}");
    until(&mut socket, |m| matches!(m, ServerMessage::Status { state: SimState::Stopped, .. })).await;
    // A second sweep finds nothing more to do.
    assert_eq!(sweeper.tick(cooled).await.unwrap(), Default::default());
}
