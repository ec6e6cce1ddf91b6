//! Spec §7.4's rule that serde leaves to us: an object's members have
//! distinct names. Derived message types already refuse a repeated field;
//! maps (`values`, `where`, `app_data`) would keep the last copy. This walk
//! finds the first repeated name anywhere in a body.

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// The JSON pointer (RFC 6901) of the first member whose name repeats an
/// earlier member of the same object, in document order. `None` when
/// every object's names are distinct, and also when `body` is not JSON
/// (the message parse reports that).
///
/// One pass, no tree: names are borrowed from `body` unless they hold
/// escapes, and the pointer is only spelled out for a repeat.
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

/// One step of the path from the body to a value.
enum Step<'de> {
    Member(Cow<'de, str>),
    Index(usize),
}

fn pointer(path: &[Step<'_>], last: &str) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Member(name) => push_token(&mut out, name),
            Step::Index(i) => out.push_str(&format!("/{i}")),
        }
    }
    push_token(&mut out, last);
    out
}

fn push_token(out: &mut String, name: &str) {
    out.push('/');
    out.push_str(&name.replace('~', "~0").replace('/', "~1"));
}

/// The member names of one object so far. Most objects are small: a
/// list, until it grows past `SMALL` names and a hash set takes over (an
/// object with very many members costs linear time, not quadratic).
#[derive(Default)]
struct Names<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Names<'de> {
    const SMALL: usize = 16;

    /// Adds `name`; false when the object already had it.
    fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if self.many.is_empty() {
            if self.few.contains(&name) {
                return false;
            }
            if self.few.len() < Self::SMALL {
                self.few.push(name);
                return true;
            }
            self.many.extend(self.few.drain(..));
        }
        self.many.insert(name)
    }
}

/// A member name, borrowed from the body when it has no escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

struct Walk<'a, 'de> {
    path: &'a mut Vec<Step<'de>>,
    found: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
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
            self.path.push(Step::Index(i));
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
        let mut names = Names::default();
        while let Some(name) = map.next_key_seed(Name)? {
            if !names.insert(name.clone()) && self.found.is_none() {
                *self.found = Some(pointer(self.path, &name));
            }
            self.path.push(Step::Member(name));
            map.next_value_seed(Walk {
                path: self.path,
                found: self.found,
            })?;
            self.path.pop();
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
    fn a_repeat_in_a_large_object_is_found() {
        let members: Vec<String> = (0..100).map(|i| format!("\"m{i}\": {i}")).collect();
        let body = format!("{{\"o\": {{{}, \"m7\": 0}}}}", members.join(", "));
        assert_eq!(
            first_duplicate_member(body.as_bytes()).as_deref(),
            Some("/o/m7")
        );
    }

    #[test]
    fn a_name_with_escapes_is_compared_by_its_value() {
        let body = br#"{"a": 1, "\u0061": 2}"#;
        assert_eq!(first_duplicate_member(body).as_deref(), Some("/a"));
    }

    #[test]
    fn a_body_that_is_not_json_has_no_duplicate_to_report() {
        assert_eq!(first_duplicate_member(b"{\"a\": 1, \"a\": "), None);
    }
}
