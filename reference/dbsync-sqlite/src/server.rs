//! The server's side of the protocol over SQLite (spec §6, §9–§15).
//!
//! Every function here takes a connection and answers one request, or
//! rejects it with a [`Rejection`] carrying the stable code of spec §17.
//! Writers (`register`, `push`, `seal`, `trim`, nonce checks) run in one
//! `IMMEDIATE` transaction each, so a rejected request changes nothing.
//! Readers (`pull_page`, `repair_page`, `query`) run in one read
//! transaction each, so a page is a consistent snapshot.

use crate::rows;
use crate::track::{self, command_code, command_of, Role, TableSpec};
use crate::StoreError;
use dbsync_core::auth::{hex, Secret};
use dbsync_core::protocol::*;
use dbsync_core::validate::check_row;
use dbsync_core::{Command, ErrorCode, Op, Row, Schema, TableSchema, Value, VersionedOp};
use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// The server's own tables, beside those of [`track::META_SQL`].
pub const SERVER_SQL: &str = "
CREATE TABLE IF NOT EXISTS dbsync_versions (
    version INTEGER PRIMARY KEY,
    node_id INTEGER,
    push_id TEXT,
    created_at TEXT NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_nodes (
    node_id INTEGER PRIMARY KEY AUTOINCREMENT,
    secret TEXT NOT NULL,
    user_id TEXT,
    registered_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    known_version INTEGER NOT NULL DEFAULT 0,
    stale INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dbsync_push_ids (
    node_id INTEGER NOT NULL,
    push_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (node_id, push_id)
);
CREATE TABLE IF NOT EXISTS dbsync_nonces (
    node_id INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (node_id, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dbsync_oplog_by_version ON dbsync_oplog (version, seq);
";

/// A request the server refuses: the code of spec §17, a sentence, and
/// machine-readable details.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with(mut self, details: serde_json::Value) -> Rejection {
        if let serde_json::Value::Object(map) = details {
            self.details = Some(map);
        }
        self
    }

    /// The error response body.
    pub fn to_response(&self) -> ErrorResponse {
        ErrorResponse {
            protocol: dbsync_core::PROTOCOL_VERSION.into(),
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl From<StoreError> for Rejection {
    fn from(e: StoreError) -> Rejection {
        Rejection::new(ErrorCode::InternalError, e.to_string())
    }
}

impl From<rusqlite::Error> for Rejection {
    fn from(e: rusqlite::Error) -> Rejection {
        Rejection::new(ErrorCode::InternalError, format!("database error: {e}"))
    }
}

type Result<T> = std::result::Result<T, Rejection>;

/// Page sizes and limits of a server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// At most this many ops in one pull page.
    pub pull_page_ops: usize,
    /// At most this many rows in one repair page.
    pub repair_page_rows: usize,
    /// The default and the largest query limit.
    pub query_default: u32,
    pub query_max: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            pull_page_ops: 10_000,
            repair_page_rows: 10_000,
            query_default: 100,
            query_max: 10_000,
        }
    }
}

/// Prepares a server database: tracks `specs` (every user table when
/// empty) with capture for direct writes, and creates the server's tables.
pub fn prepare(
    conn: &mut Connection,
    specs: &[TableSpec],
) -> std::result::Result<Schema, StoreError> {
    let schema = track::track(conn, specs, Role::Server)?;
    conn.execute_batch(SERVER_SQL)?;
    // The key that authenticates cursors (spec §11.4): made once, kept.
    let key: Option<String> = conn
        .query_row(
            "SELECT value FROM dbsync_state WHERE key = 'cursor_key'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if key.is_none() {
        let k = random_secret().encode();
        conn.execute(
            "INSERT INTO dbsync_state (key, value) VALUES ('cursor_key', ?1)",
            [k],
        )?;
    }
    Ok(schema)
}

/// 32 random bytes from the operating system.
pub fn random_secret() -> Secret {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    Secret(bytes)
}

fn immediate(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

fn state_int(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row(
            "SELECT value FROM dbsync_state WHERE key = ?1",
            [key],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0))
}

fn set_state(conn: &Connection, key: &str, value: &dyn rusqlite::ToSql) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO dbsync_state (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The server's latest version (0 before the first).
pub fn latest_version(conn: &Connection) -> rusqlite::Result<u64> {
    let v: Option<i64> =
        conn.query_row("SELECT max(version) FROM dbsync_versions", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0).max(state_int(conn, "trimmed_through")?) as u64)
}

/// RFC 3339 UTC for a unix time.
pub fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Wraps writes made directly on the server database (captured, not yet
/// in a version) into a version of their own, with no node (spec §6.1).
/// Returns the new version, if there were such writes.
pub fn seal(conn: &Connection, now: u64) -> rusqlite::Result<Option<u64>> {
    let last: Option<i64> = conn.query_row(
        "SELECT max(seq) FROM dbsync_oplog WHERE version IS NULL",
        [],
        |r| r.get(0),
    )?;
    let Some(last) = last else { return Ok(None) };
    let version = latest_version(conn)? + 1;
    conn.execute(
        "INSERT INTO dbsync_versions (version, node_id, push_id, created_at, last_seq) VALUES (?1, NULL, NULL, ?2, ?3)",
        params![version as i64, rfc3339(now), last],
    )?;
    conn.execute(
        "UPDATE dbsync_oplog SET version = ?1 WHERE version IS NULL AND seq <= ?2",
        params![version as i64, last],
    )?;
    Ok(Some(version))
}

// ---------------------------------------------------------------- nodes --

/// A registered node as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node_id: u64,
    pub secret: Secret,
    pub user_id: Option<String>,
    pub last_seen: u64,
    pub known_version: u64,
    pub stale: bool,
}

/// The node `node_id`, if registered.
pub fn node(conn: &Connection, node_id: u64) -> rusqlite::Result<Option<NodeRecord>> {
    conn.query_row(
        "SELECT secret, user_id, last_seen, known_version, stale FROM dbsync_nodes WHERE node_id = ?1",
        [node_id as i64],
        |r| {
            let secret: String = r.get(0)?;
            Ok(NodeRecord {
                node_id,
                secret: Secret::decode(&secret).unwrap_or(Secret([0; 32])),
                user_id: r.get(1)?,
                last_seen: r.get::<_, i64>(2)? as u64,
                known_version: r.get::<_, i64>(3)? as u64,
                stale: r.get::<_, i64>(4)? != 0,
            })
        },
    )
    .optional()
}

/// Registers a node (spec §9), or hands back `reuse` with a new secret.
pub fn register(
    conn: &mut Connection,
    user_id: Option<String>,
    reuse: Option<u64>,
    now: u64,
) -> Result<RegisterResponse> {
    let tx = immediate(conn)?;
    let secret = random_secret();
    let node_id = match reuse {
        Some(id) => {
            let n = tx.execute(
                "UPDATE dbsync_nodes SET secret = ?2, user_id = ?3, last_seen = ?4 WHERE node_id = ?1",
                params![id as i64, secret.encode(), user_id, now as i64],
            )?;
            if n == 0 {
                return Err(Rejection::new(
                    ErrorCode::RegistrationRefused,
                    format!("node {id} to reuse does not exist"),
                ));
            }
            id
        }
        None => {
            // The new node holds back trim from the latest version on
            // (spec §9.3): older versions are no use to it.
            tx.execute(
                "INSERT INTO dbsync_nodes (secret, user_id, registered_at, last_seen, known_version) VALUES (?1, ?2, ?3, ?3, ?4)",
                params![secret.encode(), user_id, now as i64, latest_version(&tx)? as i64],
            )?;
            tx.last_insert_rowid() as u64
        }
    };
    let latest = latest_version(&tx)?;
    tx.commit()?;
    Ok(RegisterResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        node_id,
        secret: secret.encode(),
        user_id,
        latest_version: latest,
    })
}

/// Records `nonce` for `node_id` and the node as seen; `replayed_nonce`
/// when the node already used it inside the window (spec §8.4). Nonces
/// older than `forget_before` are forgotten on the way.
pub fn use_nonce(
    conn: &mut Connection,
    node_id: u64,
    nonce: &str,
    now: u64,
    forget_before: u64,
) -> Result<()> {
    let tx = immediate(conn)?;
    let fresh = tx.execute(
        "INSERT INTO dbsync_nonces (node_id, nonce, seen_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![node_id as i64, nonce, now as i64],
    )?;
    if fresh == 0 {
        return Err(Rejection::new(
            ErrorCode::ReplayedNonce,
            "this nonce was already used; sign every request with a new one",
        ));
    }
    tx.execute(
        "UPDATE dbsync_nodes SET last_seen = ?2 WHERE node_id = ?1",
        params![node_id as i64, now as i64],
    )?;
    // Forget old nonces now and then (about one request in 64), so the
    // table stays small without a delete on every request.
    if nonce.as_bytes().iter().fold(0u8, |a, b| a.wrapping_add(*b)) % 64 == 0 {
        tx.execute(
            "DELETE FROM dbsync_nonces WHERE seen_at < ?1",
            [forget_before as i64],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn repair_required(reason: &str, message: &str) -> Rejection {
    Rejection::new(ErrorCode::RepairRequired, message).with(json!({ "reason": reason }))
}

/// The checks of spec §10.2.2 shared by push and pull.
fn check_base(conn: &Connection, node: &NodeRecord, base: u64) -> Result<u64> {
    if node.stale {
        return Err(repair_required(
            "unseen",
            "this node was not seen for too long and no longer holds back trim; repair",
        ));
    }
    let latest = latest_version(conn)?;
    if base > latest {
        return Err(repair_required(
            "ahead",
            &format!("base version {base} is later than the server's latest {latest}; repair"),
        ));
    }
    let trimmed = state_int(conn, "trimmed_through")? as u64;
    if base < trimmed {
        return Err(repair_required(
            "trimmed",
            &format!("versions up to {trimmed} were trimmed; repair"),
        ));
    }
    Ok(latest)
}

fn unknown_node(node_id: u64) -> Rejection {
    Rejection::new(
        ErrorCode::UnknownNode,
        format!("node {node_id} is not registered"),
    )
}

// ----------------------------------------------------------------- push --

/// What an application hook sees of a push, and may refuse.
pub type PushHook<'a> = &'a dyn Fn(u64, &PushRequest) -> std::result::Result<(), String>;

/// The digest that identifies a push's content (spec §10.4): SHA-256 of
/// the JSON of its ops and rows.
pub fn push_digest(req: &PushRequest) -> String {
    let body = serde_json::to_vec(&(&req.ops, &req.rows)).expect("serializable");
    hex(&Sha256::digest(body))
}

fn table<'s>(schema: &'s Schema, name: &str) -> Result<&'s TableSchema> {
    schema.table(name).ok_or_else(|| {
        Rejection::new(
            ErrorCode::UnknownTable,
            format!("table {name:?} is not synced"),
        )
        .with(json!({"table": name}))
    })
}

/// Checks a push's ops and rows against the schema (spec §10.2), before
/// anything is written.
pub fn check_push(schema: &Schema, req: &PushRequest) -> Result<()> {
    if req.ops.is_empty() {
        return Err(Rejection::new(
            ErrorCode::EmptyPush,
            "a push must carry at least one op",
        ));
    }
    let mut seen: HashSet<(&str, i64)> = HashSet::new();
    let mut needs_row: HashSet<(&str, i64)> = HashSet::new();
    for op in &req.ops {
        let t = table(schema, &op.table)?;
        if !t.direction.pushes() {
            return Err(Rejection::new(
                ErrorCode::DirectionViolation,
                format!("table {:?} is pull-only", t.name),
            )
            .with(json!({"table": t.name})));
        }
        if !seen.insert((&op.table, op.row_id)) {
            return Err(Rejection::new(
                ErrorCode::DuplicateOp,
                format!("two ops name {} row {}", op.table, op.row_id),
            )
            .with(json!({"table": op.table, "row_id": op.row_id})));
        }
        if op.command != Command::Delete {
            needs_row.insert((&op.table, op.row_id));
        }
    }
    let mut has_row: HashSet<(&str, i64)> = HashSet::new();
    for row in &req.rows {
        if !needs_row.contains(&(row.table.as_str(), row.id))
            || !has_row.insert((&row.table, row.id))
        {
            return Err(Rejection::new(
                ErrorCode::MissingRow,
                format!(
                    "row {} {} has no insert or update op (or comes twice)",
                    row.table, row.id
                ),
            )
            .with(json!({"table": row.table, "row_id": row.id})));
        }
        check_row(schema, row)
            .map_err(|e| Rejection::new(e.code(), e.to_string()).with(e.details()))?;
    }
    if let Some((t, id)) = needs_row.iter().find(|k| !has_row.contains(*k)) {
        return Err(Rejection::new(
            ErrorCode::MissingRow,
            format!("op on {t} row {id} comes without its row"),
        )
        .with(json!({"table": t, "row_id": id})));
    }
    Ok(())
}

fn integrity(message: String, table: &str, row_id: i64) -> Rejection {
    Rejection::new(ErrorCode::IntegrityViolation, message)
        .with(json!({"table": table, "row_id": row_id}))
}

fn map_constraint(e: rusqlite::Error, table: &str, row_id: i64) -> Rejection {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => integrity(
            format!("applying {table} row {row_id} breaks a constraint: {e}"),
            table,
            row_id,
        ),
        _ => Rejection::from(e),
    }
}

/// Applies a push (spec §10) in one transaction, or rejects it and changes
/// nothing. `hook` is the application's before-push hook.
pub fn push(
    conn: &mut Connection,
    schema: &Schema,
    node_id: u64,
    req: &PushRequest,
    hook: Option<PushHook<'_>>,
    now: u64,
) -> Result<PushResponse> {
    let tx = immediate(conn)?;
    let digest = push_digest(req);
    let done: Option<(i64, String)> = tx
        .query_row(
            "SELECT version, digest FROM dbsync_push_ids WHERE node_id = ?1 AND push_id = ?2",
            params![node_id as i64, req.push_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((version, stored)) = done {
        if stored != digest {
            return Err(Rejection::new(
                ErrorCode::PushIdReused,
                "this push id was applied with other content; use a new push id",
            )
            .with(json!({"push_id": req.push_id, "version": version})));
        }
        return Ok(PushResponse {
            protocol: dbsync_core::PROTOCOL_VERSION.into(),
            version: version as u64,
            push_id: req.push_id.clone(),
            duplicate: true,
        });
    }
    let node = node(&tx, node_id)?.ok_or_else(|| unknown_node(node_id))?;
    seal(&tx, now)?;
    let latest = check_base(&tx, &node, req.base_version)?;
    if req.base_version != latest {
        return Err(Rejection::new(
            ErrorCode::PullRequired,
            format!("the server is at version {latest}; pull, merge, then push again"),
        )
        .with(json!({"latest_version": latest})));
    }
    check_push(schema, req)?;
    if let Some(hook) = hook {
        hook(node_id, req).map_err(|why| Rejection::new(ErrorCode::HookRejected, why))?;
    }
    track::without_capture(&tx, || apply_push(&tx, schema, req))?;
    // The version records exactly the pushed ops (capture was off while
    // they were applied).
    let version = latest + 1;
    let ids: HashMap<String, i64> = track::table_ids(&tx)?
        .into_iter()
        .map(|(id, n)| (n, id))
        .collect();
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO dbsync_oplog (table_id, row_id, command, version) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for op in &req.ops {
            ins.execute(params![
                ids[&op.table],
                op.row_id,
                command_code(op.command),
                version as i64
            ])?;
        }
    }
    let last_seq = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO dbsync_versions (version, node_id, push_id, created_at, last_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![version as i64, node_id as i64, req.push_id, rfc3339(now), last_seq],
    )?;
    tx.execute(
        "INSERT INTO dbsync_push_ids (node_id, push_id, version, digest) VALUES (?1, ?2, ?3, ?4)",
        params![node_id as i64, req.push_id, version as i64, digest],
    )?;
    tx.execute(
        "UPDATE dbsync_nodes SET known_version = ?2 WHERE node_id = ?1",
        params![node_id as i64, version as i64],
    )?;
    if let Err(e) = tx.commit() {
        return Err(match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => Rejection::new(
                ErrorCode::IntegrityViolation,
                "the push leaves a foreign key pointing at a missing row",
            ),
            _ => e.into(),
        });
    }
    Ok(PushResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        version,
        push_id: req.push_id.clone(),
        duplicate: false,
    })
}

