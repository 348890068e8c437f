//! Test support (feature `testing`): a fresh, migrated database per test.
//!
//! Each [`TestDatabase`] is cloned from a template database that is created and migrated once per set of
//! migrations (its name carries their checksums), so a test costs one `CREATE DATABASE ... TEMPLATE`. Template
//! creation is serialized across test processes by an advisory lock. The server is taken from
//! `TRADESIM_TEST_DATABASE_URL`, by default `postgres://postgres@127.0.0.1:5432/postgres`; the role needs
//! CREATEDB.
//!
//! Helpers here panic on failure: they run inside tests.

use crate::Journal;
use crate::error::describe;
use crate::journal::migration_fingerprint;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Serializes template creation across test processes.
const TEMPLATE_LOCK: i64 = 0x7473_6a6f_7572_6e02; // "tsjourn" 2

static TEMPLATE: OnceCell<String> = OnceCell::const_new();
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A database of its own for one test, dropped (best effort) with this value.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let base = base_url();
        let template = TEMPLATE.get_or_init(|| create_template(&base)).await;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
        let name = format!("tradesim_test_{}_{}_{nanos}", std::process::id(), NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let admin = admin_client(&base).await;
        // Cloning fails while anything is connected to the template (a migration's connection may still be
        // closing), so retry for a while.
        let mut attempts = 0;
        loop {
            match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await {
                Ok(()) => break,
                Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && attempts < 100 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot create test database {name}: {}", describe(&e)),
            }
        }
        TestDatabase { url: with_database(&base, &name), name }
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside or outside a runtime, so the cleanup gets a thread and a runtime of its own.
        let base = base_url();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&base, NoTls).await.ok()?;
                tokio::spawn(connection);
                client.batch_execute(&sql).await.ok()
            })
        });
        if cleanup.join().ok().flatten().is_none() {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

fn base_url() -> String {
    std::env::var("TRADESIM_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn admin_client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {url}: {}", describe(&e)));
    tokio::spawn(connection);
    client
}

/// Creates the template for the current migrations unless it exists. It is built under a scratch name and renamed
/// when migrated, so a process that dies halfway leaves no half-migrated template behind.
async fn create_template(base: &str) -> String {
    let name = format!("tradesim_template_{:016x}", migration_fingerprint());
    let building = format!("{name}_building");
    let admin = admin_client(base).await;
    let fail =
        |what: &str, e: tokio_postgres::Error| -> ! { panic!("cannot {what} template {name}: {}", describe(&e)) };
    admin.execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK]).await.unwrap_or_else(|e| fail("lock", e));
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap_or_else(|e| fail("look up", e))
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .await
            .unwrap_or_else(|e| fail("clean up before building", e));
        admin.batch_execute(&format!("CREATE DATABASE {building}")).await.unwrap_or_else(|e| fail("create", e));
        {
            let journal = Journal::connect(&with_database(base, &building), 1)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to template {building}: {e}"));
            journal.migrate().await.unwrap_or_else(|e| panic!("cannot migrate template {building}: {e}"));
        }
        // Renaming needs the database free of connections; the migration's may still be closing, so retry briefly.
        let mut attempts = 0;
        loop {
            match admin.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")).await {
                Ok(()) => break,
                Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && attempts < 100 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => fail("rename", e),
            }
        }
    }
    admin.execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK]).await.unwrap_or_else(|e| fail("unlock", e));
    name
}

/// `url` with its database replaced by `database`; handles both URL and key=value connection strings.
fn with_database(url: &str, database: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={database}");
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let query = rest[authority_end..].find('?').map(|q| &rest[authority_end + q..]).unwrap_or_default();
    format!("{}{}/{database}{query}", &url[..scheme_end + 3], &rest[..authority_end])
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "t"), "postgres://u@h:5432/t");
        assert_eq!(with_database("postgres://u@h:5432", "t"), "postgres://u@h:5432/t");
        assert_eq!(with_database("postgres://u@h/db?sslmode=disable", "t"), "postgres://u@h/t?sslmode=disable");
        assert_eq!(with_database("postgresql://u@h?connect_timeout=2", "t"), "postgresql://u@h/t?connect_timeout=2");
        assert_eq!(with_database("host=h user=u", "t"), "host=h user=u dbname=t");
    }
}
