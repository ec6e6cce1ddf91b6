//! The executable scenarios of spec §5.4 (compression) and §12.9 (merge):
//! their JSON format, their extraction from the spec's Markdown, and a
//! runner that checks an outcome on the [`MemoryStore`].
//!
//! A scenario is a fenced block whose info string is
//! `json scenario=compression` or `json scenario=merge`.

use super::MemoryStore;
use crate::compress::{compress_pending, compress_pulled, InvalidPendingSequence};
use crate::merge::{
    self, policy_by_name, ConflictEntry, MergeError, MergeInput, Plan, Restore, UniqueCollision,
};
use crate::protocol::op::{Command, Op, OplogRecord, VersionedOp};
use crate::protocol::value::Row;
use crate::schema::{Schema, TableSchema};
use serde::{Deserialize, Serialize};

/// A compression scenario (spec §5.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "side", rename_all = "snake_case", deny_unknown_fields)]
pub enum CompressionScenario {
    /// Pending ops of a node: `ops` in any order, read by `order`.
    Pending {
        /// The scenario's name.
        name: String,
        /// The pending records.
        ops: Vec<OplogRecord>,
        /// The compressed ops, in the order of each row's first op.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected: Option<Vec<Op>>,
        /// The invalid sequence reported instead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_error: Option<InvalidPendingSequence>,
    },
    /// Ops pulled from the server, in server order.
    Pulled {
        /// The scenario's name.
        name: String,
        /// The pulled ops.
        ops: Vec<VersionedOp>,
        /// The compressed ops, in the order of each row's first op.
        expected: Vec<VersionedOp>,
    },
}

impl CompressionScenario {
    /// The scenario's name.
    pub fn name(&self) -> &str {
        match self {
            CompressionScenario::Pending { name, .. }
            | CompressionScenario::Pulled { name, .. } => name,
        }
    }

    /// Runs the scenario; `Err` describes the difference.
    pub fn check(&self) -> Result<(), String> {
        match self {
            CompressionScenario::Pending {
                ops,
                expected,
                expected_error,
                ..
            } => {
                let got = compress_pending(ops);
                match (expected, expected_error, got) {
                    (Some(want), None, Ok(got)) if *want == got => Ok(()),
                    (None, Some(want), Err(got)) if *want == got => Ok(()),
                    (Some(_), Some(_), _) | (None, None, _) => {
                        Err("give exactly one of expected and expected_error".into())
                    }
                    (want, want_err, got) => Err(format!(
                        "expected {:?} / {:?}, got {:?}",
                        want, want_err, got
                    )),
                }
            }
            CompressionScenario::Pulled { ops, expected, .. } => {
                let got = compress_pulled(ops).ops;
                if got == *expected {
                    Ok(())
                } else {
                    Err(format!("expected {expected:?}, got {got:?}"))
                }
            }
        }
    }
}

/// The node before the merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalState {
    /// Every local row of the synced tables (pending writes included).
    pub rows: Vec<Row>,
    /// The compressed pending ops.
    #[serde(default)]
    pub pending: Vec<Op>,
    /// The pending `i` ops that are restores (spec §12.3.5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restores: Vec<Restore>,
}

impl LocalState {
    /// Records the pending ops on `store`, the listed restores as
    /// restores (spec §12.3.5), without touching its rows.
    pub fn record_pending(&self, store: &mut MemoryStore) {
        for op in &self.pending {
            let restore = self
                .restores
                .iter()
                .find(|r| r.table == op.table && r.row_id == op.row_id);
            match restore {
                Some(r) if op.command == Command::Insert => {
                    store.record_restore(&op.table, op.row_id, r.changed)
                }
                _ => store.record_columns(&op.table, op.row_id, op.command, op.columns.clone()),
            }
        }
    }
}

/// What the pull brings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullState {
    /// The raw pulled ops, in server order (compressed by spec §5.3 before
    /// the merge).
    pub ops: Vec<VersionedOp>,
    /// The rows of the message.
    #[serde(default)]
    pub rows: Vec<Row>,
}

/// The expected outcome: the final state, or the collisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Expected {
    /// The merge succeeds and leaves this state.
    Merged {
        /// Every local row after the merge.
        rows: Vec<Row>,
        /// The compressed pending ops after the merge (order not
        /// significant).
        pending: Vec<Op>,
        /// Which pending `i` ops are restores (spec §12.3.5).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        restores: Vec<Restore>,
        /// The conflict-log entries (order not significant).
        conflicts: Vec<ConflictEntry>,
    },
    /// The merge stops with unique collisions (spec §12.2.3).
    Collisions {
        /// Every unique collision (order not significant); the node is
        /// unchanged.
        unique_collisions: Vec<UniqueCollision>,
    },
}

