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

use crate::existing::{self, TrackOptions};
use crate::introspect::{read_table, user_tables};
use crate::key_floor::KeyReuse;
use crate::StoreError;
use dbsync_core::{Command, Direction, Schema, TableSchema};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

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
    row_id NOT NULL,
    command INTEGER NOT NULL,
    version INTEGER,
    columns TEXT
);
CREATE TABLE IF NOT EXISTS dbsync_state (
    key TEXT PRIMARY KEY,
    value
);
CREATE TABLE IF NOT EXISTS dbsync_key_floor (
    table_id INTEGER PRIMARY KEY,
    floor INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_reused_keys (
    seq INTEGER PRIMARY KEY
);
";

/// Creates dbsync's tables if they are missing.
pub fn ensure_meta(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(META_SQL)?;
    crate::changed_columns::add_to_oplog(conn)?;
    crate::untyped_ids::retype_row_ids(conn, "dbsync_oplog", &retyped(META_SQL, "dbsync_oplog"))?;
    Ok(())
}

/// The `CREATE TABLE` of `table` in `sql`, naming `{table}_retyped`
/// (see [`crate::untyped_ids`]).
pub(crate) fn retyped(sql: &str, table: &str) -> String {
    let create = sql
        .split(';')
        .find(|s| s.contains(&format!("TABLE IF NOT EXISTS {table} ")))
        .expect("the table is declared");
    create.replace(
        &format!("IF NOT EXISTS {table} "),
        &format!("{table}_retyped "),
    )
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

/// One batch of `CREATE TRIGGER` statements.
fn batch(triggers: &[(String, String)]) -> String {
    triggers
        .iter()
        .map(|(_, sql)| format!("{sql};"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pull-only guard triggers of a table, as `(name, sql)` with the SQL
/// exactly as SQLite keeps it in `sqlite_schema`.
fn pull_only_triggers(t: &TableSchema) -> Vec<(String, String)> {
    let name = &t.name;
    let guard = format!("dbsync_{name}_pull_only");
    ["insert", "update", "delete"]
        .iter()
        .map(|event| {
            let trigger = format!("{guard}_{event}");
            let sql = format!(
                "CREATE TRIGGER \"{trigger}\" BEFORE {} ON \"{name}\" BEGIN \
                   SELECT RAISE(ABORT, 'dbsync: table {name} is pull-only: only the server writes it'); END",
                event.to_ascii_uppercase()
            );
            (trigger, sql)
        })
        .collect()
}

/// The capture triggers of a table, as `(name, sql)` with the SQL exactly
/// as SQLite keeps it in `sqlite_schema`.
fn capture_triggers(table_id: i64, t: &TableSchema, reuse: KeyReuse) -> Vec<(String, String)> {
    let [ins, upd, rekey, del, _] = trigger_names(&t.name);
    let (name, pk) = (&t.name, &t.primary_key);
    let (i, u, d) = (
        command_code(Command::Insert),
        command_code(Command::Update),
        command_code(Command::Delete),
    );
    let record = |row: &str, code: i64| {
        format!("INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES ({table_id}, {row}.\"{pk}\", {code});")
    };
    // A written row whose value its column cannot carry is refused first
    // (spec §3.4.2).
    let checked = |record: String| match crate::fit::check_statement(t, "NEW") {
        Some(check) => format!("{check} {record}"),
        None => record,
    };
    // An update records the columns it changed (spec §3.1.1).
    let updated = format!(
        "INSERT INTO dbsync_oplog (table_id, row_id, command, columns) VALUES ({table_id}, NEW.\"{pk}\", {u}, {});",
        crate::changed_columns::trigger_expr(t)
    );
    let inserted =
        crate::key_floor::insert_trigger_body(table_id, t, reuse, &checked(record("NEW", i)));
    vec![
        (
            ins.clone(),
            format!("CREATE TRIGGER \"{ins}\" AFTER INSERT ON \"{name}\" BEGIN {inserted} END"),
        ),
        (
            upd.clone(),
            format!("CREATE TRIGGER \"{upd}\" AFTER UPDATE ON \"{name}\" BEGIN {} END", checked(updated)),
        ),
        (
            rekey.clone(),
            format!(
                "CREATE TRIGGER \"{rekey}\" BEFORE UPDATE OF \"{pk}\" ON \"{name}\" WHEN OLD.\"{pk}\" <> NEW.\"{pk}\" BEGIN {} {} END",
                record("OLD", d),
                record("NEW", i)
            ),
        ),
        (
            del.clone(),
            format!("CREATE TRIGGER \"{del}\" AFTER DELETE ON \"{name}\" BEGIN {} END", record("OLD", d)),
        ),
    ]
}

/// The triggers a table should carry on this side, as `(name, sql)`.
fn wanted_triggers(
    table_id: i64,
    t: &TableSchema,
    role: Role,
    reuse: KeyReuse,
) -> Vec<(String, String)> {
    if role == Role::Server || t.direction.pushes() {
        capture_triggers(table_id, t, reuse)
    } else {
        pull_only_triggers(t)
    }
}

/// dbsync's triggers on `table` as SQLite keeps them, as `(name, sql)`.
fn installed_triggers(conn: &Connection, table: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ?1 \
         AND name LIKE 'dbsync\\_%' ESCAPE '\\' ORDER BY name",
    )?;
    let found = stmt
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect();
    found
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
/// Tracking again changes nothing unless a table's schema changed: a
/// database already tracked as asked is only read, so tracking it again
/// never waits for the application's write transactions.
///
/// The transaction takes the write lock up front (`BEGIN IMMEDIATE`):
/// a transaction that reads first and writes later cannot wait for
/// another connection's write lock (SQLite answers `SQLITE_BUSY` at once
/// to a reader that tries to become a writer), while one that begins
/// with the lock waits for the busy timeout like any other statement.
///
/// A node refuses to track for the first time a table that holds rows
/// (spec §3.5): see [`track_with`] to say what they are.
pub fn track(conn: &mut Connection, specs: &[TableSpec], role: Role) -> Result<Schema, StoreError> {
    track_with(conn, specs, role, &TrackOptions::default())
}

/// [`track`], with `options` saying what the rows of tables a node tracks
/// for the first time are (spec §3.5): with [`ExistingRows::Push`](crate::ExistingRows::Push) each
/// becomes a pending insert, with [`ExistingRows::Replace`](crate::ExistingRows::Replace) the node owes
/// a repair. The server's tables are not asked: their rows become
/// unsealed direct writes, one `i` per row, so the next sealing makes
/// them a version (spec §6.2).
pub fn track_with(
    conn: &mut Connection,
    specs: &[TableSpec],
    role: Role,
    options: &TrackOptions,
) -> Result<Schema, StoreError> {
    if let Some(schema) = tracked_as_asked(conn, specs, role)? {
        return Ok(schema);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    ensure_meta(&tx)?;
    let specs = every_table_when_empty(&tx, specs)?;
    let already = tracked_names(&tx)?;
    let synced = synced_names(&tx, &specs)?;
    let mut refusals = Vec::new();
    for spec in &specs {
        match track_table(&tx, spec, &synced, role) {
            Ok(()) => {}
            Err(StoreError::Refused(r)) => refusals.push(r),
            Err(e) => return Err(e),
        }
    }
    if let Some(refused) = crate::TableRefused::all(refusals) {
        return Err(refused.into());
    }
    let schema = load_schema(&tx)?;
    refuse_foreign_keys_to_push_only(&schema)?;
    let first: Vec<&TableSchema> = specs
        .iter()
        .filter(|s| !already.contains(&s.name))
        .filter_map(|s| schema.table(&s.name))
        .collect();
    let held = existing::held_rows(&tx, &first)?;
    match role {
        Role::Node => existing::account_for(&tx, &schema, held, options.existing_rows)?,
        // The server's rows are direct writes made before capture began:
        // captured now, they are sealed into a version like any other
        // (spec §6.2).
        Role::Server => existing::record_inserts(&tx, &schema, &held)?,
    }
    tx.execute(
        "INSERT INTO dbsync_state (key, value) VALUES ('role', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [role.name()],
    )?;
    tx.commit()?;
    Ok(schema)
}

impl Role {
    /// The role's name in `dbsync_state`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Server => "server",
        }
    }
}

/// `specs`, or every user table (synced both ways) when it is empty.
fn every_table_when_empty(
    conn: &Connection,
    specs: &[TableSpec],
) -> rusqlite::Result<Vec<TableSpec>> {
    Ok(if specs.is_empty() {
        user_tables(conn)?
            .iter()
            .map(|n| TableSpec::both(n))
            .collect()
    } else {
        specs.to_vec()
    })
}

/// The tables synced once `specs` are tracked: foreign keys may point at
/// tables tracked earlier or in this call.
fn synced_names(conn: &Connection, specs: &[TableSpec]) -> rusqlite::Result<Vec<String>> {
    let mut synced: Vec<String> = tracked_names(conn)?;
    synced.extend(specs.iter().map(|s| s.name.clone()));
    Ok(synced)
}

/// Checks, without writing anything, what [`track`] would check: every
/// table `specs` names (every user table when empty) can sync as it is.
/// The error names every refused table at once, each with what to change.
pub fn check(conn: &Connection, specs: &[TableSpec]) -> Result<Schema, StoreError> {
    let specs = every_table_when_empty(conn, specs)?;
    let mut synced: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'dbsync_tables')",
        [],
        |r| r.get(0),
    )?;
    if meta {
        synced.extend(tracked_names(conn)?);
    }
    let mut tables = Vec::new();
    let mut refusals = Vec::new();
    for spec in &specs {
        match checked_table(conn, spec, &synced) {
            Ok(t) => tables.push(t),
            Err(StoreError::Refused(r)) => refusals.push(r),
            Err(e) => return Err(e),
        }
    }
    if let Some(refused) = crate::TableRefused::all(refusals) {
        return Err(refused.into());
    }
    let schema = Schema::new(tables);
    refuse_foreign_keys_to_push_only(&schema)?;
    Ok(schema)
}

/// A table's schema, if it can sync as it is (spec §2) and holds no value
/// its columns cannot carry.
fn checked_table(
    conn: &Connection,
    spec: &TableSpec,
    synced: &[String],
) -> Result<TableSchema, StoreError> {
    let schema = read_table(conn, &spec.name, synced, spec.direction)?;
    refuse_values_that_do_not_fit(conn, &schema)?;
    Ok(schema)
}

/// Records one table's schema and installs its triggers.
fn track_table(
    tx: &Connection,
    spec: &TableSpec,
    synced: &[String],
    role: Role,
) -> Result<(), StoreError> {
    let schema = checked_table(tx, spec, synced)?;
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
    let reuse = crate::key_floor::keep_floor(tx, table_id, &schema, role)?;
    drop_triggers(tx, &spec.name)?;
    tx.execute_batch(&batch(&wanted_triggers(table_id, &schema, role, reuse)))?;
    Ok(())
}

/// A table already holding a value its column cannot carry is refused:
/// its rows could never be pushed or pulled (spec §3.4.2).
fn refuse_values_that_do_not_fit(tx: &Connection, t: &TableSchema) -> Result<(), StoreError> {
    let Some(query) = crate::fit::misfits_query(t) else {
        return Ok(());
    };
    let rows: i64 = tx.query_row(&query, [], |r| r.get(0))?;
    if rows == 0 {
        return Ok(());
    }
    Err(StoreError::Refused(crate::TableRefused::ValuesDoNotFit {
        table: t.name.clone(),
        rows,
        columns: t
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.ty.name()))
            .collect::<Vec<_>>()
            .join(", "),
    }))
}

