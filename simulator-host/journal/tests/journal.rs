//! The journal against the real PostgreSQL: one fresh database per test.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tradesim_journal::testing::TestDatabase;
use tradesim_journal::{
    AppendOutcome, Clock, Journal, JournalEntry, JournalError, JournalWriter, SimStatus, SimulatorRecord,
    SnapshotRecord,
};
use tradesim_protocol::{
    CircuitBreaker, ClientOrderId, Command, InstrumentConfig, InstrumentId, NewOrder, OrderType, ParticipantId, Price,
    Qty, Scenario, Side, SimConfig, StpMode, TimeInForce,
};

async fn journal(db: &TestDatabase) -> Journal {
    Journal::connect(db.url(), 4).await.unwrap()
}

/// Real time at microsecond precision, which is what PostgreSQL keeps.
fn at_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

/// A config with every optional part filled in, so a lossy round trip would show.
fn config() -> SimConfig {
    let mut config = SimConfig { scenario: Scenario::FlashCrash, step_ms: 25, ..SimConfig::default() };
    config.instruments.push(InstrumentConfig {
        symbol: "ALT".to_owned(),
        price_decimals: 4,
        tick_size: Price(5),
        lot_size: Qty(10),
        reference_price: Price(2_500_000),
        price_band_bps: 500,
        circuit_breaker: Some(CircuitBreaker { move_bps: 700, window_ms: 300_000, halt_ms: 60_000 }),
    });
    config.account.maker_fee_ppm = -35;
    config
}

fn record(id: &str, host: &str) -> SimulatorRecord {
    SimulatorRecord {
        id: id.to_owned(),
        owner: "user-1".to_owned(),
        config: config(),
        seed: 42,
        status: SimStatus::Starting,
        host: Some(host.to_owned()),
        clock: Clock { speed: 1, step: 0, at: at_micros(1_700_000_000_123_456) },
    }
}

fn new_order(client_order_id: &str) -> Command {
    Command::NewOrder(NewOrder {
        participant: ParticipantId::USER,
        instrument: InstrumentId(1),
        client_order_id: Some(ClientOrderId::parse(client_order_id).unwrap()),
        side: Side::Sell,
        qty: Qty(u64::from(u32::MAX) + 7),
        order_type: OrderType::StopLimit { stop_price: Price(2_499_995), price: Price(-5) },
        tif: TimeInForce::Gtd { expire_at_ms: u64::MAX },
        display_qty: Some(Qty(10)),
        post_only: true,
        stp: StpMode::CancelBoth,
    })
}

fn entry(sim_id: &str, step: u64, idx: u32, user_id: &str, client_order_id: Option<&str>) -> JournalEntry {
    let command = match client_order_id {
        Some(id) => new_order(id),
        None => Command::MassCancel { participant: ParticipantId::USER, instrument: None, side: Some(Side::Buy) },
    };
    JournalEntry {
        sim_id: sim_id.to_owned(),
        step,
        idx,
        user_id: user_id.to_owned(),
        client_order_id: client_order_id.map(str::to_owned),
        command,
    }
}

