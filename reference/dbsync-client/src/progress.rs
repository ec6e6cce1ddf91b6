//! Progress reporting for long procedures.

/// The procedure a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Procedure {
    Push,
    Pull,
    Repair,
}

/// How far a procedure got: `done` out of `total` units (ops for push,
/// versions for pull, rows for repair; `total` is `None` when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub procedure: Procedure,
    pub done: u64,
    pub total: Option<u64>,
}

/// A progress callback.
pub type ProgressFn = std::sync::Arc<dyn Fn(Progress) + Send + Sync>;