/// Applies a checked push's ops (spec §10.2.4), with capture off and
/// foreign keys checked at commit: deletes first, then updates of tables
/// with unique constraints as a delete and re-insert (so swapped unique
/// values never collide), then inserts, then the other updates.
fn apply_push(tx: &Connection, schema: &Schema, req: &PushRequest) -> Result<()> {
    tx.pragma_update(None, "defer_foreign_keys", true)?;
    let sql = rows::SqlCatalog::new(schema);
    let table_rows = |name: &str| {
        sql.get(name).ok_or_else(|| {
            Rejection::new(
                ErrorCode::UnknownTable,
                format!("table {name:?} is not synced"),
            )
        })
    };
    let values: HashMap<(&str, i64), &Row> = req
        .rows
        .iter()
        .map(|r| ((r.table.as_str(), r.id), r))
        .collect();
    let missing = |op: &Op, what: &str| {
        integrity(
            format!(
                "{} row {} to {what} is not on the server",
                op.table, op.row_id
            ),
            &op.table,
            op.row_id,
        )
    };
    let mut reinsert = Vec::new();
    for op in req.ops.iter().filter(|o| o.command == Command::Delete) {
        let r = table_rows(&op.table)?;
        if !r
            .delete(tx, op.row_id)
            .map_err(|e| map_constraint(e, &op.table, op.row_id))?
        {
            return Err(missing(op, "delete"));
        }
    }
    for op in req.ops.iter().filter(|o| o.command == Command::Update) {
        let r = table_rows(&op.table)?;
        if !r.t.unique.is_empty() {
            if !r
                .delete(tx, op.row_id)
                .map_err(|e| map_constraint(e, &op.table, op.row_id))?
            {
                return Err(missing(op, "update"));
            }
            reinsert.push(op);
        }
    }
    // An insert of a key the server holds fails on the primary key: an
    // integrity violation like any other constraint.
    for op in req
        .ops
        .iter()
        .filter(|o| o.command == Command::Insert)
        .chain(reinsert.iter().copied())
    {
        let row = values[&(op.table.as_str(), op.row_id)];
        table_rows(&op.table)?
            .insert(tx, op.row_id, &row.values)
            .map_err(|e| map_constraint(e, &op.table, op.row_id))?;
    }
    for op in req.ops.iter().filter(|o| o.command == Command::Update) {
        let r = table_rows(&op.table)?;
        if r.t.unique.is_empty() {
            let row = values[&(op.table.as_str(), op.row_id)];
            if !r
                .update(tx, op.row_id, &row.values)
                .map_err(|e| map_constraint(e, &op.table, op.row_id))?
            {
                return Err(missing(op, "update"));
            }
        }
    }
    Ok(())
}

