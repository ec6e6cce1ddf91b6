//! Judging an answer against a step's expectation: status, the
//! `Dbsync-Protocol` header (spec §16.3), validity against the endpoint's
//! schema or the error schema, code, details, headers and body.

use super::http::Reply;
use super::steps::Expect;
use crate::compare::{same_multiset, subset};
use crate::schemas::SchemaSet;
use serde_json::{json, Value};

/// Why a step failed: a sentence, and what was expected and got.
pub struct StepFailure {
    pub reason: String,
    pub expected: Option<Value>,
    pub actual: Option<Value>,
}

impl From<String> for StepFailure {
    fn from(reason: String) -> StepFailure {
        StepFailure {
            reason,
            expected: None,
            actual: None,
        }
    }
}

/// The schema of a success answer on `path`.
pub fn success_schema(path: &str) -> Option<&'static str> {
    Some(match path.rsplit('/').next()? {
        "register" => "register-response",
        "push" => "push-response",
        "pull" => "pull-response",
        "repair" => "repair-page",
        "query" => "query-response",
        _ => return None,
    })
}

/// The latest version a success answer on `path` tells.
pub fn learned_version(path: &str, json: &Value) -> Option<u64> {
    match success_schema(path)? {
        "push-response" => json["version"].as_u64(),
        "pull-response" => json["target_version"].as_u64(),
        "register-response" => json["latest_version"].as_u64(),
        _ => None,
    }
}

fn describe(reply: &Reply) -> Value {
    json!({
        "status": reply.status,
        "body": reply
            .json()
            .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&reply.body).into_owned())),
    })
}

/// An expectation with its placeholders filled.
pub struct Filled<'a> {
    pub expect: &'a Expect,
    pub details: Option<Value>,
    pub body: Option<Value>,
    /// `expect.select`, filled: pointer and pattern.
    pub select: Vec<(String, Value)>,
}

impl Filled<'_> {
    fn as_json(&self) -> Value {
        let mut e = json!({ "status": self.expect.status });
        if let Some(c) = &self.expect.code {
            e["code"] = json!(c);
        }
        if let Some(d) = &self.details {
            e["details"] = d.clone();
        }
        if let Some(b) = &self.body {
            e["body"] = b.clone();
        }
        if !self.select.is_empty() {
            e["select"] = self
                .select
                .iter()
                .map(|(p, v)| (p.clone(), v.clone()))
                .collect();
        }
        if !self.expect.headers.is_empty() {
            e["headers"] = json!(self.expect.headers);
        }
        e
    }
}

/// Leaves out of each array of `body` named by `select` the items that do
/// not match its pattern (as a subset).
fn select(body: &mut Value, select: &[(String, Value)]) -> Result<(), String> {
    for (pointer, pattern) in select {
        let Some(Value::Array(items)) = body.pointer_mut(pointer) else {
            return Err(format!("body{pointer}: not an array"));
        };
        items.retain(|item| subset(pattern, item).is_ok());
    }
    Ok(())
}

/// Checks `reply` (an answer to `path`) against `want`; returns its JSON.
pub fn check(
    schemas: &SchemaSet,
    path: &str,
    want: &Filled<'_>,
    reply: &Reply,
) -> Result<Value, StepFailure> {
    let fail = |reason: String| StepFailure {
        reason,
        expected: Some(want.as_json()),
        actual: Some(describe(reply)),
    };
    let protocol = reply.header("dbsync-protocol");
    if protocol != ["1.0"] {
        return Err(fail(format!(
            "the answer carries Dbsync-Protocol {protocol:?}, not exactly one `1.0` (§16.3)"
        )));
    }
    let expect = want.expect;
    if reply.status != expect.status {
        return Err(fail(format!(
            "expected status {}, got {}",
            expect.status, reply.status
        )));
    }
    let json = reply
        .json()
        .ok_or_else(|| fail("the answer is not JSON".into()))?;
    let schema = if reply.status == 200 {
        success_schema(path)
    } else {
        Some("error")
    };
    if let Some(name) = schema {
        if let Err(errors) = schemas.validate(name, &json) {
            return Err(fail(format!(
                "the answer is not a valid {name}: {}",
                errors.join("; ")
            )));
        }
    }
    if let Some(code) = &expect.code {
        let got = json.pointer("/error/code").cloned().unwrap_or(Value::Null);
        if got != json!(code) {
            return Err(fail(format!("expected the code {code}, got {got}")));
        }
    }
    if let Some(d) = &want.details {
        let got = json.pointer("/error/details").cloned().unwrap_or(json!({}));
        subset(d, &got).map_err(|e| fail(format!("details: {e}")))?;
    }
    for (name, value) in &expect.headers {
        let got = reply.header(name);
        if got != [value.as_str()] {
            return Err(fail(format!(
                "expected the header {name}: {value}, got {got:?}"
            )));
        }
    }
    if let Some(b) = &want.body {
        let (mut b, mut got) = (b.clone(), json.clone());
        select(&mut got, &want.select).map_err(fail)?;
        for pointer in &expect.unordered {
            let (Some(Value::Array(w)), Some(Value::Array(g))) =
                (b.pointer(pointer).cloned(), got.pointer(pointer).cloned())
            else {
                return Err(fail(format!("body{pointer}: not an array")));
            };
            same_multiset(&format!("body{pointer}"), &w, &g).map_err(fail)?;
            for doc in [&mut b, &mut got] {
                if let Some(slot) = doc.pointer_mut(pointer) {
                    *slot = Value::Null;
                }
            }
        }
        subset(&b, &got).map_err(|e| fail(format!("body: {e}")))?;
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_keeps_the_items_matching_the_pattern_in_order() {
        let mut body = json!({"rows": [
            {"table": "city", "id": 1},
            {"table": "person", "id": 2},
            {"table": "city", "id": 3},
            {"table": "person", "id": 4},
        ]});
        let pattern = vec![("/rows".to_string(), json!({"table": "person"}))];
        select(&mut body, &pattern).unwrap();
        assert_eq!(
            body,
            json!({"rows": [{"table": "person", "id": 2}, {"table": "person", "id": 4}]})
        );
        let missing = vec![("/nothing".to_string(), json!({}))];
        assert!(select(&mut body, &missing).is_err());
    }
}
