//! The vector format's JSON Schema (`vectors/vector.schema.json`, 2020-12),
//! embedded, and the checks a schema cannot express.

use super::Vector;
use jsonschema::Validator;
use serde_json::Value;

/// The text of `vectors/vector.schema.json`.
pub const VECTOR_SCHEMA: &str = include_str!("../../vectors/vector.schema.json");

/// The text of `vectors/history.schema.json`: the history format, which
/// a `history` vector's `case` follows.
pub const HISTORY_SCHEMA: &str = include_str!("../../vectors/history.schema.json");

/// The `$id` of the history format's schema.
pub const HISTORY_SCHEMA_ID: &str = "https://dbsync.example/conformance/v1/history.schema.json";

/// A compiled validator for vectors.
pub struct VectorSchema {
    validator: Validator,
}

impl VectorSchema {
    pub fn load() -> Result<VectorSchema, String> {
        let json: Value = serde_json::from_str(VECTOR_SCHEMA).map_err(|e| e.to_string())?;
        let history: Value = serde_json::from_str(HISTORY_SCHEMA).map_err(|e| e.to_string())?;
        let registry = jsonschema::Registry::new()
            .add(HISTORY_SCHEMA_ID, history)
            .map_err(|e| e.to_string())?
            .prepare()
            .map_err(|e| e.to_string())?;
        let validator = jsonschema::options()
            .with_registry(&registry)
            .build(&json)
            .map_err(|e| e.to_string())?;
        Ok(VectorSchema { validator })
    }

    /// A validator of the history format alone (a `case`).
    pub fn history() -> Result<Validator, String> {
        let json: Value = serde_json::from_str(HISTORY_SCHEMA).map_err(|e| e.to_string())?;
        jsonschema::options()
            .build(&json)
            .map_err(|e| e.to_string())
    }

    /// Every schema error of `json`, as "pointer: message".
    pub fn errors(&self, json: &Value) -> Vec<String> {
        self.validator
            .iter_errors(json)
            .map(|e| format!("{}: {}", e.instance_path(), e))
            .collect()
    }

    /// Validates a loaded vector: the schema, then the rules a schema
    /// cannot state (its name is its file name; its folder is its chapter).
    pub fn check(&self, vector: &Vector) -> Result<(), Vec<String>> {
        let mut problems = self.errors(&vector.json);
        let stem = vector
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem != vector.header.name {
            problems.push(format!(
                "the name {:?} is not the file name {stem:?}",
                vector.header.name
            ));
        }
        let folder = vector
            .path
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if folder != "regressions" {
            let chapter: Option<u32> = folder.split('-').next().and_then(|n| n.parse().ok());
            if chapter != Some(vector.chapter()) {
                problems.push(format!(
                    "section {} is not in the folder's chapter ({folder})",
                    vector.header.section
                ));
            }
        }
        problems.extend(wire_problems(vector));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// What a wire vector needs that its schema cannot say: node names are
/// unique in whatever form; a node with a user, a `sql` control or a
/// `trim` control needs its capability (`scopes`, `direct_writes`,
/// `trim`), since the runner picks the server by it.
fn wire_problems(vector: &Vector) -> Vec<String> {
    let mut problems = Vec::new();
    let requires = |c: &str| vector.header.requires.iter().any(|r| r == c);
    let nodes = vector.json["nodes"].as_array().cloned().unwrap_or_default();
    let mut names = std::collections::BTreeSet::new();
    for n in &nodes {
        let name = n.as_str().or_else(|| n["name"].as_str()).unwrap_or("");
        if !names.insert(name.to_string()) {
            problems.push(format!("node {name:?} is listed twice"));
        }
        if n.get("user").is_some() && !requires("scopes") {
            problems.push(format!(
                "node {name:?} names a user but the vector does not require \"scopes\""
            ));
        }
    }
    let steps = vector.json["steps"].as_array().cloned().unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        for (control, capability) in [("sql", "direct_writes"), ("trim", "trim")] {
            if step["control"].get(control).is_some() && !requires(capability) {
                problems.push(format!(
                    "step {}: the control {control} needs \"requires\": [\"{capability}\"]",
                    i + 1
                ));
            }
        }
    }
    problems
}
