//! What each node wrote, and what reached the server: the bookkeeping
//! behind "nothing a node wrote is silently lost" (spec §18.3, invariant 2).
//!
//! Rows are followed by their `uid` column (set at insert, never changed),
//! since an insert conflict may move a row to another id. Values are kept
//! in *logical* form: each foreign key as the `uid` of the row it
//! references, so that a parent moving to another id changes nothing.
//!
//! Under the node-wins policy a node's last write to a row always reaches
//! the server in one of the node's accepted pushes, with exactly the values
//! it wrote; a node's last write being a delete reaches the server as a
//! `d`, unless the conflict log says why not (the row came back for
//! someone's update or child, or both sides deleted it), or the server
//! never had the row.
//!
//! A node that merges with `server_wins` loses local work where the spec
//! says so (§12.4.2), and says so in its conflict log: a merge entry that
//! names the node's local values as `lost` (`remote_update_taken`,
//! `remote_delete_taken`, `local_child_reverted`,
//! `local_children_deleted_with_parent`) ends that row's last write, and a
//! row the merge deleted with its parent counts as deleted.
//!
//! The [`Ledger`] works on data, whoever reads it: the in-process harness
//! from its SQLite connections (`ledger_notes.rs`), the adapter
//! runner from rows read through the adapter and pushes seen by its proxy.

use super::Failure;
use dbsync_core::merge::{ConflictEntry, Rule};
use dbsync_core::protocol::{PushRequest, Rekey};
use dbsync_core::{Command, KeyType, RowId, Schema, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A row's values, foreign keys as the referenced row's uid.
pub type Logical = BTreeMap<String, Value>;

/// What an edit did to one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Write {
        table: String,
        id: RowId,
    },
    Delete {
        table: String,
        id: RowId,
        uid: String,
    },
}

/// A node's last edit of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum LastOp {
    Write {
        table: String,
        values: Logical,
        /// The columns the node changed in its writes of the row that no
        /// accepted push carried yet: only these must reach the server
        /// with the node's values, since a merge may take the others'
        /// values from the server (spec §12.4.4).
        columns: BTreeSet<String>,
    },
    Delete {
        table: String,
        id: RowId,
        /// Whether the server held the row when the node deleted it.
        server_had: bool,
    },
}

/// One op of a push, in logical form.
#[derive(Debug, Clone, PartialEq)]
pub struct LogicalOp {
    pub uid: String,
    pub table: String,
    pub command: Command,
    pub values: Option<Logical>,
}

#[derive(Debug, Default)]
pub struct Ledger {
    /// (node, uid) → the node's last edit of the row.
    pub last: BTreeMap<(usize, String), LastOp>,
    /// Every uid an edit inserted.
    pub inserted: BTreeSet<String>,
    /// Every uid an edit deleted.
    pub deleted: BTreeSet<String>,
    /// (node, table, id) → (uid, whether the server held it) of each row a
    /// node deleted, oldest first: a key SQLite reuses (spec §2.2.1) names
    /// several rows in turn.
    pub deleted_ids: BTreeMap<(usize, String, RowId), Vec<(String, bool)>>,
    /// (node, push id) → the push in logical form, made when it was built.
    pub built: BTreeMap<(usize, String), Vec<LogicalOp>>,
    /// The pushes the server applied: (node, push id).
    pub accepted: Vec<(usize, String)>,
    /// The nodes that merge with `server_wins`: only their merges may drop
    /// local work (spec §12.4.1 has no rule that drops it).
    pub server_wins: BTreeSet<usize>,
    /// (node, table, new key) → (old key, uid) of each insert the server
    /// re-keyed (spec §10.2.2.2): a delete the node noted under the old
    /// key reaches the server under the new one.
    pub rekeyed: BTreeMap<(usize, String, RowId), (RowId, String)>,
    /// The uids a text-keyed row lost with its values. A text key names
    /// one row whatever its values (spec §2.2): when two nodes insert it
    /// (§12.3.4), or one inserts it again after a delete (§5.2.1), the
    /// row's `uid` is a value like any other, and the policy may take
    /// another side's; the merge entry that names the losing values as
    /// `lost` explains the uid's absence.
    pub absorbed: BTreeSet<String>,
}

