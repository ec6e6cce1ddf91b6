//! The seed corpus: the spec's examples and scenarios, the conformance
//! vectors (when there are any), and a few hand-made inputs per target.
//!
//! `cargo run -p dbsync-fuzz-bodies --bin dbsync-fuzz-seeds -- DIR` writes
//! them to `DIR/<target>/<name>`; `fuzz/README.md` says how they are
//! minimized into `fuzz/corpus/`.

use serde_json::Value;
use std::path::Path;

/// One seed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub data: Vec<u8>,
}

fn seed(target: &'static str, name: String, data: Vec<u8>) -> Seed {
    Seed { target, name, data }
}

/// A fenced block of a Markdown text: its info string, first line, text.
pub fn fenced_blocks(markdown: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                for c in ['`', '~'] {
                    let n = trimmed.chars().take_while(|x| *x == c).count();
                    if n >= 3 {
                        let fence: String = std::iter::repeat_n(c, n).collect();
                        open = Some((fence, trimmed[n..].trim().to_string(), i + 1, String::new()));
                        break;
                    }
                }
            }
            Some((fence, info, start, text)) => {
                if trimmed.trim_end() == fence.as_str() {
                    out.push((std::mem::take(info), *start, std::mem::take(text)));
                    open = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    out
}

/// The index into [`crate::server_request::PATHS`] of a request schema.
fn path_of_schema(schema: &str) -> Option<u8> {
    match schema {
        "register-request" => Some(0),
        "push-request" => Some(1),
        "pull-request" => Some(2),
        "repair-request" => Some(3),
        "query-request" => Some(4),
        _ => None,
    }
}

/// The `server_request` inputs of a request body sent to path `path`:
/// signed by node 1, as it is and with the fixes that let it through.
fn server_seeds(name: &str, path: u8, body: &[u8]) -> Vec<Seed> {
    let fixes: &[u8] = match path {
        0 => &[0, 0x04],
        1 | 2 => &[0, 0x02],
        _ => &[0],
    };
    fixes
        .iter()
        .map(|f| {
            let mut data = vec![0, path, 0, 0, *f];
            data.extend_from_slice(body);
            seed("server_request", format!("{name}-fix{f:02x}"), data)
        })
        .collect()
}

/// Seeds from the spec's chapters under `spec_dir`.
pub fn from_spec(spec_dir: &Path) -> std::io::Result<Vec<Seed>> {
    let mut files: Vec<_> = std::fs::read_dir(spec_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (info, line, body) in fenced_blocks(&text) {
            let mut words = info.split_whitespace();
            if words.next() != Some("json") {
                continue;
            }
            let name = format!("spec-{stem}-{line}");
            for w in words {
                if let Some(schema) = w.strip_prefix("example=") {
                    out.push(seed("decode", name.clone(), body.clone().into_bytes()));
                    if let Some(p) = path_of_schema(schema) {
                        out.extend(server_seeds(&name, p, body.as_bytes()));
                    }
                } else if w.starts_with("scenario=") {
                    out.push(seed("decode", name.clone(), body.clone().into_bytes()));
                    out.push(seed("merge_plan", name.clone(), body.clone().into_bytes()));
                }
            }
        }
    }
    Ok(out)
}

/// The vectors' templates (conformance/README.md) made concrete for the
/// fuzzed server: its latest version is 3, new rows take ids from 100.
fn untemplate(v: &Value) -> Value {
    match v {
        Value::String(s) => {
            let latest = 3i64;
            if s == "$latest" {
                return latest.into();
            }
            if let Some(n) = s
                .strip_prefix("$latest+")
                .and_then(|n| n.parse::<i64>().ok())
            {
                return (latest + n).into();
            }
            if let Some(n) = s
                .strip_prefix("$latest-")
                .and_then(|n| n.parse::<i64>().ok())
            {
                return (latest - n).max(0).into();
            }
            if let Some(n) = s.strip_prefix("$id:").and_then(|n| n.parse::<i64>().ok()) {
                return (100 + n).into();
            }
            if s.starts_with("$node:") {
                return 1.into();
            }
            Value::String(
                s.replace("${run}", "fz")
                    .replace("${token}", crate::server_request::TOKEN)
                    .replace("${latest}", &latest.to_string()),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(untemplate).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), untemplate(x))).collect())
        }
        other => other.clone(),
    }
}

