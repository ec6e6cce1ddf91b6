//! The writes of a scoped history: a node's offline edits, always inside
//! what the node holds (the application writes what it sees), and
//! direct writes on the server's file while the server runs (spec §6.1).
//! Every written value is a fresh token, noted in the ledger.

use super::case::{user_name, Edit, ServerWrite};
use super::fresh::Fresh;
use super::ledger::Writer;
use super::rows::{Rows, Table};
use super::world::World;
use crate::history::Failure;
use rusqlite::{params, Connection};

fn sql(who: &str) -> impl Fn(rusqlite::Error) -> Failure + '_ {
    move |e| Failure::new(format!("{who}: {e}"))
}

/// A row's token on `rows`.
fn token_of(rows: &Rows, table: Table, id: i64) -> String {
    rows.get(table, id)
        .map(|r| r.token.clone())
        .unwrap_or_default()
}

/// Updates `table` row `id`'s token column on `conn` to a fresh token.
/// Returns (old, new).
fn retoken(
    conn: &Connection,
    fresh: &mut Fresh,
    rows: &Rows,
    table: Table,
    id: i64,
) -> rusqlite::Result<(String, String)> {
    let new = fresh.token(table);
    conn.execute(
        &format!(
            "UPDATE {table} SET {} = ?1 WHERE id = ?2",
            table.token_column()
        ),
        params![new, id],
    )?;
    Ok((token_of(rows, table, id), new))
}

/// Deletes item `id` and its notes on `conn`; returns their tokens.
fn delete_item(conn: &Connection, rows: &Rows, id: i64) -> rusqlite::Result<Vec<String>> {
    let tx = conn.unchecked_transaction()?;
    let mut gone: Vec<String> = rows
        .notes_of(id)
        .into_iter()
        .map(|n| token_of(rows, Table::Note, n))
        .collect();
    tx.execute("DELETE FROM note WHERE item_id = ?1", [id])?;
    tx.execute("DELETE FROM item WHERE id = ?1", [id])?;
    tx.commit()?;
    gone.push(token_of(rows, Table::Item, id));
    Ok(gone)
}

/// What an edit did, for the ledger: a row inserted, a token replaced,
/// rows deleted; `None` when there was no row to edit.
enum Done {
    Inserted(Table, i64, String),
    Replaced(Table, i64, String, String),
    Deleted(i64, Vec<String>),
}

impl World {
    /// Node `n` makes `edit` offline, through the application's
    /// connection (the capture triggers record it, spec §3.4).
    pub fn node_edit(&mut self, n: usize, edit: &Edit) -> Result<(), Failure> {
        let db = self.nodes[n].node.database();
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        let rows = Rows::read(&conn).map_err(sql("reading the node"))?;
        let user = self.nodes[n].user.clone();
        let done = apply_edit(&conn, &mut self.fresh, &rows, (n, &user), edit)
            .map_err(|e| self.about(n, format!("edit {edit:?}: {e}")))?;
        drop(conn);
        self.note(Writer::Node(n), done, &format!("node {n} ({user})"))
    }

    /// A direct write on the server's file.
    pub fn server_write(&mut self, write: &ServerWrite) -> Result<(), Failure> {
        let rows = self.server_rows()?;
        let conn = &self.server_db;
        let step = self.step;
        let done = match *write {
            ServerWrite::MoveList { list, to } => {
                let Some(id) = rows.pick(Table::List, list) else {
                    return self.note(Writer::Server, None, "server");
                };
                let from = rows.get(Table::List, id).and_then(|r| r.owner.clone());
                let mut owner = user_name(to % self.users);
                if from.as_deref() == Some(owner.as_str()) {
                    owner = user_name((to + 1) % self.users);
                }
                conn.execute(
                    "UPDATE list SET owner = ?1 WHERE id = ?2",
                    params![owner, id],
                )
                .map_err(sql("server: moving a list"))?;
                self.stats.count("move");
                self.trace.push(format!(
                    "step {}: server gives list {id} of {} to {owner}",
                    step.saturating_sub(1),
                    from.unwrap_or_default()
                ));
                return Ok(());
            }
            ServerWrite::InsertList { owner, ref items } => {
                let owner = user_name(owner % self.users);
                let id = self.server_insert_list(&owner, items)?;
                self.trace.push(format!(
                    "step {}: server inserts list {id} for {owner} with items {items:?} (notes each)",
                    step.saturating_sub(1)
                ));
                return Ok(());
            }
            ServerWrite::UpdateItem { item } => rows.pick(Table::Item, item).map(|id| {
                retoken(conn, &mut self.fresh, &rows, Table::Item, id)
                    .map(|(old, new)| Done::Replaced(Table::Item, id, old, new))
            }),
            ServerWrite::DeleteItem { item } => rows
                .pick(Table::Item, item)
                .map(|id| delete_item(conn, &rows, id).map(|gone| Done::Deleted(id, gone))),
        };
        let done = done.transpose().map_err(sql("server write"))?;
        self.note(Writer::Server, done, "server")
    }