/// Whether a merge entry settles two inserts of one text key (spec
/// §12.3.4): the lost values are the other insert's, uid and all.
pub fn settles_text_key(entry: &ConflictEntry) -> bool {
    entry.row_id.as_text().is_some()
        && entry.local_op == Some(Command::Insert)
        && matches!(entry.rule, Rule::LocalUpdateKept | Rule::RemoteUpdateTaken)
}

/// Whether a merge rule drops the node's local work on the row it names
/// (its `lost` values are the node's): spec §12.4.2.
fn drops_local_work(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::RemoteUpdateTaken
            | Rule::RemoteDeleteTaken
            | Rule::LocalChildReverted
            | Rule::LocalChildrenDeletedWithParent
    )
}

/// Whether a conflict-log entry explains why a node's delete of `table`
/// row `id` never reached the server.
pub fn explains_delete(entry: &ConflictEntry, table: &str, id: RowId) -> bool {
    entry.table == table
        && entry.row_id == id
        && matches!(
            entry.rule,
            Rule::DeletedRowRestored
                | Rule::ParentRestoredForRemoteChild
                | Rule::BothDeletesDropped
        )
}

/// The logical form of `values` of a row of `table`: each foreign key to
/// an integer-keyed table as the uid `uid_at(table, id)` gives for the row
/// it references (an integer key may move). A text key never moves and
/// names one row whatever its values (spec §2.2), so a foreign key to a
/// text-keyed table stays the key.
pub fn logical(
    schema: &Schema,
    table: &str,
    values: &BTreeMap<String, Value>,
    uid_at: impl Fn(&str, RowId) -> Option<String>,
) -> Result<Logical, Failure> {
    let t = schema
        .table(table)
        .ok_or_else(|| Failure::new(format!("unknown table {table}")))?;
    let mut out = values.clone();
    for fk in &t.foreign_keys {
        let text_key = schema
            .table(&fk.references)
            .is_some_and(|p| p.key_type == KeyType::Text);
        if text_key {
            continue;
        }
        if let Some(pid) = values.get(&fk.column).and_then(RowId::from_value) {
            let uid = uid_at(&fk.references, pid)
                .unwrap_or_else(|| format!("<missing {} {pid}>", fk.references));
            out.insert(fk.column.clone(), Value::Text(uid));
        }
    }
    Ok(out)
}

/// The `uid` a row's values carry, if any.
pub fn uid_of(values: &Logical) -> Option<String> {
    match values.get("uid") {
        Some(Value::Text(u)) => Some(u.clone()),
        _ => None,
    }
}

impl Ledger {
    /// Node `n` wrote text key `id` of `table` after deleting the row it
    /// named: the same row again (spec §2.2), so a delete not pushed yet
    /// becomes part of the row's update (§5.2.1) and sends no `d`.
    pub fn rewrote_key(&mut self, n: usize, table: &str, id: RowId) {
        if id.as_text().is_none() {
            return;
        }
        let Some(rows) = self.deleted_ids.get(&(n, table.to_string(), id)) else {
            return;
        };
        for (uid, _) in rows {
            let key = (n, uid.clone());
            if matches!(self.last.get(&key), Some(LastOp::Delete { .. })) {
                self.last.remove(&key);
            }
        }
    }

