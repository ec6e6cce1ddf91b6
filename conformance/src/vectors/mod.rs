//! The test vectors of `conformance/vectors/` (spec §18.2): one JSON file
//! per vector, in a folder per spec chapter (`05-compression/`, …) or in
//! `regressions/`, each valid against `vectors/vector.schema.json`.

mod load;
mod schema;

pub use load::{default_dir, load_dir, load_file, LoadError};
pub use schema::{VectorSchema, VECTOR_SCHEMA};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// What a vector drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Node side, through an adapter: compression of spec §5.
    Compression,
    /// Node side, through an adapter: a merge of spec §12.
    Merge,
    /// Node side, through an adapter: the schema (canonical text and
    /// fingerprint, spec §7.2) a node computes from SQLite declarations
    /// (spec §2.5.1).
    Schema,
    /// Server side, over HTTP: an exchange of spec §8–§16.
    Wire,
    /// A whole multi-node history (a shrunk property failure).
    History,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Compression => "compression",
            Kind::Merge => "merge",
            Kind::Schema => "schema",
            Kind::Wire => "wire",
            Kind::History => "history",
        }
    }

    /// Whether an adapter (the node role) plays this kind.
    pub fn is_node(self) -> bool {
        self != Kind::Wire
    }
}

/// The members every vector has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub title: String,
    pub section: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

/// A vector as loaded: its file, its header and its whole JSON (the form an
/// adapter receives).
#[derive(Debug, Clone, PartialEq)]
pub struct Vector {
    pub path: PathBuf,
    pub header: Header,
    pub json: Value,
}

impl Vector {
    pub fn name(&self) -> &str {
        &self.header.name
    }

    pub fn kind(&self) -> Kind {
        self.header.kind
    }

    /// `§5.2.1`.
    pub fn section_label(&self) -> String {
        format!("§{}", self.header.section)
    }

    /// The spec chapter of the section: `5` for `5.2.1`.
    pub fn chapter(&self) -> u32 {
        self.header
            .section
            .split('.')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// The member `expected` (`Null` when absent).
    pub fn expected(&self) -> &Value {
        self.json.get("expected").unwrap_or(&Value::Null)
    }
}
