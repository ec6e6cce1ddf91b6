//! Properties of compression (spec §5) and merge planning (spec §12).
//!
//! The case count is `PROPTEST_CASES` (default 256 here, so the suite stays
//! fast on two cores); raise it for a deeper run:
//! `PROPTEST_CASES=5000 cargo test -p dbsync-core --test properties`.

use dbsync_core::compress::{compress_pending, compress_pulled};
use dbsync_core::merge::{self, MergeError, MergeInput, NodeWins, Policy, Restore, ServerWins};
use dbsync_core::model::{MemoryStore, PullError};
use dbsync_core::protocol::op::{Command, Op, OplogRecord, VersionedOp};
use dbsync_core::protocol::row_id::RowId;
use dbsync_core::protocol::value::{Row, Value, Values};
use dbsync_core::schema::{
    Column, ColumnType, Direction, ForeignKey, KeyType, Schema, TableSchema,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    }
}

const TABLES: [&str; 4] = ["author", "book", "note", "pair"];

fn schema() -> Schema {
    let col = |name: &str, ty| Column {
        name: name.into(),
        ty,
        not_null: false,
    };
    let fk = |c: &str, r: &str| ForeignKey {
        column: c.into(),
        references: r.into(),
    };
    let t = |name: &str, columns, foreign_keys, unique: Vec<Vec<String>>| TableSchema {
        name: name.into(),
        primary_key: "id".into(),
        key_type: KeyType::Integer,
        columns,
        foreign_keys,
        unique,
        direction: Direction::Both,
    };
    use ColumnType::*;
    Schema::new(vec![
        t(
            "author",
            vec![col("name", Text), col("n", Integer)],
            vec![],
            vec![vec!["name".into()]],
        ),
        t(
            "book",
            vec![col("author_id", Integer), col("title", Text)],
            vec![fk("author_id", "author")],
            vec![vec!["author_id".into(), "title".into()]],
        ),
        t(
            "note",
            vec![col("book_id", Integer), col("n", Integer)],
            vec![fk("book_id", "book")],
            vec![],
        ),
        t(
            "pair",
            vec![col("a", Integer), col("b", Integer)],
            vec![],
            vec![vec!["a".into(), "b".into()]],
        ),
    ])
}

fn ids(s: &MemoryStore, table: &str) -> Vec<RowId> {
    s.rows()
        .into_iter()
        .filter(|r| r.table == table)
        .map(|r| r.id)
        .collect()
}

/// Values for a row of `table` from a small domain (so that unique values
/// collide often); `None` when a parent is needed and there is none.
fn values(s: &MemoryStore, table: &str, pick: u16, val: u8) -> Option<Values> {
    let names = ["a", "b", "c", "d", "e", "f"];
    let mut v = Values::new();
    match table {
        "author" => {
            v.insert(
                "name".into(),
                Value::Text(names[val as usize % names.len()].into()),
            );
            v.insert("n".into(), Value::Integer(i64::from(val / 6)));
        }
        "book" => {
            let parents = ids(s, "author");
            let p = *parents.get(pick as usize % parents.len().max(1))?;
            v.insert("author_id".into(), p.to_value());
            v.insert("title".into(), Value::Text(names[val as usize % 3].into()));
        }
        "note" => {
            let parents = ids(s, "book");
            let p = *parents.get(pick as usize % parents.len().max(1))?;
            v.insert("book_id".into(), p.to_value());
            v.insert("n".into(), Value::Integer(i64::from(val)));
        }
        _ => {
            v.insert("a".into(), Value::Integer(i64::from(val % 3)));
            v.insert("b".into(), Value::Integer(i64::from(val / 3 % 3)));
        }
    }
    Some(v)
}

type Step = (u8, u8, u16, u8);

/// Interprets random steps as valid local writes; invalid ones are skipped.
fn run(s: &mut MemoryStore, steps: &[Step]) {
    for &(kind, t, pick, val) in steps {
        let table = TABLES[t as usize % TABLES.len()];
        let existing = ids(s, table);
        match kind % 4 {
            0 | 1 => {
                if let Some(v) = values(s, table, pick, val) {
                    let _ = s.insert(table, None, v);
                }
            }
            2 => {
                if let (Some(&id), Some(v)) = (
                    existing.get(pick as usize % existing.len().max(1)),
                    values(s, table, pick / 7, val),
                ) {
                    let _ = s.update(table, id, v);
                }
            }
            _ => {
                if let Some(&id) = existing.get(pick as usize % existing.len().max(1)) {
                    let _ = s.delete(table, id);
                }
            }
        }
    }
}

fn steps(max: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u8>()),
        0..max,
    )
}