    /// Node `n`'s edit left `table`'s row with these (logical) values;
    /// `before` are the row's values before the edit (`None`: inserted).
    /// The columns it changed add to those of the node's earlier writes
    /// of the row that no accepted push carried yet.
    pub fn wrote(
        &mut self,
        n: usize,
        table: String,
        values: Logical,
        before: Option<&Logical>,
    ) -> Result<(), Failure> {
        let uid = uid_of(&values).ok_or_else(|| Failure::new("a row without uid"))?;
        self.inserted.insert(uid.clone());
        let mut columns: BTreeSet<String> = values
            .iter()
            .filter(|(c, v)| before.is_none_or(|b| b.get(*c) != Some(*v)))
            .map(|(c, _)| c.clone())
            .collect();
        if let Some(LastOp::Write {
            values: earlier,
            columns: unsent,
            ..
        }) = self.last.get(&(n, uid.clone()))
        {
            if self.reached(n, &uid, earlier, unsent).is_none() {
                columns.extend(unsent.iter().cloned());
            }
        }
        let last = LastOp::Write {
            table,
            values,
            columns,
        };
        self.last.insert((n, uid), last);
        Ok(())
    }

    /// The values of an accepted push of node `n` that carried row `uid`
    /// with `values` in every one of `columns`, if one did.
    fn reached(
        &self,
        n: usize,
        uid: &str,
        values: &Logical,
        columns: &BTreeSet<String>,
    ) -> Option<&Logical> {
        self.accepted
            .iter()
            .filter(|k| k.0 == n)
            .filter_map(|k| self.built.get(k))
            .flatten()
            .filter(|o| o.uid == uid)
            .filter_map(|o| o.values.as_ref())
            .find(|pushed| columns.iter().all(|c| pushed.get(c) == values.get(c)))
    }

    /// Node `n`'s edit deleted `table` row `id` (`server_had`: the server
    /// held a row with that uid then).
    pub fn removed(&mut self, n: usize, table: String, id: RowId, uid: String, server_had: bool) {
        self.deleted.insert(uid.clone());
        self.deleted_ids
            .entry((n, table.clone(), id))
            .or_default()
            .push((uid.clone(), server_had));
        self.last.insert(
            (n, uid),
            LastOp::Delete {
                table,
                id,
                server_had,
            },
        );
    }

    /// Records push `req` of node `n` in logical form, the first time its
    /// push id is seen; `uid_at` names the rows its foreign keys reference.
    pub fn built(
        &mut self,
        n: usize,
        schema: &Schema,
        req: &PushRequest,
        uid_at: impl Fn(&str, RowId) -> Option<String>,
    ) -> Result<(), Failure> {
        let key = (n, req.push_id.clone());
        if self.built.contains_key(&key) {
            return Ok(());
        }
        let mut ops = Vec::new();
        for op in &req.ops {
            let (uid, values) = match op.command {
                Command::Delete => {
                    // The row the server held at that key last; a row
                    // that took the key again locally came and went. A
                    // text key (§2.2) names one row: deleted, inserted
                    // again and pushed (as a `u`), then deleted again,
                    // the server held it under the later uid.
                    // A row the server re-keyed away from this key is
                    // not the one deleted here (§10.2.2.2).
                    let moved = self.rekeyed_from(n, &op.table, op.row_id);
                    let uid = self
                        .deleted_ids
                        .get(&(n, op.table.clone(), op.row_id))
                        .and_then(|rows| {
                            let stayed: Vec<_> =
                                rows.iter().filter(|(u, _)| !moved.contains(&u)).collect();
                            stayed
                                .iter()
                                .rev()
                                .find(|(_, server_had)| *server_had)
                                .or(stayed.first())
                                .map(|(uid, _)| uid.clone())
                        })
                        .or_else(|| self.deleted_before_rekey(n, &op.table, op.row_id))
                        .ok_or_else(|| {
                            Failure::new(format!(
                                "node {n} pushes a delete of {} {} that no edit made",
                                op.table, op.row_id
                            ))
                        })?;
                    (uid, None)
                }
                _ => {
                    let row = req
                        .rows
                        .iter()
                        .find(|r| r.table == op.table && r.id == op.row_id)
                        .ok_or_else(|| Failure::new("a push op without its row"))?;
                    let values = logical(schema, &row.table, &row.values, &uid_at)?;
                    let uid = uid_of(&values).ok_or_else(|| Failure::new("a row without uid"))?;
                    (uid, Some(values))
                }
            };
            ops.push(LogicalOp {
                uid,
                table: op.table.clone(),
                command: op.command,
                values,
            });
        }
        self.built.insert(key, ops);
        Ok(())
    }

