//! Maps that refuse a repeated member name while they are read (spec
//! §7.4), so a message is parsed in one pass: derived message types
//! already refuse a repeated field, and `values`, `where` and `app_data`
//! read through these. When a parse fails, the envelope walks the body
//! again ([`super::json::first_duplicate_member`]) only to name where.

use super::value::Value;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

fn repeated<E: de::Error>(name: &str) -> E {
    E::custom(format!("the member {name:?} appears twice in its object"))
}

/// A row's `values` or a query's `where`: column name to value.
pub fn values<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Value>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of column values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                let value: Value = map.next_value()?;
                if let Some(name) = insert_new(&mut out, name, value) {
                    return Err(repeated(&name));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

/// Inserts `name`, or gives it back when the map holds it already.
fn insert_new<T>(map: &mut BTreeMap<String, T>, name: String, value: T) -> Option<String> {
    match map.entry(name) {
        std::collections::btree_map::Entry::Vacant(v) => {
            v.insert(value);
            None
        }
        std::collections::btree_map::Entry::Occupied(o) => Some(o.key().clone()),
    }
}

/// `app_data`, when present: an object (not `null`), whose objects at
/// any depth have distinct member names.
pub fn app_data<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, D::Error> {
    match d.deserialize_any(Json)? {
        serde_json::Value::Object(map) => Ok(Some(map)),
        _ => Err(de::Error::custom("app_data must be an object")),
    }
}

/// Any JSON value, refusing a repeated member name in its objects.
struct Json;

impl<'de> de::DeserializeSeed<'de> for Json {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Json {
    type Value = serde_json::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(Json)?;
            if out.contains_key(&name) {
                return Err(repeated(&name));
            }
            out.insert(name, value);
        }
        Ok(serde_json::Value::Object(out))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(Json)? {
            out.push(item);
        }
        Ok(serde_json::Value::Array(out))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::{PushRequest, QueryRequest};
    use crate::Row;

    fn push(app_data: &str, values: &str) -> Result<PushRequest, serde_json::Error> {
        serde_json::from_str(&format!(
            r#"{{"protocol": "1.0", "schema": "s", {app_data} "push_id": "p",
                "base_version": 0, "ops": [{{"table": "t", "row_id": 1, "command": "i"}}],
                "rows": [{{"table": "t", "id": 1, "values": {values}}}]}}"#
        ))
    }

    #[test]
    fn a_column_named_twice_in_values_is_refused_while_parsing() {
        let err =
            serde_json::from_str::<Row>(r#"{"table": "t", "id": 1, "values": {"a": 1, "a": 2}}"#)
                .unwrap_err();
        assert!(err.to_string().contains("\"a\" appears twice"), "{err}");
        assert!(push("", r#"{"a": 1, "b": 2}"#).is_ok());
        assert!(push("", r#"{"a": 1, "a": 1}"#).is_err());
    }

    #[test]
    fn a_member_named_twice_at_any_depth_of_app_data_is_refused() {
        assert!(push(r#""app_data": {"x": {"y": [1, {"z": 1}]}},"#, "{}").is_ok());
        assert!(push(r#""app_data": {"x": 1, "x": 1},"#, "{}").is_err());
        assert!(push(r#""app_data": {"x": [{"z": 1, "z": 2}]},"#, "{}").is_err());
    }

    #[test]
    fn app_data_that_is_not_an_object_is_refused_and_absent_app_data_is_none() {
        assert!(push(r#""app_data": null,"#, "{}").is_err());
        assert!(push(r#""app_data": [1],"#, "{}").is_err());
        assert_eq!(push("", "{}").unwrap().app_data, None);
    }

    #[test]
    fn a_query_filter_naming_a_column_twice_is_refused() {
        let q = |filter: &str| {
            serde_json::from_str::<QueryRequest>(&format!(
                r#"{{"protocol": "1.0", "schema": "s", "table": "t", "where": {filter}}}"#
            ))
        };
        assert!(q(r#"{"a": 1}"#).is_ok());
        assert!(q(r#"{"a": 1, "a": 2}"#).is_err());
    }
}