/// The rows a server sends with a pull (spec §11.3): the current rows of
/// the ops' `i`/`u`, the current rows of the node's pending rows, and all
/// their parents, transitively.
fn message_rows(server: &MemoryStore, ops: &[VersionedOp], pending: &[Op]) -> Vec<Row> {
    let schema = server.schema().clone();
    let mut keys: Vec<(String, RowId)> = ops
        .iter()
        .filter(|o| o.command != Command::Delete)
        .map(|o| (o.table.clone(), o.row_id))
        .chain(pending.iter().map(|o| (o.table.clone(), o.row_id)))
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while let Some((t, id)) = keys.pop() {
        if !seen.insert((t.clone(), id)) {
            continue;
        }
        let Some(v) = server.get(&t, id) else {
            continue;
        };
        for fk in &schema.table(&t).unwrap().foreign_keys {
            if let Some(Value::Integer(p)) = v.get(&fk.column) {
                keys.push((fk.references.clone(), RowId::Int(*p)));
            }
        }
        out.push(Row {
            table: t,
            id,
            values: v.clone(),
        });
    }
    out.sort_by(|a, b| (&a.table, a.id).cmp(&(&b.table, b.id)));
    out
}

fn policy(server_wins: bool) -> &'static dyn Policy {
    if server_wins {
        &ServerWins
    } else {
        &NodeWins
    }
}

