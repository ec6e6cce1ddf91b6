//! Judging an adapter's reply against a node vector's `expected`.
//!
//! | kind | outcome compared | error compared |
//! |------|------------------|----------------|
//! | `compression` | `ops` exactly, in order; `max_row_ids` when the vector lists it | `code`; the `details` the vector lists |
//! | `merge` | `rows`, `pending`, `restores` (absent: none), `conflicts`, each in any order | `code`; `details.collisions` in any order |
//! | `history` | the members the vector lists | — |

use super::protocol::Reply;
use crate::compare::{same, same_multiset, subset};
use crate::vectors::Kind;
use serde_json::{json, Value};

/// `Ok` when the reply meets the expectation; `Err` says why not.
pub fn judge(kind: Kind, expected: &Value, reply: &Reply) -> Result<(), String> {
    match (expected.get("outcome"), expected.get("error"), reply) {
        (Some(want), None, Reply::Outcome(got)) => outcome(kind, want, got),
        (None, Some(want), Reply::Error(got)) => error(want, &json!(got)),
        (Some(_), None, Reply::Error(e)) => Err(format!(
            "expected an outcome, got the error {}: {}",
            e.code, e.message
        )),
        (None, Some(want), Reply::Outcome(_)) => Err(format!(
            "expected the error {}, got an outcome",
            want.get("code").unwrap_or(&Value::Null)
        )),
        (_, _, Reply::NotImplemented(_)) => Err("not implemented".into()),
        _ => Err("the vector's `expected` has neither `outcome` nor `error`".into()),
    }
}

fn array<'a>(v: &'a Value, member: &str) -> Result<&'a [Value], String> {
    v.get(member)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("`{member}` is missing or not an array"))
}

/// A list of a merge outcome. `restores` is optional: absent is none
/// (spec §12.9.1).
fn merge_list<'a>(v: &'a Value, member: &str) -> Result<&'a [Value], String> {
    match (member, v.get(member)) {
        ("restores", None) => Ok(&[]),
        _ => array(v, member),
    }
}

fn outcome(kind: Kind, want: &Value, got: &Value) -> Result<(), String> {
    match kind {
        Kind::Compression => {
            let (w, g) = (array(want, "ops")?, array(got, "ops")?);
            if !same(&json!(w), &json!(g)) {
                return Err("the compressed ops differ (order counts)".into());
            }
            if let Some(m) = want.get("max_row_ids") {
                let actual = got.get("max_row_ids").unwrap_or(&Value::Null);
                if !same(m, actual) {
                    return Err(format!(
                        "the largest row ids differ: expected {m}, got {actual}"
                    ));
                }
            }
            Ok(())
        }
        Kind::Merge => {
            let mut problems = Vec::new();
            for member in ["rows", "pending", "restores", "conflicts"] {
                let w = merge_list(want, member)?;
                match merge_list(got, member) {
                    Ok(g) => {
                        if let Err(e) = same_multiset(member, w, g) {
                            problems.push(e);
                        }
                    }
                    Err(e) => problems.push(e),
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("\n"))
            }
        }
        Kind::Schema => {
            for member in ["canonical", "fingerprint"] {
                if want.get(member) != got.get(member) {
                    return Err(format!(
                        "the {member} differs: expected {}, got {}",
                        want.get(member).unwrap_or(&Value::Null),
                        got.get(member).unwrap_or(&Value::Null)
                    ));
                }
            }
            Ok(())
        }
        Kind::History | Kind::Wire => subset(want, got),
    }
}

fn error(want: &Value, got: &Value) -> Result<(), String> {
    let (wc, gc) = (&want["code"], &got["code"]);
    if wc != gc {
        return Err(format!("expected the error {wc}, got {gc}"));
    }
    let Some(wd) = want.get("details") else {
        return Ok(());
    };
    let gd = got.get("details").unwrap_or(&Value::Null);
    if let (Some(w), Some(g)) = (
        wd.get("collisions").and_then(Value::as_array),
        gd.get("collisions").and_then(Value::as_array),
    ) {
        return same_multiset("collisions", w, g);
    }
    subset(wd, gd).map_err(|e| format!("details: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::protocol::LocalError;

    #[test]
    fn merge_rows_compare_in_any_order() {
        let want = json!({"outcome": {"rows": [1, 2], "pending": [], "conflicts": []}});
        let got = json!({"rows": [2, 1], "pending": [], "conflicts": []});
        assert!(judge(Kind::Merge, &want, &Reply::Outcome(got)).is_ok());
    }

    #[test]
    fn compressed_ops_compare_in_order() {
        let want = json!({"outcome": {"ops": [1, 2]}});
        let got = json!({"ops": [2, 1]});
        assert!(judge(Kind::Compression, &want, &Reply::Outcome(got)).is_err());
    }

    #[test]
    fn an_error_matches_on_code_and_listed_details() {
        let want = json!({"error": {"code": "invalid_pending_sequence", "details": {"row_id": 7}}});
        let got = LocalError::new("invalid_pending_sequence", "…")
            .with(json!({"row_id": 7, "table": "item"}));
        assert!(judge(Kind::Compression, &want, &Reply::Error(got.clone())).is_ok());
        let other = LocalError {
            code: "x".into(),
            ..got
        };
        assert!(judge(Kind::Compression, &want, &Reply::Error(other)).is_err());
    }
}
