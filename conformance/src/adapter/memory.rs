//! Merge vectors on the core's in-memory model store.

use super::merge_input::{merge_error, outcome, MergeVectorInput};
use crate::node::protocol::LocalError;
use dbsync_core::merge::{self, MergeInput};
use dbsync_core::model::MemoryStore;
use serde_json::{json, Value};

pub fn run(vector: &Value) -> Result<Value, LocalError> {
    let input = MergeVectorInput::of(vector)?;
    let policy = input.policy()?;
    let internal = |e: String| LocalError::new("internal_error", e);
    let mut store = MemoryStore::new(input.schema());
    store
        .load(input.local.rows.clone())
        .map_err(|e| internal(e.to_string()))?;
    let problems = store.check_integrity();
    if !problems.is_empty() {
        return Err(internal(format!(
            "the local rows break integrity: {problems:?}"
        )));
    }
    input.local.record_pending(&mut store);
    let pending = store
        .pending_ops()
        .map_err(|e| LocalError::new(e.code().as_str(), e.to_string()).with(json!(e)))?;
    let merge_input = MergeInput::of_pull(
        &input.pull.ops,
        input.pull.rows.clone(),
        pending,
        store.pending_restores(),
    );
    let plan =
        merge::plan(&merge_input, store.schema(), policy, &store).map_err(|e| merge_error(&e))?;
    store
        .apply(&plan)
        .map_err(|e| internal(format!("applying the plan failed: {e}")))?;
    let pending = store.pending_ops().map_err(|e| internal(e.to_string()))?;
    Ok(outcome(
        &store.rows(),
        &pending,
        &store.pending_restores(),
        &plan.conflicts,
    ))
}
