//! The control plane's HTTP API end to end: real HTTP on port 0, real PostgreSQL, a manual clock and a fake host.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::{ACCESS, IDLE, LIFETIME, LOGIN_BURST, PASSWORD, Stack};
use tradesim_control::domain::FamilyId;

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_sign_in() {
    let stack = Stack::start().await;
    let (access, refresh) = stack.user("alice").await;
    let session = stack.session(&access).await;

    let rotated = stack.call("POST", "/v1/auth/refresh", None, Some(json!({ "refresh_token": refresh }))).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let next = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, refresh);
    let family = FamilyId::parse(rotated.body["sign_in"].as_str().unwrap()).unwrap();
    let fresh_access = rotated.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(stack.call("GET", "/v1/sessions", Some(&fresh_access), None).await.status, StatusCode::OK);

    // The first token again: reuse. The family goes, with its sessions and its sockets.
    let reused = stack.call("POST", "/v1/auth/refresh", None, Some(json!({ "refresh_token": refresh }))).await;
    assert_eq!((reused.status, reused.code()), (StatusCode::UNAUTHORIZED, "refresh_token_reused"));
    assert_eq!(stack.closer.revoked(), vec![family]);
    let successor = stack.call("POST", "/v1/auth/refresh", None, Some(json!({ "refresh_token": next }))).await;
    assert_eq!(successor.code(), "invalid_refresh_token");
    for token in [&access, &fresh_access] {
        let refused = stack.call("GET", "/v1/sessions", Some(token), None).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    }

    // A new login sees the old session ended because of the revocation.
    let (access, _) = login(&stack, "alice").await;
    let sessions = stack.call("GET", "/v1/sessions", Some(&access), None).await;
    let old = &sessions.body["sessions"][0];
    assert_eq!((old["id"].as_str(), old["state"].as_str()), (Some(session.as_str()), Some("ended")));
    assert_eq!(old["end_reason"], "revoked");
    let kinds = stack.audit_kinds().await;
    for kind in ["user_registered", "login_succeeded", "session_created", "session_ended", "refresh_reused"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }
}

async fn login(stack: &Stack, username: &str) -> (String, String) {
    let tokens =
        stack.call("POST", "/v1/auth/login", None, Some(json!({ "username": username, "password": PASSWORD }))).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    (tokens.body["access_token"].as_str().unwrap().into(), tokens.body["refresh_token"].as_str().unwrap().into())
}

