//! The protocol's JSON Schemas (2020-12), embedded at build time so the
//! kit validates messages without reading the source tree.

use jsonschema::{Registry, Validator};
use serde_json::Value;
use std::collections::BTreeMap;

/// The `$id` prefix every schema shares; `<name>.schema.json` follows it.
pub const ID_BASE: &str = "https://dbsync.example/schemas/v1/";

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        /// Every schema file as (name, text); name is the file stem without
        /// `.schema.json`.
        pub const SCHEMA_FILES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../schemas/", $name, ".schema.json"))),)*
        ];
    };
}

embedded!(
    "common",
    "register-request",
    "register-response",
    "push-request",
    "push-response",
    "pull-request",
    "pull-response",
    "repair-request",
    "repair-page",
    "query-request",
    "query-response",
    "error",
    "oplog-record",
    "conflict-entry",
);

/// The names of the schemas that describe a whole document (all but
/// `common`, which only holds shared `$defs`).
pub fn document_schema_names() -> impl Iterator<Item = &'static str> {
    SCHEMA_FILES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| *n != "common")
}

/// Parses an embedded schema file.
pub fn schema_json(name: &str) -> Option<Value> {
    SCHEMA_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| serde_json::from_str(text).expect("embedded schema is JSON"))
}

/// A validator for every document schema, resolving `$ref`s between the
/// files without any network or file access.
pub struct SchemaSet {
    validators: BTreeMap<&'static str, Validator>,
}

impl SchemaSet {
    /// Builds validators for every embedded schema.
    pub fn load() -> Result<SchemaSet, String> {
        let mut registry = Registry::new();
        for (name, _) in SCHEMA_FILES {
            let json = schema_json(name).expect("listed");
            registry = registry
                .add(format!("{ID_BASE}{name}.schema.json"), json)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        let registry = registry.prepare().map_err(|e| e.to_string())?;
        let mut validators = BTreeMap::new();
        for name in document_schema_names() {
            let json = schema_json(name).expect("listed");
            let validator = jsonschema::options()
                .with_registry(&registry)
                .build(&json)
                .map_err(|e| format!("{name}: {e}"))?;
            validators.insert(name, validator);
        }
        Ok(SchemaSet { validators })
    }

    /// Whether `name` is a document schema of this set.
    pub fn has(&self, name: &str) -> bool {
        self.validators.contains_key(name)
    }

    /// Validates `instance` against the schema `name`; on failure, every
    /// error as "pointer: message".
    pub fn validate(&self, name: &str, instance: &Value) -> Result<(), Vec<String>> {
        let validator = self
            .validators
            .get(name)
            .ok_or_else(|| vec![format!("no schema named {name:?}")])?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{}: {}", e.instance_path(), e))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
