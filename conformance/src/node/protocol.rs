//! The adapter protocol: JSON lines on the adapter's standard input and
//! output (documented in `conformance/README.md`).
//!
//! The runner writes one request per line, `{"id": 7, "vector": {...}}`,
//! and waits for the answer to it before writing the next. The adapter
//! writes exactly one answer per request, on one line, with the request's
//! id and exactly one of:
//!
//! - `"outcome"`: what the implementation did (its shape per vector kind);
//! - `"error"`: a local error the implementation reported, as the `error`
//!   member of spec §17.1 (`code`, `message`, optional `details`);
//! - `"not_implemented"`: a reason; the vector is skipped, not failed.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One line the runner writes to play a vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Echoed by the answer.
    pub id: u64,
    /// The whole vector file.
    pub vector: Value,
}

/// One line the runner writes to drive a node through a history (the
/// history protocol, `conformance/README.md`): a command and its
/// arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Echoed by the answer.
    pub id: u64,
    /// `open`, `write`, `push`, `pull`, `sync`, `repair`, `rows`,
    /// `conflicts` or `status`.
    pub command: String,
    /// The command's arguments (an object; `{}` when it takes none).
    #[serde(default)]
    pub args: Value,
}

/// A line an adapter reads: a vector to play or a history command.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Vector(Request),
    Command(Command),
}

impl Incoming {
    /// Reads a request line.
    pub fn parse(line: &str) -> Result<Incoming, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if v.get("command").is_some() {
            serde_json::from_value(v)
                .map(Incoming::Command)
                .map_err(|e| e.to_string())
        } else {
            serde_json::from_value(v)
                .map(Incoming::Vector)
                .map_err(|e| e.to_string())
        }
    }
}

/// A local error (spec §17.1's `error` member).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl LocalError {
    pub fn new(code: &str, message: impl Into<String>) -> LocalError {
        LocalError {
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    pub fn with(mut self, details: Value) -> LocalError {
        self.details = Some(details);
        self
    }
}

/// What an adapter answers about one vector.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Outcome(Value),
    Error(LocalError),
    NotImplemented(String),
}

/// One line the adapter writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub id: u64,
    pub reply: Reply,
}

impl Answer {
    /// The answer as its JSON line (without the line feed).
    pub fn to_line(&self) -> String {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        match &self.reply {
            Reply::Outcome(o) => m.insert("outcome".into(), o.clone()),
            Reply::Error(e) => m.insert("error".into(), json!(e)),
            Reply::NotImplemented(r) => m.insert("not_implemented".into(), json!(r)),
        };
        Value::Object(m).to_string()
    }

    /// Parses an answer line; `Err` says what is wrong with it.
    pub fn parse(line: &str) -> Result<Answer, String> {
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("the answer is not JSON: {e}"))?;
        let obj = v
            .as_object()
            .ok_or("the answer is not a JSON object".to_string())?;
        let id = obj
            .get("id")
            .and_then(Value::as_u64)
            .ok_or("the answer has no integer `id`")?;
        let known = ["id", "outcome", "error", "not_implemented"];
        if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("the answer has an unknown member {k:?}"));
        }
        let present: Vec<&str> = known[1..]
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let reply = match present.as_slice() {
            ["outcome"] => Reply::Outcome(obj["outcome"].clone()),
            ["error"] => Reply::Error(
                serde_json::from_value(obj["error"].clone())
                    .map_err(|e| format!("`error` is not {{code, message, details?}}: {e}"))?,
            ),
            ["not_implemented"] => Reply::NotImplemented(
                obj["not_implemented"]
                    .as_str()
                    .ok_or("`not_implemented` is not a string")?
                    .to_string(),
            ),
            _ => {
                return Err(
                    "the answer needs exactly one of `outcome`, `error`, `not_implemented`".into(),
                )
            }
        };
        Ok(Answer { id, reply })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_survives_its_line() {
        for reply in [
            Reply::Outcome(json!({"ops": []})),
            Reply::Error(LocalError::new("unique_collision", "x").with(json!({"a": 1}))),
            Reply::NotImplemented("no merge yet".into()),
        ] {
            let a = Answer { id: 3, reply };
            assert_eq!(Answer::parse(&a.to_line()).unwrap(), a);
        }
    }

    #[test]
    fn an_answer_with_two_replies_is_refused() {
        let err = Answer::parse(r#"{"id":1,"outcome":{},"not_implemented":"x"}"#).unwrap_err();
        assert!(err.contains("exactly one"), "{err}");
    }
}
