//! The executed examples of the spec (spec §1.4).
//!
//! An example is a fenced code block whose info string is
//! `json example=<schema>` (a valid instance of `schemas/<schema>.schema.json`)
//! or `json example=<schema> invalid` (an instance the schema must reject).

use serde_json::Value;
use std::path::{Path, PathBuf};

/// One example block of a spec chapter.
#[derive(Debug, Clone)]
pub struct Example {
    /// The chapter file name, e.g. `10-push.md`.
    pub file: String,
    /// The 1-based line of the opening fence.
    pub line: usize,
    /// The schema the example names.
    pub schema: String,
    /// Whether the example claims to be valid.
    pub valid: bool,
    /// The block's text.
    pub text: String,
}

impl Example {
    /// A stable name: `10-push.md:42`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// The block parsed as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_str(&self.text).map_err(|e| format!("{}: not JSON: {e}", self.name()))
    }
}

/// A fenced block of any kind: its info string, first line and text.
#[derive(Debug, Clone)]
pub struct Block {
    pub info: String,
    pub line: usize,
    pub text: String,
}

/// Every fenced code block (``` or ~~~) of a Markdown text.
pub fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String, usize, String)> = None; // fence, info, line, text
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                for fence_char in ['`', '~'] {
                    let n = trimmed.chars().take_while(|c| *c == fence_char).count();
                    if n >= 3 {
                        let fence: String = std::iter::repeat_n(fence_char, n).collect();
                        let info = trimmed[n..].trim().to_string();
                        open = Some((fence, info, i + 1, String::new()));
                        break;
                    }
                }
            }
            Some((fence, info, start, text)) => {
                if trimmed.starts_with(fence.as_str()) && trimmed.trim_end() == fence.as_str() {
                    blocks.push(Block {
                        info: std::mem::take(info),
                        line: *start,
                        text: std::mem::take(text),
                    });
                    open = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    blocks
}

/// The examples of one chapter's text.
pub fn examples_in(file: &str, markdown: &str) -> Vec<Example> {
    fenced_blocks(markdown)
        .into_iter()
        .filter_map(|b| {
            let mut words = b.info.split_whitespace();
            if words.next() != Some("json") {
                return None;
            }
            let mut schema = None;
            let mut valid = true;
            for w in words {
                if let Some(s) = w.strip_prefix("example=") {
                    schema = Some(s.to_string());
                } else if w == "invalid" {
                    valid = false;
                }
            }
            Some(Example {
                file: file.to_string(),
                line: b.line,
                schema: schema?,
                valid,
                text: b.text,
            })
        })
        .collect()
}

/// The spec's chapter files, sorted by name.
pub fn chapters(spec_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spec_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every example of every chapter under `spec_dir`.
pub fn all_examples(spec_dir: &Path) -> std::io::Result<Vec<Example>> {
    let mut out = Vec::new();
    for path in chapters(spec_dir)? {
        let text = std::fs::read_to_string(&path)?;
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        out.extend(examples_in(&file, &text));
    }
    Ok(out)
}

/// Executes one example: a valid one must satisfy its schema and survive a
/// trip through the reference's Rust type unchanged; an invalid one must be
/// rejected by its schema. `Err` says why the example does not hold.
pub fn check(set: &crate::schemas::SchemaSet, ex: &Example) -> Result<(), String> {
    if !set.has(&ex.schema) {
        return Err(format!("names unknown schema {:?}", ex.schema));
    }
    let json = ex.json()?;
    match (ex.valid, set.validate(&ex.schema, &json)) {
        (true, Err(errors)) => Err(format!("is marked valid but fails: {}", errors.join("; "))),
        (false, Ok(())) => Err("is marked invalid but the schema accepts it".into()),
        (false, Err(_)) => Ok(()),
        (true, Ok(())) => match crate::typed::roundtrip(&ex.schema, &json) {
            None => Ok(()),
            Some(Err(e)) => Err(format!("does not parse into its Rust type: {e}")),
            Some(Ok(back)) if back != json => Err(format!(
                "changes in a round trip through its Rust type:\n  spec: {json}\n  back: {back}"
            )),
            Some(Ok(_)) => Ok(()),
        },
    }
}
