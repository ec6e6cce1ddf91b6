//! One seed, one case: the seed seeds proptest's ChaCha generator, the
//! generator draws the case, and a failing case is shrunk to a smaller
//! one that still fails. Shared by the property harness and
//! `dbsync-conformance history`, so a seed names the same case in both.

use super::case::Case;
use super::{Failure, Stats};
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::RefCell;

/// The 32 bytes of the ChaCha seed of a u64 seed.
pub fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b
}

/// The case `strategy` draws for `seed`.
pub fn case_of(seed: u64, strategy: &BoxedStrategy<Case>) -> Case {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed));
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy
        .new_tree(&mut runner)
        .expect("the case strategy never rejects")
        .current()
}

/// A seed whose case failed.
#[derive(Debug, Clone)]
pub struct SeedFailure {
    /// Why the smallest failing case failed (or the case itself, unshrunk).
    pub reason: String,
    /// The smallest failing case found.
    pub case: Case,
}

/// Runs `seed`'s case with `run`. On failure, shrinks it when `shrink`
/// (up to 4096 tries, each a whole run) and returns the smallest failing
/// case with its reason. Only the first run's events are returned.
pub fn run_seed(
    seed: u64,
    strategy: &BoxedStrategy<Case>,
    shrink: bool,
    run: impl Fn(&Case) -> Result<Stats, Failure>,
) -> Result<Stats, SeedFailure> {
    let config = Config {
        failure_persistence: None,
        max_shrink_iters: if shrink { 4096 } else { 0 },
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let tree = strategy
        .new_tree(&mut runner)
        .expect("the case strategy never rejects");
    let first: RefCell<Option<Stats>> = RefCell::new(None);
    let counted = std::cell::Cell::new(false);
    let outcome = runner.run_one(tree, |case: Case| {
        let is_first = !counted.replace(true);
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
        }),
        Err(TestError::Abort(why)) => Err(SeedFailure {
            reason: format!("aborted: {why}"),
            case: case_of(seed, strategy),
        }),
    }
}
