//! The order of a plan's actions (spec §12.6): rekeys, deletes, the
//! deletes of the swap rows, inserts and updates, pending-op changes, key
//! reservations, the version. With this order no action breaks a unique
//! constraint; foreign keys hold again at the end.

use super::error::MergeError;
use super::plan::{Action, ConflictKind, Plan, Rule};
use super::state::{Fate, PendingAfter, Planner};
use crate::protocol::op::Command;
use crate::protocol::row_id::RowId;
use crate::protocol::value::Values;
use std::borrow::Cow;

impl Planner<'_> {
    /// The plan, whose inserts and updates have empty values yet: with
    /// each such action's index, the index of the pulled row whose values
    /// it takes (see [`super::plan`]).
    pub(crate) fn emit(mut self) -> Result<(Plan, Vec<(usize, usize)>), MergeError> {
        let mut actions = Vec::with_capacity(self.slots.len() + self.rekeys.len() + 2);
        let name = |p: &Self, t: u32| p.cat.name(t).to_owned();

        for &(t, from, to) in &self.rekeys {
            actions.push(Action::Rekey {
                table: name(&self, t),
                from,
                to,
            });
        }
        for s in &self.slots {
            if s.fate == Fate::Remove {
                actions.push(Action::Delete {
                    table: name(&self, s.key.0),
                    row_id: s.key.1,
                });
            }
        }
        for s in &self.slots {
            if let Fate::Put { exists: true, .. } = s.fate {
                if s.swap {
                    actions.push(Action::Delete {
                        table: name(&self, s.key.0),
                        row_id: s.key.1,
                    });
                }
            }
        }
        let puts = std::mem::take(&mut self.puts);
        let mut fills = Vec::with_capacity(puts.len());
        // Per table: the largest key the plan writes (its sequence follows).
        let mut written_max = vec![RowId::default(); self.cat.len()];
        for &i in &puts {
            let (t, id) = self.slots[i].key;
            written_max[t as usize] = written_max[t as usize].max(id);
        }
        for &i in &puts {
            let s = &self.slots[i];
            let Fate::Put {
                row,
                exists,
                ref values,
            } = s.fate
            else {
                continue;
            };
            let values = put_values(values, &mut fills, actions.len(), row);
            let (t, row_id) = s.key;
            let swap = s.swap;
            let table = name(&self, t);
            actions.push(if exists && !swap {
                Action::Update {
                    table,
                    row_id,
                    values,
                }
            } else {
                Action::Insert {
                    table,
                    row_id,
                    values,
                }
            });
        }
        for s in &self.slots {
            if s.moved_to.is_some() {
                continue; // its pending op moved with the rekey
            }
            let table = || name(&self, s.key.0);
            match s.pending_after {
                PendingAfter::Drop if s.began_with().is_some() => {
                    actions.push(Action::DropPending {
                        table: table(),
                        row_id: s.key.1,
                    })
                }
                // A pending `i` set by a merge keeps a row the server
                // deleted: a restore (spec §12.3.5), changed when the
                // node's values are local work.
                PendingAfter::Set(Command::Insert) => actions.push(Action::Restore {
                    table: table(),
                    row_id: s.key.1,
                    changed: s.pending == Some(Command::Update),
                }),
                PendingAfter::Set(command) => actions.push(Action::SetPending {
                    table: table(),
                    row_id: s.key.1,
                    command,
                    columns: s.columns_after.clone(),
                }),
                PendingAfter::Same if s.cascaded && s.began_with().is_none() && s.kept() => actions
                    .push(Action::SetPending {
                        table: table(),
                        row_id: s.key.1,
                        command: Command::Update,
                        columns: None,
                    }),
                _ => {}
            }
        }
        let swaps: Vec<_> = self
            .slots
            .iter()
            .filter(|s| s.swap)
            .map(|s| (s.key, s.remote, s.began_with()))
            .collect();
        for (key, remote, pending) in swaps {
            self.log_swap(key, remote, pending);
        }
        for t in 0..self.cat.len() as u32 {
            // Only integer keys are reserved: text keys are never fresh.
            let int = |id: RowId| id.as_int().unwrap_or(0);
            let fresh_top = self.fresh[t as usize].map_or(0, |n| int(n) - 1);
            let up_to = int(self.remote_max[t as usize]).max(fresh_top);
            if up_to > int(written_max[t as usize])
                && RowId::Int(up_to) > self.view.max_id(self.cat.name(t))?
            {
                actions.push(Action::ReserveKeys {
                    table: name(&self, t),
                    up_to,
                });
            }
        }
        if let Some(version) = self.target_version {
            actions.push(Action::RecordVersion { version });
        }
        let plan = Plan {
            actions,
            conflicts: self.conflicts,
        };
        Ok((plan, fills))
    }

    fn log_swap(
        &mut self,
        key: (u32, RowId),
        remote: Option<(Command, u64)>,
        pending: Option<Command>,
    ) {
        self.log_with_remote(
            ConflictKind::UniqueSwap,
            key,
            remote,
            pending,
            Rule::UniqueSwapApplied,
            None,
            None,
            None,
        );
    }
}

/// The values of the put action at `at`: a row merged column by column
/// (spec §12.4.4) carries its own; the others are filled from pulled row
/// `row` afterwards, as `fills` records.
#[allow(
    clippy::ptr_arg,
    reason = "owned or borrowed is what tells a merged row from a pulled one"
)]
fn put_values(
    values: &Cow<'_, Values>,
    fills: &mut Vec<(usize, usize)>,
    at: usize,
    row: usize,
) -> Values {
    match values {
        Cow::Owned(merged) => merged.clone(),
        Cow::Borrowed(_) => {
            fills.push((at, row));
            Values::new()
        }
    }
}
