//! Column values and rows as they travel (spec §4).
//!
//! | column type | JSON on the wire                          |
//! |-------------|-------------------------------------------|
//! | any, NULL   | `null`                                    |
//! | `integer`   | a number without fraction or exponent     |
//! | `real`      | a number (finite)                         |
//! | `text`      | a string                                  |
//! | `blob`      | `{"base64": "<standard base64, padded>"}` |
//! | `date`, `time`, `datetime` | an ISO 8601 string (spec §4.3) |

use super::row_id::RowId;
use base64::Engine as _;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// One column value. Dates and times are [`Value::Text`] in their ISO form.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL, `null` on the wire (spec §4.1.4).
    Null,
    /// An integer, a JSON number without fraction or exponent (spec §4.1.1).
    Integer(i64),
    /// A finite binary64 number (spec §4.1.2).
    Real(f64),
    /// A string: `text` values, and `date`, `time` and `datetime` values in
    /// their ISO 8601 form (spec §4.1.3, §4.3).
    Text(String),
    /// A byte string, `{"base64": "..."}` on the wire (spec §4.2).
    Blob(Vec<u8>),
}

impl Value {
    /// About how many bytes the value takes in JSON: exact for NULL, text
    /// without escapes and blobs; an upper bound for numbers. For page
    /// sizes (spec §11.4, §13.2), never for the wire.
    pub fn json_len_estimate(&self) -> usize {
        match self {
            Value::Null => 4,
            Value::Integer(_) => 20,
            Value::Real(_) => 24,
            Value::Text(t) => t.len() + 2,
            Value::Blob(b) => b.len().div_ceil(3) * 4 + 14,
        }
    }

    /// A total order used to compare values deterministically (NULL <
    /// integer/real < text < blob, as SQLite sorts them).
    pub fn sort_key(&self) -> (u8, i128, u64, &[u8]) {
        match self {
            Value::Null => (0, 0, 0, &[]),
            Value::Integer(i) => (1, *i as i128, 0, &[]),
            Value::Real(r) => (1, r.floor() as i128, r.to_bits(), &[]),
            Value::Text(s) => (2, 0, 0, s.as_bytes()),
            Value::Blob(b) => (3, 0, 0, b),
        }
    }

    /// Whether the value is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Value::Null => 0u8.hash(state),
            Value::Integer(i) => {
                1u8.hash(state);
                i.hash(state)
            }
            Value::Real(r) => {
                2u8.hash(state);
                r.to_bits().hash(state)
            }
            Value::Text(s) => {
                3u8.hash(state);
                s.hash(state)
            }
            Value::Blob(b) => {
                4u8.hash(state);
                b.hash(state)
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Integer(i) => s.serialize_i64(*i),
            Value::Real(r) => s.serialize_f64(*r),
            Value::Text(t) => s.serialize_str(t),
            Value::Blob(b) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(
                    "base64",
                    &base64::engine::general_purpose::STANDARD.encode(b),
                )?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("null, an integer, a finite number, a string or {\"base64\": ...}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
                Err(E::custom(
                    "booleans are not column values; use the integers 0 and 1",
                ))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v)
                    .map(Value::Integer)
                    .map_err(|_| E::custom("integer out of the 64-bit signed range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Real(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut out = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "base64" || out.is_some() {
                        return Err(de::Error::custom(
                            "a blob is an object with the single key \"base64\"",
                        ));
                    }
                    let text: String = map.next_value()?;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(text.as_bytes())
                        .map_err(|e| de::Error::custom(format!("bad base64 in blob: {e}")))?;
                    out = Some(bytes);
                }
                out.map(Value::Blob)
                    .ok_or_else(|| de::Error::custom("a blob needs the key \"base64\""))
            }
        }
        d.deserialize_any(V)
    }
}

/// A row's values by column name, without the primary key column.
pub type Values = BTreeMap<String, Value>;

/// A whole row as messages carry it (spec §4.4): the table, the primary key
/// and every other column's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The synced table the row belongs to.
    pub table: String,
    /// The row id: the value of its primary key (spec §2.2).
    pub id: RowId,
    /// Every other column's value, by column name.
    #[serde(deserialize_with = "super::unique::values")]
    pub values: Values,
}

impl Row {
    /// About how many bytes the row takes in JSON (see
    /// [`Value::json_len_estimate`]).
    pub fn json_len_estimate(&self) -> usize {
        let members: usize = self
            .values
            .iter()
            .map(|(name, v)| name.len() + 4 + v.json_len_estimate())
            .sum();
        self.table.len() + 48 + members
    }
}
