//! Tracking: the oplog tables and the capture triggers (spec §3.4).
//!
//! Triggers append to `dbsync_oplog` in the same transaction as the write,
//! so every writer — any connection, any language, the `sqlite3` shell — is
//! captured. An op is stored integer-coded (table id, row id, command) to
//! keep the cost of a tracked write low: an update fires one trigger with
//! no `WHEN` clause. A change of primary key (rare) is recorded as a delete
//! of the old key and an insert of the new one by a `BEFORE UPDATE OF pk`
//! trigger, which SQLite runs before every `AFTER` trigger, so the new key's
//! sequence is always `i u`, which compresses to `i` (spec §5.2).

use crate::introspect::{read_table, user_tables};
use crate::StoreError;
use dbsync_core::{Command, Direction, Schema, TableSchema};
use rusqlite::{params, Connection};

/// Which side of the protocol a database plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A node: pull-only tables are not captured (nodes do not write them).
    Node,
    /// The server: every synced table is captured, so writes made directly
    /// on the server database become versions too.
    Server,
}

pub use dbsync_core::TableSpec;

/// The integer code of a command in `dbsync_oplog.command`.
pub fn command_code(c: Command) -> i64 {
    match c {
        Command::Insert => 1,
        Command::Update => 2,
        Command::Delete => 3,
    }
}

/// The command of an integer code, if it is one.
pub fn command_of(code: i64) -> Option<Command> {
    match code {
        1 => Some(Command::Insert),
        2 => Some(Command::Update),
        3 => Some(Command::Delete),
        _ => None,
    }
}

