//! The steps of a wire vector, as written in its JSON (see
//! `vectors/vector.schema.json`, `$defs/wire_step`).

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireVector {
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    pub steps: Vec<Step>,
}

/// A node the runner registers before the first step: a name, or an
/// object naming the node's user too (spec §9.1, §19.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NodeSpec {
    Name(String),
    Object(NodeObject),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeObject {
    pub name: String,
    /// The `user` of its register request (templated text).
    #[serde(default)]
    pub user: Option<String>,
}

impl NodeSpec {
    pub fn name(&self) -> &str {
        match self {
            NodeSpec::Name(n) => n,
            NodeSpec::Object(o) => &o.name,
        }
    }

    pub fn user(&self) -> Option<&str> {
        match self {
            NodeSpec::Name(_) => None,
            NodeSpec::Object(o) => o.user.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub control: Option<Control>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    /// The node that signs the request.
    #[serde(default, rename = "as")]
    pub signer: Option<String>,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub raw: Option<String>,
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// A step done through the server's own controls, not HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    #[serde(default)]
    pub trim: Option<TrimControl>,
    /// SQL run on the server's database, as a program beside the server
    /// would (a direct write, spec §6.1; templated text). Needs the
    /// capability `direct_writes`.
    #[serde(default)]
    pub sql: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrimControl {
    /// Seconds added to the current time for the trim's "now".
    pub now_offset: i64,
    pub stale_after: u64,
}

/// Deliberate changes to the authentication headers (spec §8.2).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(default)]
    pub omit: Vec<String>,
    #[serde(default)]
    pub repeat: Vec<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub timestamp_offset: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
    /// Sign with this other node's secret.
    #[serde(default)]
    pub secret_of: Option<String>,
    /// Sign with a secret the server never issued.
    #[serde(default)]
    pub random_secret: bool,
    #[serde(default)]
    pub sign_path: Option<String>,
    /// Sign this body instead of the one sent.
    #[serde(default)]
    pub sign_body: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: u16,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub details: Option<Value>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub unordered: Vec<String>,
    /// JSON pointers into the body of arrays compared in part: before the
    /// comparison, the answer's items that do not match the pattern (as a
    /// subset) are left out.
    #[serde(default)]
    pub select: BTreeMap<String, Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub unchanged: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_are_names_or_objects_with_a_user() {
        let v: WireVector = serde_json::from_value(json!({
            "nodes": ["c", {"name": "a", "user": "alice-${run}"}, {"name": "b"}],
            "steps": [{"control": {"sql": "DELETE FROM city"}}]
        }))
        .unwrap();
        let got: Vec<(&str, Option<&str>)> = v.nodes.iter().map(|n| (n.name(), n.user())).collect();
        assert_eq!(got, [("c", None), ("a", Some("alice-${run}")), ("b", None)]);
        assert_eq!(
            v.steps[0].control.as_ref().unwrap().sql.as_deref(),
            Some("DELETE FROM city")
        );
        let bad = json!({"nodes": [{"name": "a", "users": "x"}], "steps": []});
        assert!(serde_json::from_value::<WireVector>(bad).is_err());
    }
}
