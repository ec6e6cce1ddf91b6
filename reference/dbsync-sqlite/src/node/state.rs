//! What a node knows of itself (`dbsync_state`): credentials, the server
//! URL, the last version it holds (spec §6, §9), and the key sequences of
//! its tables.

use super::in_write_transaction;
use crate::track;
use dbsync_core::auth::Secret;
use dbsync_core::protocol::RegisterResponse;
use rusqlite::{params, Connection, OptionalExtension};

pub(super) fn get_state<T: rusqlite::types::FromSql>(
    conn: &Connection,
    key: &str,
) -> rusqlite::Result<Option<T>> {
    conn.query_row(
        "SELECT value FROM dbsync_state WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

pub(super) fn set_state(
    conn: &Connection,
    key: &str,
    value: &dyn rusqlite::ToSql,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO dbsync_state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(super) fn clear_state(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM dbsync_state WHERE key = ?1", [key])?;
    Ok(())
}

/// Moves the key sequence of `table` (its key floor when SQLite reuses
/// its keys, spec §2.2.1) to at least `up_to`, so that SQLite never hands
/// out a key at or below it.
pub(super) fn reserve_keys(conn: &Connection, table: &str, up_to: i64) -> rusqlite::Result<()> {
    if crate::key_floor::raise_floor(conn, table, up_to)? {
        return Ok(());
    }
    let n = conn.execute(
        "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
        params![table, up_to],
    )?;
    if n == 0 {
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
            params![table, up_to],
        )?;
    }
    Ok(())
}

/// What a node knows of itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeState {
    pub node_id: Option<u64>,
    pub secret: Option<Secret>,
    pub user_id: Option<String>,
    pub server_url: Option<String>,
    /// The last version the node holds (spec §6).
    pub last_version: u64,
    /// The push id of a push sent but not yet known to be applied.
    pub outstanding_push: Option<String>,
    /// The node tracked existing rows as a copy of the server's and must
    /// repair before it pushes or pulls (spec §3.5).
    pub repair_owed: bool,
}

/// Reads the node's state.
pub fn state(conn: &Connection) -> rusqlite::Result<NodeState> {
    Ok(NodeState {
        node_id: get_state::<i64>(conn, "node_id")?.map(|n| n as u64),
        secret: get_state::<String>(conn, "secret")?.and_then(|s| Secret::decode(&s)),
        user_id: get_state(conn, "user_id")?,
        server_url: get_state(conn, "server_url")?,
        last_version: get_state::<i64>(conn, "last_version")?.unwrap_or(0) as u64,
        outstanding_push: get_state(conn, "push_id")?,
        repair_owed: crate::existing::repair_owed(conn)?,
    })
}

/// The first id of the range a node takes new rows of push-only tables
/// from (spec §2.4): `node_id × 2^32`, so nodes never pick the same id.
/// `None` for node ids of 2^21 and above, whose ranges would pass 2^53.
pub fn push_only_base(node_id: u64) -> Option<i64> {
    (node_id < (1 << 21)).then_some((node_id << 32) as i64)
}

/// Stores the credentials of a registration (spec §9) and the server URL,
/// and moves the key sequence of every push-only table into the node's
/// own range.
pub fn save_registration(
    conn: &Connection,
    server_url: &str,
    r: &RegisterResponse,
) -> rusqlite::Result<()> {
    in_write_transaction(conn, |conn| {
        if let Some(base) = push_only_base(r.node_id) {
            let schema = track::load_schema(conn)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            for t in schema
                .tables
                .iter()
                .filter(|t| t.direction == dbsync_core::Direction::PushOnly)
                .filter(|t| t.key_type == dbsync_core::KeyType::Integer)
            {
                reserve_keys(conn, &t.name, base)?;
            }
        }
        set_state(conn, "node_id", &(r.node_id as i64))?;
        set_state(conn, "secret", &r.secret)?;
        set_state(conn, "user_id", &r.user_id)?;
        set_state(conn, "server_url", &server_url)
    })
}

/// The name of the resolution policy stored for the node (spec §12.4):
/// `node_wins` or `server_wins`; `None` when none was chosen.
pub fn stored_policy(conn: &Connection) -> rusqlite::Result<Option<String>> {
    get_state(conn, "policy")
}

/// Stores the name of the node's resolution policy, for later merges.
pub fn store_policy(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    set_state(conn, "policy", &name)
}

/// Sets the server URL later commands use.
pub fn set_server_url(conn: &Connection, server_url: &str) -> rusqlite::Result<()> {
    set_state(conn, "server_url", &server_url)
}