// --------------------------------------------------------------- cursors --

fn cursor_key(conn: &Connection) -> rusqlite::Result<Secret> {
    let k: String = conn.query_row(
        "SELECT value FROM dbsync_state WHERE key = 'cursor_key'",
        [],
        |r| r.get(0),
    )?;
    Ok(Secret::decode(&k).unwrap_or(Secret([0; 32])))
}

fn cursor_hmac(key: &Secret, text: &str) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("any key length");
    m.update(text.as_bytes());
    m
}

/// The first 12 bytes of the cursor's HMAC, in hex.
fn cursor_mac(key: &Secret, text: &str) -> String {
    hex(&cursor_hmac(key, text).finalize().into_bytes()[..12])
}

/// Whether `mac_hex` is the cursor MAC of `text`, compared in constant time.
fn cursor_mac_ok(key: &Secret, text: &str, mac_hex: &str) -> bool {
    let bytes: Option<Vec<u8>> = (mac_hex.len() == 24)
        .then(|| {
            (0..24)
                .step_by(2)
                .map(|i| u8::from_str_radix(mac_hex.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten();
    bytes.is_some_and(|b| cursor_hmac(key, text).verify_truncated_left(&b).is_ok())
}

/// Issues a cursor: `fields` joined by dots, MAC'd with the server's key
/// so that only cursors this server issued are accepted (spec §11.4).
fn issue_cursor(
    conn: &Connection,
    kind: &str,
    node_id: u64,
    fields: &[u64],
) -> rusqlite::Result<String> {
    let body = fields
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let mac = cursor_mac(&cursor_key(conn)?, &format!("{kind}.{node_id}.{body}"));
    Ok(format!("{kind}.{body}.{mac}"))
}

fn read_cursor(
    conn: &Connection,
    kind: &str,
    node_id: u64,
    cursor: &str,
    n: usize,
) -> Result<Vec<u64>> {
    let invalid = || {
        Rejection::new(
            ErrorCode::InvalidCursor,
            "this cursor was not issued for this transfer; start again with a null cursor",
        )
    };
    let parts: Vec<&str> = cursor.split('.').collect();
    if parts.len() != n + 2 || parts[0] != kind {
        return Err(invalid());
    }
    let fields: Vec<u64> = parts[1..=n]
        .iter()
        .map(|p| p.parse().map_err(|_| invalid()))
        .collect::<Result<_>>()?;
    let text = format!("{kind}.{node_id}.{}", parts[1..=n].join("."));
    if !cursor_mac_ok(&cursor_key(conn)?, &text, parts[n + 1]) {
        return Err(invalid());
    }
    Ok(fields)
}

// ----------------------------------------------------------------- pull --

fn version_infos(
    conn: &Connection,
    base: u64,
    target: u64,
    after_seq: i64,
    upto_seq: Option<i64>,
) -> rusqlite::Result<Vec<VersionInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT version, node_id, push_id, created_at FROM dbsync_versions \
         WHERE version > ?1 AND version <= ?2 AND last_seq > ?3 AND last_seq <= ?4 ORDER BY version",
    )?;
    let rows = stmt
        .query_map(
            params![
                base as i64,
                target as i64,
                after_seq,
                upto_seq.unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(VersionInfo {
                    version: r.get::<_, i64>(0)? as u64,
                    node_id: r.get::<_, Option<i64>>(1)?.map(|n| n as u64),
                    push_id: r.get(2)?,
                    created_at: r.get(3)?,
                })
            },
        )?
        .collect();
    rows
}

/// Adds to `out` the rows `keys` name that exist, and, transitively, the
/// rows they reference by foreign key (spec §11.3).
fn rows_with_parents(
    conn: &Connection,
    schema: &Schema,
    sql: &rows::SqlCatalog,
    keys: impl IntoIterator<Item = (String, i64)>,
    included: &mut HashSet<(String, i64)>,
    out: &mut Vec<Row>,
) -> rusqlite::Result<()> {
    let mut queue: Vec<(String, i64)> = keys.into_iter().collect();
    while let Some((table, id)) = queue.pop() {
        if included.contains(&(table.clone(), id)) {
            continue;
        }
        let Some(t) = schema.table(&table) else {
            continue;
        };
        let Some(row) = sql.get(&t.name).expect("schema table").read(conn, id)? else {
            continue;
        };
        included.insert((table, id));
        for fk in &t.foreign_keys {
            if let Some(Value::Integer(parent)) = row.values.get(&fk.column) {
                queue.push((fk.references.clone(), *parent));
            }
        }
        out.push(row);
    }
    Ok(())
}

/// Serves one page of a pull (spec §11).
pub fn pull_page(
    conn: &mut Connection,
    schema: &Schema,
    node_id: u64,
    req: &PullRequest,
    limits: &Limits,
) -> Result<PullResponse> {
    let tx = conn.transaction()?;
    let node = node(&tx, node_id)?.ok_or_else(|| unknown_node(node_id))?;
    let latest = check_base(&tx, &node, req.base_version)?;
    let (target, after_seq) = match &req.cursor {
        None => (latest, 0),
        Some(c) => {
            let f = read_cursor(&tx, "pull", node_id, c, 3)?;
            if f[0] != req.base_version || f[1] > latest {
                return Err(Rejection::new(
                    ErrorCode::InvalidCursor,
                    "this cursor belongs to another base version",
                ));
            }
            (f[1], f[2] as i64)
        }
    };
    let names: HashMap<i64, String> = track::table_ids(&tx)?.into_iter().collect();
    let mut ops = Vec::new();
    let mut last_seq = after_seq;
    let mut more = false;
    {
        let mut stmt = tx.prepare_cached(
            "SELECT seq, version, table_id, row_id, command FROM dbsync_oplog \
             WHERE version > ?1 AND version <= ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
        )?;
        let mut rows = stmt.query(params![
            req.base_version as i64,
            target as i64,
            after_seq,
            limits.pull_page_ops as i64 + 1
        ])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            n += 1;
            if n > limits.pull_page_ops {
                more = true;
                break;
            }
            let seq: i64 = r.get(0)?;
            last_seq = seq;
            let table = &names[&r.get::<_, i64>(2)?];
            if !schema.table(table).is_some_and(|t| t.direction.pulls()) {
                continue;
            }
            ops.push(VersionedOp {
                version: r.get::<_, i64>(1)? as u64,
                table: table.clone(),
                row_id: r.get(3)?,
                command: command_of(r.get(4)?)
                    .ok_or_else(|| Rejection::new(ErrorCode::InternalError, "bad command code"))?,
            });
        }
    }
    let versions = version_infos(
        &tx,
        req.base_version,
        target,
        after_seq,
        more.then_some(last_seq),
    )?;
    let sql = rows::SqlCatalog::new(schema);
    let mut included = HashSet::new();
    let mut out_rows = Vec::new();
    if req.cursor.is_none() {
        let pending = req
            .pending
            .iter()
            .filter(|o| schema.table(&o.table).is_some_and(|t| t.direction.pulls()));
        rows_with_parents(
            &tx,
            schema,
            &sql,
            pending.map(|o| (o.table.clone(), o.row_id)),
            &mut included,
            &mut out_rows,
        )?;
    }
    let needed = ops
        .iter()
        .filter(|o| o.command != Command::Delete)
        .map(|o| (o.table.clone(), o.row_id));
    rows_with_parents(&tx, schema, &sql, needed, &mut included, &mut out_rows)?;
    let next_cursor = if more {
        Some(issue_cursor(
            &tx,
            "pull",
            node_id,
            &[req.base_version, target, last_seq as u64],
        )?)
    } else {
        None
    };
    tx.commit()?;
    Ok(PullResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        target_version: target,
        versions,
        ops,
        rows: out_rows,
        next_cursor,
    })
}

