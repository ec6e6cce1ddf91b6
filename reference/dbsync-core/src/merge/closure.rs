//! The parents of every row the merge writes (spec §12.3.3, §12.5.2):
//! each must exist when the plan is applied. A parent the node deleted
//! (pending `d`) is restored from the message: a reversed dependency. A
//! parent the node never had is inserted from the message.

use super::catalog::{Key, TableId};
use super::error::MergeError;
use super::plan::{ConflictKind, Rule};
use super::state::{Fate, PendingAfter, Planner};
use crate::protocol::op::Command;
use crate::protocol::row_id::RowId;

impl<'a> Planner<'a> {
    /// Checks the parents of every `Put` not checked yet, adding `Put`s for
    /// the parents it restores or brings in (which are checked in turn).
    pub(crate) fn close_parents(&mut self) -> Result<(), MergeError> {
        while self.closed < self.puts.len() {
            let w = self.puts[self.closed];
            self.closed += 1;
            self.check_parents(w)?;
        }
        Ok(())
    }

    fn check_parents(&mut self, w: usize) -> Result<(), MergeError> {
        let (wt, _) = self.slots[w].key;
        let refs: Vec<(&'a str, TableId)> = self.cat.references(wt).to_vec();
        for (col, pt) in refs {
            let Fate::Put { values, .. } = &self.slots[w].fate else {
                return Ok(());
            };
            // A written row carries server values: its foreign keys name
            // server keys, never moved local rows.
            let Some(pid) = values.get(col).and_then(RowId::from_value) else {
                continue;
            };
            let pk = (pt, pid);
            if pk == self.slots[w].key {
                continue;
            }
            self.check_parent(w, col, pk)?;
        }
        Ok(())
    }

    fn check_parent(&mut self, w: usize, col: &str, pk: Key) -> Result<(), MergeError> {
        let p = self.slot(pk);
        match self.slots[p].fate {
            Fate::Put { .. } => {
                if self.slots[p].restored_for_child {
                    self.log_restored(p, w);
                }
                return Ok(());
            }
            Fate::Remove => return Err(self.missing_parent(w, col, pk)),
            Fate::Untouched | Fate::Keep => {}
        }
        if self.slots[p].moved_to.is_none() && self.local_exists(p)? {
            return Ok(());
        }
        if !self.message.contains_key(&pk) || self.slots[p].moved_to.is_some() {
            return Err(self.missing_parent(w, col, pk));
        }
        if self.slots[p].pending_now() == Some(Command::Delete) {
            // Reversed dependency: restore the parent, drop the local `d`.
            self.slots[p].pending_after = PendingAfter::Drop;
            self.slots[p].restored_for_child = true;
            self.put_from_message(p, false);
            self.log_restored(p, w);
        } else {
            // A parent the message carries and the node lacks.
            self.put_from_message(p, false);
        }
        Ok(())
    }

    fn log_restored(&mut self, p: usize, child: usize) {
        let key = self.slots[child].key;
        let remote = self.slots[child].remote;
        let parent = self.slots[p].key;
        self.log_with_remote(
            ConflictKind::ReversedDependency,
            parent,
            remote,
            Some(Command::Delete),
            Rule::ParentRestoredForRemoteChild,
            None,
            None,
            Some(key),
        );
    }

    fn missing_parent(&self, w: usize, col: &str, pk: Key) -> MergeError {
        let (wt, wid) = self.slots[w].key;
        MergeError::MissingParent {
            table: self.cat.name(wt).to_owned(),
            row_id: wid,
            column: col.to_owned(),
            parent_table: self.cat.name(pk.0).to_owned(),
            parent_id: pk.1,
        }
    }
}