#[tokio::test]
async fn logout_revokes_the_sign_in_and_ends_its_sessions() {
    let stack = Stack::start().await;
    let (access, refresh) = stack.user("bob").await;
    let (other_access, _) = login(&stack, "bob").await;
    let session = stack.session(&access).await;
    let out = stack.call("POST", "/v1/auth/logout", Some(&access), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(stack.closer.revoked().len(), 1);
    assert_eq!(stack.call("GET", "/v1/sessions", Some(&access), None).await.code(), "invalid_token");
    let refreshed = stack.call("POST", "/v1/auth/refresh", None, Some(json!({ "refresh_token": refresh }))).await;
    assert_eq!(refreshed.code(), "invalid_refresh_token");
    // The other sign-in carries on and sees the session ended by the logout.
    let listed = stack.call("GET", "/v1/sessions", Some(&other_access), None).await;
    assert_eq!(listed.body["sessions"][0]["id"], session.as_str());
    assert_eq!(listed.body["sessions"][0]["end_reason"], "logout");
    let kept = stack.call("POST", &format!("/v1/sessions/{session}/keep-alive"), Some(&other_access), None).await;
    assert_eq!((kept.status, kept.code()), (StatusCode::GONE, "session_ended"));
}

#[tokio::test]
async fn a_keep_alive_s_relaxed_commit_stays_in_its_own_transaction() {
    let stack = Stack::start().await;
    let (access, _) = stack.user("kai").await;
    let session = stack.session(&access).await;
    for _ in 0..8 {
        let kept = stack.call("POST", &format!("/v1/sessions/{session}/keep-alive"), Some(&access), None).await;
        assert_eq!(kept.status, StatusCode::OK, "{:?}", kept.body);
    }
    // Every pooled connection (the pool has 4), so also the ones the keep-alives ran on: the next transaction on
    // any of them commits durably again.
    let mut held = Vec::new();
    for _ in 0..4 {
        let connection = stack.pool.get().await.unwrap();
        let setting: String = connection.query_one("SHOW synchronous_commit", &[]).await.unwrap().get(0);
        assert_eq!(setting, "on");
        held.push(connection);
    }
}

#[tokio::test]
async fn no_index_of_sessions_covers_the_idle_deadline_so_keep_alives_stay_hot_updates() {
    let stack = Stack::start().await;
    let db = stack.pool.get().await.unwrap();
    // An index's definition names its keys, expressions and predicate: a change to any of those columns makes an
    // update non-HOT (a new entry in every index of the table).
    let rows = db
        .query(
            "SELECT indexrelid::regclass::text FROM pg_index
             WHERE indrelid = 'sessions'::regclass AND pg_get_indexdef(indexrelid) LIKE '%idle_deadline%'",
            &[],
        )
        .await
        .unwrap();
    let covering: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    assert!(covering.is_empty(), "indexes on sessions.idle_deadline: {covering:?}");
}

#[tokio::test]
async fn a_logged_out_access_token_cannot_keep_alive_a_session_of_another_sign_in() {
    let stack = Stack::start().await;
    let (access, _) = stack.user("bea").await;
    let (other_access, _) = login(&stack, "bea").await;
    let others = stack.session(&other_access).await;
    let keep_alive = format!("/v1/sessions/{others}/keep-alive");
    let before = stack.call("POST", &keep_alive, Some(&other_access), None).await.body["idle_deadline_ms"].clone();
    assert_eq!(stack.call("POST", "/v1/auth/logout", Some(&access), None).await.status, StatusCode::NO_CONTENT);
    stack.clock.advance(Duration::from_secs(1));
    let refused = stack.call("POST", &keep_alive, Some(&access), None).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    let listed = stack.call("GET", "/v1/sessions", Some(&other_access), None).await;
    assert_eq!(listed.body["sessions"][0]["idle_deadline_ms"], before, "the refused keep-alive changed nothing");
    let kept = stack.call("POST", &keep_alive, Some(&other_access), None).await;
    assert_eq!(kept.status, StatusCode::OK, "{:?}", kept.body);
    assert!(kept.body["idle_deadline_ms"].as_u64() > before.as_u64());
}

#[tokio::test]
async fn login_answers_alike_for_unknown_users_and_wrong_passwords() {
    let stack = Stack::start().await;
    stack.user("carol").await;
    let wrong = json!({ "username": "carol", "password": "not the password" });
    let unknown = json!({ "username": "nobody", "password": "not the password" });
    let a = stack.call("POST", "/v1/auth/login", None, Some(wrong)).await;
    let b = stack.call("POST", "/v1/auth/login", None, Some(unknown)).await;
    assert_eq!((a.status, &a.body), (StatusCode::UNAUTHORIZED, &b.body));
    assert_eq!(a.code(), "invalid_credentials");
    let taken =
        stack.call("POST", "/v1/auth/register", None, Some(json!({ "username": "CAROL", "password": PASSWORD })));
    assert_eq!(taken.await.code(), "username_taken");
    let kinds = stack.audit_kinds().await;
    assert_eq!(kinds.iter().filter(|k| *k == "login_failed").count(), 2);
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let stack = Stack::start().await;
    let (access, refresh) = stack.user("dave").await;
    stack.clock.advance(ACCESS + Duration::from_secs(1));
    let refused = stack.call("GET", "/v1/sessions", Some(&access), None).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "token_expired"));
    let refreshed = stack.call("POST", "/v1/auth/refresh", None, Some(json!({ "refresh_token": refresh }))).await;
    let access = refreshed.body["access_token"].as_str().unwrap();
    assert_eq!(stack.call("GET", "/v1/sessions", Some(access), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn keep_alive_extends_the_idle_deadline_up_to_the_absolute_lifetime() {
    let stack = Stack::start().await;
    let (access, _) = stack.user("erin").await;
    let session = stack.session(&access).await;
    let keep_alive = format!("/v1/sessions/{session}/keep-alive");
    let step = IDLE * 3 / 4;
    let mut last_idle = 0;
    // Each keep-alive comes before the idle deadline, so the session outlives several idle timeouts...
    while stack.clock_elapsed_after(step) < LIFETIME {
        let kept = stack.call("POST", &keep_alive, Some(&access), None).await;
        assert_eq!(kept.status, StatusCode::OK, "{:?}", kept.body);
        let idle = kept.body["idle_deadline_ms"].as_u64().unwrap();
        assert!(idle <= kept.body["absolute_deadline_ms"].as_u64().unwrap());
        assert!(idle >= last_idle);
        last_idle = idle;
    }
    // ...but not its absolute lifetime.
    let expired = stack.call("POST", &keep_alive, Some(&access), None).await;
    assert_eq!((expired.status, expired.code()), (StatusCode::GONE, "session_expired"));

    // Without keep-alives, a session expires after the idle timeout.
    let idle_session = stack.session(&access).await;
    stack.clock.advance(IDLE);
    let expired = stack.call("POST", &format!("/v1/sessions/{idle_session}/keep-alive"), Some(&access), None).await;
    assert_eq!(expired.code(), "session_expired");
    let listed = stack.call("GET", "/v1/sessions", Some(&access), None).await;
    let states: Vec<&str> =
        listed.body["sessions"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["expired", "expired"]);
    let started =
        stack.call("POST", "/v1/simulators", Some(&access), Some(json!({ "session_id": idle_session }))).await;
    assert_eq!(started.code(), "session_expired");

    // Ending is explicit and idempotent.
    let live = stack.session(&access).await;
    let ended = stack.call("DELETE", &format!("/v1/sessions/{live}"), Some(&access), None).await;
    assert_eq!((ended.body["state"].as_str(), ended.body["end_reason"].as_str()), (Some("ended"), Some("ended")));
    let again = stack.call("DELETE", &format!("/v1/sessions/{live}"), Some(&access), None).await;
    assert_eq!(again.body, ended.body);
}

/// Starts waiting on a slow host hold no database connection, so the rest of the API still answers (the pool has 4).
#[tokio::test]
async fn starts_waiting_on_a_slow_host_leave_the_pool_to_other_calls() {
    let stack = Stack::start().await;
    let mut starters = Vec::new();
    for n in 0..4 {
        let (access, _) = stack.user(&format!("starter{n}")).await;
        let session = stack.session(&access).await;
        starters.push((access, session));
    }
    let (other, _) = stack.user("bystander").await;
    stack.host.create_ms.store(2_000, Ordering::SeqCst);
    let stack = Arc::new(stack);
    let starts: Vec<_> = starters
        .into_iter()
        .map(|(access, session)| {
            let stack = Arc::clone(&stack);
            tokio::spawn(async move { stack.simulator(&access, &session).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let listed = stack.call("GET", "/v1/sessions", Some(&other), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    assert!(asked.elapsed() < Duration::from_secs(1), "answered after {:?}", asked.elapsed());
    for start in starts {
        start.await.unwrap();
    }
}

#[tokio::test]
async fn simulators_start_report_issue_tickets_and_stop() {
    let stack = Stack::start().await;
    let (access, _) = stack.user("frank").await;
    let session = stack.session(&access).await;
    let sim = stack.simulator(&access, &session).await;
    let listed = stack.call("GET", "/v1/simulators", Some(&access), None).await;
    assert_eq!(listed.body["simulators"][0]["id"], sim.as_str());
    assert_eq!(listed.body["simulators"][0]["state"], "running");
    let status = stack.call("GET", &format!("/v1/simulators/{sim}"), Some(&access), None).await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    assert_eq!(
        (status.body["live"]["state"].as_str(), status.body["live"]["step"].as_u64()),
        (Some("running"), Some(7))
    );

    let ticket = stack.call("POST", "/v1/tickets", Some(&access), Some(json!({ "sim": sim }))).await;
    assert_eq!(ticket.status, StatusCode::OK, "{:?}", ticket.body);
    assert!(ticket.body["ticket"].as_str().unwrap().ends_with(&format!(".{sim}")), "{:?}", ticket.body);
    assert_eq!(ticket.body["expires_in"], 30);

    let stopped = stack.call("DELETE", &format!("/v1/simulators/{sim}"), Some(&access), None).await;
    assert_eq!(stopped.body["state"], "stopped");
    assert_eq!(*stack.host.stops.lock().unwrap(), vec![sim.clone()]);
    let refused = stack.call("POST", "/v1/tickets", Some(&access), Some(json!({ "sim": sim }))).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::CONFLICT, "simulator_stopped"));
    let status = stack.call("GET", &format!("/v1/simulators/{sim}"), Some(&access), None).await;
    assert_eq!(status.body["live"], Value::Null);

    // A ticket needs a live session.
    let sim = stack.simulator(&access, &session).await;
    stack.clock.advance(IDLE);
    let refused = stack.call("POST", "/v1/tickets", Some(&access), Some(json!({ "sim": sim }))).await;
    assert_eq!(refused.code(), "session_expired");

    stack
        .control
        .record_order_attempt(
            &tradesim_control::domain::UserId::parse("u_x").unwrap(),
            &tradesim_control::domain::SimId::parse(sim.as_str()).unwrap(),
            "order-1",
            json!({ "outcome": "accepted" }),
        )
        .await
        .unwrap();
    let kinds = stack.audit_kinds().await;
    for kind in ["simulator_started", "ticket_issued", "simulator_stopped", "order_attempt"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn another_users_ids_answer_not_found_and_change_nothing() {
    let stack = Stack::start().await;
    let (alice, _) = stack.user("alice").await;
    let (mallory, _) = stack.user("mallory").await;
    let session = stack.session(&alice).await;
    let sim = stack.simulator(&alice, &session).await;
    let before_sessions = stack.call("GET", "/v1/sessions", Some(&alice), None).await.body;
    let before_sims = stack.call("GET", "/v1/simulators", Some(&alice), None).await.body;

    let attempts: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", format!("/v1/sessions/{session}/keep-alive"), None),
        ("DELETE", format!("/v1/sessions/{session}"), None),
        ("POST", "/v1/simulators".into(), Some(json!({ "session_id": session }))),
        ("GET", format!("/v1/simulators/{sim}"), None),
        ("DELETE", format!("/v1/simulators/{sim}"), None),
        ("POST", "/v1/tickets".into(), Some(json!({ "sim": sim }))),
    ];
    for (method, path, body) in attempts {
        let reply = stack.call(method, &path, Some(&mallory), body).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}");
    }
    for list in ["/v1/sessions", "/v1/simulators"] {
        let reply = stack.call("GET", list, Some(&mallory), None).await;
        assert_eq!(reply.body.as_object().unwrap().values().next().unwrap(), &json!([]), "{list}");
    }
    assert_eq!(stack.call("GET", "/v1/sessions", Some(&alice), None).await.body, before_sessions);
    assert_eq!(stack.call("GET", "/v1/simulators", Some(&alice), None).await.body, before_sims);
    assert!(stack.host.stops.lock().unwrap().is_empty());
}

/// (method, path, authenticated, content type, body, expected status, expected code)
type BadInput<'a> = (&'a str, &'a str, bool, Option<&'a str>, String, StatusCode, &'a str);

#[tokio::test]
async fn bad_input_is_refused_with_a_stable_code() {
    let stack = Stack::start().await;
    let (token, _) = stack.user("grace").await;
    let session = stack.session(&token).await;
    let json = Some("application/json");
    let big = format!("{{\"username\": \"{}\", \"password\": \"x\"}}", "a".repeat(70 * 1024));
    let cases: Vec<BadInput> = vec![
        ("POST", "/v1/auth/register", false, json, "{not json".into(), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            "POST",
            "/v1/auth/register",
            false,
            json,
            r#"{"username": 5, "password": "long enough pw"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/auth/register",
            false,
            json,
            r#"{"username": "henry"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/auth/register",
            false,
            json,
            r#"{"username": "h", "password": "long enough pw"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/auth/register",
            false,
            json,
            r#"{"username": "henry", "password": "short"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/auth/register",
            false,
            None,
            r#"{"username": "henry", "password": "long enough pw"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        ("POST", "/v1/auth/register", false, json, big, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (
            "POST",
            "/v1/auth/refresh",
            false,
            json,
            r#"{"refresh_token": "rt_guess"}"#.into(),
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        ),
        ("POST", "/v1/auth/refresh", false, json, "[]".into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("POST", "/v1/tickets", true, json, "{}".into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (
            "POST",
            "/v1/tickets",
            true,
            json,
            r#"{"sim": "not an id!"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        ("POST", "/v1/tickets", true, json, r#"{"sim": 12}"#.into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (
            "POST",
            "/v1/tickets",
            true,
            json,
            r#"{"sim": "sim_x", "user": "u_other"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        ("POST", "/v1/tickets", true, json, r#"{"sim": "sim_unknown"}"#.into(), StatusCode::NOT_FOUND, "not_found"),
        (
            "POST",
            "/v1/simulators",
            true,
            json,
            r#"{"session_id": "ses_unknown"}"#.into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/v1/simulators",
            true,
            json,
            format!(r#"{{"session_id": "{session}", "speed": "3x"}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/simulators",
            true,
            json,
            format!(r#"{{"session_id": "{session}", "seed": -1}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/sessions/bad%20id/keep-alive",
            true,
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        ("GET", "/v1/simulators/bad%20id", true, None, String::new(), StatusCode::BAD_REQUEST, "invalid_input"),
        ("GET", "/v1/sessions", false, None, String::new(), StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("GET", "/v1/nowhere", false, None, String::new(), StatusCode::NOT_FOUND, "not_found"),
        ("PUT", "/v1/sessions", true, None, String::new(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ];
    for (method, path, authenticated, content_type, body, status, code) in cases {
        let reply = stack.raw(method, path, authenticated.then_some(token.as_str()), content_type, body).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{method} {path}: {:?}", reply.body);
        assert!(!reply.body["message"].as_str().unwrap().is_empty());
    }
    let garbage = stack.call("GET", "/v1/sessions", Some("garbage"), None).await;
    assert_eq!(garbage.code(), "invalid_token");
    // Nothing was created by any of it.
    assert_eq!(stack.call("GET", "/v1/simulators", Some(&token), None).await.body, json!({ "simulators": [] }));
    let users: i64 = stack.pool.get().await.unwrap().query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users, 1);
}

#[tokio::test]
async fn logins_past_the_burst_get_429_with_retry_after() {
    let stack = Stack::start().await;
    stack.user("ivan").await;
    let wrong = json!({ "username": "ivan", "password": "not the password" });
    // The registration helper's login took one.
    for _ in 1..LOGIN_BURST {
        assert_eq!(stack.call("POST", "/v1/auth/login", None, Some(wrong.clone())).await.code(), "invalid_credentials");
    }
    let limited = stack.call("POST", "/v1/auth/login", None, Some(wrong)).await;
    assert_eq!((limited.status, limited.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    // Another username is a different key.
    let other = json!({ "username": "judy", "password": "not the password" });
    assert_eq!(stack.call("POST", "/v1/auth/login", None, Some(other)).await.code(), "invalid_credentials");
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let stack = Stack::start().await;
    let document = stack.call("GET", "/v1/openapi.json", None, None).await.body;
    assert_eq!(document["openapi"], "3.1.0");
    let expected = [
        ("/v1/auth/register", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/sessions", "post"),
        ("/v1/sessions", "get"),
        ("/v1/sessions/{id}/keep-alive", "post"),
        ("/v1/sessions/{id}", "delete"),
        ("/v1/simulators", "post"),
        ("/v1/simulators", "get"),
        ("/v1/simulators/{id}", "get"),
        ("/v1/simulators/{id}", "delete"),
        ("/v1/tickets", "post"),
    ];
    for (path, method) in expected {
        assert!(document["paths"][path][method]["responses"]["default"].is_object(), "{method} {path}");
    }
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for name in ["Tokens", "Session", "SessionList", "Simulator", "SimulatorInfo", "Ticket", "ErrorBody"] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
    let login = &document["paths"]["/v1/auth/login"]["post"];
    assert_eq!(
        login["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Credentials"
    );
    assert!(login.get("security").is_none());
    assert_eq!(document["paths"]["/v1/tickets"]["post"]["security"], json!([{ "bearer": [] }]));
}

#[tokio::test]
async fn a_host_at_capacity_answers_503_and_leaves_no_simulator_behind() {
    let stack = Stack::start().await;
    let (access, _) = stack.user("kim").await;
    let session = stack.session(&access).await;
    stack.host.full.store(true, Ordering::SeqCst);
    let refused = stack.call("POST", "/v1/simulators", Some(&access), Some(json!({ "session_id": session }))).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::SERVICE_UNAVAILABLE, "no_capacity"));
    assert_eq!(stack.call("GET", "/v1/simulators", Some(&access), None).await.body, json!({ "simulators": [] }));
    stack.host.full.store(false, Ordering::SeqCst);
    stack.simulator(&access, &session).await;
}
