//! [`Journal`]: the pool and every query.

use crate::error::{classify, from_refinery};
use crate::{AppendOutcome, Clock, JournalEntry, JournalError, SimStatus, SimulatorRecord, SnapshotRecord};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_postgres::types::FromSqlOwned;
use tokio_postgres::{NoTls, Row};

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// Connecting to an unreachable server fails after this instead of the OS's minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Unacknowledged writes to a server that vanished without closing the connection fail after this.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a pooled connection when all are busy.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Session advisory lock held while migrating: refinery does not serialize concurrent runners itself.
const MIGRATION_LOCK: i64 = 0x7473_6a6f_7572_6e01; // "tsjourn" 1

/// A pool of connections to the simulator host's database. Cheap to clone; clones share the pool.
#[derive(Clone, Debug)]
pub struct Journal {
    pool: Pool,
}

impl Journal {
    /// Builds the pool without connecting: connections are made on first use, so the database may be down now.
    /// A `connect_timeout` or `tcp_user_timeout` in the URL wins over the defaults.
    pub async fn connect(database_url: &str, pool_size: usize) -> Result<Journal, JournalError> {
        let mut config: tokio_postgres::Config =
            database_url.parse().map_err(|e| JournalError::Database(format!("invalid database url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("tradesim-journal");
        }
        // Fast recycling trusts a connection that is not closed; a broken one fails its next query with
        // Unavailable and is dropped, so a restarted database costs at most one failed call per connection.
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| JournalError::Database(format!("cannot build the connection pool: {e}")))?;
        Ok(Journal { pool })
    }

    /// Applies the embedded migrations that are not applied yet, all in one transaction. Safe to run from several
    /// processes at once.
    pub async fn migrate(&self) -> Result<(), JournalError> {
        let mut client = self.pool.get().await?;
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
        let migrated = embedded::migrations::runner().set_grouped(true).run_async(&mut **client).await;
        let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
        migrated.map_err(|e| from_refinery(&e))?;
        unlocked?;
        Ok(())
    }

    /// Inserts a new simulator; [`JournalError::AlreadyExists`] if the id is taken.
    pub async fn create_simulator(&self, record: &SimulatorRecord) -> Result<(), JournalError> {
        let config = to_json(&record.config)?;
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO simulators (id, owner, config, seed, status, host, speed, clock_step, clock_at)
                 VALUES ($1, $2, $3::text::jsonb, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let inserted = client
            .execute(
                &statement,
                &[
                    &record.id,
                    &record.owner,
                    &config,
                    &u64_bits(record.seed),
                    &record.status.as_str(),
                    &record.host,
                    &speed_to_sql(record.clock.speed)?,
                    &to_sql_u64(record.clock.step, "clock step")?,
                    &record.clock.at,
                ],
            )
            .await?;
        if inserted == 0 { Err(JournalError::AlreadyExists) } else { Ok(()) }
    }

    pub async fn simulator(&self, id: &str) -> Result<Option<SimulatorRecord>, JournalError> {
        let client = self.pool.get().await?;
        let statement =
            client.prepare_cached(&format!("SELECT {SIMULATOR_COLUMNS} FROM simulators WHERE id = $1")).await?;
        client.query_opt(&statement, &[&id]).await?.as_ref().map(simulator_from_row).transpose()
    }

    /// The simulators assigned to `host`, by id.
    pub async fn simulators_on_host(&self, host: &str) -> Result<Vec<SimulatorRecord>, JournalError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!("SELECT {SIMULATOR_COLUMNS} FROM simulators WHERE host = $1 ORDER BY id"))
            .await?;
        client.query(&statement, &[&host]).await?.iter().map(simulator_from_row).collect()
    }

