//! Merge planning throughput (spec §12.1.2: planning is linear in the ops).
//!
//! Plans a merge of N pulled ops against N pending ops, 10% of the pulled
//! rows in conflict with a pending op, for N = 10k, 100k and 1M, with the
//! in-memory store as the local view. Prints ops/s (pulled ops per second)
//! and the ratio t(1M) / t(100k), whose target is at most 12.
//!
//! `cargo bench -p dbsync-core --bench merge_plan` (add `-- 10k` etc. to run
//! one size; `DBSYNC_BENCH_MAX=100000` skips the 1M case).

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use dbsync_core::merge::{self, MergeInput, NodeWins};
use dbsync_core::model::MemoryStore;
use dbsync_core::protocol::op::{Command, Op, VersionedOp};
use dbsync_core::protocol::row_id::RowId;
use dbsync_core::protocol::value::{Row, Value, Values};
use dbsync_core::schema::{
    Column, ColumnType, Direction, ForeignKey, KeyType, Schema, TableSchema,
};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const GROUPS: i64 = 1000;

fn schema() -> Schema {
    let col = |name: &str, ty| Column {
        name: name.into(),
        ty,
        not_null: true,
    };
    Schema::new(vec![
        TableSchema {
            name: "grp".into(),
            primary_key: "id".into(),
            key_type: KeyType::Integer,
            columns: vec![col("label", ColumnType::Text)],
            foreign_keys: vec![],
            unique: vec![],
            direction: Direction::Both,
        },
        TableSchema {
            name: "item".into(),
            primary_key: "id".into(),
            key_type: KeyType::Integer,
            columns: vec![
                col("grp_id", ColumnType::Integer),
                col("name", ColumnType::Text),
                col("n", ColumnType::Integer),
            ],
            foreign_keys: vec![ForeignKey {
                column: "grp_id".into(),
                references: "grp".into(),
            }],
            unique: vec![vec!["name".into()]],
            direction: Direction::Both,
        },
    ])
}

fn item(id: i64, name: String, n: i64) -> Values {
    let mut v = Values::new();
    v.insert("grp_id".into(), Value::Integer(1 + id % GROUPS));
    v.insert("name".into(), Value::Text(name));
    v.insert("n".into(), Value::Integer(n));
    v
}

fn row(id: i64, values: Values) -> Row {
    Row {
        table: "item".into(),
        id: id.into(),
        values,
    }
}

/// The node's store and the merge input for size `n`.
fn setup(n: i64) -> (MemoryStore, MergeInput) {
    let grp = |id: i64| Row {
        table: "grp".into(),
        id: id.into(),
        values: [("label".to_string(), Value::Text(format!("g{id}")))].into(),
    };

    // Base rows 1..=2n are known to both sides. Pending ops (n): 0.1n updates on pulled rows (the conflicts), 0.8n
    // updates and 0.05n deletes of other rows, 0.05n inserts.
    let mut pending = Vec::with_capacity(n as usize);
    let tenth = n / 10;
    let local = |id: i64, command| Op {
        table: "item".into(),
        row_id: id.into(),
        command,
        columns: None,
    };
    for id in (1..=n).filter(|id| id % 10 == 0) {
        pending.push(local(id, Command::Update));
    }
    for id in n + 1..=n + 8 * tenth {
        pending.push(local(id, Command::Update));
    }
    for id in n + 8 * tenth + 1..=n + 8 * tenth + tenth / 2 {
        pending.push(local(id, Command::Delete));
    }
    for id in 2 * n + 1..=2 * n + tenth / 2 {
        pending.push(local(id, Command::Insert));
    }
    let deleted: std::collections::HashSet<RowId> = pending
        .iter()
        .filter(|o| o.command == Command::Delete)
        .map(|o| o.row_id)
        .collect();
    let mut store = MemoryStore::new(schema());
    store.load((1..=GROUPS).map(grp)).unwrap();
    store
        .load(
            (1..=2 * n)
                .filter(|id| !deleted.contains(&RowId::Int(*id)))
                .map(|id| {
                    let changed = id % 10 == 0 && id <= n || (n < id && id <= n + 8 * tenth);
                    row(id, item(id, format!("n{id}"), i64::from(changed)))
                }),
        )
        .unwrap();
    store
        .load((2 * n + 1..=2 * n + tenth / 2).map(|id| row(id, item(id, format!("l{id}"), 1))))
        .unwrap();
    for op in &pending {
        store.record(&op.table, op.row_id, op.command);
    }

    // Pulled ops (n, compressed): rows 1..=n, a delete for every 20th row
    // and every 9th row, an update otherwise.
    let mut pulled = Vec::with_capacity(n as usize);
    let mut rows = Vec::with_capacity(2 * n as usize);
    for id in 1..=n {
        let command = if id % 20 == 0 || id % 9 == 0 {
            Command::Delete
        } else {
            Command::Update
        };
        pulled.push(VersionedOp {
            version: 2 + (id as u64) / 100,
            table: "item".into(),
            row_id: id.into(),
            command,
            columns: None,
            out: false,
        });
        if command == Command::Update {
            rows.push(row(id, item(id, format!("r{id}"), 2)));
        }
    }
    // The parents of the incoming rows and the server rows of the node's
    // pending updates (spec §11.3).
    rows.extend((1..=GROUPS).map(grp));
    for op in pending
        .iter()
        .filter(|o| o.command == Command::Update && o.row_id > RowId::Int(n))
    {
        let id = op.row_id.as_int().expect("an integer key");
        rows.push(row(id, item(id, format!("n{id}"), 0)));
    }
    let input = MergeInput {
        target_version: pulled.last().map(|o| o.version),
        pulled,
        rows,
        pending,
        restores: Vec::new(),
        remote_max_ids: BTreeMap::from([("item".to_string(), RowId::Int(n))]),
    };
    (store, input)
}