/// Records that `node_id` now holds `version` (the last page of a pull or
/// repair reached it), and that it is live again after a repair.
pub fn note_version(
    conn: &Connection,
    node_id: u64,
    version: u64,
    repaired: bool,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE dbsync_nodes SET known_version = max(known_version, ?2), stale = CASE WHEN ?3 THEN 0 ELSE stale END WHERE node_id = ?1",
        params![node_id as i64, version as i64, repaired],
    )?;
    Ok(())
}

// --------------------------------------------------------------- repair --

/// The pull-capable tables, parents before children (spec §13.2).
pub fn repair_order(schema: &Schema) -> Vec<&TableSchema> {
    let mut done: Vec<&TableSchema> = Vec::new();
    let mut left: Vec<&TableSchema> = schema
        .tables
        .iter()
        .filter(|t| t.direction.pulls())
        .collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|t| {
            let ready = t.foreign_keys.iter().all(|fk| {
                fk.references == t.name
                    || done.iter().any(|d| d.name == fk.references)
                    || !schema
                        .table(&fk.references)
                        .is_some_and(|p| p.direction.pulls())
            });
            if ready {
                done.push(t);
            }
            !ready
        });
        if left.len() == before {
            // A cycle of foreign keys: order the rest by name.
            done.append(&mut left);
        }
    }
    done
}

