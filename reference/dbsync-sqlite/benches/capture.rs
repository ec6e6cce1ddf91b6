//! Tracked vs untracked write throughput on the same kind of file.
//!
//! `cargo bench -p dbsync-sqlite --bench capture`
//!
//! Each round inserts N rows (one transaction, one prepared statement) into
//! an untracked table and into a tracked one, then updates every row in key
//! order, alternating which goes first. The figure is the median over the
//! rounds of t(untracked) / t(tracked): the tracked throughput as a share
//! of the untracked one, measured in the same run.

use dbsync_sqlite::{open, track, Role, TableSpec};
use std::time::{Duration, Instant};

const N: i64 = 50_000;
const ROUNDS: usize = 11;

fn fresh(dir: &std::path::Path, name: &str, tracked: bool) -> rusqlite::Connection {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let mut conn = open(&path).unwrap();
    conn.execute_batch("CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, qty INTEGER, price REAL);").unwrap();
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

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; nothing to list.
    }
    let dir = tempfile::tempdir().unwrap();
    // ratio (untracked time / tracked time) and untracked rows/s, per kind
    let kinds = [
        "insert",
        "update a text and a real column",
        "increment one integer column",
    ];
    let mut ratio: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut rate: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for round in 0..ROUNDS {
        let mut raw = fresh(dir.path(), "raw.db", false);
        let mut tracked = fresh(dir.path(), "tracked.db", true);
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
    println!("capture: {N} rows, {ROUNDS} rounds, medians; ratio = tracked / untracked throughput (target >= 0.45)");
    for (k, kind) in kinds.iter().enumerate() {
        let (r, u) = (median(ratio[k].clone()), median(rate[k].clone()));
        println!(
            "  {kind:<32} untracked {u:>9.0} rows/s  tracked {:>9.0} rows/s  ratio {r:.2}",
            u * r
        );
    }
}
