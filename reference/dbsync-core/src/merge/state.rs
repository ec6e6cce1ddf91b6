//! The planner's working state: one slot per row the merge looks at,
//! keyed by (table, row id), holding the row's remote op, pending op and
//! the fate the steps decide for it.

use super::catalog::{Catalog, Key, TableId};
use super::error::MergeError;
use super::hash::{FxHashMap, IdHashMap};
use super::plan::{ConflictEntry, ConflictKind, RowRef, Rule};
use super::policy::Policy;
use super::view::LocalView;
use super::MergeInput;
use crate::protocol::op::{ChangedColumns, Command};
use crate::protocol::row_id::RowId;
use crate::protocol::value::{Row, Values};
use crate::schema::{KeyType, Schema};
use std::borrow::Cow;
use std::collections::hash_map::Entry;

/// What the plan does to a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fate<'a> {
    /// Nothing: the local row stays as it is (or stays absent).
    Untouched,
    /// A resolution decided to keep the local row as it is (or absent).
    Keep,
    /// The row ends with these values; `exists` says whether a local row
    /// is at this key when the plan starts (after rekeys).
    /// `row` is the index of the pulled row in the merge's input; the
    /// values are its own, or (owned) the local row with some of its
    /// columns taken from it (spec §12.4.4).
    Put {
        values: Cow<'a, Values>,
        row: usize,
        exists: bool,
    },
    /// The existing local row is deleted.
    Remove,
}

/// What the plan does to a row's pending op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingAfter {
    Same,
    Drop,
    Set(Command),
}

#[derive(Debug)]
pub(crate) struct Slot<'a> {
    pub key: Key,
    /// The compressed remote op and its version.
    pub remote: Option<(Command, u64)>,
    /// The columns the remote `u` changed, when it names them.
    pub remote_columns: Option<&'a ChangedColumns>,
    /// The columns the pending `u` changed, when it names them.
    pub pending_columns: Option<&'a ChangedColumns>,
    /// The columns of the pending `u` the plan sets (`PendingAfter::Set`),
    /// when it names them.
    pub columns_after: Option<ChangedColumns>,
    /// The compressed pending op when planning started (for a slot made by
    /// a rekey: the moved row's `i`). A restore (spec §12.3.5) is here as
    /// the op it stands for: `u` when changed, none when unchanged.
    pub pending: Option<Command>,
    /// The pending op is a restore: `Some(changed)`.
    pub restore: Option<bool>,
    pub fate: Fate<'a>,
    pub pending_after: PendingAfter,
    /// The local row moved away to this key (insert conflict).
    pub moved_to: Option<RowId>,
    /// This slot holds a moved local row that the view knows under this key.
    pub moved_from: Option<RowId>,
    /// Part of a unique swap (spec §12.2.2).
    pub swap: bool,
    /// A child whose foreign key a rekey rewrote while it had no pending
    /// op: it gets a pending `u`.
    pub cascaded: bool,
    /// Restored for an incoming child (reversed dependency).
    pub restored_for_child: bool,
}

impl Slot<'_> {
    fn new<'a>(key: Key) -> Slot<'a> {
        Slot {
            key,
            remote: None,
            remote_columns: None,
            pending_columns: None,
            columns_after: None,
            pending: None,
            restore: None,
            fate: Fate::Untouched,
            pending_after: PendingAfter::Same,
            moved_to: None,
            moved_from: None,
            swap: false,
            cascaded: false,
            restored_for_child: false,
        }
    }

    /// The pending op the row has once the plan is applied, at this key.
    pub fn pending_now(&self) -> Option<Command> {
        if self.moved_to.is_some() {
            return None;
        }
        match self.pending_after {
            PendingAfter::Same => self.began_with(),
            PendingAfter::Drop => None,
            PendingAfter::Set(c) => Some(c),
        }
    }

    /// The compressed pending op when planning started, as the conflict
    /// log names it: a restore is an `i`.
    pub fn began_with(&self) -> Option<Command> {
        match self.restore {
            Some(_) => Some(Command::Insert),
            None => self.pending,
        }
    }

    /// Whether the local row at this key is kept as it is (it may be
    /// absent).
    pub fn kept(&self) -> bool {
        matches!(self.fate, Fate::Untouched | Fate::Keep) && self.moved_to.is_none()
    }
}