async fn sql_client(db: &TestDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_concurrently_and_again() {
    let db = TestDatabase::create().await;
    let sql = sql_client(&db).await;
    sql.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public").await.unwrap();
    let (a, b, c) = (journal(&db).await, journal(&db).await, journal(&db).await);
    let (ra, rb, rc) = tokio::join!(a.migrate(), b.migrate(), c.migrate());
    assert_eq!((ra, rb, rc), (Ok(()), Ok(()), Ok(())));
    a.migrate().await.unwrap();
    let tables = count(
        &sql,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'
         AND tablename IN ('simulators', 'journal', 'snapshots')",
    )
    .await;
    assert_eq!(tables, 3);
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations")).unwrap().count();
    assert_eq!(count(&sql, "SELECT count(*) FROM refinery_schema_history").await, migrations as i64);
}

#[tokio::test]
async fn simulator_records_round_trip() {
    let db = TestDatabase::create().await;
    let journal = journal(&db).await;
    let sim = record("sim-1", "host-a");
    journal.create_simulator(&sim).await.unwrap();
    assert_eq!(journal.simulator("sim-1").await, Ok(Some(sim.clone())));
    assert_eq!(journal.create_simulator(&record("sim-1", "host-b")).await, Err(JournalError::AlreadyExists));
    assert_eq!(journal.simulator("sim-2").await, Ok(None));

    let extreme = SimulatorRecord {
        seed: u64::MAX,
        clock: Clock { speed: 0, step: i64::MAX as u64, at: UNIX_EPOCH },
        ..record("sim-2", "host-b")
    };
    journal.create_simulator(&extreme).await.unwrap();
    assert_eq!(journal.simulator("sim-2").await, Ok(Some(extreme.clone())));

    journal.set_status("sim-1", SimStatus::Recovering, Some("host-b")).await.unwrap();
    let on_b = journal.simulators_on_host("host-b").await.unwrap();
    assert_eq!(
        on_b.iter().map(|s| (s.id.as_str(), s.status)).collect::<Vec<_>>(),
        [("sim-1", SimStatus::Recovering), ("sim-2", SimStatus::Starting)]
    );
    assert_eq!(journal.simulators_on_host("host-a").await, Ok(vec![]));

    let clock = Clock { speed: 100, step: 123_456, at: at_micros(1_800_000_000_000_001) };
    journal.set_clock("sim-1", clock).await.unwrap();
    journal.set_status("sim-1", SimStatus::Stopped, None).await.unwrap();
    let stored = journal.simulator("sim-1").await.unwrap().unwrap();
    assert_eq!(stored, SimulatorRecord { status: SimStatus::Stopped, host: None, clock, ..sim });

    assert_eq!(journal.set_status("nope", SimStatus::Running, None).await, Err(JournalError::NotFound));
    assert_eq!(journal.set_clock("nope", clock).await, Err(JournalError::NotFound));
}

#[tokio::test]
async fn every_status_is_accepted_by_the_schema() {
    let db = TestDatabase::create().await;
    let journal = journal(&db).await;
    journal.create_simulator(&record("sim-1", "host-a")).await.unwrap();
    for status in SimStatus::ALL {
        journal.set_status("sim-1", status, Some("host-a")).await.unwrap();
        assert_eq!(journal.simulator("sim-1").await.unwrap().unwrap().status, status);
    }
}

#[tokio::test]
async fn entries_come_back_in_step_and_idx_order() {
    let db = TestDatabase::create().await;
    let journal = journal(&db).await;
    journal.create_simulator(&record("sim-1", "host-a")).await.unwrap();
    journal.create_simulator(&record("sim-2", "host-a")).await.unwrap();
    let entries = [
        entry("sim-1", 3, 0, "user-1", Some("c-3")),
        entry("sim-1", 1, 1, "user-1", None),
        entry("sim-2", 1, 0, "user-1", Some("c-other")),
        entry("sim-1", 1, 0, "user-1", Some("c-1")),
        entry("sim-1", 2, 0, "user-1", Some("c-2")),
    ];
    assert_eq!(journal.append(&entries).await, Ok(vec![AppendOutcome::Appended; 5]));
    assert_eq!(journal.append(&[]).await, Ok(vec![]));

    let all = journal.entries_after("sim-1", 0).await.unwrap();
    assert_eq!(all, [entries[3].clone(), entries[1].clone(), entries[4].clone(), entries[0].clone()]);
    let after_1 = journal.entries_after("sim-1", 1).await.unwrap();
    assert_eq!(after_1, [entries[4].clone(), entries[0].clone()]);
    assert_eq!(journal.entries_after("sim-1", u64::MAX).await, Ok(vec![]));
    assert_eq!(journal.find_client_order("user-1", "c-2").await, Ok(Some(entries[4].clone())));

    // The command is stored as its serde JSON, queryable as such.
    let sql = sql_client(&db).await;
    let kind: String = sql.query_one("SELECT command->>'type' FROM journal WHERE step = 3", &[]).await.unwrap().get(0);
    assert_eq!(kind, "new_order");
}

#[tokio::test]
async fn a_failing_append_writes_nothing() {
    let db = TestDatabase::create().await;
    let journal = journal(&db).await;
    journal.create_simulator(&record("sim-1", "host-a")).await.unwrap();
    journal.append(&[entry("sim-1", 1, 0, "user-1", None)]).await.unwrap();

    let taken_position = [entry("sim-1", 2, 0, "user-1", Some("c-new")), entry("sim-1", 1, 0, "user-1", None)];
    assert!(matches!(journal.append(&taken_position).await, Err(JournalError::Database(_))));
    let unknown_sim = [entry("sim-1", 3, 0, "user-1", Some("c-new")), entry("nope", 1, 0, "user-1", None)];
    assert_eq!(journal.append(&unknown_sim).await, Err(JournalError::NotFound));

    assert_eq!(journal.entries_after("sim-1", 0).await.unwrap().len(), 1);
    assert_eq!(journal.find_client_order("user-1", "c-new").await, Ok(None));
}

#[tokio::test]
async fn duplicate_client_order_ids_point_at_the_original() {
    let db = TestDatabase::create().await;
    let journal = journal(&db).await;
    journal.create_simulator(&record("sim-a", "host-a")).await.unwrap();
    journal.create_simulator(&record("sim-b", "host-a")).await.unwrap();
    let original = entry("sim-a", 7, 0, "user-1", Some("c-1"));
    journal.append(std::slice::from_ref(&original)).await.unwrap();

    let group = [
        entry("sim-b", 9, 0, "user-1", Some("c-1")), // taken in another simulator
        entry("sim-b", 9, 1, "user-1", Some("c-2")),
        entry("sim-b", 9, 2, "user-1", Some("c-2")), // taken earlier in this group
        entry("sim-b", 10, 0, "user-2", Some("c-1")), // another user's id space
        entry("sim-b", 10, 1, "user-1", None),
    ];
    let duplicate = |sim_id: &str, step| AppendOutcome::DuplicateClientOrderId { sim_id: sim_id.to_owned(), step };
    assert_eq!(
        journal.append(&group).await,
        Ok(vec![
            duplicate("sim-a", 7),
            AppendOutcome::Appended,
            duplicate("sim-b", 9),
            AppendOutcome::Appended,
            AppendOutcome::Appended,
        ])
    );
    // Retrying the original itself is a duplicate of itself, not an error.
    assert_eq!(journal.append(std::slice::from_ref(&original)).await, Ok(vec![duplicate("sim-a", 7)]));

    assert_eq!(journal.find_client_order("user-1", "c-1").await, Ok(Some(original)));
    assert_eq!(journal.find_client_order("user-1", "c-2").await, Ok(Some(group[1].clone())));
    assert_eq!(journal.find_client_order("user-3", "c-1").await, Ok(None));
    let stored: Vec<_> =
        journal.entries_after("sim-b", 0).await.unwrap().into_iter().map(|e| (e.step, e.idx)).collect();
    assert_eq!(stored, [(9, 1), (10, 0), (10, 1)]);
}

#[tokio::test]
async fn only_the_latest_two_snapshots_are_kept() {
    let db = TestDatabase::create().await;
    let journal = journal(&db).await;
    journal.create_simulator(&record("sim-1", "host-a")).await.unwrap();
    journal.create_simulator(&record("sim-2", "host-a")).await.unwrap();
    assert_eq!(journal.latest_snapshot("sim-1").await, Ok(None));
    let snapshot = |sim_id: &str, step: u64, state_hash: u64| SnapshotRecord {
        sim_id: sim_id.to_owned(),
        step,
        seq: step * 10,
        state_hash,
        bytes: (0..=255).chain([step as u8]).collect(),
    };
    journal.save_snapshot(&snapshot("sim-2", 1, 1)).await.unwrap();
    for step in [10, 20, 30] {
        journal.save_snapshot(&snapshot("sim-1", step, step)).await.unwrap();
    }
    // An older snapshot arriving late is pruned at once; one at the same step replaces the stored one.
    journal.save_snapshot(&snapshot("sim-1", 5, 5)).await.unwrap();
    let extreme = SnapshotRecord { seq: i64::MAX as u64, ..snapshot("sim-1", 30, u64::MAX) };
    journal.save_snapshot(&extreme).await.unwrap();

    assert_eq!(journal.latest_snapshot("sim-1").await, Ok(Some(extreme)));
    let sql = sql_client(&db).await;
    let steps: Vec<i64> = sql
        .query("SELECT step FROM snapshots WHERE sim_id = 'sim-1' ORDER BY step", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(steps, [20, 30]);
    assert_eq!(journal.latest_snapshot("sim-2").await, Ok(Some(snapshot("sim-2", 1, 1))));
    assert_eq!(journal.save_snapshot(&snapshot("nope", 1, 1)).await, Err(JournalError::NotFound));
}

/// Group commit under load from plain threads, each waiting for its previous submission. Prints the throughput and the mean group size; asserts only that
/// every entry is committed exactly once and that groups formed.
#[test]
fn writer_group_commits_submissions_from_many_threads() {
    const THREADS: u64 = 8;
    const SUBMITS: u64 = 500;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let db = runtime.block_on(TestDatabase::create());
    let journal = runtime.block_on(Journal::connect(db.url(), 2)).unwrap();
    runtime.block_on(journal.create_simulator(&record("sim-w", "host-a"))).unwrap();
    let writer = JournalWriter::spawn(journal.clone(), runtime.handle());

    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                // Closed loop, like a host that acknowledges each command before taking the next: at most one
                // submission per thread is in flight, so groups form only from concurrency.
                let (sender, receiver) = mpsc::channel();
                (0..SUBMITS)
                    .map(|i| {
                        let client_order_id = format!("t{thread}-{i}");
                        let sender = sender.clone();
                        writer.submit(
                            vec![entry("sim-w", i + 1, thread as u32, "user-1", Some(&client_order_id))],
                            Box::new(move |result| sender.send(result).unwrap()),
                        );
                        receiver.recv().unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for thread in threads {
        for result in thread.join().unwrap() {
            assert_eq!(result, Ok(vec![AppendOutcome::Appended]));
        }
    }
    let elapsed = started.elapsed();

    let entries = runtime.block_on(journal.entries_after("sim-w", 0)).unwrap();
    let positions: HashSet<_> = entries.iter().map(|e| (e.step, e.idx)).collect();
    assert_eq!((entries.len(), positions.len()), ((THREADS * SUBMITS) as usize, (THREADS * SUBMITS) as usize));
    // Each committing transaction stamps its rows with its own xmin.
    let transactions = runtime.block_on(async {
        let sql = sql_client(&db).await;
        count(&sql, "SELECT count(DISTINCT xmin::text) FROM journal").await
    });
    assert!(transactions < (THREADS * SUBMITS) as i64, "no groups formed: {transactions} transactions");
    println!(
        "group commit: {} entries in {elapsed:?} ({:.0} entries/s), {transactions} transactions, mean group {:.1}",
        THREADS * SUBMITS,
        (THREADS * SUBMITS) as f64 / elapsed.as_secs_f64(),
        (THREADS * SUBMITS) as f64 / transactions as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_submission_does_not_fail_its_group() {
    let db = TestDatabase::create().await;
    let journal = journal(&db).await;
    journal.create_simulator(&record("sim-1", "host-a")).await.unwrap();
    let writer = JournalWriter::spawn(journal.clone(), &tokio::runtime::Handle::current());
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..50_u32 {
        let sim_id = if i == 25 { "nope" } else { "sim-1" };
        let sender = sender.clone();
        writer.submit(
            vec![entry(sim_id, 1, i, "user-1", Some(&format!("c-{i}"))), entry(sim_id, 2, i, "user-1", None)],
            Box::new(move |result| sender.send((i, result)).unwrap()),
        );
    }
    for _ in 0..50 {
        let (i, result) = receiver.recv().await.unwrap();
        let expected = if i == 25 { Err(JournalError::NotFound) } else { Ok(vec![AppendOutcome::Appended; 2]) };
        assert_eq!(result, expected, "submission {i}");
    }
    assert_eq!(journal.entries_after("sim-1", 0).await.unwrap().len(), 98);
}

/// Fails the test instead of hanging if `future` does not finish in time (a liveness bound, not a speed test).
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future).await.expect("timed out")
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    // A port nothing listens on: bind one, then free it.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let journal = Journal::connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres"), 2).await.unwrap();
    assert!(matches!(bounded(journal.simulator("sim-1")).await, Err(JournalError::Unavailable(_))));
    assert!(matches!(bounded(journal.migrate()).await, Err(JournalError::Unavailable(_))));

    let writer = JournalWriter::spawn(journal, &tokio::runtime::Handle::current());
    let (sender, receiver) = tokio::sync::oneshot::channel();
    writer.submit(vec![entry("sim-1", 1, 0, "user-1", None)], Box::new(move |result| sender.send(result).unwrap()));
    assert!(matches!(bounded(receiver).await.unwrap(), Err(JournalError::Unavailable(_))));
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable() {
    // Accepts connections and says nothing: the startup handshake hangs until the pool's create timeout.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let journal = Journal::connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres"), 2).await.unwrap();
    let result = bounded(journal.simulator("sim-1")).await;
    assert!(matches!(result, Err(JournalError::Unavailable(_))), "{result:?}");
}

#[test]
fn a_stopped_writer_still_answers_every_submission() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let journal = runtime.block_on(Journal::connect("postgres://postgres@127.0.0.1:1/postgres", 1)).unwrap();
    let writer = JournalWriter::spawn(journal, runtime.handle());
    let (sender, receiver) = mpsc::channel();
    let queued = sender.clone();
    // Queued but never run: the runtime goes away first.
    writer.submit(vec![entry("sim-1", 1, 0, "user-1", None)], Box::new(move |result| queued.send(result).unwrap()));
    drop(runtime);
    writer.submit(vec![entry("sim-1", 1, 1, "user-1", None)], Box::new(move |result| sender.send(result).unwrap()));
    for _ in 0..2 {
        assert!(matches!(receiver.recv().unwrap(), Err(JournalError::Unavailable(_))));
    }
}
