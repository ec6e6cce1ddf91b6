//! The node's own versions (spec §10.3): versions its pushes became when
//! the server accepted them behind (§10.2.2.1). The node lacks the
//! versions before them, so its last version stays; its next pull leaves
//! their ops out of the merge (§11.5) and forgets those it reached.

use super::state::{clear_state, get_state, set_state};
use super::Result;
use crate::StoreError;
use rusqlite::Connection;

/// The `dbsync_state` key: a JSON array of versions, ascending.
const KEY: &str = "own_versions";

/// The own versions not pulled yet, ascending.
pub(super) fn own_versions(conn: &Connection) -> Result<Vec<u64>> {
    let Some(text) = get_state::<String>(conn, KEY)? else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("own versions are not a list: {e}")).into())
}

/// Remembers `version` as the node's own.
pub(super) fn remember(conn: &Connection, version: u64) -> Result<()> {
    let mut all = own_versions(conn)?;
    if let Err(at) = all.binary_search(&version) {
        all.insert(at, version);
    }
    store(conn, &all)
}

/// Forgets the own versions up to `version` (a pull reached them).
pub(super) fn forget_through(conn: &Connection, version: u64) -> Result<()> {
    let mut all = own_versions(conn)?;
    all.retain(|v| *v > version);
    store(conn, &all)
}

/// Stores `all` (nothing when empty).
fn store(conn: &Connection, all: &[u64]) -> Result<()> {
    if all.is_empty() {
        clear_state(conn, KEY)?;
    } else {
        set_state(
            conn,
            KEY,
            &serde_json::to_string(all).expect("a list of numbers"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_versions_are_kept_in_order_once_each_and_forgotten_up_to_a_pull() {
        let conn = Connection::open_in_memory().unwrap();
        crate::track::ensure_meta(&conn).unwrap();
        for v in [9, 4, 9, 6] {
            remember(&conn, v).unwrap();
        }
        assert_eq!(own_versions(&conn).unwrap(), [4, 6, 9]);
        forget_through(&conn, 6).unwrap();
        assert_eq!(own_versions(&conn).unwrap(), [9]);
        forget_through(&conn, 9).unwrap();
        assert!(own_versions(&conn).unwrap().is_empty());
        assert_eq!(
            get_state::<String>(&conn, KEY).unwrap(),
            None,
            "nothing left stored"
        );
    }
}
