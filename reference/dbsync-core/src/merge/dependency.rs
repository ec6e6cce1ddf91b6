//! Dependency conflicts (spec §12.3.2): the merge would delete a row that
//! a local row it keeps still references. Found by a look-up of each
//! deleted row's children (the view's foreign-key index), never by
//! comparing ops pairwise.

use super::catalog::{Key, TableId};
use super::error::MergeError;
use super::plan::{ConflictKind, Rule};
use super::policy::Winner;
use super::state::{Fate, PendingAfter, Planner};
use crate::protocol::op::Command;
use crate::protocol::row_id::RowId;

use std::borrow::Cow;
use std::collections::VecDeque;

impl<'a> Planner<'a> {
    pub(crate) fn resolve_dependencies(&mut self) -> Result<(), MergeError> {
        let winner = self.policy.dependency();
        let mut queue: VecDeque<usize> = std::mem::take(&mut self.removes).into();
        let mut removed = Vec::new();
        while let Some(p) = queue.pop_front() {
            if self.slots[p].fate != Fate::Remove {
                continue;
            }
            removed.push(p);
            for (c, column) in self.local_children(p)? {
                self.child_of_removed(p, c, column, winner, &mut queue)?;
            }
        }
        self.removes = removed;
        self.log_dependencies()
    }

    /// The local rows that reference slot `p`'s local row, as (slot,
    /// column), by foreign key in schema order then id.
    fn local_children(&mut self, p: usize) -> Result<Vec<(usize, &'a str)>, MergeError> {
        let (pt, pid) = self.slots[p].key;
        let view_id = self.slots[p].moved_from.unwrap_or(pid);
        let mut out = Vec::new();
        let refs: Vec<(TableId, &'a str)> = self.cat.referenced_by(pt).to_vec();
        for (ct, col) in refs {
            for cid in self.view.children(self.cat.name(ct), col, view_id)? {
                let c = self.local_slot((ct, cid));
                if c != p {
                    out.push((c, col));
                }
            }
        }
        Ok(out)
    }

    fn child_of_removed(
        &mut self,
        p: usize,
        c: usize,
        column: &str,
        winner: Winner,
        queue: &mut VecDeque<usize>,
    ) -> Result<(), MergeError> {
        if self.merged_child(c, column, p) {
            // Local work, as a child with a pending `u`.
            return match winner {
                Winner::Local => self.keep_parent(p),
                Winner::Remote => self.drop_child(c, queue),
            };
        }
        match &self.slots[c].fate {
            Fate::Remove => Ok(()),
            Fate::Put { values, .. } => {
                // The row takes server values; they may not reference a row
                // the server deleted.
                let (pt, pid) = self.slots[p].key;
                if values.get(column).and_then(RowId::from_value) == Some(pid) {
                    let (ct, cid) = self.slots[c].key;
                    return Err(MergeError::MissingParent {
                        table: self.cat.name(ct).to_owned(),
                        row_id: cid,
                        column: column.to_owned(),
                        parent_table: self.cat.name(pt).to_owned(),
                        parent_id: pid,
                    });
                }
                Ok(())
            }
            Fate::Untouched | Fate::Keep => match winner {
                Winner::Local => self.keep_parent(p),
                Winner::Remote => self.drop_child(c, queue),
            },
        }
    }

    /// Whether slot `c` is a row merged column by column (spec §12.4.4)
    /// that keeps the node's value of `column`, naming slot `p`'s row.
    fn merged_child(&self, c: usize, column: &str, p: usize) -> bool {
        match &self.slots[c].fate {
            Fate::Put {
                values: Cow::Owned(merged),
                ..
            } => merged.get(column).and_then(RowId::from_value) == Some(self.slots[p].key.1),
            _ => false,
        }
    }

    /// Dependency, local wins: the parent stays with a pending `i`, and so
    /// do its own parents the merge would delete.
    fn keep_parent(&mut self, p: usize) -> Result<(), MergeError> {
        let mut stack = vec![p];
        while let Some(p) = stack.pop() {
            if self.slots[p].fate != Fate::Remove {
                continue;
            }
            self.slots[p].fate = Fate::Keep;
            self.slots[p].pending_after = PendingAfter::Set(Command::Insert);
            self.kept_parents.push(p);
            let t = self.slots[p].key.0;
            let refs: Vec<(&'a str, TableId)> = self.cat.references(t).to_vec();
            let targets: Vec<Key> = match self.local_values(p)? {
                Some(values) => refs
                    .iter()
                    .filter_map(|(col, pt)| {
                        let g = values.get(*col).and_then(RowId::from_value)?;
                        Some((*pt, g))
                    })
                    .collect(),
                None => Vec::new(),
            };
            for g in targets {
                if let Some(&gi) = self.index.get(&g) {
                    if self.slots[gi].fate == Fate::Remove {
                        stack.push(gi);
                    }
                }
            }
        }
        Ok(())
    }

    /// Dependency, remote wins: a local child inserted locally (or moved,
    /// or without a server row) is deleted; one the server has is
    /// reverted to the server's row.
    fn drop_child(&mut self, c: usize, queue: &mut VecDeque<usize>) -> Result<(), MergeError> {
        let lost = self.local_clone(c)?;
        let key = self.slots[c].key;
        let server_row = self.slots[c].pending_now() != Some(Command::Insert)
            && self.slots[c].moved_from.is_none()
            && self.message.contains_key(&key);
        self.slots[c].pending_after = PendingAfter::Drop;
        if server_row {
            self.put_from_message(c, true);
            self.dropped_children
                .push((c, Rule::LocalChildReverted, lost));
        } else {
            self.slots[c].fate = Fate::Remove;
            queue.push_back(c);
            self.dropped_children
                .push((c, Rule::LocalChildrenDeletedWithParent, lost));
        }
        Ok(())
    }

    /// The entries of this step, made once its outcome is known so that
    /// they do not depend on the order of the work: one per (kept parent,
    /// local child that references it), one per dropped child.
    fn log_dependencies(&mut self) -> Result<(), MergeError> {
        for p in std::mem::take(&mut self.kept_parents) {
            for (c, column) in self.local_children(p)? {
                if self.slots[c].kept() || self.merged_child(c, column, p) {
                    let local_op = self.slots[c].pending_now();
                    let key = self.slots[c].key;
                    self.log(
                        ConflictKind::Dependency,
                        p,
                        local_op,
                        Rule::ParentKeptForLocalChild,
                        None,
                        None,
                        Some(key),
                    );
                }
            }
            self.kept_parents.push(p);
        }
        for (c, rule, lost) in std::mem::take(&mut self.dropped_children) {
            let ct = self.slots[c].key.0;
            // The parent: the first foreign key (schema order) whose target
            // the merge deletes.
            let parent = lost.as_ref().and_then(|values| {
                self.cat.references(ct).iter().find_map(|(col, pt)| {
                    let pid = values.get(*col).and_then(RowId::from_value)?;
                    let k = self.local_target((*pt, pid));
                    let i = *self.index.get(&k)?;
                    (self.slots[i].fate == Fate::Remove).then_some((i, k))
                })
            });
            let (remote, related) = match parent {
                Some((pi, k)) => (self.slots[pi].remote, Some(k)),
                None => (None, None),
            };
            let key = self.slots[c].key;
            let local_op = self.slots[c].began_with();
            self.log_with_remote(
                ConflictKind::Dependency,
                key,
                remote,
                local_op,
                rule,
                lost,
                None,
                related,
            );
        }
        Ok(())
    }
}