    /// The server applied node `n`'s push `req` with the inserts of
    /// `moves` re-keyed (spec §10.2.2.2).
    pub fn note_rekeyed(&mut self, n: usize, req: &PushRequest, moves: &[Rekey]) {
        for m in moves {
            let uid = req
                .rows
                .iter()
                .find(|r| r.table == m.table && r.id == RowId::Int(m.from))
                .and_then(|r| uid_of(&r.values));
            if let Some(uid) = uid {
                self.rekeyed.insert(
                    (n, m.table.clone(), RowId::Int(m.to)),
                    (RowId::Int(m.from), uid),
                );
            }
        }
    }

    /// The uids of node `n`'s rows of `table` the server re-keyed away
    /// from key `from`.
    fn rekeyed_from(&self, n: usize, table: &str, from: RowId) -> Vec<&String> {
        self.rekeyed
            .iter()
            .filter(|((m, t, _), (old, _))| *m == n && t == table && *old == from)
            .map(|(_, (_, uid))| uid)
            .collect()
    }

    /// The uid of the re-keyed row now at `id` that node `n` deleted
    /// while it still held the row under its old key.
    fn deleted_before_rekey(&self, n: usize, table: &str, id: RowId) -> Option<String> {
        let (from, uid) = self.rekeyed.get(&(n, table.to_string(), id))?;
        let rows = self.deleted_ids.get(&(n, table.to_string(), *from))?;
        rows.iter().find(|(u, _)| u == uid).map(|(u, _)| u.clone())
    }