/// A table synced to nodes may not reference a push-only table (spec §2.4).
fn refuse_foreign_keys_to_push_only(schema: &Schema) -> Result<(), StoreError> {
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
    Ok(())
}

/// The schema, when every table of `specs` is already tracked exactly as
/// tracking it again would leave it (same schema, same triggers, same
/// role); `None` when tracking has something to write. Only reads, in one
/// read transaction.
fn tracked_as_asked(
    conn: &mut Connection,
    specs: &[TableSpec],
    role: Role,
) -> Result<Option<Schema>, StoreError> {
    let tx = conn.transaction()?;
    let meta: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' \
         AND name IN ('dbsync_tables', 'dbsync_oplog', 'dbsync_state', \
         'dbsync_key_floor', 'dbsync_reused_keys')",
        [],
        |r| r.get(0),
    )?;
    if meta != 5 {
        return Ok(None);
    }
    let recorded_role: Option<String> = tx
        .query_row(
            "SELECT value FROM dbsync_state WHERE key = 'role'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if recorded_role.as_deref() != Some(role.name()) {
        return Ok(None);
    }
    let specs = every_table_when_empty(&tx, specs)?;
    let synced = synced_names(&tx, &specs)?;
    for spec in &specs {
        if !table_tracked_as_asked(&tx, spec, &synced, role)? {
            return Ok(None);
        }
    }
    let schema = load_schema(&tx)?;
    tx.commit()?;
    Ok(Some(schema))
}

/// Whether `spec`'s table is recorded with the schema it has now and
/// carries exactly the triggers tracking it would install.
fn table_tracked_as_asked(
    conn: &Connection,
    spec: &TableSpec,
    synced: &[String],
    role: Role,
) -> Result<bool, StoreError> {
    let recorded: Option<(i64, String)> = conn
        .query_row(
            "SELECT table_id, schema_json FROM dbsync_tables WHERE name = ?1",
            [&spec.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((table_id, json)) = recorded else {
        return Ok(false);
    };
    // A table tracking would refuse is not tracked as asked: the full
    // tracking reports why.
    let Ok(schema) = read_table(conn, &spec.name, synced, spec.direction) else {
        return Ok(false);
    };
    if serde_json::to_string(&schema).expect("schema serializes") != json {
        return Ok(false);
    }
    let reuse = crate::key_floor::reuse_of(conn, &schema, role)?;
    let mut wanted = wanted_triggers(table_id, &schema, role, reuse);
    wanted.sort();
    Ok(installed_triggers(conn, &spec.name)? == wanted)
}

/// Stops tracking `tables` (all when empty): drops the triggers and the
/// table's record and pending ops; the table's data stays.
pub fn untrack(conn: &mut Connection, tables: &[String]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
