//! Progress reporting for long procedures.

/// The procedure a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Procedure {
    /// [`Node::push`](crate::Node::push): units are ops.
    Push,
    /// [`Node::pull`](crate::Node::pull): units are versions.
    Pull,
    /// [`Node::repair`](crate::Node::repair): units are rows.
    Repair,
}

/// How far a procedure got: `done` out of `total` units (ops for push,
/// versions for pull, rows for repair; `total` is `None` when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The procedure under way.
    pub procedure: Procedure,
    /// How many units are done.
    pub done: u64,
    /// How many units there are, when known (a resumed repair does not
    /// know).
    pub total: Option<u64>,
}

/// A progress callback, given to [`Node::with_progress`](crate::Node::with_progress).
/// It is called on the async task that runs the procedure: keep it short.
pub type ProgressFn = std::sync::Arc<dyn Fn(Progress) + Send + Sync>;
