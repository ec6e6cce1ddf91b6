//! Scoped histories (spec §19): the engine of the scoped property
//! harness (`tests/scoped_harness.rs`).
//!
//! A [`Case`] is played on a real server (`Server::bind` on 127.0.0.1:0,
//! with scope rules, over a SQLite file) and real client nodes over HTTP,
//! each registered for a user: offline edits inside a node's scope,
//! direct writes on the server's file (lists given to another user
//! among them), syncs and pulls. After every sync or pull of a node, the
//! node holds only rows of its read scope, no child without its parent,
//! and no pending op outside its write scope; after a final quiet round,
//! each node holds exactly its scope of the server's rows, and every
//! value a node wrote is on the server unless replaced, dropped by a
//! move-out (with its `moved_out` entry) or lost in a logged conflict.
//!
//! - [`case`]: the plain-data history, the schema and the rules;
//! - [`generate`]: its generator, and [`seeds`]: one seed, one case,
//!   shrunk on failure;
//! - `world`: the server, the nodes and the server's file;
//! - `edits`: the nodes' edits and the server's direct writes;
//! - `procedures`: sync, pull, the quiet round;
//! - [`rows`]: what a database holds, and each row's scope key;
//! - [`checks`]: the invariants; [`ledger`]: "nothing lost".

pub mod case;
pub mod checks;
mod edits;
pub mod fresh;
pub mod generate;
pub mod ledger;
mod procedures;
pub mod rows;
pub mod seeds;
mod world;

pub use case::Case;
pub use fresh::Keys;
pub use ledger::Accounting;
pub use world::World;

use crate::history::{Failure, Stats};

/// Plays `case` from scratch on a single-threaded tokio runtime of its
/// own, the writers choosing keys as `keys` says, and checks every
/// invariant; the events it went through.
pub fn run_case(case: &Case, keys: Keys) -> Result<Stats, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("a tokio runtime: {e}")))?;
    runtime.block_on(play_case(case, keys))
}

/// [`run_case`] inside a runtime. A failure carries the trace of what
/// the steps did.
pub async fn play_case(case: &Case, keys: Keys) -> Result<Stats, Failure> {
    let mut world = World::new(case, keys).await.map_err(|mut f| {
        f.message = format!("setting up: {}", f.message);
        f
    })?;
    let with_trace = |world: &World, mut f: Failure| {
        f.message = format!("{}\ntrace:\n{}", f.message, world.trace.join("\n"));
        f
    };
    for (i, step) in case.steps.iter().enumerate() {
        world.step = i + 1;
        if let Err(mut f) = world.play(step).await {
            f.step = Some(i);
            return Err(with_trace(&world, f));
        }
    }
    world.step = case.steps.len() + 1;
    if let Err(f) = world.quiet_round().await {
        return Err(with_trace(&world, f));
    }
    world
        .check_final()
        .await
        .map_err(|f| with_trace(&world, f))?;
    world.stats.count("case");
    Ok(world.stats)
}
