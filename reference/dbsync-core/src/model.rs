//! An in-memory store: synced tables with their foreign-key and unique
//! indexes, and a pending oplog. It captures local writes as pending ops
//! (as a store's triggers do, spec §3), answers the merge planner's
//! [`LocalView`], applies a [`Plan`] atomically (spec §12.6) and checks
//! its own integrity. Tests, property tests and the conformance kit run
//! the scenarios of spec §5 and §12 on it ([`scenario`]).

pub mod scenario;

use crate::compress::{compress_pending, InvalidPendingSequence};
use crate::merge::hash::{FxHashMap, IdHashMap};
use crate::merge::{
    self, Action, LocalView, MergeError, MergeInput, Plan, Policy, Restore, ViewError,
};
use crate::protocol::op::{ChangedColumns, Command, Op, OplogRecord, VersionedOp};
use crate::protocol::row_id::RowId;
use crate::protocol::value::{Row, Value, Values};
use crate::schema::{Schema, TableSchema};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A write the store refuses. Nothing was changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The table is not in the store's schema.
    #[error("unknown table {0:?}")]
    UnknownTable(String),
    /// An update or delete of a row that does not exist.
    #[error("{table} row {row_id} does not exist")]
    NoSuchRow {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
    },
    /// An insert without an id into a table whose key the application
    /// chooses (a text key), or whose integer keys ran out.
    #[error("{table}: no key to give a new row; a text-keyed table needs the row's id")]
    NoFreshKey {
        /// The row's table.
        table: String,
    },
    /// An insert of a row that exists.
    #[error("{table} row {row_id} exists already")]
    RowExists {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
    },
    /// The row's values of a unique constraint are another row's.
    #[error("{table} row {row_id}: unique {columns:?} is held by row {held_by}")]
    UniqueViolation {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// The constraint's columns.
        columns: Vec<String>,
        /// The row that holds the values.
        held_by: RowId,
    },
    /// A foreign key of the row names a row that does not exist.
    #[error("{table} row {row_id}: {column} references a missing {references} row")]
    MissingParent {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// The foreign-key column.
        column: String,
        /// The referenced table.
        references: String,
    },
    /// A delete of a row another row references.
    #[error("{table} row {row_id} is referenced by {child_table} row {child_id}")]
    Referenced {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// The referencing row's table.
        child_table: String,
        /// The referencing row's id.
        child_id: RowId,
    },
}

/// Applying a plan failed; the store is as it was before.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// An action of the plan was refused.
    #[error("action {index} ({action:?}): {error}")]
    Action {
        /// The action's position in the plan, from 0.
        index: usize,
        /// The action.
        action: Box<Action>,
        /// Why the store refused it.
        error: StoreError,
    },
    /// Every action applied, but constraints are broken at the end (the
    /// check a database makes at commit).
    #[error("the plan leaves integrity problems: {0:?}")]
    Integrity(Vec<IntegrityProblem>),
}

