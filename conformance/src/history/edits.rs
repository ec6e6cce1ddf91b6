//! The application's offline writes on a node. An [`Edit`] of a case is
//! planned on the node's rows as data ([`plan`]) into one transaction of
//! [`RowWrite`]s, which the in-process harness runs in SQL on the node's
//! own connection and the adapter runner sends through the `write`
//! command; capture records them (spec §3.4). An edit the local
//! constraints refuse changes nothing, as an application's failed write
//! would; an insert then tries once more with fresh unique values.

use super::case::{Change, Edit, UniqueVal, Vals};
use super::ledger::Note;
use super::rowset::RowSet;
use super::world::World;
use super::writes::{self, RowWrite, WriteError};
use super::{Failure, Stats};
use dbsync_core::protocol::value::Values;
use dbsync_core::{KeyType, RowId, Schema, TableSchema, Value};

/// The source of values no other write of a history uses.
#[derive(Debug, Clone, Default)]
pub struct Fresh {
    counter: u64,
    /// Put before every value (a run's tag, so that histories played one
    /// after the other on one server never share values).
    pub tag: String,
}

impl Fresh {
    pub fn tagged(tag: &str) -> Fresh {
        Fresh {
            counter: 0,
            tag: tag.to_string(),
        }
    }

    /// `<tag><prefix><n>`.
    pub fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{}{prefix}{}", self.tag, self.counter)
    }

    /// A value of the pool every node draws from.
    pub fn shared(&self, k: u8) -> String {
        format!("{}s{}", self.tag, k % 4)
    }
}

/// One transaction an edit makes, and what it did to which row.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub writes: Vec<RowWrite>,
    /// The rows written (for an insert, the key is the one the store
    /// gives: [`Planned::notes`] fills it in).
    notes: Vec<Note>,
    /// A refused insert may try again with fresh unique values.
    pub retry: bool,
    /// The event to count when it commits (`swap`, `delete_parent`).
    pub event: Option<&'static str>,
}

impl Planned {
    /// What the committed transaction did; `ids` are the keys the writes
    /// took, in order.
    pub fn notes(&self, ids: &[RowId]) -> Vec<Note> {
        self.notes
            .iter()
            .map(|n| match n {
                Note::Write {
                    table,
                    id: RowId::Int(0),
                } => Note::Write {
                    table: table.clone(),
                    id: ids.first().copied().unwrap_or(RowId::Int(0)),
                },
                other => other.clone(),
            })
            .collect()
    }
}

fn pick(ids: &[RowId], k: u16) -> Option<RowId> {
    (!ids.is_empty()).then(|| ids[k as usize % ids.len()])
}

fn table(schema: &Schema, t: u8) -> &TableSchema {
    &schema.tables[t as usize % schema.tables.len()]
}

fn has(t: &TableSchema, column: &str) -> bool {
    t.column(column).is_some()
}

fn nullable(t: &TableSchema, column: &str) -> bool {
    !t.column(column).is_some_and(|c| c.not_null)
}

fn code_value(fresh: &mut Fresh, n: usize, v: Option<UniqueVal>) -> Value {
    match v {
        None => Value::Null,
        Some(UniqueVal::Fresh) => Value::Text(fresh.next(&format!("n{n}c"))),
        Some(UniqueVal::Shared(k)) => Value::Text(fresh.shared(k)),
    }
}

/// A text-keyed row's key (spec §2.2): fresh, or from the pool every
/// node draws from, so that two nodes insert the same row. A run's tag
/// longer than a key may be (a vector's name) is shortened to a hash.
fn text_key(fresh: &mut Fresh, n: usize, v: UniqueVal) -> RowId {
    let key = match v {
        UniqueVal::Fresh => fresh.next(&format!("n{n}k")),
        UniqueVal::Shared(k) => format!("{}k", fresh.shared(k)),
    };
    let key = match key.strip_prefix(fresh.tag.as_str()) {
        Some(rest) if key.len() > 48 => format!("{:016x}{rest}", fnv1a(&fresh.tag)),
        _ => key,
    };
    RowId::text(&key).expect("a generated key is 1 to 64 bytes")
}

/// The 64-bit FNV-1a hash of `s`.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn pair_value(fresh: &mut Fresh, n: usize, v: Option<UniqueVal>) -> (Value, Value) {
    match v {
        None => (Value::Null, Value::Null),
        Some(UniqueVal::Fresh) => (
            Value::Integer(n as i64 + 1),
            Value::Text(fresh.next(&format!("n{n}p"))),
        ),
        Some(UniqueVal::Shared(k)) => (Value::Integer(0), Value::Text(fresh.shared(k))),
    }
}

