//! The invariants of a scoped history, on one node against the server's
//! current rows:
//!
//! 1. every row the node holds that is not its own pending insert is a
//!    row the server holds, in the node's read scope;
//! 2. no row of the node references a row it lacks;
//! 3. every pending op of the node is in its write scope, as check P6a
//!    would see the push (spec §19.7);
//! 4. after the final quiet round: the node holds exactly the server's
//!    rows of its read scope.
//!
//! 1 to 3 hold after every pull or sync of the node: the pull merged
//! every version up to the server's latest, which sealed the server's
//! direct writes first.

use super::rows::{line_diff, Key, Row, Rows, Table};
use dbsync_core::{Command, Op};
use rusqlite::Connection;
use std::collections::BTreeMap;

/// The node's compressed pending ops, by (table, id).
pub type Pending = BTreeMap<(Table, i64), Command>;

/// Reads the node's compressed pending ops (spec §5.2).
pub fn pending(conn: &Connection) -> Result<Pending, String> {
    let ops: Vec<Op> = dbsync_sqlite::node::compressed_pending(conn)
        .map_err(|e| format!("reading the pending ops: {e}"))?;
    ops.into_iter()
        .map(|op| {
            let table = Table::from_name(&op.table)
                .ok_or_else(|| format!("a pending op of unknown table {}", op.table))?;
            let id = op
                .row_id
                .as_int()
                .ok_or_else(|| format!("a pending op of {table} with a text key"))?;
            Ok(((table, id), op.command))
        })
        .collect()
}

/// Check 1.
pub fn rows_in_scope(
    user: &str,
    node: &Rows,
    pending: &Pending,
    server: &Rows,
) -> Result<(), String> {
    for (table, rows) in &node.tables {
        for id in rows.keys() {
            if pending.get(&(*table, *id)) == Some(&Command::Insert) {
                continue;
            }
            if server.get(*table, *id).is_none() {
                return Err(format!(
                    "holds {table} {id}, which the server does not hold and is no pending insert"
                ));
            }
            match server.key(*table, *id) {
                Some(k) if k.is_read_by(user) => {}
                k => {
                    return Err(format!(
                        "holds {table} {id}, outside its read scope: its key on the server is {k:?}"
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Check 2: `PRAGMA foreign_key_check` finds nothing.
pub fn foreign_keys(conn: &Connection) -> Result<(), String> {
    let mut stmt = conn
        .prepare("PRAGMA foreign_key_check")
        .map_err(|e| e.to_string())?;
    let broken: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} {} references a missing {}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!("a child without its parent: {}", broken.join("; ")))
    }
}

/// Check 3.
pub fn pending_in_write_scope(
    user: &str,
    node: &Rows,
    pending: &Pending,
    server: &Rows,
) -> Result<(), String> {
    let mine = Some(Key::User(user.to_string()));
    for (&(table, id), command) in pending {
        let on_server = server.key(table, id);
        let pushed = || pushed_key(node, pending, server, table, id);
        let (what, key) = match command {
            Command::Insert => ("the row it would push", pushed()),
            Command::Update if on_server != mine => ("the server's row", on_server),
            Command::Update => ("the row it would push", pushed()),
            Command::Delete => ("the server's row", on_server),
        };
        if key != mine {
            return Err(format!(
                "has a pending {command:?} of {table} {id} outside its write scope: \
                 {what} has the key {key:?}"
            ));
        }
    }
    Ok(())
}

/// The key `table` row `id` would have once pushed (spec §19.7): from the
/// node's values; its parent as the push leaves it (the node's row when
/// the push has an `i` or `u` of it, none when it deletes it, else the
/// server's).
fn pushed_key(node: &Rows, pending: &Pending, server: &Rows, table: Table, id: i64) -> Option<Key> {
    let row: &Row = node.get(table, id)?;
    let parent_table = match table {
        Table::Tag | Table::List => return node.key_of_row(table, row),
        Table::Item => Table::List,
        Table::Note => Table::Item,
    };
    let parent = row.parent?;
    match pending.get(&(parent_table, parent)) {
        Some(Command::Insert | Command::Update) => {
            pushed_key(node, pending, server, parent_table, parent)
        }
        Some(Command::Delete) => None,
        None => server.key(parent_table, parent),
    }
}

/// Check 4: the node's rows are exactly the server's rows in its scope.
pub fn holds_its_scope(user: &str, node: &Rows, server: &Rows) -> Result<(), String> {
    let expected = server.scope_of(user).lines();
    let actual = node.lines();
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "does not hold exactly its scope of the server's rows:\n{}",
            line_diff(&expected, &actual)
        ))
    }
}