    /// Sets the status and the host assignment (exactly as given: `None` clears it).
    pub async fn set_status(&self, id: &str, status: SimStatus, host: Option<&str>) -> Result<(), JournalError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached("UPDATE simulators SET status = $2, host = $3, updated_at = now() WHERE id = $1")
            .await?;
        let updated = client.execute(&statement, &[&id, &status.as_str(), &host]).await?;
        if updated == 0 { Err(JournalError::NotFound) } else { Ok(()) }
    }

    /// Moves the clock anchor (on every speed change, pause and resume).
    pub async fn set_clock(&self, id: &str, clock: Clock) -> Result<(), JournalError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "UPDATE simulators SET speed = $2, clock_step = $3, clock_at = $4, updated_at = now() WHERE id = $1",
            )
            .await?;
        let speed = speed_to_sql(clock.speed)?;
        let step = to_sql_u64(clock.step, "clock step")?;
        let updated = client.execute(&statement, &[&id, &speed, &step, &clock.at]).await?;
        if updated == 0 { Err(JournalError::NotFound) } else { Ok(()) }
    }

    /// Appends entries (of any simulators) atomically; one outcome per entry, in order. An entry whose
    /// (user, client order id) is taken, by a stored entry or an earlier one of `entries`, is not written and
    /// reports where the original is. A position `(sim_id, step, idx)` that is taken fails the whole append with
    /// [`JournalError::Database`]; an unknown simulator fails it with [`JournalError::NotFound`].
    pub async fn append(&self, entries: &[JournalEntry]) -> Result<Vec<AppendOutcome>, JournalError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut sim_ids = Vec::with_capacity(entries.len());
        let mut steps = Vec::with_capacity(entries.len());
        let mut idxs = Vec::with_capacity(entries.len());
        let mut user_ids = Vec::with_capacity(entries.len());
        let mut client_order_ids = Vec::with_capacity(entries.len());
        let mut commands = Vec::with_capacity(entries.len());
        for entry in entries {
            sim_ids.push(entry.sim_id.as_str());
            steps.push(to_sql_u64(entry.step, "step")?);
            idxs.push(i32::try_from(entry.idx).map_err(|_| out_of_range("idx", entry.idx.into()))?);
            user_ids.push(entry.user_id.as_str());
            client_order_ids.push(entry.client_order_id.as_deref());
            commands.push(to_json(&entry.command)?);
        }
        let client = self.pool.get().await?;
        // One statement, so all or nothing without a BEGIN/COMMIT round trip. ORDER BY ord makes the first of two
        // entries with the same client order id the one that is inserted.
        let insert = client
            .prepare_cached(
                "INSERT INTO journal (sim_id, step, idx, user_id, client_order_id, command)
                 SELECT sim_id, step, idx, user_id, client_order_id, command::jsonb
                 FROM UNNEST($1::text[], $2::int8[], $3::int4[], $4::text[], $5::text[], $6::text[])
                      WITH ORDINALITY AS e(sim_id, step, idx, user_id, client_order_id, command, ord)
                 ORDER BY ord
                 ON CONFLICT (user_id, client_order_id) WHERE client_order_id IS NOT NULL DO NOTHING
                 RETURNING sim_id, step, idx",
            )
            .await?;
        let rows = client.query(&insert, &[&sim_ids, &steps, &idxs, &user_ids, &client_order_ids, &commands]).await?;
        if rows.len() == entries.len() {
            return Ok(vec![AppendOutcome::Appended; entries.len()]);
        }
        let mut inserted = HashSet::with_capacity(rows.len());
        for row in &rows {
            inserted.insert((get::<String>(row, 0)?, get::<i64>(row, 1)?, get::<i32>(row, 2)?));
        }
        let skipped: Vec<usize> =
            (0..entries.len()).filter(|&i| !inserted.contains(&(sim_ids[i].to_owned(), steps[i], idxs[i]))).collect();
        // The originals are committed (by us or by others) and journal rows are not deleted, so reading them
        // after the insert is safe.
        let resolve = client
            .prepare_cached(
                "SELECT j.user_id, j.client_order_id, j.sim_id, j.step
                 FROM journal j
                 JOIN UNNEST($1::text[], $2::text[]) AS d(user_id, client_order_id)
                   ON j.user_id = d.user_id AND j.client_order_id = d.client_order_id",
            )
            .await?;
        let skipped_users: Vec<&str> = skipped.iter().map(|&i| user_ids[i]).collect();
        let skipped_ids: Vec<Option<&str>> = skipped.iter().map(|&i| client_order_ids[i]).collect();
        let mut originals = HashMap::new();
        for row in client.query(&resolve, &[&skipped_users, &skipped_ids]).await? {
            let key = (get::<String>(&row, 0)?, get::<String>(&row, 1)?);
            originals.insert(key, (get::<String>(&row, 2)?, from_sql_u64(get(&row, 3)?, "step")?));
        }
        let mut outcomes = vec![AppendOutcome::Appended; entries.len()];
        for i in skipped {
            let key = (user_ids[i].to_owned(), client_order_ids[i].unwrap_or_default().to_owned());
            let (sim_id, step) = originals.get(&key).cloned().ok_or_else(|| {
                JournalError::Database(format!("entry {i} was neither inserted nor a duplicate client order id"))
            })?;
            outcomes[i] = AppendOutcome::DuplicateClientOrderId { sim_id, step };
        }
        Ok(outcomes)
    }

    /// The simulator's entries at steps after `after_step`, ordered by (step, idx).
    pub async fn entries_after(&self, sim_id: &str, after_step: u64) -> Result<Vec<JournalEntry>, JournalError> {
        // Stored steps are at most i64::MAX, so a larger bound simply has nothing after it.
        let after_step = i64::try_from(after_step).unwrap_or(i64::MAX);
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM journal WHERE sim_id = $1 AND step > $2 ORDER BY step, idx"
            ))
            .await?;
        client.query(&statement, &[&sim_id, &after_step]).await?.iter().map(entry_from_row).collect()
    }

    /// The entry holding the user's client order id, in whichever simulator.
    pub async fn find_client_order(
        &self,
        user_id: &str,
        client_order_id: &str,
    ) -> Result<Option<JournalEntry>, JournalError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!("SELECT {ENTRY_COLUMNS} FROM journal WHERE user_id = $1 AND client_order_id = $2"))
            .await?;
        client.query_opt(&statement, &[&user_id, &client_order_id]).await?.as_ref().map(entry_from_row).transpose()
    }

    /// Stores a snapshot (replacing one at the same step) and deletes all but the latest two of the simulator.
    pub async fn save_snapshot(&self, snapshot: &SnapshotRecord) -> Result<(), JournalError> {
        let step = to_sql_u64(snapshot.step, "snapshot step")?;
        let seq = to_sql_u64(snapshot.seq, "snapshot seq")?;
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let insert = transaction
            .prepare_cached(
                "INSERT INTO snapshots (sim_id, step, seq, state_hash, bytes) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (sim_id, step) DO UPDATE
                 SET seq = EXCLUDED.seq, state_hash = EXCLUDED.state_hash, bytes = EXCLUDED.bytes, created_at = now()",
            )
            .await?;
        let prune = transaction
            .prepare_cached(
                "DELETE FROM snapshots WHERE sim_id = $1 AND step < (
                     SELECT step FROM snapshots WHERE sim_id = $1 ORDER BY step DESC OFFSET 1 LIMIT 1)",
            )
            .await?;
        transaction
            .execute(&insert, &[&snapshot.sim_id, &step, &seq, &u64_bits(snapshot.state_hash), &snapshot.bytes])
            .await?;
        transaction.execute(&prune, &[&snapshot.sim_id]).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The snapshot with the highest step, if any.
    pub async fn latest_snapshot(&self, sim_id: &str) -> Result<Option<SnapshotRecord>, JournalError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "SELECT sim_id, step, seq, state_hash, bytes FROM snapshots WHERE sim_id = $1
                 ORDER BY step DESC LIMIT 1",
            )
            .await?;
        let Some(row) = client.query_opt(&statement, &[&sim_id]).await? else {
            return Ok(None);
        };
        Ok(Some(SnapshotRecord {
            sim_id: get(&row, 0)?,
            step: from_sql_u64(get(&row, 1)?, "snapshot step")?,
            seq: from_sql_u64(get(&row, 2)?, "snapshot seq")?,
            state_hash: bits_u64(get(&row, 3)?),
            bytes: get(&row, 4)?,
        }))
    }
}

