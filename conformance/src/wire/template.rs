//! The placeholders of wire vectors. A vector cannot know a server's ids or
//! its latest version in advance, so it writes:
//!
//! | placeholder (a whole JSON string) | becomes the integer |
//! |-----------------------------------|---------------------|
//! | `"$latest"`, `"$latest+N"`, `"$latest-N"` | the server's latest version as the runner last learned it (register, push, pull answers), plus or minus N |
//! | `"$id:N"` | row id N of this vector: a base fresh for every vector, plus N |
//! | `"$node:x"` | the id of node `x` |
//!
//! and inside any string: `${run}` (a tag unique to this vector's run,
//! digits), `${token}` (the runner's registration token), `${node:x}`
//! (node x's id), `${id:N}` (as `$id:N`), `${latest}`.

use serde_json::{Number, Value};
use std::collections::BTreeMap;

/// The values placeholders take.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub latest: u64,
    pub id_base: i64,
    pub run: String,
    /// The registration token (`${token}`), empty under open registration.
    pub token: String,
    pub nodes: BTreeMap<String, u64>,
}

impl Vars {
    fn int(&self, token: &str) -> Result<Option<i64>, String> {
        let Some(t) = token.strip_prefix('$') else {
            return Ok(None);
        };
        let num = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| format!("bad placeholder {token:?}"))
        };
        if let Some(rest) = t.strip_prefix("latest") {
            let latest = self.latest as i64;
            return Ok(Some(match rest {
                "" => latest,
                r if r.starts_with('+') => latest + num(&r[1..])?,
                r if r.starts_with('-') => latest - num(&r[1..])?,
                _ => return Err(format!("bad placeholder {token:?}")),
            }));
        }
        if let Some(n) = t.strip_prefix("id:") {
            return Ok(Some(self.id_base + num(n)?));
        }
        if let Some(name) = t.strip_prefix("node:") {
            return self
                .nodes
                .get(name)
                .map(|id| Some(*id as i64))
                .ok_or_else(|| format!("no node {name:?} in this vector"));
        }
        Ok(None)
    }

    /// `text` with every `${...}` replaced.
    pub fn text(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let name = &rest[start + 2..start + end];
            let value = if name == "run" {
                self.run.clone()
            } else if name == "token" {
                self.token.clone()
            } else {
                match self.int(&format!("${name}"))? {
                    Some(i) => i.to_string(),
                    None => return Err(format!("unknown placeholder ${{{name}}}")),
                }
            };
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `value` with every placeholder replaced.
    pub fn fill(&self, value: &Value) -> Result<Value, String> {
        Ok(match value {
            Value::String(s) => match self.int(s)? {
                Some(i) => Value::Number(Number::from(i)),
                None => Value::String(self.text(s)?),
            },
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.fill(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.fill(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_become_numbers_and_text() {
        let vars = Vars {
            latest: 41,
            id_base: 1000,
            run: "77".into(),
            token: String::new(),
            nodes: [("a".to_string(), 7)].into(),
        };
        let got = vars
            .fill(
                &json!({"b": "$latest", "n": "$latest+1", "id": "$id:3", "node": "$node:a",
                           "name": "Lisbon ${run}", "h": "0${node:a}", "x": "$5"}),
            )
            .unwrap();
        assert_eq!(
            got,
            json!({"b": 41, "n": 42, "id": 1003, "node": 7, "name": "Lisbon 77", "h": "07", "x": "$5"})
        );
        assert!(vars.fill(&json!("$node:z")).is_err());
    }
}
