//! The application's offline writes on a node, in SQL on the node's own
//! connection (capture records them, spec §3.4). Each edit is one
//! transaction; an edit the local constraints refuse changes nothing, as
//! an application's failed write would.

use super::case::{Change, Edit, UniqueVal, Vals};
use super::ledger::Note;
use super::world::World;
use super::Failure;
use dbsync_core::{Schema, TableSchema};
use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, Connection};

/// The ids of a table's rows, ascending.
pub fn ids(conn: &Connection, table: &str) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT id FROM \"{table}\" ORDER BY id"))?;
    let ids = stmt.query_map([], |r| r.get(0))?.collect();
    ids
}

fn pick(ids: &[i64], k: u16) -> Option<i64> {
    (!ids.is_empty()).then(|| ids[k as usize % ids.len()])
}

fn table(schema: &Schema, t: u8) -> &TableSchema {
    &schema.tables[t as usize % schema.tables.len()]
}

fn has(t: &TableSchema, column: &str) -> bool {
    t.column(column).is_some()
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

impl World {
    fn code_value(&mut self, n: usize, v: Option<UniqueVal>) -> Sql {
        match v {
            None => Sql::Null,
            Some(UniqueVal::Fresh) => Sql::Text(self.fresh(&format!("n{n}c"))),
            Some(UniqueVal::Shared(k)) => Sql::Text(format!("s{}", k % 4)),
        }
    }

    fn pair_value(&mut self, n: usize, v: Option<UniqueVal>) -> (Sql, Sql) {
        match v {
            None => (Sql::Null, Sql::Null),
            Some(UniqueVal::Fresh) => (
                Sql::Integer(n as i64 + 1),
                Sql::Text(self.fresh(&format!("n{n}p"))),
            ),
            Some(UniqueVal::Shared(k)) => (Sql::Integer(0), Sql::Text(format!("s{}", k % 4))),
        }
    }

    /// Applies one edit on node `n`.
    pub fn edit(&mut self, n: usize, edit: &Edit) -> Result<(), Failure> {
        let notes = match edit {
            Edit::Insert {
                table: t,
                parents,
                vals,
            } => self.insert(n, *t, parents, vals)?,
            Edit::Update {
                table: t,
                row,
                change,
            } => self.update(n, *t, *row, change)?,
            Edit::Swap {
                table: t,
                rows,
                pair,
            } => self.swap(n, *t, rows, *pair)?,
            Edit::Delete { table: t, row } => self.delete(n, *t, *row, false)?,
            Edit::DeleteParent { table: t, row } => self.delete(n, *t, *row, true)?,
        };
        if !notes.is_empty() {
            self.stats.count("edit");
        }
        for note in notes {
            self.note(n, note)?;
        }
        Ok(())
    }

    fn insert(
        &mut self,
        n: usize,
        t: u8,
        parents: &[Option<u16>],
        vals: &Vals,
    ) -> Result<Vec<Note>, Failure> {
        let t = table(&self.schema, t).clone();
        let mut fks = Vec::new();
        for (i, fk) in t.foreign_keys.iter().enumerate() {
            let nullable = !t.column(&fk.column).is_some_and(|c| c.not_null);
            let pids = ids(&self.nodes[n].conn, &fk.references)?;
            let value = match (parents.get(i).copied().flatten(), nullable) {
                (Some(k), _) if !pids.is_empty() => Sql::Integer(pick(&pids, k).unwrap_or(0)),
                (_, true) => Sql::Null,
                (_, false) => match pids.first() {
                    Some(id) => Sql::Integer(*id),
                    None => return Ok(vec![]), // no parent to point at
                },
            };
            fks.push((fk.column.clone(), value));
        }
        for attempt in 0..2 {
            let uid = self.fresh(&format!("n{n}."));
            let mut cols = vec!["uid".to_string(), "label".to_string()];
            let mut values = vec![Sql::Text(uid), Sql::Text(format!("l{}", vals.label))];
            // A second try takes fresh unique values, as an application
            // told "this name is taken" would.
            let (code, pair) = if attempt == 0 {
                (vals.code, vals.pair)
            } else {
                (
                    vals.code.map(|_| UniqueVal::Fresh),
                    vals.pair.map(|_| UniqueVal::Fresh),
                )
            };
            if has(&t, "code") {
                cols.push("code".into());
                values.push(self.code_value(n, code));
            }
            if has(&t, "pa") {
                let (a, b) = self.pair_value(n, pair);
                cols.extend(["pa".to_string(), "pb".to_string()]);
                values.extend([a, b]);
            }
            for (c, v) in &fks {
                cols.push(c.clone());
                values.push(v.clone());
            }
            let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "INSERT INTO \"{}\" ({}) VALUES ({})",
                t.name,
                cols.join(", "),
                marks.join(", ")
            );
            let conn = &self.nodes[n].conn;
            match conn.execute(&sql, params_from_iter(values)) {
                Ok(_) => {
                    return Ok(vec![Note::Write {
                        table: t.name.clone(),
                        id: conn.last_insert_rowid(),
                    }])
                }
                Err(e) if is_constraint(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(vec![])
    }

    fn update(&mut self, n: usize, t: u8, row: u16, change: &Change) -> Result<Vec<Note>, Failure> {
        let t = table(&self.schema, t).clone();
        let Some(id) = pick(&ids(&self.nodes[n].conn, &t.name)?, row) else {
            return Ok(vec![]);
        };
        let (sets, values): (Vec<&str>, Vec<Sql>) = match change {
            Change::Label(l) => (vec!["label"], vec![Sql::Text(format!("l{l}"))]),
            Change::Code(v) if has(&t, "code") => (vec!["code"], vec![self.code_value(n, *v)]),
            Change::Pair(v) if has(&t, "pa") => {
                let (a, b) = self.pair_value(n, *v);
                (vec!["pa", "pb"], vec![a, b])
            }
            Change::Reparent { fk, to } if !t.foreign_keys.is_empty() => {
                let fk = &t.foreign_keys[*fk as usize % t.foreign_keys.len()];
                let nullable = !t.column(&fk.column).is_some_and(|c| c.not_null);
                let pids = ids(&self.nodes[n].conn, &fk.references)?;
                let value = match to.and_then(|k| pick(&pids, k)) {
                    Some(p) => Sql::Integer(p),
                    None if nullable => Sql::Null,
                    None => return Ok(vec![]),
                };
                (vec![fk.column.as_str()], vec![value])
            }
            _ => return Ok(vec![]),
        };
        let assignments: Vec<String> = sets
            .iter()
            .enumerate()
            .map(|(i, c)| format!("\"{c}\" = ?{}", i + 2))
            .collect();
        let sql = format!(
            "UPDATE \"{}\" SET {} WHERE id = ?1",
            t.name,
            assignments.join(", ")
        );
        let mut params = vec![Sql::Integer(id)];
        params.extend(values);
        match self.nodes[n].conn.execute(&sql, params_from_iter(params)) {
            Ok(_) => Ok(vec![Note::Write {
                table: t.name.clone(),
                id,
            }]),
            Err(e) if is_constraint(&e) => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }

    fn swap(&mut self, n: usize, t: u8, rows: &[u16], pair: bool) -> Result<Vec<Note>, Failure> {
        let t = table(&self.schema, t).clone();
        let cols: &[&str] = match (pair, has(&t, "pa"), has(&t, "code")) {
            (true, true, _) | (false, true, false) => &["pa", "pb"],
            (_, _, true) => &["code"],
            _ => return Ok(vec![]),
        };
        let all = ids(&self.nodes[n].conn, &t.name)?;
        let mut chosen: Vec<i64> = Vec::new();
        for k in rows {
            if let Some(id) = pick(&all, *k) {
                if !chosen.contains(&id) {
                    chosen.push(id);
                }
            }
        }
        if chosen.len() < 2 {
            return Ok(vec![]);
        }
        let list = cols
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let conn = &mut self.nodes[n].conn;
        let tx = conn.transaction()?;
        let mut old: Vec<Vec<Sql>> = Vec::new();
        for id in &chosen {
            let v = tx.query_row(
                &format!("SELECT {list} FROM \"{}\" WHERE id = ?1", t.name),
                [id],
                |r| (0..cols.len()).map(|i| r.get::<_, Sql>(i)).collect(),
            )?;
            old.push(v);
        }
        let nulls = cols
            .iter()
            .map(|c| format!("\"{c}\" = NULL"))
            .collect::<Vec<_>>()
            .join(", ");
        let sets = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("\"{c}\" = ?{}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let result = (|| -> rusqlite::Result<()> {
            for id in &chosen {
                tx.execute(
                    &format!("UPDATE \"{}\" SET {nulls} WHERE id = ?1", t.name),
                    [id],
                )?;
            }
            for (i, id) in chosen.iter().enumerate() {
                let mut params = vec![Sql::Integer(*id)];
                params.extend(old[(i + 1) % chosen.len()].iter().cloned());
                tx.execute(
                    &format!("UPDATE \"{}\" SET {sets} WHERE id = ?1", t.name),
                    params_from_iter(params),
                )?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => tx.commit()?,
            Err(e) if is_constraint(&e) => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        }
        self.stats.count("swap");
        Ok(chosen
            .into_iter()
            .map(|id| Note::Write {
                table: t.name.clone(),
                id,
            })
            .collect())
    }

    fn delete(&mut self, n: usize, t: u8, row: u16, parent: bool) -> Result<Vec<Note>, Failure> {
        let t = table(&self.schema, t).clone();
        let mut candidates = ids(&self.nodes[n].conn, &t.name)?;
        if parent {
            let referenced: Vec<i64> = candidates
                .iter()
                .copied()
                .filter(|id| self.children(n, &t.name, *id).is_ok_and(|c| !c.is_empty()))
                .collect();
            if !referenced.is_empty() {
                candidates = referenced;
            }
        }
        let Some(id) = pick(&candidates, row) else {
            return Ok(vec![]);
        };
        let mut notes = Vec::new();
        let schema = self.schema.clone();
        let tx = self.nodes[n].conn.transaction()?;
        delete_cascade(&tx, &schema, &t.name, id, &mut notes)?;
        tx.commit()?;
        if parent {
            self.stats.count("delete_parent");
        }
        Ok(notes)
    }

    /// The (table, id) of the rows referencing `table` row `id`.
    fn children(&self, n: usize, table: &str, id: i64) -> rusqlite::Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for c in &self.schema.tables {
            for fk in c.foreign_keys_to(table) {
                let mut stmt = self.nodes[n].conn.prepare_cached(&format!(
                    "SELECT id FROM \"{}\" WHERE \"{}\" = ?1",
                    c.name, fk.column
                ))?;
                for cid in stmt.query_map([id], |r| r.get::<_, i64>(0))? {
                    out.push((c.name.clone(), cid?));
                }
            }
        }
        Ok(out)
    }
}

/// Deletes `table` row `id`: first the rows whose NOT NULL key references
/// it (recursively), and the nullable references are set to NULL.
fn delete_cascade(
    tx: &Connection,
    schema: &Schema,
    table: &str,
    id: i64,
    notes: &mut Vec<Note>,
) -> rusqlite::Result<()> {
    for c in &schema.tables {
        for fk in c.foreign_keys_to(table) {
            let not_null = c.column(&fk.column).is_some_and(|col| col.not_null);
            let children: Vec<i64> = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT id FROM \"{}\" WHERE \"{}\" = ?1 ORDER BY id",
                    c.name, fk.column
                ))?;
                let found = stmt
                    .query_map([id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                found
            };
            for cid in children {
                if c.name == table && cid == id {
                    continue;
                }
                if not_null {
                    delete_cascade(tx, schema, &c.name, cid, notes)?;
                } else {
                    tx.execute(
                        &format!(
                            "UPDATE \"{}\" SET \"{}\" = NULL WHERE id = ?1",
                            c.name, fk.column
                        ),
                        [cid],
                    )?;
                    notes.push(Note::Write {
                        table: c.name.clone(),
                        id: cid,
                    });
                }
            }
        }
    }
    let uid: Option<String> = tx
        .query_row(
            &format!("SELECT uid FROM \"{table}\" WHERE id = ?1"),
            [id],
            |r| r.get(0),
        )
        .ok();
    if let Some(uid) = uid {
        tx.execute(&format!("DELETE FROM \"{table}\" WHERE id = ?1"), [id])?;
        notes.push(Note::Delete {
            table: table.to_string(),
            id,
            uid,
        });
    }
    Ok(())
}