/// Identifies the embedded set of migrations (FNV-1a over versions and checksums), for naming test templates.
#[cfg(feature = "testing")]
pub(crate) fn migration_fingerprint() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for migration in embedded::migrations::runner().get_migrations() {
        let bytes = u64::from(migration.version()).to_le_bytes().into_iter().chain(migration.checksum().to_le_bytes());
        for byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

const SIMULATOR_COLUMNS: &str = "id, owner, config::text, seed, status, host, speed, clock_step, clock_at";

fn simulator_from_row(row: &Row) -> Result<SimulatorRecord, JournalError> {
    let config: String = get(row, 2)?;
    let status: String = get(row, 4)?;
    let speed: i32 = get(row, 6)?;
    Ok(SimulatorRecord {
        id: get(row, 0)?,
        owner: get(row, 1)?,
        config: serde_json::from_str(&config).map_err(|e| JournalError::Corrupt(format!("simulator config: {e}")))?,
        seed: bits_u64(get(row, 3)?),
        status: status.parse()?,
        host: get(row, 5)?,
        clock: Clock {
            speed: u32::try_from(speed).map_err(|_| JournalError::Corrupt(format!("negative speed {speed}")))?,
            step: from_sql_u64(get(row, 7)?, "clock step")?,
            at: get(row, 8)?,
        },
    })
}

const ENTRY_COLUMNS: &str = "sim_id, step, idx, user_id, client_order_id, command::text";

fn entry_from_row(row: &Row) -> Result<JournalEntry, JournalError> {
    let idx: i32 = get(row, 2)?;
    let command: String = get(row, 5)?;
    Ok(JournalEntry {
        sim_id: get(row, 0)?,
        step: from_sql_u64(get(row, 1)?, "step")?,
        idx: u32::try_from(idx).map_err(|_| JournalError::Corrupt(format!("negative idx {idx}")))?,
        user_id: get(row, 3)?,
        client_order_id: get(row, 4)?,
        command: serde_json::from_str(&command).map_err(|e| JournalError::Corrupt(format!("journal command: {e}")))?,
    })
}

fn get<T: FromSqlOwned>(row: &Row, column: usize) -> Result<T, JournalError> {
    row.try_get(column).map_err(|e| match e.code() {
        Some(_) => classify(&e),
        None => JournalError::Corrupt(format!("column {column}: {e}")),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, JournalError> {
    serde_json::to_string(value).map_err(|e| JournalError::Corrupt(format!("cannot encode as JSON: {e}")))
}

/// u64 values that are only compared for equality (seeds, hashes) are stored as their i64 bit pattern.
fn u64_bits(value: u64) -> i64 {
    i64::from_ne_bytes(value.to_ne_bytes())
}

fn bits_u64(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

/// Steps and seqs must sort, so they are stored as non-negative bigints instead.
fn to_sql_u64(value: u64, what: &str) -> Result<i64, JournalError> {
    i64::try_from(value).map_err(|_| out_of_range(what, value))
}

fn from_sql_u64(value: i64, what: &str) -> Result<u64, JournalError> {
    u64::try_from(value).map_err(|_| JournalError::Corrupt(format!("negative {what} {value}")))
}

fn speed_to_sql(speed: u32) -> Result<i32, JournalError> {
    i32::try_from(speed).map_err(|_| out_of_range("speed", speed.into()))
}

fn out_of_range(what: &str, value: u64) -> JournalError {
    JournalError::Database(format!("{what} {value} is out of the storable range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_bit_patterns_round_trip() {
        for value in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(bits_u64(u64_bits(value)), value);
        }
        assert_eq!(u64_bits(u64::MAX), -1);
    }

    #[test]
    fn steps_beyond_i64_are_refused() {
        assert_eq!(to_sql_u64(i64::MAX as u64, "step"), Ok(i64::MAX));
        assert!(matches!(to_sql_u64(u64::MAX, "step"), Err(JournalError::Database(_))));
        assert!(matches!(from_sql_u64(-1, "step"), Err(JournalError::Corrupt(_))));
    }
}