pub(crate) struct Planner<'a> {
    pub cat: Catalog<'a>,
    pub policy: &'a dyn Policy,
    pub view: &'a dyn LocalView,
    pub slots: Vec<Slot<'a>>,
    pub index: IdHashMap<Key, usize>,
    /// The pulled rows (the message).
    pub rows: &'a [Row],
    /// The index in `rows` of each key's pulled row.
    pub message: IdHashMap<Key, usize>,
    /// The local rows' values once loaded (foreign keys to moved rows
    /// already rewritten), by slot; `None`: no local row.
    pub local: FxHashMap<usize, Option<Values>>,
    /// Slots with a remote op, in the order of the pulled ops.
    pub remote_order: Vec<usize>,
    /// Per table: the largest id the pulled ops, the message and the
    /// pending ops name.
    pub max_seen: Vec<RowId>,
    /// Per table: the largest id the server used (spec §5.3.2).
    pub remote_max: Vec<RowId>,
    /// Per table: the next fresh key, once one was needed.
    pub fresh: Vec<Option<RowId>>,
    /// Per table: the view's `max_id`, once asked. No local row has a
    /// larger key, so a key above it needs no look-up (a pull of new rows
    /// asks the view nothing per row).
    pub local_max: Vec<Option<RowId>>,
    pub rekeys: Vec<(TableId, RowId, RowId)>,
    /// Slots whose fate became `Remove`, in that order.
    pub removes: Vec<usize>,
    /// Slots whose fate became `Put`, in that order.
    pub puts: Vec<usize>,
    /// How many of `puts` had their parents checked.
    pub closed: usize,
    /// Parents kept for a local child (dependency, local wins).
    pub kept_parents: Vec<usize>,
    /// Children deleted or reverted with a parent (dependency, remote
    /// wins), with the rule and their local values.
    pub dropped_children: Vec<(usize, Rule, Option<Values>)>,
    pub conflicts: Vec<ConflictEntry>,
    pub target_version: Option<u64>,
}