/// Plans `edit` of node `n` on its rows; `attempt` 1 is the retry of a
/// refused insert. `None`: the edit does not apply to these rows.
pub fn plan(
    schema: &Schema,
    rows: &RowSet,
    fresh: &mut Fresh,
    n: usize,
    edit: &Edit,
    attempt: u8,
) -> Option<Planned> {
    match edit {
        Edit::Insert {
            table: t,
            parents,
            vals,
        } => insert(table(schema, *t), rows, fresh, n, parents, vals, attempt),
        Edit::Update {
            table: t,
            row,
            change,
        } => update(table(schema, *t), rows, fresh, n, *row, change),
        Edit::Swap {
            table: t,
            rows: picks,
            pair,
        } => swap(table(schema, *t), rows, picks, *pair),
        Edit::Delete { table: t, row } => delete(schema, table(schema, *t), rows, *row, false),
        Edit::DeleteParent { table: t, row } => delete(schema, table(schema, *t), rows, *row, true),
    }
}

fn insert(
    t: &TableSchema,
    rows: &RowSet,
    fresh: &mut Fresh,
    n: usize,
    parents: &[Option<u16>],
    vals: &Vals,
    attempt: u8,
) -> Option<Planned> {
    let mut fks = Vec::new();
    for (i, fk) in t.foreign_keys.iter().enumerate() {
        let pids = rows.ids(&fk.references);
        let parent = parents
            .get(i)
            .copied()
            .flatten()
            .and_then(|k| pick(&pids, k));
        let value = match (parent, nullable(t, &fk.column)) {
            (Some(p), _) => p.to_value(),
            (None, true) => Value::Null,
            (None, false) => pids.first()?.to_value(), // no parent to point at
        };
        fks.push((fk.column.clone(), value));
    }
    let mut values = Values::new();
    values.insert("uid".into(), Value::Text(fresh.next(&format!("n{n}."))));
    values.insert("label".into(), Value::Text(format!("l{}", vals.label)));
    // A second try takes fresh unique values, as an application told
    // "this name is taken" would.
    let fresh_again = |v: Option<UniqueVal>| v.map(|_| UniqueVal::Fresh);
    let (code, pair) = match attempt {
        0 => (vals.code, vals.pair),
        _ => (fresh_again(vals.code), fresh_again(vals.pair)),
    };
    if has(t, "code") {
        values.insert("code".into(), code_value(fresh, n, code));
    }
    if has(t, "pa") {
        let (a, b) = pair_value(fresh, n, pair);
        values.insert("pa".into(), a);
        values.insert("pb".into(), b);
    }
    values.extend(fks);
    let id = (t.key_type == KeyType::Text).then(|| {
        let key = match attempt {
            0 => vals.key.unwrap_or(UniqueVal::Fresh),
            _ => UniqueVal::Fresh,
        };
        text_key(fresh, n, key)
    });
    Some(Planned {
        writes: vec![RowWrite::Insert {
            table: t.name.clone(),
            id,
            values,
        }],
        // The key the store gives: filled in by `Planned::notes`.
        notes: vec![Note::Write {
            table: t.name.clone(),
            id: id.unwrap_or(RowId::Int(0)),
        }],
        retry: attempt == 0,
        event: None,
    })
}

fn update(
    t: &TableSchema,
    rows: &RowSet,
    fresh: &mut Fresh,
    n: usize,
    row: u16,
    change: &Change,
) -> Option<Planned> {
    let id = pick(&rows.ids(&t.name), row)?;
    let mut values = Values::new();
    match change {
        Change::Label(l) => {
            values.insert("label".into(), Value::Text(format!("l{l}")));
        }
        Change::Code(v) if has(t, "code") => {
            values.insert("code".into(), code_value(fresh, n, *v));
        }
        Change::Pair(v) if has(t, "pa") => {
            let (a, b) = pair_value(fresh, n, *v);
            values.insert("pa".into(), a);
            values.insert("pb".into(), b);
        }
        Change::Reparent { fk, to } if !t.foreign_keys.is_empty() => {
            let fk = &t.foreign_keys[*fk as usize % t.foreign_keys.len()];
            let pids = rows.ids(&fk.references);
            let value = match to.and_then(|k| pick(&pids, k)) {
                Some(p) => p.to_value(),
                None if nullable(t, &fk.column) => Value::Null,
                None => return None,
            };
            values.insert(fk.column.clone(), value);
        }
        _ => return None,
    }
    Some(Planned {
        writes: vec![RowWrite::Update {
            table: t.name.clone(),
            id,
            values,
        }],
        notes: vec![Note::Write {
            table: t.name.clone(),
            id,
        }],
        retry: false,
        event: None,
    })
}

fn swap(t: &TableSchema, rows: &RowSet, picks: &[u16], pair: bool) -> Option<Planned> {
    let cols: &[&str] = match (pair, has(t, "pa"), has(t, "code")) {
        (true, true, _) | (false, true, false) => &["pa", "pb"],
        (_, _, true) => &["code"],
        _ => return None,
    };
    let all = rows.ids(&t.name);
    let mut chosen: Vec<RowId> = Vec::new();
    for k in picks {
        if let Some(id) = pick(&all, *k) {
            if !chosen.contains(&id) {
                chosen.push(id);
            }
        }
    }
    if chosen.len() < 2 {
        return None;
    }
    let old: Vec<Values> = chosen
        .iter()
        .map(|id| {
            let row = rows.get(&t.name, *id);
            cols.iter()
                .map(|c| {
                    let v = row.and_then(|r| r.get(*c)).cloned();
                    (c.to_string(), v.unwrap_or(Value::Null))
                })
                .collect()
        })
        .collect();
    let update = |id: RowId, values: Values| RowWrite::Update {
        table: t.name.clone(),
        id,
        values,
    };
    let nulls: Values = cols.iter().map(|c| (c.to_string(), Value::Null)).collect();
    let mut writes: Vec<RowWrite> = chosen.iter().map(|id| update(*id, nulls.clone())).collect();
    for (i, id) in chosen.iter().enumerate() {
        writes.push(update(*id, old[(i + 1) % chosen.len()].clone()));
    }
    Some(Planned {
        writes,
        notes: chosen
            .iter()
            .map(|id| Note::Write {
                table: t.name.clone(),
                id: *id,
            })
            .collect(),
        retry: false,
        event: Some("swap"),
    })
}

