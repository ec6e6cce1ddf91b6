//! The `merge_plan` target: compression then merge planning (spec §5,
//! §12) on structured arbitrary inputs, applied to the in-memory store.
//!
//! An input is either
//! - **structured** (any input not starting with `{`): a [`MergeCase`] read
//!   with `arbitrary`: a small schema (2–3 tables, foreign keys, self
//!   references and cycles included, one- and two-column unique
//!   constraints), a synced base state, offline edits on a node and on the
//!   server (unique swaps included), and the pull the server sends for
//!   them (spec §11.3). Optionally the pull is then perturbed (rows or ops
//!   dropped, rows or ops added): the protocol never sends such a pull,
//!   but the merge must still stay safe on it;
//! - **a scenario** (input starting with `{`): a merge scenario of spec
//!   §12.9 or the `input` of a merge vector (or a compression scenario of
//!   §5.4, or a compression vector's `input`) in its JSON form, so that
//!   the spec's scenarios and the conformance vectors seed the corpus.
//!
//! Checked: no panic; when the merge plans, applying the plan leaves no
//! dangling foreign key and no duplicate unique value (the model's
//! integrity check), every action applies, the pending ops still compress
//! and agree with the rows (`i`/`u` of a row that exists, `d` of one that
//! does not), and the node records the target version. When it refuses:
//! on a pull the protocol can send, only with unique collisions
//! (spec §12.2.3); on a perturbed pull or a scenario, with one of the
//! documented [`MergeError`]s.

use arbitrary::{Arbitrary, Unstructured};
use dbsync_core::compress::{compress_pending, compress_pulled};
use dbsync_core::merge::{plan, MergeError, MergeInput, NodeWins, Plan, Policy, ServerWins};
use dbsync_core::model::scenario::{LocalState, PullState};
use dbsync_core::model::MemoryStore;
use dbsync_core::validate::{check_row, MAX_ROW_ID};
use dbsync_core::{
    Column, ColumnType, Command, Direction, ForeignKey, KeyType, Op, OplogRecord, Row, RowId,
    Schema, TableSchema, Value, VersionedOp,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The most rows, edits and perturbations a structured case uses.
const MAX_ROWS: usize = 16;
const MAX_EDITS: usize = 16;
const MAX_PERTURB: usize = 4;

/// One table of the schema.
#[derive(Debug, Clone, Arbitrary)]
pub struct TableSeed {
    pub unique_n: bool,
    pub unique_ns: bool,
    pub s_not_null: bool,
    /// The tables the foreign keys `f0` and `f1` reference (any table,
    /// this one included).
    pub fk0: Option<u8>,
    pub fk1: Option<u8>,
}

/// A row's values: `n` integer, `s` text, `f0`/`f1` foreign keys.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct Vals {
    pub n: u8,
    pub s: u8,
    pub f0: u8,
    pub f1: u8,
}

#[derive(Debug, Clone, Arbitrary)]
pub struct RowSeed {
    pub table: u8,
    pub id: u8,
    pub vals: Vals,
}

/// A local write (on the node or on the server), through the store's own
/// checks; a write the store refuses is skipped.
#[derive(Debug, Clone, Arbitrary)]
pub enum Edit {
    Insert {
        table: u8,
        vals: Vals,
    },
    Update {
        table: u8,
        pick: u8,
        vals: Vals,
    },
    Delete {
        table: u8,
        pick: u8,
    },
    /// Two rows exchange their values (a unique swap, in three updates).
    Swap {
        table: u8,
        a: u8,
        b: u8,
    },
}

/// A change to the pull the protocol would not make.
#[derive(Debug, Clone, Arbitrary)]
pub enum Perturb {
    DropRow(u8),
    DropOp(u8),
    ExtraOp { table: u8, id: u8, command: u8 },
    ExtraRow { table: u8, id: u8, vals: Vals },
    RewriteRow { pick: u8, vals: Vals },
}

/// A structured input.
#[derive(Debug, Clone, Arbitrary)]
pub struct MergeCase {
    pub three_tables: bool,
    pub tables: [TableSeed; 3],
    pub server_wins: bool,
    pub base: Vec<RowSeed>,
    pub local: Vec<Edit>,
    pub server: Vec<Edit>,
    /// How many versions the server's ops are spread over (1–4).
    pub versions: u8,
    pub perturb: Vec<Perturb>,
}

