//! History vectors: a multi-node history replayed on the reference, in
//! process ([`crate::history`]).

use super::bad_input;
use crate::history::{self, Case};
use crate::node::protocol::LocalError;
use serde_json::{json, Value};

pub fn run(vector: &Value) -> Result<Value, LocalError> {
    let case: Case = serde_json::from_value(vector["case"].clone()).map_err(bad_input)?;
    Ok(match history::run_case(&case) {
        Ok(_) => json!({ "converged": true }),
        Err(failure) => json!({ "converged": false, "failure": failure.to_string() }),
    })
}