/// Starts a repair for `node_id` on the writer, before its first page
/// (spec §13.2, §15.2): direct writes are sealed into a version, and the
/// node is live again, holding back trim from the latest version.
pub fn repair_start(conn: &mut Connection, node_id: u64, now: u64) -> Result<u64> {
    let tx = immediate(conn)?;
    node(&tx, node_id)?.ok_or_else(|| unknown_node(node_id))?;
    seal(&tx, now)?;
    let latest = latest_version(&tx)?;
    tx.execute(
        "UPDATE dbsync_nodes SET stale = 0, known_version = ?2 WHERE node_id = ?1",
        params![node_id as i64, latest as i64],
    )?;
    tx.commit()?;
    Ok(latest)
}

/// Serves one page of a repair snapshot (spec §13). Call
/// [`repair_start`] on the writer before the first page.
pub fn repair_page(
    conn: &mut Connection,
    schema: &Schema,
    node_id: u64,
    req: &RepairRequest,
    limits: &Limits,
) -> Result<RepairPage> {
    let tx = conn.transaction()?;
    node(&tx, node_id)?.ok_or_else(|| unknown_node(node_id))?;
    let order = repair_order(schema);
    let (mut table_index, mut after_id) = match &req.cursor {
        None => (0usize, 0i64),
        Some(c) => {
            let f = read_cursor(&tx, "repair", node_id, c, 2)?;
            (f[0] as usize, f[1] as i64)
        }
    };
    let mut out = Vec::new();
    while table_index < order.len() && out.len() < limits.repair_page_rows {
        let t = order[table_index];
        let sql = format!(
            "{} WHERE \"{}\" > ?1 ORDER BY \"{}\" LIMIT ?2",
            rows::select_sql(t),
            t.primary_key,
            t.primary_key
        );
        let want = (limits.repair_page_rows - out.len()) as i64;
        let mut stmt = tx.prepare_cached(&sql)?;
        let got: Vec<Row> = stmt
            .query_map(params![after_id, want], |r| rows::row_from(t, r))?
            .collect::<rusqlite::Result<_>>()?;
        if (got.len() as i64) < want {
            table_index += 1;
            after_id = 0;
        } else {
            after_id = got.last().map_or(after_id, |r| r.id);
        }
        out.extend(got);
    }
    let next_cursor = if table_index < order.len() {
        Some(issue_cursor(
            &tx,
            "repair",
            node_id,
            &[table_index as u64, after_id as u64],
        )?)
    } else {
        None
    };
    let version = latest_version(&tx)?;
    // The first page counts what the whole repair sends (§13.2).
    let total_rows = match req.cursor {
        None => Some(order.iter().try_fold(0u64, |sum, t| {
            let n: i64 =
                tx.query_row(&format!("SELECT count(*) FROM \"{}\"", t.name), [], |r| {
                    r.get(0)
                })?;
            Ok::<_, rusqlite::Error>(sum + n as u64)
        })?),
        Some(_) => None,
    };
    tx.commit()?;
    Ok(RepairPage {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        version,
        rows: out,
        next_cursor,
        total_rows,
    })
}

