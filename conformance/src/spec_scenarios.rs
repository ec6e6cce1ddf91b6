//! The scenarios of the spec (```` ```json scenario=compression ```` in §5,
//! ```` ```json scenario=merge ```` in §12) as vectors: every scenario has
//! a vector `vectors/<chapter>/spec-<name>.json` that says the same thing
//! in the vector format, and that a runner plays against any node.
//!
//! [`vectors_of_spec`] derives them; `dbsync-conformance vectors extract`
//! writes them; the kit's tests check that the files match the spec.

use crate::spec_examples::{chapters, fenced_blocks};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// One scenario block of a chapter.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// `05-compression.md`.
    pub file: String,
    /// The 1-based line of the opening fence.
    pub line: usize,
    /// `compression` or `merge`.
    pub kind: String,
    /// The innermost numbered section the block is in: `5.2.3`.
    pub section: String,
    pub json: Value,
}

/// The number of a Markdown heading such as `### 5.2.3 Examples`.
fn heading_number(line: &str) -> Option<String> {
    let rest = line.trim_start_matches('#');
    if rest.len() == line.len() || !rest.starts_with(' ') {
        return None;
    }
    let word = rest.split_whitespace().next()?;
    let word = word.trim_end_matches('.');
    (!word.is_empty() && word.split('.').all(|p| p.parse::<u32>().is_ok())).then(|| word.into())
}

/// The scenarios of one chapter's text.
pub fn scenarios_in(file: &str, markdown: &str) -> Result<Vec<Scenario>, String> {
    // The section of each line: the last numbered heading above it.
    let mut section_at = Vec::new();
    let mut current = String::new();
    for line in markdown.lines() {
        if let Some(n) = heading_number(line) {
            current = n;
        }
        section_at.push(current.clone());
    }
    let mut out = Vec::new();
    for block in fenced_blocks(markdown) {
        let mut words = block.info.split_whitespace();
        if words.next() != Some("json") {
            continue;
        }
        let Some(kind) = words.find_map(|w| w.strip_prefix("scenario=")) else {
            continue;
        };
        let json: Value = serde_json::from_str(&block.text)
            .map_err(|e| format!("{file}:{}: the scenario is not JSON: {e}", block.line))?;
        out.push(Scenario {
            file: file.into(),
            line: block.line,
            kind: kind.into(),
            section: section_at
                .get(block.line.saturating_sub(1))
                .cloned()
                .unwrap_or_default(),
            json,
        });
    }
    Ok(out)
}

/// Every scenario of the spec, chapter by chapter.
pub fn all_scenarios(spec_dir: &Path) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    for path in chapters(spec_dir).map_err(|e| e.to_string())? {
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        out.extend(scenarios_in(&file, &text)?);
    }
    Ok(out)
}

/// A vector name from a sentence: lowercase words joined by `-`.
pub fn slug(sentence: &str) -> String {
    let mut s = String::new();
    for c in sentence.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-');
    s.chars()
        .take(80)
        .collect::<String>()
        .trim_end_matches('-')
        .into()
}

impl Scenario {
    fn name_member(&self) -> Result<&str, String> {
        self.json["name"]
            .as_str()
            .ok_or_else(|| format!("{}:{}: the scenario has no name", self.file, self.line))
    }

    /// The vector's name: `spec-`, the scenario's name as a slug and, for
    /// a merge, its policy (the spec shows some rules under both).
    pub fn vector_name(&self) -> Result<String, String> {
        let mut name = format!("spec-{}", slug(self.name_member()?));
        if let Some(p) = self.json.get("policy").and_then(Value::as_str) {
            name.push('-');
            name.push_str(&slug(p));
        }
        Ok(name)
    }

    /// The folder of its vector: the chapter file's stem, `05-compression`.
    pub fn folder(&self) -> String {
        self.file.trim_end_matches(".md").to_string()
    }

