//! Tracked vs untracked write throughput on the same kind of file.
//!
//! `cargo bench -p dbsync-sqlite --bench capture`
//!
//! Each round inserts N rows (one transaction, one prepared statement) into
//! an untracked table and into a tracked one, then updates every row in key
//! order, alternating which goes first. The figure is the median over the
//! rounds of t(untracked) / t(tracked): the tracked throughput as a share
//! of the untracked one, measured in the same run. It runs twice: keys
//! declared `INTEGER PRIMARY KEY AUTOINCREMENT`, then a plain `INTEGER
//! PRIMARY KEY`, whose insert trigger also checks the key floor (spec
//! §2.2.1).

use dbsync_sqlite::{open, track, Role, TableSpec};
use std::time::{Duration, Instant};

const N: i64 = 50_000;
const ROUNDS: usize = 11;

/// The two ways of declaring the key that capture treats apart.
const KEYS: [&str; 2] = ["INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER PRIMARY KEY"];

fn fresh(dir: &std::path::Path, name: &str, key: &str, tracked: bool) -> rusqlite::Connection {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let mut conn = open(&path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE item (id {key}, name TEXT NOT NULL, qty INTEGER, price REAL);"
    ))
    .unwrap();
    if tracked {
        track::track(&mut conn, &[TableSpec::both("item")], Role::Node).unwrap();
    }
    conn
}

fn inserts(conn: &mut rusqlite::Connection) -> Duration {
    let start = Instant::now();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare("INSERT INTO item (name, qty, price) VALUES (?1, ?2, ?3)")
            .unwrap();
        for i in 0..N {
            stmt.execute(rusqlite::params![format!("item {i}"), i, i as f64 * 0.5])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    start.elapsed()
}

/// Updates every row in key order: `row` sets a text and a real column
/// (a typical edit of a record), `counter` increments one integer.
fn updates(conn: &mut rusqlite::Connection, row: bool) -> Duration {
    let start = Instant::now();
    let tx = conn.transaction().unwrap();
    {
        if row {
            let mut stmt = tx
                .prepare("UPDATE item SET name = ?2, price = ?3 WHERE id = ?1")
                .unwrap();
            for i in 1..=N {
                stmt.execute(rusqlite::params![
                    i,
                    format!("renamed {i}"),
                    i as f64 * 0.25
                ])
                .unwrap();
            }
        } else {
            let mut stmt = tx
                .prepare("UPDATE item SET qty = qty + 1 WHERE id = ?1")
                .unwrap();
            for i in 1..=N {
                stmt.execute([i]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    start.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Per kind of write: the median ratio (untracked time / tracked time)
/// and the median untracked rows/s, with keys declared `key`.
fn measure(dir: &std::path::Path, key: &str) -> Vec<(f64, f64)> {
    let mut ratio: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut rate: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for round in 0..ROUNDS {
        let mut raw = fresh(dir, "raw.db", key, false);
        let mut tracked = fresh(dir, "tracked.db", key, true);
        let mut times = [[Duration::ZERO; 2]; 3];
        // Alternate which file goes first, so neither always gets a warm cache.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for (k, time) in times.iter_mut().enumerate() {
            for &which in &order {
                let conn = if which == 0 { &mut raw } else { &mut tracked };
                time[which] = match k {
                    0 => inserts(conn),
                    1 => updates(conn, true),
                    _ => updates(conn, false),
                };
            }
        }
        for (k, [untracked, tracked]) in times.iter().enumerate() {
            ratio[k].push(untracked.as_secs_f64() / tracked.as_secs_f64());
            rate[k].push(N as f64 / untracked.as_secs_f64());
        }
    }
    (0..3)
        .map(|k| (median(ratio[k].clone()), median(rate[k].clone())))
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; nothing to list.
    }
    let dir = tempfile::tempdir().unwrap();
    let kinds = [
        "insert",
        "update a text and a real column",
        "increment one integer column",
    ];
    println!("capture: {N} rows, {ROUNDS} rounds, medians; ratio = tracked / untracked throughput (target >= 0.45)");
    for key in KEYS {
        println!("keys {key}:");
        for (kind, (r, u)) in kinds.iter().zip(measure(dir.path(), key)) {
            println!(
                "  {kind:<32} untracked {u:>9.0} rows/s  tracked {:>9.0} rows/s  ratio {r:.2}",
                u * r
            );
        }
    }
}