static TIMES: Mutex<Vec<(i64, Duration)>> = Mutex::new(Vec::new());

fn bench(c: &mut Criterion) {
    let max: i64 = std::env::var("DBSYNC_BENCH_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let schema = schema();
    let mut group = c.benchmark_group("merge_plan");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(500));
    for (label, n) in [("10k", 10_000i64), ("100k", 100_000), ("1M", 1_000_000)] {
        if n > max {
            continue;
        }
        let (store, input) = setup(n);
        let conflicts = merge::plan(&input, &schema, &NodeWins, &store)
            .expect("plan")
            .conflicts
            .len();
        assert_eq!(conflicts as i64, n / 10, "10% of rows in conflict");
        group.throughput(Throughput::Elements(n as u64));
        group.measurement_time(Duration::from_secs(if n >= 1_000_000 { 20 } else { 5 }));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let plan = merge::plan(&input, &schema, &NodeWins, &store).expect("plan");
                    total += start.elapsed();
                    drop(plan);
                }
                TIMES.lock().unwrap().push((n, total / iters as u32));
                total
            })
        });
    }
    group.finish();
}

fn median(n: i64) -> Option<Duration> {
    let mut v: Vec<Duration> = TIMES
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, _)| *m == n)
        .map(|(_, d)| *d)
        .collect();
    v.sort();
    v.get(v.len() / 2).copied()
}

/// Without criterion: three timed plans per size (`DBSYNC_BENCH_QUICK=1`).
fn quick() {
    let schema = schema();
    let max: i64 = std::env::var("DBSYNC_BENCH_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    for n in [10_000i64, 100_000, 1_000_000]
        .into_iter()
        .filter(|n| *n <= max)
    {
        let (store, input) = setup(n);
        for _ in 0..3 {
            let start = Instant::now();
            let plan = merge::plan(&input, &schema, &NodeWins, &store).expect("plan");
            let t = start.elapsed();
            drop(plan);
            TIMES.lock().unwrap().push((n, t));
        }
    }
}

fn main() {
    if std::env::var_os("DBSYNC_BENCH_QUICK").is_some() {
        quick();
    } else {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
    println!();
    for n in [10_000i64, 100_000, 1_000_000] {
        if let Some(t) = median(n) {
            println!(
                "merge_plan n={n:>7}: median {:>10.3} ms, {:>12.0} pulled ops/s",
                t.as_secs_f64() * 1e3,
                n as f64 / t.as_secs_f64()
            );
        }
    }
    if let (Some(a), Some(b)) = (median(100_000), median(1_000_000)) {
        println!(
            "ratio t(1M)/t(100k) = {:.2} (target <= 12)",
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
}