// ---------------------------------------------------------------- query --

/// Answers a read-only query (spec §14).
pub fn query(
    conn: &Connection,
    schema: &Schema,
    req: &QueryRequest,
    limits: &Limits,
) -> Result<QueryResponse> {
    let t = table(schema, &req.table)?;
    if !t.direction.pulls() {
        return Err(Rejection::new(
            ErrorCode::DirectionViolation,
            format!("table {:?} is push-only", t.name),
        ));
    }
    let mut filter: Vec<(&str, &Value)> = Vec::new();
    for (col, v) in &req.filter {
        let column = if *col == t.primary_key {
            t.primary_key.as_str()
        } else {
            t.column(col).map(|c| c.name.as_str()).ok_or_else(|| {
                Rejection::new(
                    ErrorCode::UnknownColumn,
                    format!("table {:?} has no column {col:?}", t.name),
                )
            })?
        };
        filter.push((column, v));
    }
    let limit = req
        .limit
        .unwrap_or(limits.query_default)
        .min(limits.query_max) as usize;
    let mut found = rows::find(conn, t, &filter, Some(limit + 1))?;
    let truncated = found.len() > limit;
    found.truncate(limit);
    Ok(QueryResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        rows: found,
        truncated,
    })
}

// ----------------------------------------------------------------- trim --

