//! Existing data on a node (spec §3.5, §13.5): `dbsync track
//! --existing-rows push|replace` and what `dbsync repair` discarded.

use crate::output::Output;
use dbsync_client::{ExistingRows, LocalWork};
use dbsync_sqlite::node::describe_work;
use dbsync_sqlite::{ExistingRowsRefused, TrackOptions};
use std::process::ExitCode;

/// `--existing-rows`: what rows a table holds when first tracked are.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExistingRowsArg {
    /// This node's own work: recorded as pending inserts, pushed.
    Push,
    /// A copy of the server's data: replaced by the next repair.
    Replace,
}

/// The tracking options `--existing-rows` asks for.
pub fn track_options(arg: Option<ExistingRowsArg>) -> TrackOptions {
    TrackOptions {
        existing_rows: arg.map(|a| match a {
            ExistingRowsArg::Push => ExistingRows::Push,
            ExistingRowsArg::Replace => ExistingRows::Replace,
        }),
    }
}

/// Reports a refused tracking: the tables, their rows and both choices
/// (exit 2).
pub fn refused(out: Output, refused: &ExistingRowsRefused) -> ExitCode {
    out.coded_failure(
        dbsync_core::ErrorCode::ExistingRows,
        format!("{refused}\n  say which: `dbsync track --existing-rows push` (this node's own work, pushed) or `--existing-rows replace` (a copy of the server's data, replaced by `dbsync repair`)\n  (a server's database needs no `dbsync track`: `dbsync serve` tracks it)"),
        crate::exit::USAGE,
    )
}

/// What a repair discarded, in words; `None` when nothing.
pub fn describe_discarded(discarded: &[LocalWork]) -> Option<String> {
    (!discarded.is_empty()).then(|| describe_work(discarded))
}
