//! Identity conflicts of a row with both a remote and a pending op
//! (spec §12.3.1 direct, §12.3.4 insert), the absent-row rule (§12.5.1)
//! and the plain application of the other remote ops (§12.5).

use super::error::MergeError;
use super::plan::{ConflictKind, Rule};
use super::policy::{DirectConflict, Winner};
use super::state::{Fate, PendingAfter, Planner};
use crate::protocol::op::Command;

impl Planner<'_> {
    /// Whether the slot's remote op takes part in the merge: an `i` or `u`
    /// whose row the message lacks was deleted later on the server and is
    /// skipped (spec §12.5.1).
    fn remote_applies(&self, i: usize) -> bool {
        match self.slots[i].remote {
            Some((Command::Delete, _)) => true,
            Some(_) => self.message.contains_key(&self.slots[i].key),
            None => false,
        }
    }

    /// Steps 2 and 3 for every row with a remote op. Insert conflicts are
    /// resolved first, so that every later look-up sees the moved keys.
    pub(crate) fn resolve_identities(&mut self) -> Result<(), MergeError> {
        let order = std::mem::take(&mut self.remote_order);
        for &i in &order {
            if self.slots[i].pending == Some(Command::Insert) && self.remote_applies(i) {
                self.rekey(i)?;
            }
        }
        for &i in &order {
            if self.remote_applies(i) {
                self.identity(i)?;
            }
        }
        self.remote_order = order;
        Ok(())
    }

    /// Insert conflict (spec §12.3.4): the local row moves to a fresh key,
    /// with its pending op; its children's foreign keys follow.
    fn rekey(&mut self, i: usize) -> Result<(), MergeError> {
        let (t, id) = self.slots[i].key;
        if !self.view.contains(self.cat.name(t), id)? {
            return Err(MergeError::PendingRowMissing {
                table: self.cat.name(t).to_owned(),
                row_id: id,
                command: Command::Insert,
            });
        }
        let to = self.fresh_key(t)?;
        self.slots[i].moved_to = Some(to);
        self.rekeys.push((t, id, to));
        let moved = self.slot((t, to));
        self.slots[moved].moved_from = Some(id);
        self.slots[moved].pending = Some(Command::Insert);
        let refs = self.cat.referenced_by(t).to_vec();
        for (ct, col) in refs {
            for cid in self.view.children(self.cat.name(ct), col, id)? {
                let c = self.slot((ct, cid));
                if self.slots[c].pending.is_none() {
                    self.slots[c].cascaded = true;
                }
            }
        }
        self.log(
            ConflictKind::Insert,
            i,
            Some(Command::Insert),
            Rule::LocalInsertRekeyed,
            None,
            Some(to),
            None,
        );
        Ok(())
    }

    fn identity(&mut self, i: usize) -> Result<(), MergeError> {
        let Some((remote, _)) = self.slots[i].remote else {
            return Ok(());
        };
        if self.slots[i].restore == Some(false) {
            // An unchanged restore is a row without a pending op (spec
            // §12.3.5): the remote op settles it. A dependency resolution
            // may keep it again.
            self.slots[i].pending_after = PendingAfter::Drop;
        }
        match self.slots[i].pending {
            Some(Command::Insert) => {
                // Rekeyed already; the remote row takes the freed key.
                if remote != Command::Delete {
                    self.put_from_message(i, false);
                }
            }
            Some(Command::Update) => self.against_local_update(i, remote)?,
            Some(Command::Delete) => {
                self.slots[i].pending_after = PendingAfter::Drop;
                if remote == Command::Delete {
                    self.slots[i].fate = Fate::Keep;
                    self.log(
                        ConflictKind::Direct,
                        i,
                        Some(Command::Delete),
                        Rule::BothDeletesDropped,
                        None,
                        None,
                        None,
                    );
                } else {
                    let exists = self.local_exists(i)?;
                    self.put_from_message(i, exists);
                    self.log(
                        ConflictKind::Direct,
                        i,
                        Some(Command::Delete),
                        Rule::DeletedRowRestored,
                        None,
                        None,
                        None,
                    );
                }
            }
            None => {
                let exists = self.local_exists(i)?;
                if remote == Command::Delete {
                    if exists {
                        self.remove(i);
                    }
                } else {
                    // A remote `i` of a row the node has becomes an update.
                    self.put_from_message(i, exists);
                }
            }
        }
        Ok(())
    }

    /// Direct conflict with a local `u` (spec §12.3.1): the policy decides.
    /// A remote `i` here names a row the node already knows and counts as
    /// a `u`.
    fn against_local_update(&mut self, i: usize, remote: Command) -> Result<(), MergeError> {
        let (t, id) = self.slots[i].key;
        let local = self
            .local_clone(i)?
            .ok_or_else(|| MergeError::PendingRowMissing {
                table: self.cat.name(t).to_owned(),
                row_id: id,
                command: Command::Update,
            })?;
        let rows = self.rows;
        let remote_values = self.message.get(&(t, id)).map(|&r| &rows[r].values);
        if let (Some(sets), Some(values)) = (self.column_sets(i, remote), remote_values) {
            return self.merge_columns(i, sets, local, values);
        }
        let as_seen = if remote == Command::Delete {
            Command::Delete
        } else {
            Command::Update
        };
        let winner = self.policy.direct(&DirectConflict {
            table: self.cat.name(t),
            row_id: id,
            remote: as_seen,
            remote_values,
            local_values: &local,
            columns: None,
        });
        let local_op = self.slots[i].began_with();
        let restore = self.slots[i].restore.is_some();
        match (as_seen, winner) {
            (Command::Delete, Winner::Local) => {
                self.slots[i].fate = Fate::Keep;
                self.slots[i].pending_after = PendingAfter::Set(Command::Insert);
                let rule = Rule::LocalUpdateReinsertsRow;
                self.log(ConflictKind::Direct, i, local_op, rule, None, None, None);
            }
            (Command::Delete, Winner::Remote) => {
                self.remove(i);
                self.slots[i].pending_after = PendingAfter::Drop;
                let rule = Rule::RemoteDeleteTaken;
                self.log(
                    ConflictKind::Direct,
                    i,
                    local_op,
                    rule,
                    Some(local),
                    None,
                    None,
                );
            }
            (_, Winner::Local) => {
                let lost = remote_values.cloned();
                self.slots[i].fate = Fate::Keep;
                if restore {
                    // The server has the row again (spec §12.3.5).
                    self.slots[i].pending_after = PendingAfter::Set(Command::Update);
                }
                let rule = Rule::LocalUpdateKept;
                self.log(ConflictKind::Direct, i, local_op, rule, lost, None, None);
            }
            (_, Winner::Remote) => {
                self.put_from_message(i, true);
                self.slots[i].pending_after = PendingAfter::Drop;
                let rule = Rule::RemoteUpdateTaken;
                self.log(
                    ConflictKind::Direct,
                    i,
                    local_op,
                    rule,
                    Some(local),
                    None,
                    None,
                );
            }
        }
        Ok(())
    }
}