fn table_name(i: usize) -> String {
    format!("t{i}")
}

/// The schema of a case.
pub fn schema_of(case: &MergeCase) -> Schema {
    let n = if case.three_tables { 3 } else { 2 };
    let tables = (0..n)
        .map(|i| {
            let seed = &case.tables[i];
            let mut columns = vec![
                Column {
                    name: "n".into(),
                    ty: ColumnType::Integer,
                    not_null: false,
                },
                Column {
                    name: "s".into(),
                    ty: ColumnType::Text,
                    not_null: seed.s_not_null,
                },
            ];
            let mut foreign_keys = Vec::new();
            for (k, fk) in [seed.fk0, seed.fk1].into_iter().enumerate() {
                if let Some(t) = fk {
                    let column = format!("f{k}");
                    columns.push(Column {
                        name: column.clone(),
                        ty: ColumnType::Integer,
                        not_null: false,
                    });
                    foreign_keys.push(ForeignKey {
                        column,
                        references: table_name(t as usize % n),
                    });
                }
            }
            let mut unique = Vec::new();
            if seed.unique_n {
                unique.push(vec!["n".to_string()]);
            }
            if seed.unique_ns {
                unique.push(vec!["n".to_string(), "s".to_string()]);
            }
            TableSchema {
                name: table_name(i),
                primary_key: "id".into(),
                key_type: KeyType::Integer,
                columns,
                foreign_keys,
                unique,
                direction: Direction::Both,
            }
        })
        .collect();
    Schema::new(tables)
}

/// The values `v` give a row of `table`; foreign keys pick among `ids`
/// (the ids of each referenced table), or NULL.
fn values(
    table: &TableSchema,
    v: Vals,
    ids: &dyn Fn(&str) -> Vec<RowId>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    out.insert(
        "n".to_string(),
        if v.n >= 240 {
            Value::Null
        } else {
            Value::Integer(i64::from(v.n % 4))
        },
    );
    let s_null = v.s >= 240 && !table.column("s").is_some_and(|c| c.not_null);
    out.insert(
        "s".to_string(),
        if s_null {
            Value::Null
        } else {
            Value::Text(["a", "b", "c"][v.s as usize % 3].into())
        },
    );
    for fk in &table.foreign_keys {
        let pick = if fk.column == "f0" { v.f0 } else { v.f1 };
        let candidates = ids(&fk.references);
        let value = if pick >= 200 || candidates.is_empty() {
            Value::Null
        } else {
            candidates[pick as usize % candidates.len()].to_value()
        };
        out.insert(fk.column.clone(), value);
    }
    out
}

fn table_of(schema: &Schema, t: u8) -> &TableSchema {
    &schema.tables[t as usize % schema.tables.len()]
}

