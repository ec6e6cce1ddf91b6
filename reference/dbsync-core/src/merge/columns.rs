//! Column-level merge (spec §12.4.4): a remote `u` against a pending `u`
//! of the same row, when both name the columns they changed. A column
//! only one side changed takes that side's value; only the columns both
//! sides changed to different values go to the policy.

use super::error::MergeError;
use super::plan::{ConflictKind, Rule};
use super::policy::{DirectConflict, Winner};
use super::state::{Fate, PendingAfter, Planner};
use crate::protocol::op::{ChangedColumns, Command};
use crate::protocol::value::Values;
use std::borrow::Cow;

/// The columns each side of a direct `u`/`u` conflict changed.
pub(super) struct ColumnSets<'a> {
    remote: &'a ChangedColumns,
    local: &'a ChangedColumns,
}

impl<'a> Planner<'a> {
    /// Both sides' changed columns, when the conflict of slot `i` with a
    /// remote `remote` is decided column by column: a remote `u` (not an
    /// `i` the node knows) and a pending `u` (not a restore), both naming
    /// their columns.
    pub(super) fn column_sets(&self, i: usize, remote: Command) -> Option<ColumnSets<'a>> {
        let slot = &self.slots[i];
        if remote != Command::Update || slot.restore.is_some() {
            return None;
        }
        Some(ColumnSets {
            remote: slot.remote_columns?,
            local: slot.pending_columns?,
        })
    }

    /// Merges slot `i`'s local row (`local`) with the message row
    /// (`remote`) column by column.
    pub(super) fn merge_columns(
        &mut self,
        i: usize,
        sets: ColumnSets<'a>,
        local: Values,
        remote: &'a Values,
    ) -> Result<(), MergeError> {
        let contested: ChangedColumns = sets
            .local
            .intersection(sets.remote)
            .filter(|c| local.get(*c) != remote.get(*c))
            .cloned()
            .collect();
        let winner = self.column_winner(i, &contested, &local, remote);
        let mut merged = local.clone();
        for column in sets.remote {
            let taken = !sets.local.contains(column) || winner == Winner::Remote;
            if let (true, Some(value)) = (taken, remote.get(column)) {
                merged.insert(column.clone(), value.clone());
            }
        }
        self.set_merged_fate(i, merged != local, merged);
        if winner == Winner::Remote {
            let left: ChangedColumns = sets.local.difference(sets.remote).cloned().collect();
            self.narrow_pending(i, left);
        }
        if !contested.is_empty() {
            let (rule, lost) = match winner {
                Winner::Local => (Rule::LocalUpdateKept, only(remote, &contested)),
                Winner::Remote => (Rule::RemoteUpdateTaken, only(&local, &contested)),
            };
            let local_op = self.slots[i].began_with();
            self.log(
                ConflictKind::Direct,
                i,
                local_op,
                rule,
                Some(lost),
                None,
                None,
            );
        }
        Ok(())
    }

    /// Who wins the contested columns: no one needs to when there are
    /// none (the policy is not asked).
    fn column_winner(
        &self,
        i: usize,
        contested: &ChangedColumns,
        local: &Values,
        remote: &Values,
    ) -> Winner {
        if contested.is_empty() {
            return Winner::Local;
        }
        let (t, row_id) = self.slots[i].key;
        self.policy.direct(&DirectConflict {
            table: self.cat.name(t),
            row_id,
            remote: Command::Update,
            remote_values: Some(remote),
            local_values: local,
            columns: Some(contested),
        })
    }

    /// The row is written with `merged` when it differs from the local
    /// row; otherwise it stays as it is.
    fn set_merged_fate(&mut self, i: usize, differs: bool, merged: Values) {
        let key = self.slots[i].key;
        match (differs, self.message.get(&key)) {
            (true, Some(&row)) => {
                self.slots[i].fate = Fate::Put {
                    values: Cow::Owned(merged),
                    row,
                    exists: true,
                };
                self.puts.push(i);
            }
            _ => self.slots[i].fate = Fate::Keep,
        }
    }

    /// The pending `u` keeps only the columns in `left`: none left, it is
    /// dropped (the row is the server's).
    fn narrow_pending(&mut self, i: usize, left: ChangedColumns) {
        if left.is_empty() {
            self.slots[i].pending_after = PendingAfter::Drop;
        } else {
            self.slots[i].pending_after = PendingAfter::Set(Command::Update);
            self.slots[i].columns_after = Some(left);
        }
    }
}

/// The values of `columns` only.
fn only(values: &Values, columns: &ChangedColumns) -> Values {
    values
        .iter()
        .filter(|(c, _)| columns.contains(*c))
        .map(|(c, v)| (c.clone(), v.clone()))
        .collect()
}
