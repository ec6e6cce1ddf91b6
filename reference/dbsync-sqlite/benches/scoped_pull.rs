//! Partial sync (spec §19): does one user's pull cost depend on the other
//! users' data?
//!
//! `cargo bench -p dbsync-sqlite --bench scoped_pull`
//!
//! Two servers in one run, on the engine over the SQLite store (no HTTP):
//! 100 users and 1,000 users, each owning 1,000 `list` rows (100,000 and
//! 1,000,000 rows in all) with one `item` per list inheriting the list's
//! scope. One node registered for user `u7`:
//!
//! - *repair*: it fetches its scope, 1,000 lists and 1,000 items;
//! - *pull*: after a version in which every user's 10 first lists were
//!   renamed on the server (1,000 or 10,000 ops in all), it pulls: its
//!   10 ops and rows.
//!
//! Baseline, in the same run on the same file: a raw SQLite read of the
//! same 1,000 lists through an index on `owner`. Each figure is the
//! median of the rounds; the ratios that matter are 1M / 100k for each.

use dbsync_core::protocol::{PullRequest, RegisterRequest, RepairRequest};
use dbsync_engine::scope::Scopes;
use dbsync_engine::settings::{Registration, Settings};
use dbsync_engine::Engine;
use dbsync_sqlite::SqliteStore;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROWS_PER_USER: i64 = 1_000;
const CHANGED_PER_USER: i64 = 10;
const ROUNDS: usize = 15;
const TOKEN: &str = "bench";

const APP: &str = "
CREATE TABLE list (id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, title TEXT NOT NULL);
CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, list_id INTEGER NOT NULL REFERENCES list(id), text TEXT NOT NULL);
CREATE INDEX list_by_owner ON list (owner);
";

const RULES: &str = r#"{"tables": {"list": {"read": {"owner": "owner"}}, "item": {"read": {"parent": "list_id"}}}}"#;

/// One server's figures.
struct Figures {
    users: i64,
    start: Duration,
    baseline: Duration,
    repair: Duration,
    pull: Duration,
    pulled_ops: usize,
    history_ops: i64,
}

fn fill(path: &Path, users: i64) {
    let mut conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn.execute_batch(APP).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut list = tx
            .prepare("INSERT INTO list (id, owner, title) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut item = tx
            .prepare("INSERT INTO item (id, list_id, text) VALUES (?1, ?1, ?2)")
            .unwrap();
        // Users interleaved, as real data would be: list i belongs to
        // user i mod users.
        for i in 1..=users * ROWS_PER_USER {
            let owner = format!("u{}", i % users);
            list.execute(rusqlite::params![i, owner, format!("list {i}")])
                .unwrap();
            item.execute(rusqlite::params![i, format!("item {i}")])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn engine(path: &Path) -> (Engine, Duration) {
    let store = Arc::new(SqliteStore::open(path, &[], Default::default()).unwrap());
    let scopes = Scopes::parse(RULES, dbsync_engine::store::Store::schema(&*store)).unwrap();
    let settings = Settings {
        registration: Registration::Token(TOKEN.into()),
        scopes: Some(Arc::new(scopes)),
        ..Settings::default()
    };
    let start = Instant::now();
    let engine = Engine::open(store, settings).unwrap();
    (engine, start.elapsed())
}

fn register(engine: &Engine, user: &str) -> u64 {
    let req = RegisterRequest {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        schema: engine.fingerprint().into(),
        app_data: None,
        token: Some(TOKEN.into()),
        user: Some(user.into()),
    };
    engine.register(&req, now()).unwrap().node_id
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Every page of a repair; how many rows it brought.
fn repair(engine: &Engine, node: u64) -> usize {
    let mut cursor = None;
    let mut rows = 0;
    loop {
        let req = RepairRequest {
            protocol: dbsync_core::PROTOCOL_VERSION.into(),
            schema: engine.fingerprint().into(),
            app_data: None,
            cursor,
        };
        let page = engine.repair(node, &req, now()).unwrap();
        rows += page.rows.len();
        cursor = page.next_cursor;
        if cursor.is_none() {
            return rows;
        }
    }
}

/// Every page of a pull from `base`; how many ops it brought.
fn pull(engine: &Engine, node: u64, base: u64) -> usize {
    let mut cursor = None;
    let mut ops = 0;
    loop {
        let req = PullRequest::page(engine.fingerprint(), base, &[], cursor);
        let page = engine.pull(node, &req, now()).unwrap();
        ops += page.ops.len();
        cursor = page.next_cursor;
        if cursor.is_none() {
            return ops;
        }
    }
}

fn baseline(path: &Path) -> Duration {
    let conn = Connection::open(path).unwrap();
    let start = Instant::now();
    let mut stmt = conn
        .prepare_cached("SELECT id, owner, title FROM list WHERE owner = ?1")
        .unwrap();
    let n = stmt
        .query_map(["u7"], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(2)?))
        })
        .unwrap()
        .count();
    assert_eq!(n as i64, ROWS_PER_USER);
    start.elapsed()
}

fn measure(dir: &Path, users: i64) -> Figures {
    let path = dir.join(format!("server-{users}.db"));
    fill(&path, users);
    let (engine, start) = engine(&path);
    let node = register(&engine, "u7");
    let repairs: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(repair(&engine, node) as i64, 2 * ROWS_PER_USER);
            t.elapsed()
        })
        .collect();
    let base = engine.seal(now()).unwrap();
    let conn = Connection::open(&path).unwrap();
    let changed = conn
        .execute(
            &format!(
                "UPDATE list SET title = title || ' (renamed)' WHERE id <= {}",
                users * CHANGED_PER_USER
            ),
            [],
        )
        .unwrap();
    engine.seal(now()).unwrap();
    let mut pulled_ops = 0;
    let pulls: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            pulled_ops = pull(&engine, node, base);
            t.elapsed()
        })
        .collect();
    let baselines: Vec<Duration> = (0..ROUNDS).map(|_| baseline(&path)).collect();
    Figures {
        users,
        start,
        baseline: median(baselines),
        repair: median(repairs),
        pull: median(pulls),
        pulled_ops,
        history_ops: changed as i64,
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let small = measure(dir.path(), 100);
    let large = measure(dir.path(), 1_000);
    println!("| total lists | start (index every row) | raw read of u7's lists | repair of u7's scope (2,000 rows) | pull of u7's changes | ops in the version | ops u7 pulled |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for f in [&small, &large] {
        println!(
            "| {} | {:.2} s | {:.2} ms | {:.2} ms ({:.0}× raw) | {:.3} ms | {} | {} |",
            f.users * ROWS_PER_USER,
            f.start.as_secs_f64(),
            ms(f.baseline),
            ms(f.repair),
            ms(f.repair) / ms(f.baseline),
            ms(f.pull),
            f.history_ops,
            f.pulled_ops
        );
    }
    println!(
        "1M / 100k: raw read {:.2}, repair {:.2}, pull {:.2}",
        ms(large.baseline) / ms(small.baseline),
        ms(large.repair) / ms(small.repair),
        ms(large.pull) / ms(small.pull)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