/// Applies the node's compressed pending ops to the server as a push would.
fn push(server: &mut MemoryStore, node: &MemoryStore) -> Result<(), String> {
    let mut rows: BTreeMap<(String, RowId), Option<Values>> = server
        .rows()
        .into_iter()
        .map(|r| ((r.table, r.id), Some(r.values)))
        .collect();
    for op in node.pending_ops().map_err(|e| e.to_string())? {
        let key = (op.table.clone(), op.row_id);
        let on_server = rows.get(&key).is_some_and(Option::is_some);
        match op.command {
            Command::Insert if on_server => return Err(format!("push inserts existing {key:?}")),
            Command::Update | Command::Delete if !on_server => {
                return Err(format!("push {} of missing {key:?}", op.command))
            }
            _ => {}
        }
        rows.insert(key, node.get(&op.table, op.row_id).cloned());
    }
    let mut next = MemoryStore::new(server.schema().clone());
    next.load(
        rows.into_iter()
            .filter_map(|((table, id), v)| v.map(|values| Row { table, id, values })),
    )
    .map_err(|e| e.to_string())?;
    *server = next;
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary sequences: at most one op per row, and compressing the
    /// result again changes nothing.
    #[test]
    fn compression_leaves_at_most_one_op_per_row_and_is_idempotent(
        seq in prop::collection::vec((0i64..6, 0u8..3), 0..40),
        shuffle in any::<bool>(),
    ) {
        let cmd = |c: u8| [Command::Insert, Command::Update, Command::Delete][c as usize];
        let mut recs: Vec<OplogRecord> = seq.iter().enumerate().map(|(i, (row, c))| OplogRecord {
            order: i as u64, table: "t".into(), row_id: RowId::Int(*row), command: cmd(*c), version: None, columns: None,
        }).collect();
        if shuffle { recs.reverse(); }
        if let Ok(ops) = compress_pending(&recs) {
            let rows: BTreeSet<RowId> = ops.iter().map(|o| o.row_id).collect();
            prop_assert_eq!(rows.len(), ops.len());
            let again: Vec<OplogRecord> = ops.iter().enumerate().map(|(i, o)| OplogRecord {
                order: i as u64, table: o.table.clone(), row_id: o.row_id, command: o.command, version: None, columns: o.columns.clone(),
            }).collect();
            prop_assert_eq!(compress_pending(&again).unwrap(), ops);
        }
        let pulled: Vec<VersionedOp> = seq.iter().enumerate().map(|(i, (row, c))| VersionedOp {
            version: i as u64, table: "t".into(), row_id: RowId::Int(*row), command: cmd(*c), columns: None,
            out: false,
        }).collect();
        let once = compress_pulled(&pulled);
        let rows: BTreeSet<RowId> = once.ops.iter().map(|o| o.row_id).collect();
        prop_assert_eq!(rows.len(), once.ops.len());
        prop_assert_eq!(compress_pulled(&once.ops).ops, once.ops);
    }

    /// Replaying the raw pending writes, and replaying their compression
    /// with the rows' final values, give the same rows.
    #[test]
    fn compressed_pending_ops_replay_to_the_same_rows(base in steps(20), local in steps(40)) {
        let mut node = MemoryStore::new(schema());
        run(&mut node, &base);
        node.mark_pushed(1);
        let start = node.clone();
        run(&mut node, &local);
        let ops = node.pending_ops().expect("captured writes are valid sequences");
        let mut replay: BTreeMap<(String, RowId), Values> =
            start.rows().into_iter().map(|r| ((r.table, r.id), r.values)).collect();
        for op in &ops {
            let key = (op.table.clone(), op.row_id);
            match op.command {
                Command::Delete => { prop_assert!(replay.remove(&key).is_some()); }
                Command::Insert => {
                    prop_assert!(!replay.contains_key(&key));
                    replay.insert(key, node.get(&op.table, op.row_id).unwrap().clone());
                }
                Command::Update => {
                    prop_assert!(replay.contains_key(&key));
                    replay.insert(key, node.get(&op.table, op.row_id).unwrap().clone());
                }
            }
        }
        let replayed: Vec<Row> = replay.into_iter().map(|((table, id), values)| Row { table, id, values }).collect();
        prop_assert_eq!(replayed, node.rows());
    }

    /// Divergent histories: a plan applies cleanly, keeps every foreign
    /// key and unique constraint, leaves every row without a pending op
    /// equal to the server's, and the following push converges.
    #[test]
    fn merge_plans_apply_cleanly_and_converge(
        base in steps(24), remote in steps(24), local in steps(24), server_wins in any::<bool>(),
        versions in 1usize..4,
    ) {
        let mut server = MemoryStore::new(schema());
        run(&mut server, &base);
        server.mark_pushed(1);
        let mut node = server.clone();
        run(&mut server, &remote);
        run(&mut node, &local);
        let history = server.pending_records();
        let n = history.len().max(1);
        let ops: Vec<VersionedOp> = history.iter().enumerate().map(|(i, r)| VersionedOp {
            version: 2 + (i * versions / n) as u64, table: r.table.clone(), row_id: r.row_id, command: r.command, columns: None,
            out: false,
        }).collect();
        server.mark_pushed(ops.last().map_or(1, |o| o.version));
        let pending = node.pending_ops().unwrap();
        let rows = message_rows(&server, &compress_pulled(&ops).ops, &pending);
        let before = node.clone();
        match node.pull(&ops, rows, policy(server_wins)) {
            Ok(_) => {}
            Err(PullError::Merge(MergeError::UniqueCollisions(c))) => {
                prop_assert!(!c.is_empty());
                prop_assert_eq!(&node, &before);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
        }
        prop_assert_eq!(node.check_integrity(), vec![]);
        let pending: BTreeSet<(String, RowId)> = node.pending_ops().unwrap().into_iter().map(|o| (o.table, o.row_id)).collect();
        let keys: BTreeSet<(String, RowId)> = node.rows().into_iter().chain(server.rows()).map(|r| (r.table, r.id)).collect();
        for (t, id) in keys.difference(&pending) {
            prop_assert_eq!(node.get(t, *id), server.get(t, *id), "{} {} differs without a pending op", t, id);
        }
        push(&mut server, &node).map_err(TestCaseError::fail)?;
        prop_assert_eq!(server.check_integrity(), vec![]);
        prop_assert_eq!(server.rows(), node.rows());
    }

    /// Arbitrary, inconsistent inputs: planning returns a plan or an error
    /// and never panics; moving the pulled rows into the plan
    /// (`plan_moving`) gives the plan that copying them gives.
    #[test]
    fn planning_never_panics_on_arbitrary_inputs(
        local in prop::collection::vec((0usize..5, 0i64..8, any::<u8>(), 0i64..9), 0..12),
        pending in prop::collection::vec((0usize..5, 0i64..8, 0u8..3), 0..8),
        pulled in prop::collection::vec((0usize..5, 0i64..8, 0u8..3, 0u64..5), 0..10),
        rows in prop::collection::vec((0usize..5, 0i64..8, any::<u8>(), 0i64..9), 0..12),
        restores in prop::collection::vec((0usize..5, 0i64..8, any::<bool>()), 0..4),
        server_wins in any::<bool>(),
    ) {
        let tables = ["author", "book", "note", "pair", "ghost"];
        let cmd = |c: u8| [Command::Insert, Command::Update, Command::Delete][c as usize];
        let row = |(t, id, v, fk): (usize, i64, u8, i64)| {
            let mut values = Values::new();
            for c in ["name", "title", "a", "b", "n"] {
                values.insert(c.into(), Value::Integer(i64::from(v % 3)));
            }
            values.insert("name".into(), Value::Text(format!("{}", v % 4)));
            values.insert("author_id".into(), Value::Integer(fk));
            values.insert("book_id".into(), if v % 5 == 0 { Value::Text("x".into()) } else { Value::Integer(fk) });
            Row { table: tables[t].into(), id: id.into(), values }
        };
        let mut store = MemoryStore::new(schema());
        let _ = store.load(local.into_iter().map(row));
        let input = MergeInput {
            pulled: pulled.into_iter().map(|(t, id, c, v)| VersionedOp { version: v, table: tables[t].into(), row_id: id.into(), command: cmd(c), columns: None, out: false }).collect(),
            rows: rows.into_iter().map(row).collect(),
            pending: pending.into_iter().map(|(t, id, c)| Op { table: tables[t].into(), row_id: id.into(), command: cmd(c), columns: None }).collect(),
            restores: restores.into_iter().map(|(t, id, changed)| Restore { table: tables[t].into(), row_id: id.into(), changed }).collect(),
            remote_max_ids: BTreeMap::new(),
            target_version: Some(9),
        };
        let copied = merge::plan(&input, store.schema(), policy(server_wins), &store);
        let moved = merge::plan_moving(input.clone(), store.schema(), policy(server_wins), &store);
        prop_assert_eq!(copied.as_ref().ok(), moved.as_ref().ok(), "moving the pulled rows plans what copying them plans");
        if let Ok(plan) = copied {
            let _ = store.apply(&plan);
        }
    }
}