/// The `server_request` input of one step of a wire vector.
fn wire_step(step: &serde_json::Map<String, Value>) -> Option<Vec<u8>> {
    use crate::server_request::PATHS;
    let path = step.get("path")?.as_str()?;
    let method = match step.get("method").and_then(Value::as_str).unwrap_or("POST") {
        "POST" => 0,
        "GET" => 192,
        "PUT" => 193,
        "DELETE" => 194,
        "PATCH" => 195,
        _ => 197,
    };
    let path = PATHS
        .iter()
        .position(|p| *p == path)
        .map_or(200, |i| i as u8);
    let headers = step.get("headers").and_then(Value::as_object);
    let content_type = headers.and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v)
    });
    let ct = match content_type {
        None => 0,
        Some(Value::Null) => 5,
        Some(Value::String(t)) if t.to_ascii_lowercase().contains("charset") => 4,
        Some(Value::String(t)) if t.starts_with("application/json") => 0,
        Some(_) => 6,
    };
    let auth = match (
        step.get("as").and_then(Value::as_str),
        step.get("auth").and_then(Value::as_object),
    ) {
        (None, _) => 8,
        (Some(who), None) => {
            if who == "b" {
                6
            } else {
                0
            }
        }
        (Some(_), Some(a)) if a.contains_key("omit") => 13,
        (Some(_), Some(a)) if a.contains_key("repeat") => 14,
        (Some(_), Some(a)) if a.contains_key("timestamp_offset") || a.contains_key("timestamp") => {
            9
        }
        (Some(_), Some(a)) if a.contains_key("node") => 11,
        (Some(_), Some(a)) if a.contains_key("nonce") => 15,
        (Some(_), Some(a)) if a.contains_key("sign_path") || a.contains_key("sign_body") => 12,
        (Some(_), Some(_)) => 10,
    };
    let body = match (step.get("raw"), step.get("body")) {
        (Some(Value::String(raw)), _) => raw.clone().into_bytes(),
        (_, Some(b)) => serde_json::to_vec(&untemplate(b)).ok()?,
        _ => Vec::new(),
    };
    let mut data = vec![method, path, ct, auth, 0];
    data.extend(body);
    Some(data)
}

/// Seeds from the conformance vectors under `dir` (every `.json` file,
/// recursively, but the vector format's schema): each file, each request
/// body and each merge or compression input for `decode`; each step of a
/// wire vector for `server_request`; each merge or compression input for
/// `merge_plan`. No directory: none.
pub fn from_vectors(dir: &Path) -> std::io::Result<Vec<Seed>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_none_or(|n| n != "vector.schema.json")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path)?;
        let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy();
        let name = format!(
            "vector-{}",
            rel.trim_end_matches(".json").replace(['/', '\\'], "-")
        );
        out.push(seed("decode", name.clone(), bytes.clone()));
        let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        match doc.get("kind").and_then(Value::as_str) {
            Some("merge") | Some("compression") => {
                if let Some(input) = doc.get("input") {
                    let text = serde_json::to_vec(input).expect("JSON serializes");
                    out.push(seed("decode", format!("{name}-input"), text.clone()));
                    out.push(seed("merge_plan", name.clone(), text));
                }
            }
            Some("wire") => {
                let steps = doc.get("steps").and_then(Value::as_array);
                for (i, step) in steps.into_iter().flatten().enumerate() {
                    let Some(step) = step.as_object() else {
                        continue;
                    };
                    if let Some(data) = wire_step(step) {
                        out.push(seed("decode", format!("{name}-{i}"), data[5..].to_vec()));
                        out.push(seed("server_request", format!("{name}-{i}"), data));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A few inputs made by hand: every method, path, content type and
/// authentication variant of `server_request` on a small body, and
/// pseudo-random structured inputs for `merge_plan`.
pub fn hand_made() -> Vec<Seed> {
    let mut out = Vec::new();
    let body = br#"{"protocol":"1.0"}"#;
    for (i, ctl) in [
        [0u8, 0, 0, 8, 0x0d],
        [200, 1, 0, 0, 0],
        [0, 200, 0, 0, 0],
        [0, 203, 0, 0, 0],
        [0, 2, 5, 0, 0],
        [0, 2, 6, 0, 0],
        [0, 2, 7, 0, 0],
        [0, 2, 0, 8, 0],
        [0, 2, 0, 9, 0],
        [0, 2, 0, 10, 0],
        [0, 2, 0, 11, 0],
        [0, 2, 0, 12, 0],
        [0, 2, 0, 13, 0],
        [0, 2, 0, 14, 0],
        [0, 2, 0, 15, 0x0b],
        [0, 4, 0, 0, 0x30],
        [0, 4, 0, 0, 0x70],
        [0, 4, 0, 0, 0xf0],
    ]
    .iter()
    .enumerate()
    {
        let mut data = ctl.to_vec();
        data.extend_from_slice(body);
        out.push(seed("server_request", format!("hand-{i:02}"), data));
    }
    // xorshift64*: fixed, so the seeds are the same on every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..8 {
        let len = 64 << (i % 4);
        let data = (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect();
        out.push(seed("merge_plan", format!("hand-{i:02}"), data));
    }
    out
}

/// Every seed of the repository at `root`.
pub fn all(root: &Path) -> std::io::Result<Vec<Seed>> {
    let mut out = from_spec(&root.join("spec"))?;
    out.extend(from_vectors(&root.join("conformance").join("vectors"))?);
    out.extend(hand_made());
    Ok(out)
}
