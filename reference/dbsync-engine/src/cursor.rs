//! Cursors (spec §11.4, §13.1): opaque to the node, a few numbers joined
//! by dots and MAC'd with a key only the server knows, so that the server
//! can reject forged or altered cursors without keeping state. A cursor
//! is bound to its kind (pull or repair) and to the node it was issued to.

use crate::Rejection;
use dbsync_core::auth::{hex, Secret};
use dbsync_core::RowId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The kinds of transfer that use cursors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// A pull (spec §11.4).
    Pull,
    /// A repair (spec §13.1).
    Repair,
}

impl CursorKind {
    fn tag(self) -> &'static str {
        match self {
            CursorKind::Pull => "pull",
            CursorKind::Repair => "repair",
        }
    }
}

fn hmac(key: &Secret, text: &str) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("any key length");
    m.update(text.as_bytes());
    m
}

/// What the MAC covers: the kind, the node and the fields.
fn signed_text(kind: CursorKind, node_id: u64, fields: &str) -> String {
    format!("{}.{node_id}.{fields}", kind.tag())
}

/// Issues a cursor for `node_id` holding `fields`.
pub fn issue(key: &Secret, kind: CursorKind, node_id: u64, fields: &[u64]) -> String {
    let fields: Vec<String> = fields.iter().map(u64::to_string).collect();
    issue_fields(key, kind, node_id, &fields)
}

/// Issues a repair cursor: the index of the table the repair is in and
/// the last key it sent there.
pub fn issue_repair(key: &Secret, node_id: u64, table: usize, after: RowId) -> String {
    let after = match after {
        RowId::Int(n) => n.to_string(),
        RowId::Text(t) => format!("t{}", hex(t.as_str().as_bytes())),
    };
    issue_fields(
        key,
        CursorKind::Repair,
        node_id,
        &[table.to_string(), after],
    )
}

/// Reads a cursor [`issue_repair`] issued to `node_id`.
pub fn read_repair(key: &Secret, node_id: u64, cursor: &str) -> Result<(usize, RowId), Rejection> {
    let fields = read_fields(key, CursorKind::Repair, node_id, cursor, 2)?;
    // The MAC held, so the fields are the server's own.
    let table = fields[0].parse().map_err(|_| invalid())?;
    let after = match fields[1].strip_prefix('t') {
        None => RowId::Int(fields[1].parse().map_err(|_| invalid())?),
        Some(h) => from_hex(h)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| RowId::text(&t))
            .ok_or_else(invalid)?,
    };
    Ok((table, after))
}

fn from_hex(h: &str) -> Option<Vec<u8>> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

fn invalid() -> Rejection {
    Rejection::invalid_cursor(
        "this cursor was not issued for this transfer; start again with a null cursor",
    )
}

fn issue_fields(key: &Secret, kind: CursorKind, node_id: u64, fields: &[String]) -> String {
    let body = fields.join(".");
    let mac = hmac(key, &signed_text(kind, node_id, &body)).finalize();
    // The first 12 bytes of the MAC are plenty against forgery.
    format!("{}.{body}.{}", kind.tag(), hex(&mac.into_bytes()[..12]))
}

/// Reads a cursor this server issued to `node_id` for `kind` with `n`
/// fields, or refuses it with `invalid_cursor`.
pub fn read(
    key: &Secret,
    kind: CursorKind,
    node_id: u64,
    cursor: &str,
    n: usize,
) -> Result<Vec<u64>, Rejection> {
    read_fields(key, kind, node_id, cursor, n)?
        .iter()
        .map(|p| p.parse().map_err(|_| invalid()))
        .collect()
}

fn read_fields(
    key: &Secret,
    kind: CursorKind,
    node_id: u64,
    cursor: &str,
    n: usize,
) -> Result<Vec<String>, Rejection> {
    let parts: Vec<&str> = cursor.split('.').collect();
    if parts.len() != n + 2 || parts[0] != kind.tag() {
        return Err(invalid());
    }
    let text = signed_text(kind, node_id, &parts[1..=n].join("."));
    if !mac_ok(key, &text, parts[n + 1]) {
        return Err(invalid());
    }
    Ok(parts[1..=n].iter().map(|p| p.to_string()).collect())
}

/// Whether `mac_hex` is the cursor MAC of `text`, compared in constant time.
fn mac_ok(key: &Secret, text: &str, mac_hex: &str) -> bool {
    let bytes: Option<Vec<u8>> = (mac_hex.len() == 24)
        .then(|| {
            (0..24)
                .step_by(2)
                .map(|i| u8::from_str_radix(mac_hex.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten();
    bytes.is_some_and(|b| hmac(key, text).verify_truncated_left(&b).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_for_its_node_kind_and_key() {
        let key = Secret([7; 32]);
        let c = issue(&key, CursorKind::Pull, 3, &[42, 44, 43, 2, 42]);
        assert_eq!(
            read(&key, CursorKind::Pull, 3, &c, 5).unwrap(),
            [42, 44, 43, 2, 42]
        );
        assert!(read(&key, CursorKind::Pull, 4, &c, 5).is_err());
        assert!(read(&key, CursorKind::Repair, 3, &c, 5).is_err());
        assert!(read(&Secret([8; 32]), CursorKind::Pull, 3, &c, 5).is_err());
        let altered = c.replacen("42", "41", 1);
        assert!(read(&key, CursorKind::Pull, 3, &altered, 5).is_err());
    }

    #[test]
    fn a_repair_cursor_holds_an_integer_or_a_text_key() {
        let key = Secret([7; 32]);
        for after in [RowId::Int(42), RowId::text("a.b-é").unwrap()] {
            let c = issue_repair(&key, 3, 2, after);
            assert_eq!(read_repair(&key, 3, &c).unwrap(), (2, after));
            assert!(read_repair(&key, 4, &c).is_err());
        }
    }
}
