//! Unique constraints (spec §12.2): every row the merge writes is checked
//! against the local row holding its unique values (the view's unique
//! index) and against the other written rows (a hash map). A holder that
//! gives the values up in the same merge makes a swap; any other holder
//! is a collision.

use super::error::{MergeError, UniqueCollision};
use super::hash::FxHashMap;
use super::hash::FxHasher;
use super::state::{Fate, Planner};
use crate::protocol::row_id::RowId;
use crate::protocol::value::{Value, Values};
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// The values a written row holds for one unique constraint.
struct Held<'a> {
    columns: &'a [String],
    values: Vec<Value>,
}

/// Every collision of the merge, once per (table, row, constraint).
type Collisions = BTreeMap<(String, RowId, Vec<String>), UniqueCollision>;

fn add(collisions: &mut Collisions, c: UniqueCollision) {
    let key = (c.table.clone(), c.row_id, c.columns.clone());
    collisions.entry(key).or_insert(c);
}

/// The written rows by a hash of (table, constraint, values): the first
/// row per hash, and any further rows with the same hash.
struct Written {
    first: FxHashMap<u64, usize>,
    more: FxHashMap<u64, Vec<usize>>,
}

fn project(values: &Values, columns: &[String]) -> Option<Vec<Value>> {
    let mut out = Vec::with_capacity(columns.len());
    for c in columns {
        match values.get(c) {
            None | Some(Value::Null) => return None,
            Some(v) => out.push(v.clone()),
        }
    }
    Some(out)
}

impl Planner<'_> {
    /// Step 1 of spec §12.2, on the rows the later steps write. Swap
    /// holders the message updates become written rows themselves; their
    /// parents are then checked as any other written row's.
    pub(crate) fn check_unique(&mut self) -> Result<(), MergeError> {
        let mut written = Written {
            first: FxHashMap::with_capacity_and_hasher(self.puts.len(), Default::default()),
            more: FxHashMap::default(),
        };
        let mut collisions = Collisions::new();
        let mut next = 0;
        loop {
            while next < self.puts.len() {
                let w = self.puts[next];
                next += 1;
                self.check_row(w, &mut written, &mut collisions)?;
            }
            if self.closed == self.puts.len() {
                break;
            }
            self.close_parents()?;
        }
        if collisions.is_empty() {
            Ok(())
        } else {
            Err(MergeError::UniqueCollisions(
                collisions.into_values().collect(),
            ))
        }
    }

    fn collision(&self, w: usize, held: &Held<'_>, holder: RowId) -> UniqueCollision {
        let (t, id) = self.slots[w].key;
        UniqueCollision {
            table: self.cat.name(t).to_owned(),
            row_id: id,
            columns: held.columns.to_vec(),
            values: held
                .columns
                .iter()
                .cloned()
                .zip(held.values.iter().cloned())
                .collect(),
            holder_row_id: holder,
        }
    }

    fn check_row(
        &mut self,
        w: usize,
        written: &mut Written,
        collisions: &mut Collisions,
    ) -> Result<(), MergeError> {
        let t = self.slots[w].key.0;
        let table = self.cat.table(t);
        for (u, columns) in table.unique.iter().enumerate() {
            let Fate::Put { values, .. } = &self.slots[w].fate else {
                return Ok(());
            };
            let Some(values) = project(values, columns) else {
                continue;
            };
            let held = Held { columns, values };
            // Against the local row holding the values.
            let holder = self
                .view
                .row_with_unique(&table.name, columns, &held.values)?;
            self.against_written(w, u, &held, written, collisions);
            if let Some(hid) = holder {
                self.against_holder(w, hid, &held, collisions);
            }
        }
        Ok(())
    }

    /// Against the other written rows: keyed by a hash of the values,
    /// confirmed on the rows themselves. Each row of a pair holding the
    /// same values is a collision, its holder the other row.
    fn against_written(
        &self,
        w: usize,
        u: usize,
        held: &Held<'_>,
        written: &mut Written,
        collisions: &mut Collisions,
    ) {
        let (t, id) = self.slots[w].key;
        let mut hasher = FxHasher::default();
        (t, u, &held.values).hash(&mut hasher);
        let hash = hasher.finish();
        let others = written.first.get(&hash).into_iter();
        for &other in others.chain(written.more.get(&hash).into_iter().flatten()) {
            if let Fate::Put { values, .. } = &self.slots[other].fate {
                let same = project(values, held.columns).as_ref() == Some(&held.values);
                if self.slots[other].key.0 == t && same {
                    add(collisions, self.collision(w, held, self.slots[other].key.1));
                    add(collisions, self.collision(other, held, id));
                }
            }
        }
        match written.first.entry(hash) {
            Entry::Occupied(_) => written.more.entry(hash).or_default().push(w),
            Entry::Vacant(v) => {
                v.insert(w);
            }
        }
    }

    /// Against `hid`, the local row holding the values: no collision when
    /// it is the row itself, is deleted, or gives the values up in a swap.
    fn against_holder(
        &mut self,
        w: usize,
        hid: RowId,
        held: &Held<'_>,
        collisions: &mut Collisions,
    ) {
        let (t, id) = self.slots[w].key;
        let h = if hid == id { w } else { self.slot((t, hid)) };
        if self.slots[h].moved_to.is_some() {
            // A moved local row keeps its values.
            add(collisions, self.collision(w, held, hid));
            return;
        }
        if h == w {
            return;
        }
        match &self.slots[h].fate {
            Fate::Remove => {}
            Fate::Put { values, .. } => {
                if project(values, held.columns).as_ref() != Some(&held.values) {
                    self.slots[w].swap = true;
                    self.slots[h].swap = true;
                }
                // Otherwise both written rows hold the values: the
                // `written` map reports it.
            }
            Fate::Untouched | Fate::Keep => {
                let updatable = self.slots[h].fate == Fate::Untouched
                    && self.slots[h].pending.is_none()
                    && self.slots[h].pending_now().is_none()
                    && self.slots[h].remote.is_none()
                    && self.message.get(&(t, hid)).is_some_and(|&m| {
                        project(&self.rows[m].values, held.columns).as_ref() != Some(&held.values)
                    });
                if updatable {
                    // The holder comes in the message with new values
                    // and has no pending op: part of the swap.
                    self.put_from_message(h, true);
                    self.slots[w].swap = true;
                    self.slots[h].swap = true;
                } else {
                    add(collisions, self.collision(w, held, hid));
                }
            }
        }
    }
}