/// dbsync's own tables. `IF NOT EXISTS` everywhere: creating them twice
/// changes nothing. `seq` is AUTOINCREMENT so that it never goes back,
/// even after the newest records are deleted: a stored push names its ops
/// as "every pending op up to seq N" (spec §10.4), which must not take in
/// an op recorded later.
pub const META_SQL: &str = "
CREATE TABLE IF NOT EXISTS dbsync_tables (
    table_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    schema_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_oplog (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    table_id INTEGER NOT NULL,
    row_id INTEGER NOT NULL,
    command INTEGER NOT NULL,
    version INTEGER
);
CREATE TABLE IF NOT EXISTS dbsync_state (
    key TEXT PRIMARY KEY,
    value
);
";

/// Creates dbsync's tables if they are missing.
pub fn ensure_meta(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(META_SQL)
}

fn trigger_names(table: &str) -> [String; 5] {
    [
        format!("dbsync_{table}_insert"),
        format!("dbsync_{table}_update"),
        format!("dbsync_{table}_rekey"),
        format!("dbsync_{table}_delete"),
        format!("dbsync_{table}_pull_only"),
    ]
}

/// The SQL of the trigger that refuses the application's writes to a
/// pull-only table on a node (spec §2.4). dbsync's own writes (merge,
/// repair) run with it dropped, see [`without_capture`].
pub fn pull_only_sql(t: &TableSchema) -> String {
    let name = &t.name;
    let guard = format!("dbsync_{name}_pull_only");
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .map(|event| {
            format!(
                "CREATE TRIGGER \"{guard}_{}\" BEFORE {event} ON \"{name}\" BEGIN \
                   SELECT RAISE(ABORT, 'dbsync: table {name} is pull-only: only the server writes it'); END;",
                event.to_ascii_lowercase()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The SQL that installs the capture triggers of one table.
pub fn trigger_sql(table_id: i64, t: &TableSchema) -> String {
    let [ins, upd, rekey, del, _] = trigger_names(&t.name);
    let (name, pk) = (&t.name, &t.primary_key);
    let (i, u, d) = (
        command_code(Command::Insert),
        command_code(Command::Update),
        command_code(Command::Delete),
    );
    format!(
        "CREATE TRIGGER \"{ins}\" AFTER INSERT ON \"{name}\" BEGIN \
           INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES ({table_id}, NEW.\"{pk}\", {i}); END;
         CREATE TRIGGER \"{upd}\" AFTER UPDATE ON \"{name}\" BEGIN \
           INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES ({table_id}, NEW.\"{pk}\", {u}); END;
         CREATE TRIGGER \"{rekey}\" BEFORE UPDATE OF \"{pk}\" ON \"{name}\" WHEN OLD.\"{pk}\" <> NEW.\"{pk}\" BEGIN \
           INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES ({table_id}, OLD.\"{pk}\", {d}); \
           INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES ({table_id}, NEW.\"{pk}\", {i}); END;
         CREATE TRIGGER \"{del}\" AFTER DELETE ON \"{name}\" BEGIN \
           INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES ({table_id}, OLD.\"{pk}\", {d}); END;"
    )
}

fn drop_triggers(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    for t in trigger_names(table) {
        conn.execute_batch(&format!("DROP TRIGGER IF EXISTS \"{t}\";"))?;
        for event in ["insert", "update", "delete"] {
            conn.execute_batch(&format!("DROP TRIGGER IF EXISTS \"{t}_{event}\";"))?;
        }
    }
    Ok(())
}

/// Tracks `specs` (every user table when empty) in one transaction: reads
/// and checks each table's schema, records it, and installs its triggers.
/// Tracking again changes nothing unless a table's schema changed.
pub fn track(conn: &mut Connection, specs: &[TableSpec], role: Role) -> Result<Schema, StoreError> {
    let tx = conn.transaction()?;
    ensure_meta(&tx)?;
    let specs: Vec<TableSpec> = if specs.is_empty() {
        user_tables(&tx)?
            .iter()
            .map(|n| TableSpec::both(n))
            .collect()
    } else {
        specs.to_vec()
    };
    // Foreign keys may point at tables tracked earlier or in this call.
    let mut synced: Vec<String> = tracked_names(&tx)?;
    synced.extend(specs.iter().map(|s| s.name.clone()));
    for spec in &specs {
        let schema = read_table(&tx, &spec.name, &synced, spec.direction)?;
        let json = serde_json::to_string(&schema).expect("schema serializes");
        tx.execute(
            "INSERT INTO dbsync_tables (name, schema_json) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET schema_json = excluded.schema_json",
            params![spec.name, json],
        )?;
        let table_id: i64 = tx.query_row(
            "SELECT table_id FROM dbsync_tables WHERE name = ?1",
            [&spec.name],
            |r| r.get(0),
        )?;
        drop_triggers(&tx, &spec.name)?;
        let captured = role == Role::Server || spec.direction.pushes();
        if captured {
            tx.execute_batch(&trigger_sql(table_id, &schema))?;
        } else {
            tx.execute_batch(&pull_only_sql(&schema))?;
        }
    }
    let schema = load_schema(&tx)?;
    for t in schema.tables.iter().filter(|t| t.direction.pulls()) {
        for fk in &t.foreign_keys {
            if schema
                .table(&fk.references)
                .is_some_and(|p| p.direction == Direction::PushOnly)
            {
                return Err(StoreError::Refused(
                    crate::TableRefused::ForeignKeyToPushOnly {
                        table: t.name.clone(),
                        column: fk.column.clone(),
                        parent: fk.references.clone(),
                    },
                ));
            }
        }
    }
    tx.execute(
        "INSERT INTO dbsync_state (key, value) VALUES ('role', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [match role {
            Role::Node => "node",
            Role::Server => "server",
        }],
    )?;
    let schema = load_schema(&tx)?;
    tx.commit()?;
    Ok(schema)
}

/// Stops tracking `tables` (all when empty): drops the triggers and the
/// table's record and pending ops; the table's data stays.
pub fn untrack(conn: &mut Connection, tables: &[String]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    ensure_meta(&tx)?;
    let names = if tables.is_empty() {
        tracked_names(&tx)?
    } else {
        tables.to_vec()
    };
    for name in &names {
        drop_triggers(&tx, name)?;
        tx.execute(
            "DELETE FROM dbsync_oplog WHERE table_id = \
             (SELECT table_id FROM dbsync_tables WHERE name = ?1)",
            [name],
        )?;
        tx.execute("DELETE FROM dbsync_tables WHERE name = ?1", [name])?;
    }
    tx.commit()?;
    Ok(())
}

/// The names of the tracked tables.
pub fn tracked_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM dbsync_tables ORDER BY name")?;
    let names = stmt.query_map([], |r| r.get(0))?.collect();
    names
}

/// The synced schema as recorded at tracking time.
pub fn load_schema(conn: &Connection) -> Result<Schema, StoreError> {
    let mut stmt = conn.prepare("SELECT schema_json FROM dbsync_tables ORDER BY name")?;
    let tables = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .map(|j| {
            let j = j?;
            serde_json::from_str::<TableSchema>(&j).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schema::new(tables))
}

/// Table ids by name, for decoding the oplog.
pub fn table_ids(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare("SELECT table_id, name FROM dbsync_tables")?;
    let ids = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect();
    ids
}

/// The capture triggers of a database, as [`suspend_capture`] dropped
/// them: put them back with [`resume_capture`].
#[derive(Debug, Clone, Default)]
pub struct SuspendedCapture(Vec<(String, String)>);

/// Drops dbsync's triggers inside the caller's open transaction and
/// returns them. Other connections cannot write while the transaction
/// holds the write lock, so no application write goes uncaptured; if the
/// transaction rolls back, so does the dropping.
pub fn suspend_capture(conn: &Connection) -> rusqlite::Result<SuspendedCapture> {
    let triggers: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'dbsync\\_%' ESCAPE '\\' ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows
    };
    for (name, _) in &triggers {
        conn.execute_batch(&format!("DROP TRIGGER \"{name}\";"))?;
    }
    Ok(SuspendedCapture(triggers))
}

/// Re-creates the triggers [`suspend_capture`] dropped, exactly as they were.
pub fn resume_capture(conn: &Connection, suspended: &SuspendedCapture) -> rusqlite::Result<()> {
    for (_, sql) in &suspended.0 {
        conn.execute_batch(&format!("{sql};"))?;
    }
    Ok(())
}

/// Runs `f` with capture off (see [`suspend_capture`]), inside the
/// caller's open transaction.
pub fn without_capture<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let suspended = suspend_capture(conn)?;
    let out = f();
    resume_capture(conn, &suspended)?;
    out
}
