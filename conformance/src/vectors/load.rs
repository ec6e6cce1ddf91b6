//! Reading vectors from disk.

use super::{Header, Vector};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// The vectors this kit ships: `conformance/vectors` of the source tree.
pub fn default_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors"))
}

/// A vector file that could not be read.
#[derive(Debug)]
pub struct LoadError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for LoadError {}

/// Reads one vector file.
pub fn load_file(path: &Path) -> Result<Vector, LoadError> {
    let err = |message: String| LoadError {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    let header: Header =
        serde_json::from_value(json.clone()).map_err(|e| err(format!("not a vector: {e}")))?;
    Ok(Vector {
        path: path.to_path_buf(),
        header,
        json,
    })
}

/// Every `*.json` vector under `dir` (one folder deep: `dir/<group>/*.json`),
/// sorted by folder then name. `vector.schema.json` is not a vector.
pub fn load_dir(dir: &Path) -> Result<Vec<Vector>, LoadError> {
    let err = |path: &Path, e: std::io::Error| LoadError {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut files = Vec::new();
    let mut groups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    groups.sort();
    for group in groups {
        let mut in_group: Vec<PathBuf> = std::fs::read_dir(&group)
            .map_err(|e| err(&group, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        in_group.sort();
        files.extend(in_group);
    }
    files.iter().map(|p| load_file(p)).collect()
}