    /// The scenario in the vector format.
    pub fn to_vector(&self) -> Result<Value, String> {
        let j = &self.json;
        let where_ = format!("{}:{}", self.file, self.line);
        let (input, expected) = match self.kind.as_str() {
            "compression" => {
                let input = json!({ "side": j["side"], "ops": j["ops"] });
                let expected = match (j.get("expected"), j.get("expected_error")) {
                    (Some(e), None) => json!({ "outcome": { "ops": e } }),
                    (None, Some(e)) => json!({
                        "error": { "code": "invalid_pending_sequence", "details": e }
                    }),
                    _ => return Err(format!("{where_}: needs expected or expected_error")),
                };
                (input, expected)
            }
            "merge" => {
                let input = json!({
                    "policy": j["policy"], "schema": j["schema"],
                    "local": j["local"], "pull": j["pull"],
                });
                let e = &j["expected"];
                let expected = if let Some(c) = e.get("unique_collisions") {
                    json!({ "error": { "code": "unique_collision", "details": { "collisions": c } } })
                } else {
                    let mut outcome = json!({
                        "rows": e["rows"], "pending": e["pending"], "conflicts": e["conflicts"],
                    });
                    if let Some(r) = e.get("restores") {
                        outcome["restores"] = r.clone();
                    }
                    json!({ "outcome": outcome })
                };
                (input, expected)
            }
            other => return Err(format!("{where_}: unknown scenario kind {other:?}")),
        };
        let mut v = Map::new();
        v.insert("name".into(), json!(self.vector_name()?));
        v.insert("title".into(), json!(self.name_member()?));
        v.insert("section".into(), json!(self.section));
        v.insert("kind".into(), json!(self.kind));
        v.insert("source".into(), json!(format!("spec/{where_}")));
        v.insert("input".into(), input);
        v.insert("expected".into(), expected);
        Ok(Value::Object(v))
    }

    /// Where its vector lives under `vectors_dir`.
    pub fn vector_path(&self, vectors_dir: &Path) -> Result<PathBuf, String> {
        Ok(vectors_dir
            .join(self.folder())
            .join(format!("{}.json", self.vector_name()?)))
    }
}

/// Every scenario of the spec with its vector's path and JSON.
pub fn vectors_of_spec(
    spec_dir: &Path,
    vectors_dir: &Path,
) -> Result<Vec<(Scenario, PathBuf, Value)>, String> {
    let mut out: Vec<(Scenario, PathBuf, Value)> = Vec::new();
    for s in all_scenarios(spec_dir)? {
        let path = s.vector_path(vectors_dir)?;
        if let Some((other, _, _)) = out.iter().find(|(_, p, _)| *p == path) {
            return Err(format!(
                "{}:{} and {}:{} have the same name",
                other.file, other.line, s.file, s.line
            ));
        }
        let v = s.to_vector()?;
        out.push((s, path, v));
    }
    Ok(out)
}

/// The text a vector file holds: pretty JSON and a final line feed.
pub fn file_text(vector: &Value) -> String {
    let mut s = serde_json::to_string_pretty(vector).expect("JSON");
    s.push('\n');
    s
}

/// A vector with the line number left out of its `source`, so that text
/// added above a scenario does not make its vector differ.
fn without_line(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(source) = v.get_mut("source") {
        if let Some(file) = source
            .as_str()
            .and_then(|s| s.rsplit_once(':'))
            .map(|(f, _)| f)
        {
            *source = Value::String(file.to_string());
        }
    }
    v
}

/// The differences between the spec's scenarios and their vector files:
/// missing or different files, one line each (the line of `source` aside:
/// `extract` keeps it current). Empty when they agree.
pub fn check(spec_dir: &Path, vectors_dir: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for (s, path, want) in vectors_of_spec(spec_dir, vectors_dir)? {
        let got = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        match got {
            None => problems.push(format!(
                "{}:{}: no vector {}",
                s.file,
                s.line,
                path.display()
            )),
            Some(g) if without_line(&g) != without_line(&want) => problems.push(format!(
                "{}:{}: {} differs from the scenario",
                s.file,
                s.line,
                path.display()
            )),
            Some(_) => {}
        }
    }
    Ok(problems)
}

/// Writes (or rewrites) the vector of every scenario; returns the paths
/// written.
pub fn extract(spec_dir: &Path, vectors_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for (_, path, v) in vectors_of_spec(spec_dir, vectors_dir)? {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let text = file_text(&v);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_takes_the_section_of_the_heading_above_it() {
        let md = "# 5. C\n## 5.2 P\n### 5.2.3 Examples\n\n```json scenario=compression\n\
                  {\"name\": \"A b, c!\", \"side\": \"pulled\", \"ops\": [], \"expected\": []}\n```\n";
        let s = scenarios_in("05-compression.md", md).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].section, "5.2.3");
        assert_eq!(s[0].line, 5);
        let v = s[0].to_vector().unwrap();
        assert_eq!(v["name"], "spec-a-b-c");
        assert_eq!(v["source"], "spec/05-compression.md:5");
        assert_eq!(v["expected"], json!({"outcome": {"ops": []}}));
    }
}