/// A merge scenario (spec §12.9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeScenario {
    /// The scenario's name.
    pub name: String,
    /// `node_wins` or `server_wins`.
    pub policy: String,
    /// The synced tables.
    pub schema: Vec<TableSchema>,
    /// The node before the merge.
    pub local: LocalState,
    /// What the pull brings.
    pub pull: PullState,
    /// What the merge must produce.
    pub expected: Expected,
}

/// What running a merge scenario produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The merge was planned (and applied).
    Plan(Plan),
    /// The merge stopped with these collisions; nothing changed.
    UniqueCollisions(Vec<UniqueCollision>),
}

fn sorted_json<T: Serialize>(items: &[T]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_string(i).unwrap_or_default())
        .collect();
    v.sort();
    v
}

fn sorted_ops(ops: &[Op]) -> Vec<Op> {
    let mut v = ops.to_vec();
    v.sort_by(|a, b| (&a.table, a.row_id).cmp(&(&b.table, b.row_id)));
    v
}

fn sorted_rows(rows: &[Row]) -> Vec<Row> {
    let mut v = rows.to_vec();
    v.sort_by(|a, b| (&a.table, a.id).cmp(&(&b.table, b.id)));
    v
}

impl MergeScenario {
    /// The node's store before the merge.
    pub fn local_store(&self) -> Result<MemoryStore, String> {
        let mut store = MemoryStore::new(Schema::new(self.schema.clone()));
        store
            .load(self.local.rows.clone())
            .map_err(|e| e.to_string())?;
        let problems = store.check_integrity();
        if !problems.is_empty() {
            return Err(format!("the local rows break integrity: {problems:?}"));
        }
        self.local.record_pending(&mut store);
        Ok(store)
    }

    /// Plans the merge on a fresh store; returns the store and the outcome.
    pub fn run(&self) -> Result<(MemoryStore, MergeOutcome), String> {
        let policy = policy_by_name(&self.policy)
            .ok_or_else(|| format!("unknown policy {:?}", self.policy))?;
        let mut store = self.local_store()?;
        let pending = store.pending_ops().map_err(|e| e.to_string())?;
        let input = MergeInput::of_pull(
            &self.pull.ops,
            self.pull.rows.clone(),
            pending,
            store.pending_restores(),
        );
        match merge::plan(&input, store.schema(), policy, &store) {
            Ok(plan) => {
                store
                    .apply(&plan)
                    .map_err(|e| format!("applying the plan failed: {e}"))?;
                Ok((store, MergeOutcome::Plan(plan)))
            }
            Err(MergeError::UniqueCollisions(c)) => Ok((store, MergeOutcome::UniqueCollisions(c))),
            Err(e) => Err(format!("planning failed: {e}")),
        }
    }

    /// Runs the scenario and compares with `expected`; returns the outcome.
    pub fn check(&self) -> Result<MergeOutcome, String> {
        let before = self.local_store()?;
        let (store, outcome) = self.run()?;
        match (&self.expected, &outcome) {
            (
                Expected::Merged {
                    rows,
                    pending,
                    restores,
                    conflicts,
                },
                MergeOutcome::Plan(plan),
            ) => {
                let got_rows = store.rows();
                if sorted_rows(rows) != got_rows {
                    return Err(format!(
                        "rows differ\nexpected: {}\n     got: {}",
                        serde_json::to_string(&sorted_rows(rows)).unwrap_or_default(),
                        serde_json::to_string(&got_rows).unwrap_or_default()
                    ));
                }
                let got_pending = store.pending_ops().map_err(|e| e.to_string())?;
                if sorted_ops(pending) != sorted_ops(&got_pending) {
                    return Err(format!(
                        "pending ops differ\nexpected: {}\n     got: {}",
                        serde_json::to_string(&sorted_ops(pending)).unwrap_or_default(),
                        serde_json::to_string(&sorted_ops(&got_pending)).unwrap_or_default()
                    ));
                }
                let mut want_restores = restores.clone();
                want_restores.sort();
                let got_restores = store.pending_restores();
                if want_restores != got_restores {
                    return Err(format!(
                        "restores differ\nexpected: {}\n     got: {}",
                        serde_json::to_string(&want_restores).unwrap_or_default(),
                        serde_json::to_string(&got_restores).unwrap_or_default()
                    ));
                }
                if sorted_json(conflicts) != sorted_json(&plan.conflicts) {
                    return Err(format!(
                        "conflict entries differ\nexpected: {:#?}\n     got: {:#?}",
                        sorted_json(conflicts),
                        sorted_json(&plan.conflicts)
                    ));
                }
                Ok(outcome)
            }
            (Expected::Collisions { unique_collisions }, MergeOutcome::UniqueCollisions(got)) => {
                if sorted_json(unique_collisions) != sorted_json(got) {
                    return Err(format!(
                        "collisions differ\nexpected: {unique_collisions:?}\n     got: {got:?}"
                    ));
                }
                if store != before {
                    return Err("the store changed although the merge stopped".into());
                }
                Ok(outcome)
            }
            (Expected::Merged { .. }, MergeOutcome::UniqueCollisions(got)) => {
                Err(format!("expected a merge, got unique collisions {got:?}"))
            }
            (Expected::Collisions { .. }, MergeOutcome::Plan(plan)) => Err(format!(
                "expected unique collisions, got a plan: {}",
                serde_json::to_string(plan).unwrap_or_default()
            )),
        }
    }
}

