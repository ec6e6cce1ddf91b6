//! Multi-node histories on the reference, in process, on real SQLite files
//! in a temporary folder (the engine of the property harness, spec §18.2).
//!
//! A [`Case`] is replayed step by step by a [`World`]: a server database
//! and 2–5 node databases driven through the store functions the HTTP
//! layers call (`dbsync_sqlite::server` and `dbsync_sqlite::node`), with
//! faults injected: lost requests, lost responses, node crashes inside the
//! merge transaction, server and node restarts. After every step the
//! invariants of spec §18.3 that hold at any time are checked (foreign
//! keys, unique constraints, no duplicated row, the server equals the
//! pushes it accepted); after a final quiet round, convergence and
//! "nothing lost".
//!
//! - [`case`]: the plain-data description of a history;
//! - [`generate`]: the generator of cases, and [`seeds`]: one seed, one
//!   case, shrunk on failure (shared with `dbsync-conformance history`);
//! - `world`: the databases and their connections;
//! - [`edits`]: the application's offline writes, planned on [`rowset`]
//!   into [`writes`];
//! - `procedures`: push, pull and sync with their faults;
//! - [`ledger`]: what each node wrote, for "nothing lost";
//! - [`model`]: the server state the accepted pushes imply;
//! - `checks`: the invariants.
//!
//! The same cases play through any implementation's adapter over HTTP
//! in [`crate::play`], which shares the generator, the edits, the ledger
//! and the model with this engine.

pub mod case;
mod checks;
pub mod edits;
pub mod generate;
pub mod ledger;
mod ledger_notes;
pub mod model;
mod procedures;
pub mod rowset;
pub mod seeds;
pub mod server;
mod world;
pub mod writes;

pub use case::{Case, Change, Edit, PullFault, PushFault, Step, TableGen, UniqueVal, Vals};
pub use checks::diff;
pub use server::ServerStore;
pub use world::World;

use std::collections::BTreeMap;
use std::fmt;

/// A broken invariant (or a procedure that failed where it must not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The index of the step after which it was found; `None` for the
    /// final round.
    pub step: Option<usize>,
    /// What broke.
    pub message: String,
}

impl Failure {
    /// A failure found in the final round (until a step index is set).
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            step: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(s) => write!(f, "after step {s}: {}", self.message),
            None => write!(f, "in the final round: {}", self.message),
        }
    }
}

impl std::error::Error for Failure {}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::new(format!("sqlite: {e}"))
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::new(e)
    }
}

/// A failure described by `context` and an error.
pub(crate) fn failed(context: &str) -> impl Fn(&dyn fmt::Display) -> Failure + '_ {
    move |e| Failure::new(format!("{context}: {e}"))
}

/// What happened in a history, for judging how often the generator
/// reaches each situation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Counts by event name (`push`, `pull`, `unique_collision`,
    /// `crash_mid_merge`, a conflict rule, ...).
    pub events: BTreeMap<String, u64>,
}

impl Stats {
    /// Counts one `event`.
    pub fn count(&mut self, event: &str) {
        *self.events.entry(event.to_string()).or_default() += 1;
    }

    /// Adds another history's counts.
    pub fn add(&mut self, other: &Stats) {
        for (k, v) in &other.events {
            *self.events.entry(k.clone()).or_default() += v;
        }
    }
}

/// Replays a case from scratch and checks every invariant; the events it
/// went through on success.
pub fn run_case(case: &Case) -> Result<Stats, Failure> {
    run_case_on(case, ServerStore::Sqlite)
}

/// [`run_case`] with the server on `store`.
pub fn run_case_on(case: &Case, store: ServerStore) -> Result<Stats, Failure> {
    // The PostgreSQL store serves integer keys only (spec §2.2 text keys
    // are the SQLite store's): there the case's text-keyed tables are
    // integer-keyed.
    let integer_keyed;
    let case = match store {
        ServerStore::Postgres if case.tables.iter().any(|t| t.text_key) => {
            integer_keyed = case.with_integer_keys();
            &integer_keyed
        }
        _ => case,
    };
    let mut world = World::new(case, store)?;
    for (i, step) in case.steps.iter().enumerate() {
        world.step(step).map_err(|mut f| {
            f.step = Some(i);
            f
        })?;
        world.check_always().map_err(|mut f| {
            f.step = Some(i);
            f
        })?;
    }
    world.quiet_round()?;
    world.check_final()?;
    Ok(world.stats().clone())
}
