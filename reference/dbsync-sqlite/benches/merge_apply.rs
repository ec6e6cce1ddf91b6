//! Merging a pulled batch of inserts vs a raw prepared-statement insert of
//! the same rows.
//!
//! `cargo bench -p dbsync-sqlite --bench merge_apply`
//!
//! Each round merges N pulled inserts into an empty node (compression,
//! planning, applying the plan in one transaction, recording the version)
//! and inserts the same N rows with one prepared statement in one
//! transaction into an untracked copy. The figure is the median of
//! t(raw) / t(merge): the merge's throughput as a share of the raw one.

use dbsync_core::merge::NodeWins;
use dbsync_core::protocol::value::Values;
use dbsync_core::protocol::{RegisterResponse, VersionInfo};
use dbsync_core::{Command, Row, Value, VersionedOp};
use dbsync_sqlite::node::{self, StagedPull};
use dbsync_sqlite::open;
use dbsync_sqlite::sql_id::SqlId;
use std::time::Instant;

const N: i64 = 100_000;
const ROUNDS: usize = 5;
const SCHEMA: &str = "CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, qty INTEGER, price REAL);";

fn rows() -> Vec<Row> {
    (1..=N)
        .map(|i| {
            let mut values = Values::new();
            values.insert("name".into(), Value::Text(format!("item {i}")));
            values.insert("qty".into(), Value::Integer(i));
            values.insert("price".into(), Value::Real(i as f64 * 0.5));
            Row {
                table: "item".into(),
                id: i.into(),
                values,
            }
        })
        .collect()
}

fn staged(rows: &[Row]) -> StagedPull {
    StagedPull::whole(
        1,
        vec![VersionInfo {
            version: 1,
            node_id: Some(99),
            push_id: Some("p-benchmark".into()),
            created_at: "2026-01-01T00:00:00Z".into(),
        }],
        rows.iter()
            .map(|r| VersionedOp {
                version: 1,
                table: "item".into(),
                row_id: r.id,
                command: Command::Insert,
                columns: None,
                out: false,
            })
            .collect(),
        rows.to_vec(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rows = rows();
    let (mut ratios, mut raw_rate) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        for f in ["raw.db", "raw.db-wal", "node.db", "node.db-wal"] {
            let _ = std::fs::remove_file(dir.path().join(f));
        }
        let mut raw = open(&dir.path().join("raw.db")).unwrap();
        raw.execute_batch(SCHEMA).unwrap();
        let mut nd = open(&dir.path().join("node.db")).unwrap();
        nd.execute_batch(SCHEMA).unwrap();
        let schema = node::prepare(&mut nd, &[]).unwrap();
        let reg = RegisterResponse {
            protocol: "1.0".into(),
            node_id: 1,
            secret: "A".repeat(43),
            user_id: None,
            latest_version: 0,
        };
        node::save_registration(&nd, "http://bench", &reg).unwrap();
        let pull = staged(&rows);

        let raw_insert = |raw: &mut rusqlite::Connection| {
            let start = Instant::now();
            let tx = raw.transaction().unwrap();
            {
                let mut stmt = tx
                    .prepare("INSERT INTO item (id, name, qty, price) VALUES (?1, ?2, ?3, ?4)")
                    .unwrap();
                for r in &rows {
                    let v = &r.values;
                    let (Value::Text(n), Value::Integer(q), Value::Real(p)) =
                        (&v["name"], &v["qty"], &v["price"])
                    else {
                        unreachable!()
                    };
                    stmt.execute(rusqlite::params![SqlId(r.id), n, q, p])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
            start.elapsed().as_secs_f64()
        };
        let (t_raw, t_merge);
        if round % 2 == 0 {
            t_raw = raw_insert(&mut raw);
            let start = Instant::now();
            node::merge(&mut nd, &schema, &NodeWins, pull, 0).unwrap();
            t_merge = start.elapsed().as_secs_f64();
        } else {
            let start = Instant::now();
            node::merge(&mut nd, &schema, &NodeWins, pull, 0).unwrap();
            t_merge = start.elapsed().as_secs_f64();
            t_raw = raw_insert(&mut raw);
        }
        let n: i64 = nd
            .query_row("SELECT count(*) FROM item", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, N);
        ratios.push(t_raw / t_merge);
        raw_rate.push(N as f64 / t_raw);
    }
    let r = median(ratios);
    let raw = median(raw_rate);
    println!("merge_apply: {N} pulled inserts, {ROUNDS} rounds, medians");
    println!(
        "  raw insert {raw:.0} rows/s, merge {:.0} rows/s, ratio {r:.2} (target >= 0.5)",
        raw * r
    );
}