/// A scenario of the spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// A compression scenario (spec §5.4).
    Compression(CompressionScenario),
    /// A merge scenario (spec §12.9).
    Merge(Box<MergeScenario>),
}

/// A scenario block found in a Markdown text.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioBlock {
    /// `compression` or `merge`.
    pub kind: String,
    /// The 1-based line of the opening fence.
    pub line: usize,
    /// The block's text, without its fences.
    pub text: String,
}

impl ScenarioBlock {
    /// Parses the block as its kind of scenario.
    pub fn parse(&self) -> Result<Scenario, String> {
        match self.kind.as_str() {
            "compression" => serde_json::from_str(&self.text)
                .map(Scenario::Compression)
                .map_err(|e| e.to_string()),
            "merge" => serde_json::from_str(&self.text)
                .map(|s| Scenario::Merge(Box::new(s)))
                .map_err(|e| e.to_string()),
            other => Err(format!("unknown scenario kind {other:?}")),
        }
    }
}

/// Every fenced block of `markdown` whose info string has a `scenario=`
/// word.
pub fn scenario_blocks(markdown: &str) -> Vec<ScenarioBlock> {
    let mut out = Vec::new();
    let mut open: Option<(String, Option<String>, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                let n = trimmed.chars().take_while(|c| *c == '`').count();
                let m = trimmed.chars().take_while(|c| *c == '~').count();
                let (fence_char, n) = if n >= 3 { ('`', n) } else { ('~', m) };
                if n >= 3 {
                    let fence: String = std::iter::repeat_n(fence_char, n).collect();
                    let info = &trimmed[n..];
                    let kind = info
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("scenario="))
                        .map(str::to_owned);
                    open = Some((fence, kind, i + 1, String::new()));
                }
            }
            Some((fence, kind, start, text)) => {
                if trimmed.trim_end() == fence.as_str() {
                    if let Some(kind) = kind.take() {
                        out.push(ScenarioBlock {
                            kind,
                            line: *start,
                            text: std::mem::take(text),
                        });
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_blocks_are_found_by_their_info_string() {
        let md = "text\n```json scenario=merge\n{}\n```\n```json example=push-request\n{}\n```\n~~~json scenario=compression\n[]\n~~~\n";
        let blocks = scenario_blocks(md);
        let kinds: Vec<(&str, usize)> = blocks.iter().map(|b| (b.kind.as_str(), b.line)).collect();
        assert_eq!(kinds, vec![("merge", 2), ("compression", 8)]);
        assert_eq!(blocks[0].text, "{}\n");
    }

    #[test]
    fn an_expected_outcome_with_unknown_members_is_rejected() {
        let both = r#"{"rows": [], "pending": [], "conflicts": [], "unique_collisions": []}"#;
        assert!(serde_json::from_str::<Expected>(both).is_err());
        let merged = r#"{"rows": [], "pending": [], "conflicts": []}"#;
        assert!(matches!(
            serde_json::from_str::<Expected>(merged),
            Ok(Expected::Merged { .. })
        ));
        let collisions = r#"{"unique_collisions": []}"#;
        assert!(matches!(
            serde_json::from_str::<Expected>(collisions),
            Ok(Expected::Collisions { .. })
        ));
    }
}