/// What a trim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrimReport {
    /// Versions up to this one are gone (0: none).
    pub trimmed_through: u64,
    pub versions_dropped: u64,
    pub nodes_marked_stale: u64,
}

/// Trims the history (spec §15): nodes unseen since `now - stale_after`
/// become stale; versions every live node holds are dropped.
pub fn trim(conn: &mut Connection, now: u64, stale_after: u64) -> Result<TrimReport> {
    let tx = immediate(conn)?;
    let cutoff = now.saturating_sub(stale_after) as i64;
    let marked = tx.execute(
        "UPDATE dbsync_nodes SET stale = 1 WHERE stale = 0 AND last_seen < ?1",
        [cutoff],
    )? as u64;
    let latest = latest_version(&tx)?;
    let horizon: Option<i64> = tx.query_row(
        "SELECT min(known_version) FROM dbsync_nodes WHERE stale = 0",
        [],
        |r| r.get(0),
    )?;
    let horizon = horizon.map_or(latest, |h| h as u64).min(latest);
    let before = state_int(&tx, "trimmed_through")? as u64;
    let mut dropped = 0;
    if horizon > before {
        tx.execute(
            "DELETE FROM dbsync_oplog WHERE version IS NOT NULL AND version <= ?1",
            [horizon as i64],
        )?;
        tx.execute(
            "DELETE FROM dbsync_push_ids WHERE version <= ?1",
            [horizon as i64],
        )?;
        dropped = tx.execute(
            "DELETE FROM dbsync_versions WHERE version <= ?1",
            [horizon as i64],
        )? as u64;
        set_state(&tx, "trimmed_through", &(horizon as i64))?;
    }
    tx.commit()?;
    Ok(TrimReport {
        trimmed_through: horizon.max(before),
        versions_dropped: dropped,
        nodes_marked_stale: marked,
    })
}

/// Ops as pushed, for tests and tools: every op of `version`.
pub fn ops_of_version(conn: &Connection, version: u64) -> rusqlite::Result<Vec<Op>> {
    let names: HashMap<i64, String> = track::table_ids(conn)?.into_iter().collect();
    let mut stmt = conn.prepare(
        "SELECT table_id, row_id, command FROM dbsync_oplog WHERE version = ?1 ORDER BY seq",
    )?;
    let ops = stmt
        .query_map([version as i64], |r| {
            Ok(Op {
                table: names[&r.get::<_, i64>(0)?].clone(),
                row_id: r.get(1)?,
                command: command_of(r.get(2)?).unwrap_or(Command::Update),
            })
        })?
        .collect();
    ops
}
