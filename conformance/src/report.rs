//! Verdicts and how the runner prints them: one line per vector (name,
//! spec section, kind), expected and actual under a failure, and the last
//! line `N passed, N failed, N skipped`; or one JSON document with `--json`.

use serde::Serialize;
use serde_json::Value;
use std::io::Write;

/// How a vector went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// Not run: the implementation answered "not implemented", or the
    /// runner lacks a capability the vector requires.
    Skipped,
}

/// The verdict on one vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub name: String,
    pub section: String,
    pub kind: String,
    pub status: Status,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
}

impl Verdict {
    pub fn new(v: &crate::vectors::Vector, status: Status) -> Verdict {
        Verdict {
            name: v.header.name.clone(),
            section: v.header.section.clone(),
            kind: v.header.kind.name().to_string(),
            status,
            reason: None,
            expected: None,
            actual: None,
        }
    }

    pub fn passed(v: &crate::vectors::Vector) -> Verdict {
        Verdict::new(v, Status::Passed)
    }

    pub fn skipped(v: &crate::vectors::Vector, reason: impl Into<String>) -> Verdict {
        Verdict {
            reason: Some(reason.into()),
            ..Verdict::new(v, Status::Skipped)
        }
    }

    pub fn failed(
        v: &crate::vectors::Vector,
        reason: impl Into<String>,
        expected: Option<Value>,
        actual: Option<Value>,
    ) -> Verdict {
        Verdict {
            reason: Some(reason.into()),
            expected,
            actual,
            ..Verdict::new(v, Status::Failed)
        }
    }
}

/// The counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Summary {
    pub fn of(verdicts: &[Verdict]) -> Summary {
        let count = |s| verdicts.iter().filter(|v| v.status == s).count();
        Summary {
            passed: count(Status::Passed),
            failed: count(Status::Failed),
            skipped: count(Status::Skipped),
        }
    }

    /// `N passed, N failed, N skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// One verdict for people: `PASS name (§5.2.1, compression)`, and under a
/// failure the reason, the expected and the actual JSON.
pub fn human(v: &Verdict) -> String {
    let tag = match v.status {
        Status::Passed => "PASS",
        Status::Failed => "FAIL",
        Status::Skipped => "SKIP",
    };
    let mut out = format!("{tag} {} (§{}, {})", v.name, v.section, v.kind);
    if let Some(r) = &v.reason {
        for (i, line) in r.lines().enumerate() {
            out.push_str(if i == 0 { "\n     " } else { "\n       " });
            out.push_str(line);
        }
    }
    let pretty = |x: &Value| serde_json::to_string_pretty(x).unwrap_or_default();
    if let Some(e) = &v.expected {
        out.push_str("\n     expected: ");
        out.push_str(&pretty(e).replace('\n', "\n     "));
    }
    if let Some(a) = &v.actual {
        out.push_str("\n     actual:   ");
        out.push_str(&pretty(a).replace('\n', "\n     "));
    }
    out
}

/// Prints every verdict and the summary line (or the JSON document) to
/// `out`; returns the summary.
pub fn print(out: &mut dyn Write, verdicts: &[Verdict], json: bool) -> std::io::Result<Summary> {
    let summary = Summary::of(verdicts);
    if json {
        let doc = serde_json::json!({"vectors": verdicts, "summary": summary});
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for v in verdicts {
            writeln!(out, "{}", human(v))?;
        }
        writeln!(out, "{}", summary.line())?;
    }
    Ok(summary)
}