/// A pull the store could not merge; the store is as it was before.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The pending ops could not be compressed (spec §5.2.2).
    #[error(transparent)]
    Pending(#[from] InvalidPendingSequence),
    /// The merge could not be planned (spec §12.8, §12.2.3).
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The plan could not be applied.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// A broken constraint found by [`MemoryStore::check_integrity`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum IntegrityProblem {
    /// A foreign-key column holds a key no row of the referenced table has
    /// (or a value that is not an integer).
    DanglingForeignKey {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// The foreign-key column.
        column: String,
        /// The referenced table.
        references: String,
    },
    /// Several rows hold the same values of a unique constraint.
    DuplicateUnique {
        /// The table.
        table: String,
        /// The constraint's columns.
        columns: Vec<String>,
        /// The rows that share the values.
        row_ids: Vec<RowId>,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct FkIndex {
    column: String,
    references: String,
    by_target: FxHashMap<RowId, BTreeSet<RowId>>,
}

#[derive(Debug, Clone, PartialEq)]
struct UniqueIndex {
    columns: Vec<String>,
    by_values: FxHashMap<Vec<Value>, Holders>,
}

/// The rows holding one set of unique values: one, unless the store is
/// broken (kept so that `check_integrity` can report it).
#[derive(Debug, Clone, PartialEq)]
enum Holders {
    One(RowId),
    Many(BTreeSet<RowId>),
}

impl Holders {
    fn first(&self) -> RowId {
        match self {
            Holders::One(id) => *id,
            Holders::Many(s) => s.iter().next().copied().unwrap_or_default(),
        }
    }

    fn other_than(&self, id: RowId) -> Option<RowId> {
        match self {
            Holders::One(h) => (*h != id).then_some(*h),
            Holders::Many(s) => s.iter().find(|h| **h != id).copied(),
        }
    }

    fn insert(&mut self, id: RowId) {
        match self {
            Holders::One(h) if *h == id => {}
            Holders::One(h) => *self = Holders::Many(BTreeSet::from([*h, id])),
            Holders::Many(s) => {
                s.insert(id);
            }
        }
    }

    /// Removes `id`; `true` when no holder is left.
    fn remove(&mut self, id: RowId) -> bool {
        match self {
            Holders::One(h) => *h == id,
            Holders::Many(s) => {
                s.remove(&id);
                let empty = s.is_empty();
                if let (1, Some(&last)) = (s.len(), s.iter().next()) {
                    *self = Holders::One(last);
                }
                empty
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Table {
    rows: IdHashMap<RowId, Values>,
    sequence: RowId,
    fks: Vec<FkIndex>,
    uniques: Vec<UniqueIndex>,
}

fn project(values: &Values, columns: &[String]) -> Option<Vec<Value>> {
    columns
        .iter()
        .map(|c| match values.get(c) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.clone()),
        })
        .collect()
}

impl Table {
    fn new(schema: &TableSchema) -> Table {
        Table {
            rows: IdHashMap::default(),
            sequence: RowId::default(),
            fks: schema
                .foreign_keys
                .iter()
                .map(|fk| FkIndex {
                    column: fk.column.clone(),
                    references: fk.references.clone(),
                    by_target: FxHashMap::default(),
                })
                .collect(),
            uniques: schema
                .unique
                .iter()
                .map(|u| UniqueIndex {
                    columns: u.clone(),
                    by_values: FxHashMap::default(),
                })
                .collect(),
        }
    }

    fn index(&mut self, id: RowId, values: &Values) {
        for fk in &mut self.fks {
            if let Some(t) = values.get(&fk.column).and_then(RowId::from_value) {
                fk.by_target.entry(t).or_default().insert(id);
            }
        }
        for u in &mut self.uniques {
            if let Some(key) = project(values, &u.columns) {
                match u.by_values.get_mut(&key) {
                    Some(h) => h.insert(id),
                    None => {
                        u.by_values.insert(key, Holders::One(id));
                    }
                }
            }
        }
    }

    fn unindex(&mut self, id: RowId, values: &Values) {
        for fk in &mut self.fks {
            if let Some(t) = values.get(&fk.column).and_then(RowId::from_value) {
                if let Some(set) = fk.by_target.get_mut(&t) {
                    set.remove(&id);
                    if set.is_empty() {
                        fk.by_target.remove(&t);
                    }
                }
            }
        }
        for u in &mut self.uniques {
            if let Some(key) = project(values, &u.columns) {
                if u.by_values.get_mut(&key).is_some_and(|h| h.remove(id)) {
                    u.by_values.remove(&key);
                }
            }
        }
    }

    /// The first unique constraint `values` would break for row `id`.
    fn unique_conflict(&self, id: RowId, values: &Values) -> Option<(Vec<String>, RowId)> {
        for u in &self.uniques {
            if let Some(key) = project(values, &u.columns) {
                if let Some(other) = u.by_values.get(&key).and_then(|h| h.other_than(id)) {
                    return Some((u.columns.clone(), other));
                }
            }
        }
        None
    }

    fn put(&mut self, id: RowId, values: Values) {
        if let Some(old) = self.rows.remove(&id) {
            self.unindex(id, &old);
        }
        self.index(id, &values);
        self.sequence = self.sequence.max(id);
        self.rows.insert(id, values);
    }

    fn take(&mut self, id: RowId) -> Option<Values> {
        let old = self.rows.remove(&id)?;
        self.unindex(id, &old);
        Some(old)
    }

    /// The table's key sequence: at least every key it ever held.
    fn max_id(&self) -> RowId {
        self.sequence
    }

    /// The rows by id.
    fn sorted(&self) -> Vec<(&RowId, &Values)> {
        let mut v: Vec<_> = self.rows.iter().collect();
        v.sort_unstable_by_key(|(id, _)| **id);
        v
    }
}

/// The in-memory store.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryStore {
    schema: Schema,
    tables: BTreeMap<String, Table>,
    /// Pending records by order.
    pending: BTreeMap<u64, OplogRecord>,
    /// The orders of each row's pending records.
    pending_rows: HashMap<(String, RowId), BTreeSet<u64>>,
    /// The pending `i` records that are restores (spec §12.3.5), by
    /// order: whether the merge kept local changes.
    restores: HashMap<u64, bool>,
    next_order: u64,
    version: Option<u64>,
}

impl MemoryStore {
    /// An empty store with the given synced tables.
    pub fn new(schema: Schema) -> MemoryStore {
        let tables = schema
            .tables
            .iter()
            .map(|t| (t.name.clone(), Table::new(t)))
            .collect();
        MemoryStore {
            schema,
            tables,
            pending: BTreeMap::new(),
            pending_rows: HashMap::new(),
            restores: HashMap::new(),
            next_order: 1,
            version: None,
        }
    }

    /// The store's synced tables.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    fn table(&self, name: &str) -> Result<&Table, StoreError> {
        self.tables
            .get(name)
            .ok_or_else(|| StoreError::UnknownTable(name.to_owned()))
    }

    fn table_mut(&mut self, name: &str) -> Result<&mut Table, StoreError> {
        self.tables
            .get_mut(name)
            .ok_or_else(|| StoreError::UnknownTable(name.to_owned()))
    }

    /// The last version the node knows.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Sets the last version the node knows (`None`: none yet).
    pub fn set_version(&mut self, version: Option<u64>) {
        self.version = version;
    }

    /// One row's values.
    pub fn get(&self, table: &str, id: RowId) -> Option<&Values> {
        self.tables.get(table)?.rows.get(&id)
    }

    /// Every row, by table name then id.
    pub fn rows(&self) -> Vec<Row> {
        self.tables
            .iter()
            .flat_map(|(name, t)| {
                t.sorted().into_iter().map(move |(id, v)| Row {
                    table: name.clone(),
                    id: *id,
                    values: v.clone(),
                })
            })
            .collect()
    }

    /// How many rows the store holds.
    pub fn len(&self) -> usize {
        self.tables.values().map(|t| t.rows.len()).sum()
    }

    /// Whether the store holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads rows as they are, without capture and without checks (for
    /// setting up a state; [`check_integrity`](Self::check_integrity)
    /// tells whether it is consistent).
    pub fn load(&mut self, rows: impl IntoIterator<Item = Row>) -> Result<(), StoreError> {
        for row in rows {
            self.table_mut(&row.table)?.put(row.id, row.values);
        }
        Ok(())
    }

    /// Records a pending op without touching the rows (for setting up a
    /// state).
    pub fn record(&mut self, table: &str, row_id: RowId, command: Command) {
        self.record_columns(table, row_id, command, None);
    }

    /// Records a pending op that names its changed columns (spec §3.1.1)
    /// when `columns` is some.
    pub fn record_columns(
        &mut self,
        table: &str,
        row_id: RowId,
        command: Command,
        columns: Option<ChangedColumns>,
    ) {
        let order = self.next_order;
        self.next_order += 1;
        self.pending.insert(
            order,
            OplogRecord {
                order,
                table: table.to_owned(),
                row_id,
                command,
                version: None,
                columns,
            },
        );
        self.pending_rows
            .entry((table.to_owned(), row_id))
            .or_default()
            .insert(order);
    }

    /// Records a pending `i` that is a restore (spec §12.3.5), without
    /// touching the rows.
    pub fn record_restore(&mut self, table: &str, row_id: RowId, changed: bool) {
        let order = self.next_order;
        self.record(table, row_id, Command::Insert);
        self.restores.insert(order, changed);
    }

    fn drop_pending(&mut self, table: &str, row_id: RowId) {
        if let Some(orders) = self.pending_rows.remove(&(table.to_owned(), row_id)) {
            for o in orders {
                self.pending.remove(&o);
                self.restores.remove(&o);
            }
        }
    }

    /// The pending `i` ops that are restores (spec §12.3.5), sorted. A
    /// restore updated since the merge is changed.
    pub fn pending_restores(&self) -> Vec<Restore> {
        merge::pending_restores(&self.pending_records(), &self.restores)
    }

    /// Every pending record, oldest first.
    pub fn pending_records(&self) -> Vec<OplogRecord> {
        self.pending.values().cloned().collect()
    }

    /// The compressed pending ops (spec §5.2).
    pub fn pending_ops(&self) -> Result<Vec<Op>, InvalidPendingSequence> {
        compress_pending(&self.pending_records())
    }

    /// Marks every pending op as pushed: they leave the pending oplog and
    /// the node knows `version` (spec §10).
    pub fn mark_pushed(&mut self, version: u64) {
        self.pending.clear();
        self.pending_rows.clear();
        self.restores.clear();
        self.version = Some(version);
    }

    fn check_parents(&self, table: &str, id: RowId, values: &Values) -> Result<(), StoreError> {
        let t = self.table(table)?;
        for fk in &t.fks {
            match values.get(&fk.column) {
                None | Some(Value::Null) => {}
                Some(v)
                    if RowId::from_value(v).is_some_and(|p| {
                        self.tables
                            .get(&fk.references)
                            .is_some_and(|pt| pt.rows.contains_key(&p))
                    }) => {}
                Some(_) => {
                    return Err(StoreError::MissingParent {
                        table: table.to_owned(),
                        row_id: id,
                        column: fk.column.clone(),
                        references: fk.references.clone(),
                    })
                }
            }
        }
        Ok(())
    }

    fn check_unique(&self, table: &str, id: RowId, values: &Values) -> Result<(), StoreError> {
        match self.table(table)?.unique_conflict(id, values) {
            Some((columns, held_by)) => Err(StoreError::UniqueViolation {
                table: table.to_owned(),
                row_id: id,
                columns,
                held_by,
            }),
            None => Ok(()),
        }
    }

    /// The first row other than itself that references `table` row `id`.
    fn first_child(&self, table: &str, id: RowId) -> Option<(String, RowId)> {
        for (name, t) in &self.tables {
            for fk in t.fks.iter().filter(|fk| fk.references == table) {
                let other = |c: &&RowId| !(name == table && **c == id);
                if let Some(c) = fk.by_target.get(&id).and_then(|s| s.iter().find(other)) {
                    return Some((name.clone(), *c));
                }
            }
        }
        None
    }

    /// A local insert, captured as a pending `i`. With `id` `None` the
    /// table's key sequence gives the key. Constraints are checked.
    pub fn insert(
        &mut self,
        table: &str,
        id: Option<RowId>,
        values: Values,
    ) -> Result<RowId, StoreError> {
        let t = self.table(table)?;
        let id = match id {
            Some(id) => id,
            None => t
                .max_id()
                .checked_next()
                .ok_or_else(|| StoreError::NoFreshKey {
                    table: table.to_owned(),
                })?,
        };
        if t.rows.contains_key(&id) {
            return Err(StoreError::RowExists {
                table: table.to_owned(),
                row_id: id,
            });
        }
        self.check_unique(table, id, &values)?;
        self.check_parents(table, id, &values)?;
        self.table_mut(table)?.put(id, values);
        self.record(table, id, Command::Insert);
        Ok(id)
    }

    /// A local update (every value replaced), captured as a pending `u`.
    pub fn update(&mut self, table: &str, id: RowId, values: Values) -> Result<(), StoreError> {
        if !self.table(table)?.rows.contains_key(&id) {
            return Err(StoreError::NoSuchRow {
                table: table.to_owned(),
                row_id: id,
            });
        }
        self.check_unique(table, id, &values)?;
        self.check_parents(table, id, &values)?;
        let old = self
            .table(table)?
            .rows
            .get(&id)
            .cloned()
            .unwrap_or_default();
        let changed: ChangedColumns = values
            .iter()
            .filter(|(c, v)| old.get(*c) != Some(*v))
            .map(|(c, _)| c.clone())
            .collect();
        self.table_mut(table)?.put(id, values);
        self.record_columns(table, id, Command::Update, Some(changed));
        Ok(())
    }

    /// A local delete, captured as a pending `d`. A referenced row cannot
    /// be deleted.
    pub fn delete(&mut self, table: &str, id: RowId) -> Result<(), StoreError> {
        if !self.table(table)?.rows.contains_key(&id) {
            return Err(StoreError::NoSuchRow {
                table: table.to_owned(),
                row_id: id,
            });
        }
        if let Some((child_table, child_id)) = self.first_child(table, id) {
            return Err(StoreError::Referenced {
                table: table.to_owned(),
                row_id: id,
                child_table,
                child_id,
            });
        }
        self.table_mut(table)?.take(id);
        self.record(table, id, Command::Delete);
        Ok(())
    }

    /// Every broken foreign key and unique constraint, sorted.
    pub fn check_integrity(&self) -> Vec<IntegrityProblem> {
        let mut out = Vec::new();
        for (name, t) in &self.tables {
            for (id, values) in t.sorted() {
                for fk in &t.fks {
                    let ok = match values.get(&fk.column) {
                        None | Some(Value::Null) => true,
                        Some(v) => RowId::from_value(v).is_some_and(|p| {
                            self.tables
                                .get(&fk.references)
                                .is_some_and(|pt| pt.rows.contains_key(&p))
                        }),
                    };
                    if !ok {
                        out.push(IntegrityProblem::DanglingForeignKey {
                            table: name.clone(),
                            row_id: *id,
                            column: fk.column.clone(),
                            references: fk.references.clone(),
                        });
                    }
                }
            }
            for u in &t.uniques {
                for holders in u.by_values.values() {
                    if let Holders::Many(ids) = holders {
                        out.push(IntegrityProblem::DuplicateUnique {
                            table: name.clone(),
                            columns: u.columns.clone(),
                            row_ids: ids.iter().copied().collect(),
                        });
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Applies a plan atomically (spec §12.6): unique constraints are
    /// checked after every action, foreign keys at the end; on any error
    /// the store is left as it was.
    pub fn apply(&mut self, plan: &Plan) -> Result<(), ApplyError> {
        let mut next = self.clone();
        for (index, action) in plan.actions.iter().enumerate() {
            next.apply_action(action)
                .map_err(|error| ApplyError::Action {
                    index,
                    action: Box::new(action.clone()),
                    error,
                })?;
        }
        let problems = next.check_integrity();
        if !problems.is_empty() {
            return Err(ApplyError::Integrity(problems));
        }
        *self = next;
        Ok(())
    }

    fn apply_action(&mut self, action: &Action) -> Result<(), StoreError> {
        let missing = |table: &str, row_id: RowId| StoreError::NoSuchRow {
            table: table.to_owned(),
            row_id,
        };
        match action {
            Action::Rekey { table, from, to } => {
                let t = self.table_mut(table)?;
                if t.rows.contains_key(to) {
                    return Err(StoreError::RowExists {
                        table: table.clone(),
                        row_id: *to,
                    });
                }
                let values = t.take(*from).ok_or_else(|| missing(table, *from))?;
                t.put(*to, values);
                // The foreign-key cascade.
                let mut children = Vec::new();
                for (name, ct) in &self.tables {
                    for fk in ct.fks.iter().filter(|fk| &fk.references == table) {
                        for c in fk.by_target.get(from).into_iter().flatten() {
                            children.push((name.clone(), *c, fk.column.clone()));
                        }
                    }
                }
                for (ct, c, column) in children {
                    let t = self.table_mut(&ct)?;
                    if let Some(mut values) = t.rows.get(&c).cloned() {
                        values.insert(column, to.to_value());
                        t.put(c, values);
                    }
                }
                // The pending ops move with the row.
                if let Some(orders) = self.pending_rows.remove(&(table.clone(), *from)) {
                    for o in &orders {
                        if let Some(r) = self.pending.get_mut(o) {
                            r.row_id = *to;
                        }
                    }
                    self.pending_rows.insert((table.clone(), *to), orders);
                }
            }
            Action::Delete { table, row_id } => {
                self.table_mut(table)?
                    .take(*row_id)
                    .ok_or_else(|| missing(table, *row_id))?;
            }
            Action::Insert {
                table,
                row_id,
                values,
            } => {
                if self.table(table)?.rows.contains_key(row_id) {
                    return Err(StoreError::RowExists {
                        table: table.clone(),
                        row_id: *row_id,
                    });
                }
                self.check_unique(table, *row_id, values)?;
                self.table_mut(table)?.put(*row_id, values.clone());
            }
            Action::Update {
                table,
                row_id,
                values,
            } => {
                if !self.table(table)?.rows.contains_key(row_id) {
                    return Err(missing(table, *row_id));
                }
                self.check_unique(table, *row_id, values)?;
                self.table_mut(table)?.put(*row_id, values.clone());
            }
            Action::SetPending {
                table,
                row_id,
                command,
                columns,
            } => {
                self.table(table)?;
                self.drop_pending(table, *row_id);
                self.record_columns(table, *row_id, *command, columns.clone());
            }
            Action::Restore {
                table,
                row_id,
                changed,
            } => {
                self.table(table)?;
                self.drop_pending(table, *row_id);
                self.record_restore(table, *row_id, *changed);
            }
            Action::DropPending { table, row_id } => {
                self.table(table)?;
                self.drop_pending(table, *row_id);
            }
            Action::ReserveKeys { table, up_to } => {
                let t = self.table_mut(table)?;
                t.sequence = t.sequence.max(RowId::Int(*up_to));
            }
            Action::RecordVersion { version } => self.version = Some(*version),
        }
        Ok(())
    }

    /// Plans a merge of a pull against this store. `pulled` are the raw
    /// pulled ops in server order; both sides are compressed first
    /// (spec §5).
    pub fn plan_pull(
        &self,
        pulled: &[VersionedOp],
        rows: Vec<Row>,
        policy: &dyn Policy,
    ) -> Result<Plan, PullError> {
        let pending = self.pending_ops()?;
        let input = MergeInput::of_pull(pulled, rows, pending, self.pending_restores());
        Ok(merge::plan(&input, &self.schema, policy, self)?)
    }

    /// Plans and applies a pull; returns the plan applied.
    pub fn pull(
        &mut self,
        pulled: &[VersionedOp],
        rows: Vec<Row>,
        policy: &dyn Policy,
    ) -> Result<Plan, PullError> {
        let plan = self.plan_pull(pulled, rows, policy)?;
        self.apply(&plan)?;
        Ok(plan)
    }
}

impl LocalView for MemoryStore {
    fn row(&self, table: &str, id: RowId) -> Result<Option<Values>, ViewError> {
        Ok(self.get(table, id).cloned())
    }

    fn contains(&self, table: &str, id: RowId) -> Result<bool, ViewError> {
        Ok(self.get(table, id).is_some())
    }

    fn children(
        &self,
        table: &str,
        column: &str,
        parent_id: RowId,
    ) -> Result<Vec<RowId>, ViewError> {
        Ok(self
            .tables
            .get(table)
            .and_then(|t| t.fks.iter().find(|fk| fk.column == column))
            .and_then(|fk| fk.by_target.get(&parent_id))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default())
    }

    fn row_with_unique(
        &self,
        table: &str,
        columns: &[String],
        values: &[Value],
    ) -> Result<Option<RowId>, ViewError> {
        Ok(self
            .tables
            .get(table)
            .and_then(|t| t.uniques.iter().find(|u| u.columns == columns))
            .and_then(|u| u.by_values.get(values))
            .map(Holders::first))
    }

    fn max_id(&self, table: &str) -> Result<RowId, ViewError> {
        Ok(self
            .tables
            .get(table)
            .map_or(RowId::default(), Table::max_id))
    }
}