impl<'a> Planner<'a> {
    pub fn new(
        schema: &'a Schema,
        policy: &'a dyn Policy,
        view: &'a dyn LocalView,
        input: &'a MergeInput,
    ) -> Result<Planner<'a>, MergeError> {
        let cat = Catalog::new(schema);
        let n = cat.len();
        let mut p = Planner {
            cat,
            policy,
            view,
            slots: Vec::with_capacity(input.pulled.len() + input.pending.len()),
            index: IdHashMap::with_capacity_and_hasher(
                input.pulled.len() + input.pending.len(),
                Default::default(),
            ),
            rows: &input.rows,
            message: IdHashMap::with_capacity_and_hasher(input.rows.len(), Default::default()),
            local: FxHashMap::default(),
            remote_order: Vec::with_capacity(input.pulled.len()),
            max_seen: vec![RowId::default(); n],
            remote_max: vec![RowId::default(); n],
            fresh: vec![None; n],
            local_max: vec![None; n],
            rekeys: Vec::new(),
            removes: Vec::new(),
            puts: Vec::new(),
            closed: 0,
            kept_parents: Vec::new(),
            dropped_children: Vec::new(),
            conflicts: Vec::new(),
            target_version: input.target_version,
        };
        for (table, max) in &input.remote_max_ids {
            // Tables the schema lacks are reported by their ops below.
            if let Some(t) = p
                .cat
                .id(table)
                .ok()
                .filter(|t| p.cat.table(*t).direction.pulls())
            {
                p.remote_max[t as usize] = p.remote_max[t as usize].max(*max);
            }
        }
        for op in &input.pending {
            let t = p.cat.id(&op.table)?;
            let i = p.slot((t, op.row_id));
            if p.slots[i].pending.is_some() {
                return Err(MergeError::DuplicatePendingOp {
                    table: op.table.clone(),
                    row_id: op.row_id,
                });
            }
            p.slots[i].pending = Some(op.command);
            p.slots[i].pending_columns = op.columns.as_ref();
            p.see(t, op.row_id);
        }
        // A restore takes part as the op it stands for (spec §12.3.5). A
        // listed restore whose row has no pending `i` is not one.
        for r in &input.restores {
            let t = p.cat.id(&r.table)?;
            if let Some(&i) = p.index.get(&(t, r.row_id)) {
                if p.slots[i].pending == Some(Command::Insert) && p.slots[i].restore.is_none() {
                    p.slots[i].restore = Some(r.changed);
                    p.slots[i].pending = r.changed.then_some(Command::Update);
                }
            }
        }
        for op in &input.pulled {
            let t = p.cat.id(&op.table)?;
            // Pulls never carry push-only tables (spec §2.4): ignore them.
            if !p.cat.table(t).direction.pulls() {
                continue;
            }
            let i = p.slot((t, op.row_id));
            if p.slots[i].remote.is_some() {
                return Err(MergeError::DuplicatePulledOp {
                    table: op.table.clone(),
                    row_id: op.row_id,
                });
            }
            p.slots[i].remote = Some((op.command, op.version));
            p.slots[i].remote_columns = op.columns.as_ref();
            p.remote_order.push(i);
            p.see(t, op.row_id);
            p.remote_max[t as usize] = p.remote_max[t as usize].max(op.row_id);
            p.same_text_row(i);
        }
        for (index, row) in input.rows.iter().enumerate() {
            let t = p.cat.id(&row.table)?;
            if !p.cat.table(t).direction.pulls() {
                continue;
            }
            p.see(t, row.id);
            // A row carried twice (several pages): the last copy counts.
            p.message.insert((t, row.id), index);
        }
        Ok(p)
    }

    /// A pending `i` of a text key that a remote op names too is the
    /// same row, never an insert conflict (spec §12.3.4): it takes part
    /// as a changed restore does (§12.3.5), as local work on a row the
    /// server knows.
    fn same_text_row(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        let text_key = self.cat.table(slot.key.0).key_type == KeyType::Text;
        if text_key && slot.pending == Some(Command::Insert) && slot.restore.is_none() {
            slot.restore = Some(true);
            slot.pending = Some(Command::Update);
        }
    }

    fn see(&mut self, t: TableId, id: RowId) {
        let m = &mut self.max_seen[t as usize];
        *m = (*m).max(id);
    }

    /// The slot of a row, made on first use.
    pub fn slot(&mut self, key: Key) -> usize {
        match self.index.entry(key) {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(v) => {
                let i = self.slots.len();
                v.insert(i);
                self.slots.push(Slot::new(key));
                i
            }
        }
    }

    /// Where a local foreign-key value points once rekeys are applied.
    pub fn local_target(&self, key: Key) -> Key {
        match self.index.get(&key).and_then(|&i| self.slots[i].moved_to) {
            Some(to) => (key.0, to),
            None => key,
        }
    }

    /// The slot of the local row a view look-up returned under `key`.
    pub fn local_slot(&mut self, key: Key) -> usize {
        let k = self.local_target(key);
        self.slot(k)
    }

    /// Whether a local row is at the slot's key when the plan starts
    /// (after rekeys).
    pub fn local_exists(&mut self, i: usize) -> Result<bool, MergeError> {
        if self.slots[i].moved_to.is_some() {
            return Ok(false);
        }
        if self.slots[i].moved_from.is_some() {
            return Ok(true);
        }
        if let Some(l) = self.local.get(&i) {
            return Ok(l.is_some());
        }
        let (t, id) = self.slots[i].key;
        if id > self.local_max(t)? {
            return Ok(false);
        }
        Ok(self.view.contains(self.cat.name(t), id)?)
    }

    /// The view's largest key of table `t`, asked once per merge.
    pub fn local_max(&mut self, t: TableId) -> Result<RowId, MergeError> {
        if let Some(m) = self.local_max[t as usize] {
            return Ok(m);
        }
        let m = self.view.max_id(self.cat.name(t))?;
        self.local_max[t as usize] = Some(m);
        Ok(m)
    }

    /// The local row's values (foreign keys to moved rows rewritten), or
    /// `None` when there is no local row at this key.
    pub fn local_values(&mut self, i: usize) -> Result<Option<&Values>, MergeError> {
        if self.slots[i].moved_to.is_some() {
            return Ok(None);
        }
        if !self.local.contains_key(&i) {
            let (t, id) = self.slots[i].key;
            let view_id = self.slots[i].moved_from.unwrap_or(id);
            let mut values = if view_id > self.local_max(t)? {
                None
            } else {
                self.view.row(self.cat.name(t), view_id)?
            };
            if let Some(v) = values.as_mut() {
                for &(col, pt) in self.cat.references(t) {
                    if let Some(pid) = v.get(col).and_then(RowId::from_value) {
                        let (_, to) = self.local_target((pt, pid));
                        if to != pid {
                            v.insert(col.to_owned(), to.to_value());
                        }
                    }
                }
            }
            self.local.insert(i, values);
        }
        Ok(self.local.get(&i).and_then(|l| l.as_ref()))
    }

    /// The local values, cloned (for a conflict entry).
    pub fn local_clone(&mut self, i: usize) -> Result<Option<Values>, MergeError> {
        Ok(self.local_values(i)?.cloned())
    }

    /// Sets the fate `Put` with the message's values for this key, which
    /// the caller checked are there.
    pub fn put_from_message(&mut self, i: usize, exists: bool) {
        let key = self.slots[i].key;
        if let Some(&row) = self.message.get(&key) {
            let values = Cow::Borrowed(&self.rows[row].values);
            let written = matches!(self.slots[i].fate, Fate::Put { .. });
            self.slots[i].fate = Fate::Put {
                values,
                row,
                exists,
            };
            // A row merged column by column is written already.
            if !written {
                self.puts.push(i);
            }
        }
    }

    pub fn remove(&mut self, i: usize) {
        self.slots[i].fate = Fate::Remove;
        self.removes.push(i);
    }

    /// A fresh key of table `t`: above the local maximum, every id the
    /// server used and every id of the merge's input (spec §12.3.4).
    pub fn fresh_key(&mut self, t: TableId) -> Result<RowId, MergeError> {
        let next = match self.fresh[t as usize] {
            Some(n) => n,
            None => {
                let local = self.local_max(t)?;
                let top = local
                    .max(self.max_seen[t as usize])
                    .max(self.remote_max[t as usize]);
                top.checked_next().ok_or_else(|| self.exhausted(t))?
            }
        };
        self.fresh[t as usize] = Some(next.checked_next().ok_or_else(|| self.exhausted(t))?);
        Ok(next)
    }

    fn exhausted(&self, t: TableId) -> MergeError {
        MergeError::KeysExhausted {
            table: self.cat.name(t).to_owned(),
        }
    }

    pub fn row_ref(&self, key: Key) -> RowRef {
        RowRef {
            table: self.cat.name(key.0).to_owned(),
            row_id: key.1,
        }
    }

    /// Appends a conflict-log entry about slot `i`.
    #[allow(clippy::too_many_arguments)]
    pub fn log(
        &mut self,
        kind: ConflictKind,
        i: usize,
        local_op: Option<Command>,
        rule: Rule,
        lost: Option<Values>,
        new_row_id: Option<RowId>,
        related: Option<Key>,
    ) {
        let slot = &self.slots[i];
        let remote = slot.remote;
        self.log_with_remote(
            kind, slot.key, remote, local_op, rule, lost, new_row_id, related,
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub fn log_with_remote(
        &mut self,
        kind: ConflictKind,
        key: Key,
        remote: Option<(Command, u64)>,
        local_op: Option<Command>,
        rule: Rule,
        lost: Option<Values>,
        new_row_id: Option<RowId>,
        related: Option<Key>,
    ) {
        let entry = ConflictEntry {
            kind,
            table: self.cat.name(key.0).to_owned(),
            row_id: key.1,
            remote_op: remote.map(|r| r.0),
            remote_version: remote.map(|r| r.1),
            local_op,
            policy: self.policy.name().to_owned(),
            rule,
            lost,
            new_row_id,
            related: related.map(|k| self.row_ref(k)),
        };
        self.conflicts.push(entry);
    }
}
