//! `dbsync-conformance history`: generated histories, one seed each,
//! played through an adapter against a server, with faults. The seed
//! comes first in the output; a failure prints its reason, its case (the
//! history format, ready to become a regression vector) and the exact
//! command that replays it.

use super::{Played, Player, ServerChoice};
use crate::history::seeds::{self, SeedFailure};
use crate::history::Stats;
use crate::node::process::Adapter;
use std::io::Write;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The node adapter's command line.
    pub node: String,
    pub server: ServerChoice,
    /// How many cases.
    pub cases: u64,
    /// The first seed (case i uses seed + i); `None`: from the clock.
    pub seed: Option<u64>,
    /// Shrink a failing case to a smaller one that still fails.
    pub shrink: bool,
    /// Go on after a failure.
    pub keep_going: bool,
    /// How long to wait for each adapter answer.
    pub timeout: Duration,
}

/// How a session ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub passed: u64,
    pub failed: u64,
    /// Cases the adapter does not play (no history protocol).
    pub skipped: u64,
    pub stats: Stats,
}

/// A word for a shell: quoted unless it is plain.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command that replays one seed.
pub fn replay_command(o: &Options, seed: u64) -> String {
    let server = match &o.server {
        ServerChoice::Reference => "--reference".to_string(),
        ServerChoice::Url { base, token } => {
            let token = token
                .as_ref()
                .map(|t| format!(" --token {}", shell_word(t)))
                .unwrap_or_default();
            format!("--server {}{token}", shell_word(base))
        }
    };
    format!(
        "dbsync-conformance history --node {} {server} --seed {seed} --cases 1",
        shell_word(&o.node)
    )
}

/// A run's first seed: the given one, or one from the clock.
pub fn first_seed(o: &Options) -> u64 {
    o.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
            .wrapping_mul(1_000_003)
    })
}

/// Plays `o.cases` cases, printing one line per case to `out`.
pub fn run(o: &Options, out: &mut impl Write) -> Result<Outcome, String> {
    let adapter = Adapter::new(&o.node, o.timeout)?;
    let player = Player::new(&adapter, o.server.clone())?;
    let strategy = player.strategy();
    let base = first_seed(o);
    let io = |e: std::io::Error| e.to_string();
    writeln!(
        out,
        "dbsync-conformance history: seed {base}, {} case(s) (seeds {base}..={})",
        o.cases,
        base.wrapping_add(o.cases.saturating_sub(1))
    )
    .map_err(io)?;
    let started = Instant::now();
    let mut outcome = Outcome::default();
    for i in 0..o.cases {
        let seed = base.wrapping_add(i);
        let tag = format!("h{seed}-");
        let skipped = std::cell::Cell::new(None);
        let result = seeds::run_seed(seed, &strategy, o.shrink, |case| {
            match player.play(case, &tag)? {
                Played::Passed(stats) => Ok(stats),
                Played::NotImplemented(why) => {
                    skipped.set(Some(why));
                    Ok(Stats::default())
                }
            }
        });
        let case = seeds::case_of(seed, &strategy);
        let shape = format!("{} nodes, {} steps", case.nodes, case.steps.len());
        match (result, skipped.take()) {
            (Ok(_), Some(why)) => {
                outcome.skipped += 1;
                writeln!(
                    out,
                    "SKIP seed {seed}: the adapter does not play histories: {why}"
                )
                .map_err(io)?;
                break;
            }
            (Ok(stats), None) => {
                outcome.passed += 1;
                outcome.stats.add(&stats);
                writeln!(out, "PASS seed {seed} ({shape})").map_err(io)?;
            }
            (Err(SeedFailure { reason, case }), _) => {
                outcome.failed += 1;
                writeln!(
                    out,
                    "FAIL seed {seed} ({shape}): {reason}\n     case: {}\n     replay: {}",
                    serde_json::to_string(&case).unwrap_or_default(),
                    replay_command(o, seed)
                )
                .map_err(io)?;
                if !o.keep_going {
                    break;
                }
            }
        }
        out.flush().map_err(io)?;
    }
    writeln!(
        out,
        "{} passed, {} failed, {} skipped in {:.1?}; events: {:?}",
        outcome.passed,
        outcome.failed,
        outcome.skipped,
        started.elapsed(),
        outcome.stats.events
    )
    .map_err(io)?;
    Ok(outcome)
}
