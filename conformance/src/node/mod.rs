//! Playing the node vectors (`compression`, `merge`, `history`) through an
//! adapter process (spec §18.2). A `history` vector plays through the
//! history protocol ([`history`]): one adapter process per node, against
//! the reference server in process ([`crate::play`]).

pub mod history;
pub mod judge;
pub mod process;
pub mod protocol;

use crate::history::Case;
use crate::play::{Played, Player, ServerChoice};
use crate::report::Verdict;
use crate::vectors::{Kind, Vector};
use process::Adapter;
use protocol::{Reply, Request};
use serde_json::json;

/// Sends every node vector of `vectors` (others are left out) to the
/// adapter, one at a time, and judges each answer.
pub fn run(adapter: &mut Adapter, vectors: &[Vector]) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let mut player: Option<Result<Player, String>> = None;
    for (i, v) in vectors.iter().filter(|v| v.kind().is_node()).enumerate() {
        if v.kind() == Kind::History {
            let p = player.get_or_insert_with(|| Player::new(adapter, ServerChoice::Reference));
            verdicts.push(history_vector(p, v));
            continue;
        }
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

/// A `history` vector: its case played through the adapter's history
/// commands; it passes when every invariant holds.
fn history_vector(player: &Result<Player, String>, v: &Vector) -> Verdict {
    let player = match player {
        Ok(p) => p,
        Err(why) => {
            return Verdict::failed(v, format!("cannot start the player: {why}"), None, None)
        }
    };
    let case: Case = match serde_json::from_value(v.json["case"].clone()) {
        Ok(c) => c,
        Err(e) => return Verdict::failed(v, format!("the vector's case: {e}"), None, None),
    };
    match player.play(&case, &format!("{}-", v.name())) {
        Ok(Played::Passed(_)) => Verdict::passed(v),
        Ok(Played::NotImplemented(why)) => Verdict::skipped(v, format!("not implemented: {why}")),
        Err(failure) => Verdict::failed(
            v,
            failure.to_string(),
            Some(v.expected().clone()),
            Some(json!({"outcome": {"converged": false, "failure": failure.to_string()}})),
        ),
    }
}
