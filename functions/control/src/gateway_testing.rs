//! Fakes for the gateway's tests and the ws Lambdas' tests: a host that admits the ticket `good` for alice's
//! `sim_1` (seeded in a fresh database) and records every call, and gateway connections that record closes.

use crate::clock::SystemClock;
use crate::connections::PgConnections;
use crate::db;
use crate::domain::{ConnectionId, SimId, UserId};
use crate::error::ControlError;
use crate::gateway::{Admitted, Gateway, GatewayConfig, GatewayConnections, GatewayServices, HostGateway};
use crate::hosts::{BoxFuture, HostTarget};
use crate::limits::Rate;
use deadpool_postgres::Pool;
use std::sync::{Arc, Mutex};
use tradesim_journal::testing::TestDatabase;

/// A host that admits the ticket "good" for alice's sim_1 and records every call.
#[derive(Debug, Default)]
pub struct FakeHost {
    calls: Mutex<Vec<String>>,
    /// Answer `unknown_connection` to frames.
    pub forgot: std::sync::atomic::AtomicBool,
}

impl FakeHost {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl HostGateway for FakeHost {
    fn open<'a>(
        &'a self,
        _: &'a HostTarget,
        connection: &'a ConnectionId,
        sim: &'a SimId,
        ticket: &'a str,
    ) -> BoxFuture<'a, Result<Admitted, ControlError>> {
        self.calls.lock().unwrap().push(format!("open {connection}"));
        let answer = match ticket {
            "good" => Ok(Admitted { user: UserId::parse("u_alice").unwrap(), sim: sim.clone() }),
            _ => Err(ControlError::HostRefused { code: "bad_ticket".into(), message: "no".into() }),
        };
        Box::pin(std::future::ready(answer))
    }

    fn forward<'a>(
        &'a self,
        _: &'a HostTarget,
        connection: &'a ConnectionId,
        frame: String,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        self.calls.lock().unwrap().push(format!("forward {connection} {frame}"));
        let answer = if self.forgot.load(std::sync::atomic::Ordering::SeqCst) {
            Err(ControlError::HostRefused { code: "unknown_connection".into(), message: "gone".into() })
        } else {
            Ok(())
        };
        Box::pin(std::future::ready(answer))
    }

    fn close<'a>(&'a self, _: &'a HostTarget, connection: &'a ConnectionId) -> BoxFuture<'a, Result<(), ControlError>> {
        self.calls.lock().unwrap().push(format!("close {connection}"));
        Box::pin(std::future::ready(Ok(())))
    }
}

#[derive(Debug, Default)]
pub struct Closed(pub Mutex<Vec<String>>);

impl GatewayConnections for Closed {
    fn close<'a>(&'a self, connection: &'a ConnectionId) -> BoxFuture<'a, Result<(), ControlError>> {
        self.0.lock().unwrap().push(connection.to_string());
        Box::pin(std::future::ready(Ok(())))
    }
}

#[derive(Debug)]
pub struct Fixture {
    pub gateway: Arc<Gateway>,
    pub host: Arc<FakeHost>,
    pub closed: Arc<Closed>,
    pub pool: Pool,
    pub database: TestDatabase,
}

pub async fn fixture(connect_rate: Rate) -> Fixture {
    let database = TestDatabase::create().await;
    let pool = db::pool(database.url(), 2).unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "INSERT INTO users VALUES ('u_alice', 'alice', 'x', now());
             INSERT INTO refresh_families (id, user_id, created_at) VALUES ('fam_1', 'u_alice', now());
             INSERT INTO sessions (id, user_id, family_id, created_at, idle_deadline, absolute_deadline)
                 VALUES ('ses_1', 'u_alice', 'fam_1', now(), now() + interval '1 hour', now() + interval '2 hours');
             INSERT INTO hosts VALUES ('h1', 'http://h1', 10, now());
             INSERT INTO user_simulators VALUES ('sim_1', 'u_alice', 'ses_1', 'h1', 'running', now(), NULL);",
        )
        .await
        .unwrap();
    let (host, closed) = (Arc::new(FakeHost::default()), Arc::new(Closed::default()));
    let services = GatewayServices {
        registry: Arc::new(PgConnections::new(pool.clone())),
        hosts: Arc::clone(&host) as _,
        connections: Arc::clone(&closed) as _,
        clock: Arc::new(SystemClock),
    };
    let config = GatewayConfig { allowed_origins: vec!["https://app.test".into()], connect_rate };
    Fixture { gateway: Arc::new(Gateway::new(config, pool.clone(), services)), host, closed, pool, database }
}