    /// Whether node `n`'s conflict log explains its delete of `table` row
    /// `id` (`uid`), under that key or the key the server re-keyed the row
    /// to (spec §10.2.2.2), which the node's merge then names.
    fn explained_under_any_key(
        &self,
        n: usize,
        table: &str,
        id: RowId,
        uid: &str,
        explained: &impl Fn(usize, &str, RowId) -> Result<bool, Failure>,
    ) -> Result<bool, Failure> {
        let moved_to = self
            .rekeyed
            .iter()
            .filter(|((m, t, _), (from, u))| *m == n && t == table && *from == id && u == uid)
            .map(|((_, _, to), _)| *to);
        for key in std::iter::once(id).chain(moved_to) {
            if explained(n, table, key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A ledger for a case whose nodes `server_wins` merge with
    /// `server_wins` (the others with `node_wins`).
    pub fn new(server_wins: impl IntoIterator<Item = usize>) -> Ledger {
        Ledger {
            server_wins: server_wins.into_iter().collect(),
            ..Ledger::default()
        }
    }

    /// Node `n`'s merge committed with these conflict entries: the local
    /// work they say it dropped is no longer a write that must reach the
    /// server (spec §12.4.2). A `node_wins` node never drops local work
    /// (§12.4.1): an entry saying it did is a failure, whatever its `lost`.
    /// `uid_at` names a row of node `n` by its uid: an entry of a
    /// column-level merge (spec §12.4.4) loses only some columns, not the
    /// uid, and the node's work on the other columns still must reach the
    /// server.
    pub fn merged(
        &mut self,
        n: usize,
        conflicts: &[ConflictEntry],
        uid_at: impl Fn(&str, RowId) -> Option<String>,
    ) -> Result<(), Failure> {
        for c in conflicts {
            if c.row_id.as_text().is_some() {
                if let Some(Value::Text(uid)) = c.lost.as_ref().and_then(|l| l.get("uid")) {
                    self.absorbed.insert(uid.clone());
                }
            }
            if !drops_local_work(c.rule) {
                continue;
            }
            if !self.server_wins.contains(&n) {
                return Err(Failure::new(format!(
                    "node {n} merges with node_wins, yet its conflict log says it dropped its local {} row {} ({}): §12.4.1 keeps the node's work",
                    c.table,
                    c.row_id,
                    serde_json::to_string(&c.rule).unwrap_or_default()
                )));
            }
            let Some(Value::Text(uid)) = c.lost.as_ref().and_then(|l| l.get("uid")) else {
                self.lost_columns(n, c, &uid_at);
                continue;
            };
            self.last.remove(&(n, uid.clone()));
            if c.rule == Rule::LocalChildrenDeletedWithParent {
                self.deleted.insert(uid.clone());
            }
        }
        Ok(())
    }

    /// A column-level entry `c` of node `n` lost the node's values of
    /// some columns: they no longer need to reach the server.
    fn lost_columns(
        &mut self,
        n: usize,
        c: &ConflictEntry,
        uid_at: &impl Fn(&str, RowId) -> Option<String>,
    ) {
        let Some(uid) = uid_at(&c.table, c.row_id) else {
            return;
        };
        if let Some(LastOp::Write { columns, .. }) = self.last.get_mut(&(n, uid)) {
            for lost in c.lost.iter().flat_map(|l| l.keys()) {
                columns.remove(lost);
            }
        }
    }

    /// Invariant 2 at the end: every node's last write reached the server
    /// (or its conflict log explains it: `explained(n, table, id)`), and
    /// every row inserted and never deleted is on the server exactly once
    /// (`on_server(uid)` counts it).
    /// Returns how many last writes reached the server beside another
    /// side's values of the row's other columns (spec §12.4.4).
    pub fn check(
        &self,
        explained: impl Fn(usize, &str, RowId) -> Result<bool, Failure>,
        on_server: impl Fn(&str) -> Result<i64, Failure>,
    ) -> Result<usize, Failure> {
        let mut kept_beside = 0;
        let accepted: Vec<(usize, &LogicalOp)> = self
            .accepted
            .iter()
            .filter_map(|k| self.built.get(k).map(|ops| (k.0, ops)))
            .flat_map(|(n, ops)| ops.iter().map(move |o| (n, o)))
            .collect();
        for ((n, uid), last) in &self.last {
            match last {
                LastOp::Write {
                    table,
                    values,
                    columns,
                } => {
                    if columns.is_empty() {
                        continue;
                    }
                    let Some(pushed) = self.reached(*n, uid, values, columns) else {
                        return Err(Failure::new(format!(
                            "node {n}'s last write of {table} row {uid} never reached the server in its columns {}: {}",
                            serde_json::to_string(columns).unwrap_or_default(),
                            serde_json::to_string(values).unwrap_or_default()
                        )));
                    };
                    // The push carried another side's value of a column
                    // the node did not change: a merge kept both.
                    if pushed
                        .iter()
                        .any(|(c, v)| !columns.contains(c) && values.get(c) != Some(v))
                    {
                        kept_beside += 1;
                    }
                }
                LastOp::Delete {
                    table,
                    id,
                    server_had,
                } => {
                    if !server_had {
                        continue;
                    }
                    let reached = accepted
                        .iter()
                        .any(|(m, o)| m == n && &o.uid == uid && o.command == Command::Delete);
                    if !reached && !self.explained_under_any_key(*n, table, *id, uid, &explained)? {
                        return Err(Failure::new(format!(
                            "node {n}'s delete of {table} row {id} ({uid}) never reached the server \
                             and its conflict log does not say why"
                        )));
                    }
                }
            }
        }
        for uid in self.inserted.difference(&self.deleted) {
            let found = on_server(uid)?;
            if found != 1 && !(found == 0 && self.absorbed.contains(uid)) {
                return Err(Failure::new(format!(
                    "row {uid} was inserted and never deleted, but the server holds it {found} times"
                )));
            }
        }
        Ok(kept_beside)
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