    /// Notes what `who` did in the ledger and the trace.
    fn note(&mut self, writer: Writer, done: Option<Done>, who: &str) -> Result<(), Failure> {
        let step = self.step;
        let line = match done {
            None => {
                self.stats.count("edit_without_row");
                format!("{who} finds no row to edit")
            }
            Some(Done::Inserted(table, id, token)) => {
                self.ledger.insert(table, &token, step, writer);
                format!("{who} inserts {table} {id} {token}")
            }
            Some(Done::Replaced(table, id, old, new)) => {
                self.ledger.update(&old, &new, step, writer)?;
                format!("{who} sets {table} {id} from {old} to {new}")
            }
            Some(Done::Deleted(id, gone)) => {
                for token in &gone {
                    self.ledger.delete(token, step)?;
                }
                format!(
                    "{who} deletes item {id} with its notes ({})",
                    gone.join(" ")
                )
            }
        };
        self.trace
            .push(format!("step {}: {line}", step.saturating_sub(1)));
        Ok(())
    }
}

/// Applies `edit` on a node's connection.
fn apply_edit(
    conn: &Connection,
    fresh: &mut Fresh,
    rows: &Rows,
    (n, user): (usize, &str),
    edit: &Edit,
) -> rusqlite::Result<Option<Done>> {
    let mut insert = |table: Table, parent: Option<i64>| -> rusqlite::Result<Done> {
        let token = fresh.token(table);
        let id = fresh.id(Writer::Node(n));
        match table {
            Table::List => conn.execute(
                "INSERT INTO list (id, owner, title, tag_id) VALUES (?1, ?2, ?3, ?4)",
                params![id, user, token, parent],
            )?,
            Table::Item => conn.execute(
                "INSERT INTO item (id, list_id, text) VALUES (?1, ?2, ?3)",
                params![id, parent, token],
            )?,
            _ => conn.execute(
                "INSERT INTO note (id, item_id, body) VALUES (?1, ?2, ?3)",
                params![id, parent, token],
            )?,
        };
        Ok(Done::Inserted(table, conn.last_insert_rowid(), token))
    };
    let picked = |table, pick| rows.pick(table, pick);
    let done = match *edit {
        Edit::InsertList { tag } => {
            let tag = tag.and_then(|t| picked(Table::Tag, t));
            Some(insert(Table::List, tag)?)
        }
        Edit::InsertItem { list } => picked(Table::List, list)
            .map(|l| insert(Table::Item, Some(l)))
            .transpose()?,
        Edit::InsertNote { item } => picked(Table::Item, item)
            .map(|i| insert(Table::Note, Some(i)))
            .transpose()?,
        Edit::UpdateList { list: pick }
        | Edit::UpdateItem { item: pick }
        | Edit::UpdateNote { note: pick } => {
            let table = match edit {
                Edit::UpdateList { .. } => Table::List,
                Edit::UpdateItem { .. } => Table::Item,
                _ => Table::Note,
            };
            picked(table, pick)
                .map(|id| {
                    retoken(conn, fresh, rows, table, id)
                        .map(|(old, new)| Done::Replaced(table, id, old, new))
                })
                .transpose()?
        }
        Edit::DeleteItem { item } => picked(Table::Item, item)
            .map(|id| delete_item(conn, rows, id).map(|gone| Done::Deleted(id, gone)))
            .transpose()?,
    };
    Ok(done)
}
