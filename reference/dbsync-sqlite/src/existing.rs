//! Rows a table holds when a node first tracks it (spec §3.5): the
//! application says whether they are the node's own work (recorded as
//! pending inserts) or a copy of the server's data (replaced by the next
//! repair, which the node then owes); never neither.

use crate::track::command_code;
use crate::StoreError;
use dbsync_core::{Command, Direction, Schema, TableSchema};
use rusqlite::{params, Connection, OptionalExtension};

/// What the rows a table holds when a node first tracks it are (spec §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingRows {
    /// The node's own work: each row is recorded as a pending insert, sent
    /// with the next push and merged like any other.
    Push,
    /// A copy of the server's data: nothing is recorded, and the node owes
    /// a repair, which replaces the rows with the server's.
    Replace,
}

impl ExistingRows {
    /// The choice's name (`push`, `replace`).
    pub fn name(self) -> &'static str {
        match self {
            ExistingRows::Push => "push",
            ExistingRows::Replace => "replace",
        }
    }

    /// Whether a table of `direction` can take this choice: a push-only
    /// table is never replaced by a repair, a pull-only table never pushed.
    pub fn fits(self, direction: Direction) -> bool {
        match self {
            ExistingRows::Push => direction.pushes(),
            ExistingRows::Replace => direction.pulls(),
        }
    }
}

/// How [`crate::track::track_with`] tracks tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackOptions {
    /// What the rows of tables a node tracks for the first time are; `None`
    /// refuses to track such a table if it holds rows.
    pub existing_rows: Option<ExistingRows>,
}

/// A table that held rows when a node first tracked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRows {
    pub table: String,
    pub direction: Direction,
    pub rows: u64,
}

/// Tracking refused because of rows tables already hold (spec §3.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExistingRowsRefused {
    /// Nobody said what the rows are.
    #[error("{}: say whether they are this node's own work to push (push: recorded as pending inserts, sent with the next push) or a copy of the server's data to be replaced by it (replace: the next repair replaces them)", describe(.0))]
    Undecided(Vec<HeldRows>),
    /// The choice does not fit a table's direction.
    #[error("table {} is {}: its {} existing row(s) cannot be {}ed ({})", .0.table, .0.direction.name(), .0.rows, .1.name(), only(.0.direction))]
    RuledOut(HeldRows, ExistingRows),
}

impl ExistingRowsRefused {
    /// Each table's name and number of rows.
    pub fn tables(&self) -> Vec<(&str, u64)> {
        match self {
            ExistingRowsRefused::Undecided(held) => {
                held.iter().map(|h| (h.table.as_str(), h.rows)).collect()
            }
            ExistingRowsRefused::RuledOut(h, _) => vec![(h.table.as_str(), h.rows)],
        }
    }
}

fn describe(held: &[HeldRows]) -> String {
    let tables: Vec<String> = held
        .iter()
        .map(|h| {
            let s = if h.rows == 1 { "" } else { "s" };
            format!("{} ({} row{s})", h.table, h.rows)
        })
        .collect();
    format!("tables already hold rows: {}", tables.join(", "))
}

fn only(direction: Direction) -> &'static str {
    if direction.pushes() {
        "a repair never replaces a push-only table: push them"
    } else {
        "a node never writes a pull-only table: replace them"
    }
}

/// The `dbsync_state` key of a node that owes a repair (spec §3.5).
const REPAIR_OWED: &str = "repair_owed";

/// Whether the node owes a repair for rows it tracked as a copy.
pub fn repair_owed(conn: &Connection) -> rusqlite::Result<bool> {
    let owed: Option<i64> = conn
        .query_row(
            "SELECT value FROM dbsync_state WHERE key = ?1",
            [REPAIR_OWED],
            |r| r.get(0),
        )
        .optional()?;
    Ok(owed == Some(1))
}

/// The node no longer owes a repair (one completed).
pub fn repair_paid(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM dbsync_state WHERE key = ?1", [REPAIR_OWED])?;
    Ok(())
}

/// The tables among `first` (tracked for the first time) that hold rows.
pub(crate) fn held_rows(
    conn: &Connection,
    first: &[&TableSchema],
) -> rusqlite::Result<Vec<HeldRows>> {
    let mut held = Vec::new();
    for t in first {
        let rows: i64 =
            conn.query_row(&format!("SELECT count(*) FROM \"{}\"", t.name), [], |r| {
                r.get(0)
            })?;
        if rows > 0 {
            held.push(HeldRows {
                table: t.name.clone(),
                direction: t.direction,
                rows: rows as u64,
            });
        }
    }
    Ok(held)
}

/// Checks the choice for `held`, and records it inside the tracking
/// transaction: pending inserts for `push` (parents' tables first, rows in
/// ascending id), a repair owed for `replace`.
pub(crate) fn account_for(
    conn: &Connection,
    schema: &Schema,
    held: Vec<HeldRows>,
    choice: Option<ExistingRows>,
) -> Result<(), StoreError> {
    if held.is_empty() {
        return Ok(());
    }
    let Some(choice) = choice else {
        return Err(ExistingRowsRefused::Undecided(held).into());
    };
    if let Some(h) = held.iter().find(|h| !choice.fits(h.direction)) {
        return Err(ExistingRowsRefused::RuledOut(h.clone(), choice).into());
    }
    match choice {
        ExistingRows::Push => record_inserts(conn, schema, &held)?,
        ExistingRows::Replace => {
            conn.execute(
                "INSERT INTO dbsync_state (key, value) VALUES (?1, 1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [REPAIR_OWED],
            )?;
        }
    }
    Ok(())
}

/// Records one captured `i` per row of the `held` tables, parents'
/// tables first, rows in ascending id: a node's pending inserts, or the
/// server's unsealed direct writes.
pub(crate) fn record_inserts(
    conn: &Connection,
    schema: &Schema,
    held: &[HeldRows],
) -> rusqlite::Result<()> {
    let names: Vec<&str> = held.iter().map(|h| h.table.as_str()).collect();
    for name in schema.parents_first(&names) {
        let t = schema.table(name).expect("a tracked table");
        conn.execute(
            &format!(
                "INSERT INTO dbsync_oplog (table_id, row_id, command) \
                 SELECT (SELECT table_id FROM dbsync_tables WHERE name = ?1), \"{pk}\", ?2 \
                 FROM \"{name}\" ORDER BY \"{pk}\"",
                pk = t.primary_key
            ),
            params![name, command_code(Command::Insert)],
        )?;
    }
    Ok(())
}
