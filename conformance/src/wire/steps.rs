//! The steps of a wire vector, as written in its JSON (see
//! `vectors/vector.schema.json`, `$defs/wire_step`).

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireVector {
    #[serde(default)]
    pub nodes: Vec<String>,
    pub steps: Vec<Step>,
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
    pub trim: Option<TrimControl>,
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
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub unchanged: bool,
}
