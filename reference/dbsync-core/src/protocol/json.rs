//! Spec §7.4's rule that serde leaves to us: an object's members have
//! distinct names. Derived message types already refuse a repeated field;
//! maps (`values`, `where`, `app_data`) would keep the last copy. This walk
//! finds the first repeated name anywhere in a body.

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// The JSON pointer (RFC 6901) of the first member whose name repeats an
/// earlier member of the same object, in document order. `None` when
/// every object's names are distinct, and also when `body` is not JSON
/// (the message parse reports that).
pub fn first_duplicate_member(body: &[u8]) -> Option<String> {
    let mut path = Vec::new();
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        path: &mut path,
        found: &mut found,
    };
    walk.deserialize(&mut de).ok()?;
    found
}

fn pointer(path: &[String], last: &str) -> String {
    path.iter()
        .map(String::as_str)
        .chain(std::iter::once(last))
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

struct Walk<'a> {
    path: &'a mut Vec<String>,
    found: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            self.path.push(i.to_string());
            let more = seq.next_element_seed(Walk {
                path: self.path,
                found: self.found,
            })?;
            self.path.pop();
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if self.found.is_none() && seen.contains(&name) {
                *self.found = Some(pointer(self.path, &name));
            }
            self.path.push(name.clone());
            map.next_value_seed(Walk {
                path: self.path,
                found: self.found,
            })?;
            self.path.pop();
            seen.insert(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::first_duplicate_member;

    #[test]
    fn distinct_names_have_no_duplicate() {
        assert_eq!(
            first_duplicate_member(br#"{"a": {"b": 1, "c": [{"b": 2}]}, "b": 3}"#),
            None
        );
    }

    #[test]
    fn a_repeated_name_deep_inside_is_found_by_its_pointer() {
        let body = br#"{"rows": [{"id": 1, "values": {"name": "a", "na/me": 1, "name": "b"}}]}"#;
        assert_eq!(
            first_duplicate_member(body).as_deref(),
            Some("/rows/0/values/name")
        );
    }

    #[test]
    fn the_first_duplicate_in_document_order_is_named() {
        let body = br#"{"x": {"k": 1, "k": 2}, "y": 1, "y": 2}"#;
        assert_eq!(first_duplicate_member(body).as_deref(), Some("/x/k"));
    }

    #[test]
    fn pointer_characters_are_escaped() {
        let body = br#"{"a/b": {"c~d": 1, "c~d": 2}}"#;
        assert_eq!(first_duplicate_member(body).as_deref(), Some("/a~1b/c~0d"));
    }

    #[test]
    fn a_body_that_is_not_json_has_no_duplicate_to_report() {
        assert_eq!(first_duplicate_member(b"{\"a\": 1, \"a\": "), None);
    }
}
