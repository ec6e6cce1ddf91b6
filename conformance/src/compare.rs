//! Comparing an implementation's JSON with a vector's expectation.
//!
//! - Numbers compare by value: `4` equals `4.0` (a `real` column may hold
//!   an integral value, spec §4.1.2).
//! - [`same`]: equal after that normalization.
//! - [`subset`]: every member the expectation lists is present and equal;
//!   members it does not list are ignored (spec §17.1: a receiver ignores
//!   keys it does not know). Arrays must have the same length and compare
//!   item by item, in order, each item as a subset.
//! - [`same_multiset`]: two arrays hold the same items, in any order (rows,
//!   pending ops and conflict entries of a merge, spec §12).

use serde_json::{Number, Value};

/// `value` with every integral number written as an integer, so that equal
/// numbers serialize equally.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                Value::Number(Number::from(f as i64))
            }
            _ => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), canonical(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether two JSON values are equal, numbers by value.
pub fn same(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// Checks that every member of `expected` (recursively, for objects) is in
/// `actual` with an equal value. `Err` names the first difference by JSON
/// pointer.
pub fn subset(expected: &Value, actual: &Value) -> Result<(), String> {
    subset_at("", expected, actual)
}

fn subset_at(at: &str, expected: &Value, actual: &Value) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let here = format!("{at}/{k}");
                match a.get(k) {
                    Some(av) => subset_at(&here, ev, av)?,
                    None => return Err(format!("{here}: missing (expected {ev})")),
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset_at(&format!("{at}/{i}"), ev, av)?;
            }
            Ok(())
        }
        _ if same(expected, actual) => Ok(()),
        _ => Err(format!(
            "{}: expected {expected}, got {actual}",
            if at.is_empty() { "/" } else { at }
        )),
    }
}

/// Checks that two arrays hold the same items in any order. `Err` lists what
/// is missing and what is extra.
pub fn same_multiset(what: &str, expected: &[Value], actual: &[Value]) -> Result<(), String> {
    let key = |v: &Value| canonical(v).to_string();
    let mut e: Vec<String> = expected.iter().map(key).collect();
    let mut a: Vec<String> = actual.iter().map(key).collect();
    e.sort();
    a.sort();
    if e == a {
        return Ok(());
    }
    // The multiset differences: each item matches at most one other.
    let mut extra = a.clone();
    let mut missing = Vec::new();
    for x in &e {
        match extra.iter().position(|y| y == x) {
            Some(i) => {
                extra.remove(i);
            }
            None => missing.push(x),
        }
    }
    let mut out = format!("{what} differ");
    for m in missing {
        out.push_str(&format!("\n  missing: {m}"));
    }
    for x in extra {
        out.push_str(&format!("\n  extra:   {x}"));
    }
    if e.len() != a.len() {
        out.push_str(&format!(
            "\n  ({} expected, {} got)",
            expected.len(),
            actual.len()
        ));
    }
    Err(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_integral_real_equals_the_integer() {
        assert!(same(&json!({"km": 4.0}), &json!({"km": 4})));
        assert!(!same(&json!({"km": 4.5}), &json!({"km": 4})));
    }

    #[test]
    fn a_subset_ignores_members_the_expectation_does_not_list() {
        let actual = json!({"code": "x", "details": {"a": 1, "b": 2}});
        assert!(subset(&json!({"details": {"a": 1}}), &actual).is_ok());
        let err = subset(&json!({"details": {"a": 2}}), &actual).unwrap_err();
        assert!(err.starts_with("/details/a"), "{err}");
        assert!(subset(&json!({"c": 1}), &actual).is_err());
        let list = json!({"v": [{"a": 1, "b": 2}]});
        assert!(subset(&json!({"v": [{"a": 1}]}), &list).is_ok());
        assert!(subset(&json!({"v": []}), &list).is_err());
    }

    #[test]
    fn a_multiset_ignores_order_and_reports_the_difference() {
        let a = [json!(1), json!(2), json!(2)];
        assert!(same_multiset("items", &a, &[json!(2), json!(1), json!(2)]).is_ok());
        let err = same_multiset("items", &a, &[json!(2), json!(1), json!(3)]).unwrap_err();
        assert!(
            err.contains("missing: 2") && err.contains("extra:   3"),
            "{err}"
        );
    }
}