fn delete(
    schema: &Schema,
    t: &TableSchema,
    rows: &RowSet,
    row: u16,
    parent: bool,
) -> Option<Planned> {
    let mut candidates = rows.ids(&t.name);
    if parent {
        let referenced: Vec<RowId> = candidates
            .iter()
            .copied()
            .filter(|id| !rows.children(schema, &t.name, *id).is_empty())
            .collect();
        if !referenced.is_empty() {
            candidates = referenced;
        }
    }
    let id = pick(&candidates, row)?;
    let mut planned = Planned {
        writes: Vec::new(),
        notes: Vec::new(),
        retry: false,
        event: parent.then_some("delete_parent"),
    };
    delete_cascade(schema, &mut rows.clone(), &t.name, id, &mut planned);
    Some(planned)
}

/// Deletes `table` row `id`: first the rows whose NOT NULL key references
/// it (recursively), and the nullable references are set to NULL. `rows`
/// follows the writes, as the transaction's own reads would.
fn delete_cascade(schema: &Schema, rows: &mut RowSet, table: &str, id: RowId, out: &mut Planned) {
    for c in &schema.tables {
        for fk in c.foreign_keys_to(table) {
            let not_null = !nullable(c, &fk.column);
            for cid in rows.referencing(&c.name, &fk.column, id) {
                if c.name == table && cid == id {
                    continue;
                }
                if not_null {
                    delete_cascade(schema, rows, &c.name, cid, out);
                } else {
                    let w = RowWrite::Update {
                        table: c.name.clone(),
                        id: cid,
                        values: [(fk.column.clone(), Value::Null)].into_iter().collect(),
                    };
                    rows.apply(&w, cid);
                    out.writes.push(w);
                    out.notes.push(Note::Write {
                        table: c.name.clone(),
                        id: cid,
                    });
                }
            }
        }
    }
    if let Some(uid) = rows.uid(table, id) {
        let w = RowWrite::Delete {
            table: table.to_string(),
            id,
        };
        rows.apply(&w, id);
        out.writes.push(w);
        out.notes.push(Note::Delete {
            table: table.to_string(),
            id,
            uid,
        });
    }
}

/// How a node took a transaction of writes.
pub enum Written {
    /// Committed; the keys the writes took.
    Done(Vec<RowId>),
    /// A constraint refused it; nothing changed.
    Refused,
}

/// Plays `edit` of node `n`: plans it on `rows`, hands each attempt to
/// `write`, and returns what the committed attempt did (nothing when the
/// edit does not apply or every attempt is refused).
pub fn perform(
    schema: &Schema,
    rows: &RowSet,
    fresh: &mut Fresh,
    stats: &mut Stats,
    n: usize,
    edit: &Edit,
    mut write: impl FnMut(&[RowWrite]) -> Result<Written, Failure>,
) -> Result<Vec<Note>, Failure> {
    for attempt in 0..2 {
        let Some(planned) = plan(schema, rows, fresh, n, edit, attempt) else {
            return Ok(vec![]);
        };
        match write(&planned.writes)? {
            Written::Done(ids) => {
                let notes = planned.notes(&ids);
                if let Some(event) = planned.event {
                    stats.count(event);
                }
                if !notes.is_empty() {
                    stats.count("edit");
                }
                return Ok(notes);
            }
            Written::Refused if planned.retry => continue,
            Written::Refused => return Ok(vec![]),
        }
    }
    Ok(vec![])
}

impl World {
    /// Applies one edit on node `n`, in SQL on its connection.
    pub fn edit(&mut self, n: usize, edit: &Edit) -> Result<(), Failure> {
        let rows = RowSet::new(crate::replica::dump(&self.nodes[n].conn, &self.schema)?);
        let schema = self.schema.clone();
        let conn = &mut self.nodes[n].conn;
        let notes = perform(
            &schema,
            &rows,
            &mut self.fresh,
            &mut self.stats,
            n,
            edit,
            |w| match writes::execute(conn, &schema, w) {
                Ok(ids) => Ok(Written::Done(ids)),
                Err(WriteError::Refused(_)) => Ok(Written::Refused),
                Err(e) => Err(Failure::new(format!("node {n}'s edit failed: {e}"))),
            },
        )?;
        for note in notes {
            self.note(n, note, &rows)?;
        }
        Ok(())
    }
}
