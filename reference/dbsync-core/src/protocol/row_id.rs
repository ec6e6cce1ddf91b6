//! Row ids (spec §2.2): an integer for an integer-keyed table, a short
//! string for a text-keyed one. On the wire an integer row id is a JSON
//! number and a text row id a JSON string (spec §3.3, §4.4).
//!
//! [`RowId`] is `Copy`: a text id lives inline, at most
//! [`TEXT_ID_MAX_BYTES`] bytes, so ops, plans and maps hold row ids as
//! cheaply as they held integers.

use super::value::Value;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The longest text row id, in bytes of UTF-8 (spec §2.2).
pub const TEXT_ID_MAX_BYTES: usize = 64;

/// A text row id: 1 to [`TEXT_ID_MAX_BYTES`] bytes of UTF-8, held inline.
#[derive(Clone, Copy)]
pub struct TextId {
    len: u8,
    bytes: [u8; TEXT_ID_MAX_BYTES],
}

impl TextId {
    /// `text` as a row id, if it is 1 to [`TEXT_ID_MAX_BYTES`] bytes long.
    pub fn new(text: &str) -> Option<TextId> {
        let n = text.len();
        if n == 0 || n > TEXT_ID_MAX_BYTES {
            return None;
        }
        let mut bytes = [0u8; TEXT_ID_MAX_BYTES];
        bytes[..n].copy_from_slice(text.as_bytes());
        Some(TextId {
            len: n as u8,
            bytes,
        })
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        // `new` copied a whole `str`, so the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

impl PartialEq for TextId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TextId {}

/// One `write` of the bytes: hashers keyed by a row id (the merge's
/// `IdHasher`) take the last word written as the id.
impl Hash for TextId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_str().as_bytes());
    }
}

impl PartialOrd for TextId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Byte by byte, as SQLite's `BINARY` collation and PostgreSQL's `"C"`
/// collation compare.
impl Ord for TextId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().as_bytes().cmp(other.as_str().as_bytes())
    }
}

/// A row's id: the value of its table's primary key (spec §2.2).
///
/// Ordered integers first, then texts byte by byte: a table's ids are all
/// of one kind, so the order between kinds only makes "no id yet" (`0`)
/// the least of both.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowId {
    /// An integer-keyed table's id, 1 to 2^53 − 1 on the wire.
    Int(i64),
    /// A text-keyed table's id, 1 to 64 bytes of UTF-8.
    Text(TextId),
}

impl RowId {
    /// The integer id, if this is one.
    pub fn as_int(self) -> Option<i64> {
        match self {
            RowId::Int(n) => Some(n),
            RowId::Text(_) => None,
        }
    }

    /// The text id, if this is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            RowId::Int(_) => None,
            RowId::Text(t) => Some(t.as_str()),
        }
    }

    /// A text id, if `text` is 1 to [`TEXT_ID_MAX_BYTES`] bytes long.
    pub fn text(text: &str) -> Option<RowId> {
        TextId::new(text).map(RowId::Text)
    }

    /// The integer id after this one, if this is an integer id below
    /// `i64::MAX`; text ids have no successor (they are never re-keyed).
    pub fn checked_next(self) -> Option<RowId> {
        match self {
            RowId::Int(n) => n.checked_add(1).map(RowId::Int),
            RowId::Text(_) => None,
        }
    }

    /// The id as a column value (an integer or a text).
    pub fn to_value(self) -> Value {
        match self {
            RowId::Int(n) => Value::Integer(n),
            RowId::Text(t) => Value::Text(t.as_str().to_string()),
        }
    }

    /// The id a foreign-key column's value names, if it can name one.
    pub fn from_value(value: &Value) -> Option<RowId> {
        match value {
            Value::Integer(n) => Some(RowId::Int(*n)),
            Value::Text(t) => RowId::text(t),
            _ => None,
        }
    }
}

impl From<i64> for RowId {
    fn from(n: i64) -> RowId {
        RowId::Int(n)
    }
}

impl Default for RowId {
    fn default() -> RowId {
        RowId::Int(0)
    }
}

/// An integer as its digits, a text as a quoted string: `7`, `"a1"`.
impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowId::Int(n) => write!(f, "{n}"),
            RowId::Text(t) => write!(f, "{:?}", t.as_str()),
        }
    }
}

impl fmt::Debug for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for TextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for RowId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RowId::Int(n) => s.serialize_i64(*n),
            RowId::Text(t) => s.serialize_str(t.as_str()),
        }
    }
}

struct RowIdVisitor;

const EXPECTING: &str = "a row id: a whole number, or a string of 1 to 64 bytes";

impl Visitor<'_> for RowIdVisitor {
    type Value = RowId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTING)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RowId, E> {
        i64::try_from(v)
            .map(RowId::Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RowId, E> {
        Ok(RowId::Int(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RowId, E> {
        super::integer::whole_f64(v)
            .map(RowId::Int)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RowId, E> {
        RowId::text(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

impl<'de> Deserialize<'de> for RowId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RowId, D::Error> {
        d.deserialize_any(RowIdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_id_is_a_number_or_a_string_on_the_wire() {
        let ids: Vec<RowId> = serde_json::from_str(r#"[7, 7.0, "a1"]"#).unwrap();
        assert_eq!(
            ids,
            vec![RowId::Int(7), RowId::Int(7), RowId::text("a1").unwrap()]
        );
        assert_eq!(serde_json::to_string(&ids).unwrap(), r#"[7,7,"a1"]"#);
    }

    #[test]
    fn an_empty_or_over_long_text_id_is_refused() {
        assert!(serde_json::from_str::<RowId>(r#""""#).is_err());
        let long = format!("\"{}\"", "x".repeat(TEXT_ID_MAX_BYTES + 1));
        assert!(serde_json::from_str::<RowId>(&long).is_err());
        let longest = format!("\"{}\"", "é".repeat(TEXT_ID_MAX_BYTES / 2));
        assert!(serde_json::from_str::<RowId>(&longest).is_ok());
    }

    #[test]
    fn text_ids_order_byte_by_byte_after_every_integer() {
        let t = |s| RowId::text(s).unwrap();
        assert!(RowId::Int(i64::MAX) < t("0"));
        assert!(t("B") < t("a"));
        assert!(t("a") < t("ab"));
    }
}
