//! Tables whose keys SQLite reuses (spec §2.2.1): a plain `INTEGER PRIMARY
//! KEY` gives a new row the largest key plus one, so the key of a deleted
//! row comes back. dbsync keeps, per such table, a *key floor* in
//! `dbsync_key_floor` (the role `sqlite_sequence` plays for AUTOINCREMENT):
//! the largest key the table has held or a procedure reserved. A node's
//! insert trigger marks an insert at or below the floor in
//! `dbsync_reused_keys` (the node moves the row before its next push or
//! merge, `node::reused`); a server's refuses it.

use crate::track::Role;
use dbsync_core::{KeyType, Schema, TableSchema};
use rusqlite::{params, Connection, OptionalExtension};

/// What a table's insert trigger does about reused keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyReuse {
    /// AUTOINCREMENT: SQLite never reuses a key; nothing to do.
    Never,
    /// A node's table: an insert at or below the floor is marked.
    Marked,
    /// A server's table: an insert at or below the floor is refused (a
    /// push's writes are not captured, so only other writers meet it).
    Refused,
}

/// Whether `table` (tracked on `role`'s side) reuses keys, and so what its
/// insert trigger does.
/// A text key is the application's choice (spec §2.2): never reused.
pub fn reuse_of(conn: &Connection, t: &TableSchema, role: Role) -> rusqlite::Result<KeyReuse> {
    if t.key_type == KeyType::Text {
        return Ok(KeyReuse::Never);
    }
    Ok(
        match (crate::introspect::reuses_keys(conn, &t.name)?, role) {
            (false, _) => KeyReuse::Never,
            (true, Role::Node) => KeyReuse::Marked,
            (true, Role::Server) => KeyReuse::Refused,
        },
    )
}

/// At tracking: keeps (or forgets) the key floor of table `t`, starting
/// it at the table's largest key; returns what its insert trigger does.
pub fn keep_floor(
    tx: &Connection,
    table_id: i64,
    t: &TableSchema,
    role: Role,
) -> rusqlite::Result<KeyReuse> {
    let reuse = reuse_of(tx, t, role)?;
    if reuse == KeyReuse::Never {
        tx.execute(
            "DELETE FROM dbsync_key_floor WHERE table_id = ?1",
            [table_id],
        )?;
        return Ok(reuse);
    }
    let largest = largest_key(tx, t)?;
    tx.execute(
        "INSERT INTO dbsync_key_floor (table_id, floor) VALUES (?1, ?2) \
         ON CONFLICT (table_id) DO UPDATE SET floor = max(floor, excluded.floor)",
        params![table_id, largest],
    )?;
    Ok(reuse)
}

/// The body of a table's `AFTER INSERT` trigger: `record` (the value
/// check and the oplog insert), with the floor's check and rise around it.
pub fn insert_trigger_body(
    table_id: i64,
    t: &TableSchema,
    reuse: KeyReuse,
    record: &str,
) -> String {
    let (name, pk) = (&t.name, &t.primary_key);
    let at_or_below =
        format!("NEW.\"{pk}\" <= (SELECT floor FROM dbsync_key_floor WHERE table_id = {table_id})");
    let rise = format!(
        "UPDATE dbsync_key_floor SET floor = NEW.\"{pk}\" WHERE table_id = {table_id} AND floor < NEW.\"{pk}\";"
    );
    match reuse {
        KeyReuse::Never => record.to_string(),
        // last_insert_rowid() is, inside the trigger, the oplog record's.
        KeyReuse::Marked => format!(
            "{record} INSERT INTO dbsync_reused_keys (seq) SELECT last_insert_rowid() WHERE {at_or_below}; {rise}"
        ),
        KeyReuse::Refused => format!(
            "SELECT RAISE(ABORT, 'dbsync: an insert into table {name} takes a key at or below the largest key the table has held (SQLite gives a plain INTEGER PRIMARY KEY the keys of deleted rows again); on a server a key names one row for good: give the row a key above every key the table has held, or declare the key INTEGER PRIMARY KEY AUTOINCREMENT') WHERE {at_or_below}; {record} {rise}"
        ),
    }
}

/// Whether the database has the key-floor tables (a node tracked before
/// they existed has none until it tracks again, and no table reusing keys).
pub fn kept(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) = 2 FROM sqlite_schema WHERE type = 'table' \
         AND name IN ('dbsync_key_floor', 'dbsync_reused_keys')",
        [],
        |r| r.get(0),
    )
}

/// Raises the key floor of `table` to at least `up_to`; `false` when the
/// table keeps none (its keys are never reused).
pub fn raise_floor(conn: &Connection, table: &str, up_to: i64) -> rusqlite::Result<bool> {
    if floor_of(conn, table)?.is_none() {
        return Ok(false);
    }
    conn.execute(
        "UPDATE dbsync_key_floor SET floor = ?2 WHERE floor < ?2 AND table_id = \
         (SELECT table_id FROM dbsync_tables WHERE name = ?1)",
        params![table, up_to],
    )?;
    Ok(true)
}

/// Raises each key floor to its table's largest key: after writes made
/// without capture (a merge), which the insert triggers did not see.
pub fn raise_to_largest_keys(conn: &Connection, schema: &Schema) -> rusqlite::Result<()> {
    for t in &schema.tables {
        if floor_of(conn, &t.name)?.is_some() {
            raise_floor(conn, &t.name, largest_key(conn, t)?)?;
        }
    }
    Ok(())
}

/// The largest key `t` holds now (0 when empty).
fn largest_key(conn: &Connection, t: &TableSchema) -> rusqlite::Result<i64> {
    conn.query_row(
        &format!(
            "SELECT ifnull(max(\"{}\"), 0) FROM \"{}\"",
            t.primary_key, t.name
        ),
        [],
        |r| r.get(0),
    )
}

/// Raises the key floor of the table whose oplog id is `table_id`, known
/// to keep one, to at least `up_to`: one cached statement, for a server's
/// pushed inserts.
pub fn raise_floor_of(conn: &Connection, table_id: i64, up_to: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE dbsync_key_floor SET floor = ?2 WHERE table_id = ?1 AND floor < ?2",
    )?
    .execute(params![table_id, up_to])?;
    Ok(())
}

/// The key floor of `table`, if it keeps one.
pub fn floor_of(conn: &Connection, table: &str) -> rusqlite::Result<Option<i64>> {
    if !kept(conn)? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT f.floor FROM dbsync_key_floor f JOIN dbsync_tables t ON t.table_id = f.table_id \
         WHERE t.name = ?1",
        [table],
        |r| r.get(0),
    )
    .optional()
}
