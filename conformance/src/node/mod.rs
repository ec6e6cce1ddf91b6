//! Playing the node vectors (`compression`, `merge`, `history`) through an
//! adapter process (spec §18.2).

pub mod judge;
pub mod process;
pub mod protocol;

use crate::report::Verdict;
use crate::vectors::Vector;
use process::Adapter;
use protocol::{Reply, Request};
use serde_json::json;

/// Sends every node vector of `vectors` (others are left out) to the
/// adapter, one at a time, and judges each answer.
pub fn run(adapter: &mut Adapter, vectors: &[Vector]) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for (i, v) in vectors.iter().filter(|v| v.kind().is_node()).enumerate() {
        let request = Request {
            id: i as u64 + 1,
            vector: v.json.clone(),
        };
        let verdict = match adapter.ask(&request) {
            Err(why) => Verdict::failed(v, format!("adapter: {why}"), None, None),
            Ok(answer) => {
                let actual = match &answer.reply {
                    Reply::NotImplemented(why) => {
                        verdicts.push(Verdict::skipped(v, format!("not implemented: {why}")));
                        continue;
                    }
                    Reply::Outcome(o) => json!({ "outcome": o }),
                    Reply::Error(e) => json!({ "error": e }),
                };
                match judge::judge(v.kind(), v.expected(), &answer.reply) {
                    Ok(()) => Verdict::passed(v),
                    Err(why) => Verdict::failed(v, why, Some(v.expected().clone()), Some(actual)),
                }
            }
        };
        verdicts.push(verdict);
    }
    adapter.stop();
    verdicts
}
