//! The CA certificate a node trusts for its server, kept in the node's
//! state beside the credentials of its registration.

use rusqlite::{Connection, OptionalExtension};

/// The `dbsync_state` key of the CA certificate (PEM text).
const CA_CERT: &str = "ca_cert";

/// The CA certificate stored at registration, if any.
pub(crate) fn ca_cert(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM dbsync_state WHERE key = ?1",
        [CA_CERT],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()
    .map(Option::flatten)
}

/// Stores `pem` as the CA certificate, or forgets the stored one (a
/// registration without a CA trusts the platform's roots only).
pub(crate) fn set_ca_cert(conn: &Connection, pem: Option<&str>) -> rusqlite::Result<()> {
    match pem {
        Some(pem) => conn.execute(
            "INSERT INTO dbsync_state (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [CA_CERT, pem],
        )?,
        None => conn.execute("DELETE FROM dbsync_state WHERE key = ?1", [CA_CERT])?,
    };
    Ok(())
}