/// The ids of a table's rows in a store, ascending.
fn ids_in(store: &MemoryStore, table: &str) -> Vec<RowId> {
    let mut ids: Vec<RowId> = store
        .rows()
        .into_iter()
        .filter(|r| r.table == table)
        .map(|r| r.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// The base state: the seeds' rows, less any row that breaks a
/// constraint (repeated until the state is consistent).
fn base_rows(schema: &Schema, seeds: &[RowSeed]) -> Vec<Row> {
    let mut rows: BTreeMap<(String, RowId), Row> = BTreeMap::new();
    let planned: Vec<(String, RowId)> = seeds
        .iter()
        .map(|s| {
            (
                table_of(schema, s.table).name.clone(),
                RowId::Int(i64::from(s.id % 8) + 1),
            )
        })
        .collect();
    for s in seeds {
        let table = table_of(schema, s.table);
        let id = RowId::Int(i64::from(s.id % 8) + 1);
        let ids = |t: &str| -> Vec<RowId> {
            let set: BTreeSet<RowId> = planned
                .iter()
                .filter(|(pt, _)| pt == t)
                .map(|(_, id)| *id)
                .collect();
            set.into_iter().collect()
        };
        rows.entry((table.name.clone(), id)).or_insert(Row {
            table: table.name.clone(),
            id,
            values: values(table, s.vals, &ids),
        });
    }
    loop {
        let mut store = MemoryStore::new(schema.clone());
        store
            .load(rows.values().cloned())
            .expect("the tables exist");
        let problems = store.check_integrity();
        if problems.is_empty() {
            return rows.into_values().collect();
        }
        for p in problems {
            match p {
                dbsync_core::model::IntegrityProblem::DanglingForeignKey {
                    table, row_id, ..
                } => {
                    rows.remove(&(table, row_id));
                }
                dbsync_core::model::IntegrityProblem::DuplicateUnique {
                    table, row_ids, ..
                } => {
                    for id in row_ids.into_iter().skip(1) {
                        rows.remove(&(table.clone(), id));
                    }
                }
            }
        }
    }
}

/// Applies one edit through the store's checks (refused edits are skipped).
fn edit(store: &mut MemoryStore, e: &Edit) {
    let schema = store.schema().clone();
    let ids = |s: &MemoryStore| {
        let s = s.clone();
        move |t: &str| ids_in(&s, t)
    };
    match e {
        Edit::Insert { table, vals } => {
            let t = table_of(&schema, *table);
            let v = values(t, *vals, &ids(store));
            let _ = store.insert(&t.name, None, v);
        }
        Edit::Update { table, pick, vals } => {
            let t = table_of(&schema, *table);
            let rows = ids_in(store, &t.name);
            if let Some(&id) = rows.get(*pick as usize % rows.len().max(1)) {
                let v = values(t, *vals, &ids(store));
                let _ = store.update(&t.name, id, v);
            }
        }
        Edit::Delete { table, pick } => {
            let t = table_of(&schema, *table);
            let rows = ids_in(store, &t.name);
            if let Some(&id) = rows.get(*pick as usize % rows.len().max(1)) {
                let _ = store.delete(&t.name, id);
            }
        }
        Edit::Swap { table, a, b } => {
            let t = table_of(&schema, *table);
            let rows = ids_in(store, &t.name);
            if rows.len() < 2 {
                return;
            }
            let a = rows[*a as usize % rows.len()];
            let b = rows[*b as usize % rows.len()];
            if a == b {
                return;
            }
            let va = store.get(&t.name, a).cloned().unwrap_or_default();
            let vb = store.get(&t.name, b).cloned().unwrap_or_default();
            // Park `a` on values nobody holds, then exchange.
            let mut parked = va.clone();
            parked.insert("n".into(), Value::Null);
            if store.update(&t.name, a, parked).is_ok()
                && store.update(&t.name, b, va.clone()).is_ok()
            {
                let _ = store.update(&t.name, a, vb);
            }
        }
    }
}

/// The rows of spec §11.3.2 for `ops` and the node's `pending`: rows of
/// `i`/`u` ops and of pending ops, and their parents, transitively, as the
/// server holds them.
fn pull_rows(server: &MemoryStore, ops: &[VersionedOp], pending: &[Op]) -> Vec<Row> {
    let schema = server.schema();
    let mut queue: Vec<(String, RowId)> = ops
        .iter()
        .filter(|o| o.command != Command::Delete)
        .map(|o| (o.table.clone(), o.row_id))
        .chain(pending.iter().map(|o| (o.table.clone(), o.row_id)))
        .collect();
    let mut seen: HashSet<(String, RowId)> = HashSet::new();
    let mut out = Vec::new();
    while let Some(key) = queue.pop() {
        if !seen.insert(key.clone()) {
            continue;
        }
        let Some(values) = server.get(&key.0, key.1) else {
            continue;
        };
        if let Some(t) = schema.table(&key.0) {
            for fk in &t.foreign_keys {
                if let Some(p) = values.get(&fk.column).and_then(RowId::from_value) {
                    queue.push((fk.references.clone(), p));
                }
            }
        }
        out.push(Row {
            table: key.0,
            id: key.1,
            values: values.clone(),
        });
    }
    out
}

/// Whether the pending ops agree with the rows: `i`/`u` of a row that
/// exists, `d` of one that does not. `Err` says which does not.
fn pending_agrees(store: &MemoryStore) -> Result<(), String> {
    let ops = store
        .pending_ops()
        .map_err(|e| format!("the pending ops no longer compress: {e}"))?;
    for op in ops {
        let exists = store.get(&op.table, op.row_id).is_some();
        if exists == (op.command == Command::Delete) {
            return Err(format!(
                "pending {} of {} row {} but the row {}",
                op.command,
                op.table,
                op.row_id,
                if exists { "exists" } else { "does not exist" }
            ));
        }
    }
    Ok(())
}

/// What the caller knows about the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// A pull the protocol can send for this node: only unique collisions
    /// may stop the merge.
    Protocol,
    /// Anything else: any documented refusal.
    Any,
}

/// Plans the merge of `pulled` (raw, in server order) and `rows` into
/// `node`, and checks the outcome.
fn merge_and_check(
    node: &MemoryStore,
    pulled: &[VersionedOp],
    rows: Vec<Row>,
    policy: &dyn Policy,
    trust: Trust,
    describe: &dyn Fn() -> String,
) {
    let Ok(pending) = node.pending_ops() else {
        return; // the node reports invalid_pending_sequence before merging
    };
    // As the store plans it: compressed-away keys fed, restores marked.
    let input = MergeInput::of_pull(pulled, rows, pending, node.pending_restores());
    let outcome = plan(&input, node.schema(), policy, node);
    if std::env::var_os("DBSYNC_FUZZ_TRACE").is_some() {
        let what = match &outcome {
            Ok(p) => {
                let mut kinds: Vec<String> = p
                    .conflicts
                    .iter()
                    .map(|c| format!("{:?}/{:?}", c.kind, c.rule))
                    .collect();
                kinds.sort();
                kinds.dedup();
                format!("plan {} actions {kinds:?}", p.actions.len())
            }
            Err(e) => format!("refused {:?}", e.code()),
        };
        eprintln!("merge_plan: {trust:?} {what}");
    }
    match outcome {
        Ok(p) => check_plan(node, &p, &input, describe),
        Err(MergeError::UniqueCollisions(c)) => {
            assert!(!c.is_empty(), "no collision reported: {}", describe());
        }
        Err(MergeError::View(e)) => panic!("the in-memory view failed ({e}): {}", describe()),
        Err(e) => {
            assert!(
                trust == Trust::Any,
                "a pull the protocol sends was refused ({e}): {}",
                describe()
            );
            match e {
                MergeError::UnknownTable { .. }
                | MergeError::DuplicatePulledOp { .. }
                | MergeError::DuplicatePendingOp { .. }
                | MergeError::MissingParent { .. }
                | MergeError::PendingRowMissing { .. }
                | MergeError::KeysExhausted { .. } => {}
                other => panic!("an undocumented refusal {other:?}: {}", describe()),
            }
        }
    }
}

fn check_plan(node: &MemoryStore, p: &Plan, input: &MergeInput, describe: &dyn Fn() -> String) {
    let mut after = node.clone();
    if let Err(e) = after.apply(p) {
        panic!(
            "the plan does not apply: {e}\nplan: {}\ncase: {}",
            serde_json::to_string(p).unwrap_or_default(),
            describe()
        );
    }
    // `apply` ran the integrity check; run it again on the result.
    let problems = after.check_integrity();
    assert!(
        problems.is_empty(),
        "integrity: {problems:?}: {}",
        describe()
    );
    if let Err(e) = pending_agrees(&after) {
        panic!(
            "{e}\nplan: {}\ncase: {}",
            serde_json::to_string(p).unwrap_or_default(),
            describe()
        );
    }
    if let Some(v) = input.target_version {
        assert_eq!(
            after.version(),
            Some(v),
            "the version is not recorded: {}",
            describe()
        );
    }
}

/// Runs a structured case.
pub fn run_case(case: &MergeCase) {
    let schema = schema_of(case);
    let base = base_rows(&schema, &case.base[..case.base.len().min(MAX_ROWS)]);
    let mut node = MemoryStore::new(schema.clone());
    node.load(base.clone()).expect("the tables exist");
    node.set_version(Some(1));
    let mut server = node.clone();
    for e in case.local.iter().take(MAX_EDITS) {
        edit(&mut node, e);
    }
    for e in case.server.iter().take(MAX_EDITS) {
        edit(&mut server, e);
    }
    // The model checks every write: both sides stay consistent.
    for (side, store) in [("node", &node), ("server", &server)] {
        let problems = store.check_integrity();
        assert!(
            problems.is_empty(),
            "the {side}'s own writes broke integrity: {problems:?}"
        );
    }
    let records = server.pending_records();
    let spread = usize::from(case.versions % 4) + 1;
    let n = records.len().max(1);
    let mut ops: Vec<VersionedOp> = records
        .iter()
        .enumerate()
        .map(|(i, r)| VersionedOp {
            version: 2 + (i * spread / n) as u64,
            table: r.table.clone(),
            row_id: r.row_id,
            command: r.command,
            columns: None,
            out: false,
        })
        .collect();
    let pending = node
        .pending_ops()
        .expect("writes through the store compress");
    let mut rows = pull_rows(&server, &ops, &pending);
    rows.sort_by(|a, b| (&a.table, a.id).cmp(&(&b.table, b.id)));

    let perturb = &case.perturb[..case.perturb.len().min(MAX_PERTURB)];
    let trust = if perturb.is_empty() {
        Trust::Protocol
    } else {
        Trust::Any
    };
    for p in perturb {
        match *p {
            Perturb::DropRow(i) if !rows.is_empty() => {
                rows.remove(i as usize % rows.len());
            }
            Perturb::DropOp(i) if !ops.is_empty() => {
                ops.remove(i as usize % ops.len());
            }
            Perturb::ExtraOp { table, id, command } => {
                let version = ops.last().map_or(2, |o| o.version);
                ops.push(VersionedOp {
                    version,
                    table: table_of(&schema, table).name.clone(),
                    row_id: RowId::Int(i64::from(id % 10) + 1),
                    command: [Command::Insert, Command::Update, Command::Delete]
                        [command as usize % 3],
                    columns: None,
                    out: false,
                });
            }
            Perturb::ExtraRow { table, id, vals } => {
                let t = table_of(&schema, table);
                let id = RowId::Int(i64::from(id % 10) + 1);
                let row = Row {
                    table: t.name.clone(),
                    id,
                    values: values(t, vals, &|_| (1..=10).map(RowId::Int).collect()),
                };
                rows.retain(|r| (&r.table, r.id) != (&row.table, row.id));
                rows.push(row);
            }
            Perturb::RewriteRow { pick, vals } if !rows.is_empty() => {
                let i = pick as usize % rows.len();
                let t = schema.table(&rows[i].table).expect("a schema table");
                rows[i].values = values(t, vals, &|_| (1..=10).map(RowId::Int).collect());
            }
            _ => {}
        }
    }
    let policy: &dyn Policy = if case.server_wins {
        &ServerWins
    } else {
        &NodeWins
    };
    let describe = || {
        format!(
            "policy {}\nschema {}\nbase {}\nnode rows {}\nnode pending {:?}\npulled {}\nrows {}",
            policy.name(),
            serde_json::to_string(&schema).unwrap_or_default(),
            serde_json::to_string(&base).unwrap_or_default(),
            serde_json::to_string(&node.rows()).unwrap_or_default(),
            node.pending_ops(),
            serde_json::to_string(&ops).unwrap_or_default(),
            serde_json::to_string(&rows).unwrap_or_default(),
        )
    };
    merge_and_check(&node, &ops, rows.clone(), policy, trust, &describe);
}

/// Whether a schema meets spec §2 (what a store's introspection
/// guarantees): unique names, foreign keys from existing integer columns
/// to existing tables, unique constraints over existing columns.
fn schema_ok(schema: &Schema) -> bool {
    let mut names = HashSet::new();
    schema.tables.iter().all(|t| {
        let mut cols = HashSet::new();
        names.insert(t.name.as_str())
            && t.columns
                .iter()
                .all(|c| c.name != t.primary_key && cols.insert(c.name.as_str()))
            && t.foreign_keys.iter().all(|fk| {
                t.column(&fk.column)
                    .is_some_and(|c| c.ty == ColumnType::Integer)
                    && schema.table(&fk.references).is_some()
            })
            && t.unique.iter().all(|u| {
                let set: HashSet<&str> = u.iter().map(String::as_str).collect();
                !u.is_empty() && set.len() == u.len() && u.iter().all(|c| t.column(c).is_some())
            })
    })
}

/// A merge scenario of spec §12.9 or the `input` of a merge vector
/// (other members, such as `name` and `expected`, are ignored).
#[derive(Debug, Deserialize)]
struct ScenarioInput {
    policy: String,
    schema: Vec<TableSchema>,
    local: LocalState,
    pull: PullState,
}

/// A compression scenario of spec §5.4 or the `input` of a compression
/// vector.
#[derive(Debug, Deserialize)]
#[serde(tag = "side", rename_all = "snake_case")]
enum CompressionInput {
    Pending { ops: Vec<OplogRecord> },
    Pulled { ops: Vec<VersionedOp> },
}

/// Compression (spec §5): at most one op per row; the pulled side keeps
/// the largest id and version it saw.
fn run_compression(c: &CompressionInput) {
    match c {
        CompressionInput::Pending { ops } => {
            if let Ok(out) = compress_pending(ops) {
                let rows: HashSet<(&str, RowId)> =
                    out.iter().map(|o| (o.table.as_str(), o.row_id)).collect();
                assert_eq!(rows.len(), out.len(), "two ops of one row: {out:?}");
            }
        }
        CompressionInput::Pulled { ops } => {
            let out = compress_pulled(ops);
            let rows: HashSet<(&str, RowId)> = out
                .ops
                .iter()
                .map(|o| (o.table.as_str(), o.row_id))
                .collect();
            assert_eq!(
                rows.len(),
                out.ops.len(),
                "two ops of one row: {:?}",
                out.ops
            );
            assert_eq!(out.last_version, ops.iter().map(|o| o.version).max());
            for op in ops {
                assert!(out
                    .max_row_ids
                    .get(&op.table)
                    .is_some_and(|m| *m >= op.row_id));
            }
        }
    }
}

/// Runs a scenario of the spec's JSON form.
fn run_scenario(data: &[u8]) {
    if let Ok(c) = serde_json::from_slice::<CompressionInput>(data) {
        run_compression(&c);
        return;
    }
    let Ok(sc) = serde_json::from_slice::<ScenarioInput>(data) else {
        return;
    };
    let schema = Schema::new(sc.schema.clone());
    if !schema_ok(&schema) {
        return;
    }
    // What a node's store and a pull's validation guarantee (spec §4,
    // §12.8): rows fit their tables, ids are in range, the local rows keep
    // every constraint, the pending ops agree with the rows.
    let rows_fit = |rows: &[Row]| rows.iter().all(|r| check_row(&schema, r).is_ok());
    let id_ok = |table: &str, id: RowId| {
        let in_range = match id {
            RowId::Int(n) => (1..=MAX_ROW_ID).contains(&n),
            RowId::Text(_) => true,
        };
        in_range && schema.table(table).is_none_or(|t| t.holds_id_kind(id))
    };
    let ids_ok = sc.pull.ops.iter().all(|o| id_ok(&o.table, o.row_id))
        && sc.local.pending.iter().all(|o| id_ok(&o.table, o.row_id));
    if !rows_fit(&sc.local.rows) || !rows_fit(&sc.pull.rows) || !ids_ok {
        return;
    }
    let mut node = MemoryStore::new(schema.clone());
    if node.load(sc.local.rows.clone()).is_err() || !node.check_integrity().is_empty() {
        return;
    }
    for op in &sc.local.pending {
        node.record(&op.table, op.row_id, op.command);
    }
    if pending_agrees(&node).is_err() {
        return;
    }
    let Some(policy) = dbsync_core::merge::policy_by_name(&sc.policy) else {
        return;
    };
    let describe = || format!("{sc:?}");
    merge_and_check(
        &node,
        &sc.pull.ops,
        sc.pull.rows.clone(),
        policy,
        Trust::Any,
        &describe,
    );
}

/// The target body.
pub fn run(data: &[u8]) {
    if data.first() == Some(&b'{') {
        run_scenario(data);
        return;
    }
    let Ok(case) = MergeCase::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    run_case(&case);
}
