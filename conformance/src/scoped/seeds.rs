//! One seed, one scoped case: the seed seeds proptest's ChaCha generator
//! (as in the history harness, [`crate::history::seeds`]), the generator
//! draws the case, and a failing case is shrunk to a smaller one that
//! still fails.

use super::case::Case;
use super::generate;
use crate::history::seeds::seed_bytes;
use crate::history::{Failure, Stats};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::{Cell, RefCell};

/// The case the generator draws for `seed`.
pub fn case_of(seed: u64) -> Case {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed));
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    generate::case()
        .new_tree(&mut runner)
        .expect("the case strategy never rejects")
        .current()
}

/// A seed whose case failed.
#[derive(Debug, Clone)]
pub struct SeedFailure {
    /// Why the smallest failing case failed.
    pub reason: String,
    /// The smallest failing case found.
    pub case: Case,
    /// How many runs shrinking took.
    pub runs: u32,
}

/// Runs `seed`'s case with `run`. On failure, shrinks it when `shrink`
/// (up to `max_shrink` runs) and returns the smallest failing case with
/// its reason. Only the first run's events are returned.
pub fn run_seed(
    seed: u64,
    shrink: bool,
    max_shrink: u32,
    run: impl Fn(&Case) -> Result<Stats, Failure>,
) -> Result<Stats, SeedFailure> {
    let config = Config {
        failure_persistence: None,
        max_shrink_iters: if shrink { max_shrink } else { 0 },
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let tree = generate::case()
        .new_tree(&mut runner)
        .expect("the case strategy never rejects");
    let first: RefCell<Option<Stats>> = RefCell::new(None);
    let runs = Cell::new(0u32);
    let outcome = runner.run_one(tree, |case: Case| {
        let is_first = runs.replace(runs.get() + 1) == 0;
        match run(&case) {
            Ok(stats) => {
                if is_first {
                    *first.borrow_mut() = Some(stats);
                }
                Ok(())
            }
            Err(f) => Err(TestCaseError::fail(f.to_string())),
        }
    });
    match outcome {
        Ok(_) => Ok(first.into_inner().unwrap_or_default()),
        Err(TestError::Fail(reason, case)) => Err(SeedFailure {
            reason: reason.message().to_string(),
            case,
            runs: runs.get(),
        }),
        Err(TestError::Abort(why)) => Err(SeedFailure {
            reason: format!("aborted: {why}"),
            case: case_of(seed),
            runs: runs.get(),
        }),
    }
}
