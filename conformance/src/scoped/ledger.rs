//! Every value written in a scoped history, for "nothing in a write
//! scope is lost" (check 5).
//!
//! Every written value is a fresh token, so a token names the write that
//! made it, and the row it went into: a row is followed by its *lineage*,
//! the tokens written into it one after another, whatever id the server
//! gives it (an insert may be re-keyed, spec §10.2.2.2).
//!
//! At the end, each token must be on a server row, unless
//! - a later step wrote or deleted the same row (by anyone);
//! - it was a node's change to a row that left the node's scope while
//!   the change was pending: the node's conflict log holds a `moved_out`
//!   entry whose lost values are the token (spec §19.6);
//! - a merge resolved a conflict against it and said so: some node's
//!   conflict log names it among the lost values (spec §12.7; under the
//!   default node-wins policy, a concurrent write of another node that
//!   lost to a pending one).

use super::rows::{Rows, Table};
use crate::history::Failure;
use dbsync_core::merge::Rule;
use dbsync_core::Value;
use dbsync_sqlite::node::LoggedConflict;
use std::collections::{BTreeMap, HashMap};

/// Who wrote a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    Server,
    Node(usize),
}

#[derive(Debug, Clone)]
struct Write {
    token: String,
    lineage: usize,
    /// 0 for the rows the server starts with; step `i` is `i + 1`.
    step: usize,
    writer: Writer,
}

#[derive(Debug, Clone)]
struct Lineage {
    table: Table,
    /// The steps that wrote or deleted the row.
    touched: Vec<usize>,
}

/// What the final check found, beside the tokens on the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounting {
    /// Tokens on a server row.
    pub kept: u64,
    /// Tokens a later write or delete replaced.
    pub replaced: u64,
    /// Node changes dropped by a move-out, with their `moved_out` entry.
    pub moved_out: u64,
    /// Tokens a merge's conflict-log entry names as lost.
    pub lost_in_conflict: u64,
}

#[derive(Debug, Default)]
pub struct Ledger {
    writes: Vec<Write>,
    lineage_of: HashMap<String, usize>,
    lineages: Vec<Lineage>,
}

impl Ledger {
    /// A new row holding `token`.
    pub fn insert(&mut self, table: Table, token: &str, step: usize, writer: Writer) {
        self.lineages.push(Lineage {
            table,
            touched: vec![step],
        });
        self.record(token, self.lineages.len() - 1, step, writer);
    }

    fn record(&mut self, token: &str, lineage: usize, step: usize, writer: Writer) {
        self.lineage_of.insert(token.to_string(), lineage);
        self.writes.push(Write {
            token: token.to_string(),
            lineage,
            step,
            writer,
        });
    }

    fn lineage(&self, token: &str) -> Result<usize, Failure> {
        self.lineage_of.get(token).copied().ok_or_else(|| {
            Failure::new(format!(
                "a row holds {token:?}, which no write of the history made"
            ))
        })
    }

    /// The row holding `old` now holds `token`.
    pub fn update(
        &mut self,
        old: &str,
        token: &str,
        step: usize,
        writer: Writer,
    ) -> Result<(), Failure> {
        let lineage = self.lineage(old)?;
        self.lineages[lineage].touched.push(step);
        self.record(token, lineage, step, writer);
        Ok(())
    }

    /// The row holding `token` is deleted.
    pub fn delete(&mut self, token: &str, step: usize) -> Result<(), Failure> {
        let lineage = self.lineage(token)?;
        self.lineages[lineage].touched.push(step);
        Ok(())
    }

    /// Check 5: every token is on `server`, or accounted for (see the
    /// module's documentation). `logs`: each node's conflict log.
    pub fn check(
        &self,
        server: &Rows,
        logs: &[Vec<LoggedConflict>],
        users: &[String],
    ) -> Result<Accounting, Failure> {
        let on_server: BTreeMap<&str, ()> = server.tokens().map(|t| (t, ())).collect();
        let mut acc = Accounting::default();
        for w in &self.writes {
            let lineage = &self.lineages[w.lineage];
            if on_server.contains_key(w.token.as_str()) {
                acc.kept += 1;
            } else if lineage.touched.iter().any(|&s| s > w.step) {
                acc.replaced += 1;
            } else if matches!(w.writer, Writer::Node(n) if names_lost(&logs[n], &w.token, true)) {
                acc.moved_out += 1;
            } else if logs.iter().any(|log| names_lost(log, &w.token, false)) {
                acc.lost_in_conflict += 1;
            } else {
                return Err(Failure::new(self.lost_message(w, server, users)));
            }
        }
        Ok(acc)
    }

    fn lost_message(&self, w: &Write, server: &Rows, users: &[String]) -> String {
        let lineage = &self.lineages[w.lineage];
        let who = match w.writer {
            Writer::Server => "the server".to_string(),
            Writer::Node(n) => format!("node {n} ({})", users[n]),
        };
        let now: Vec<String> = server
            .tables
            .get(&lineage.table)
            .into_iter()
            .flatten()
            .filter(|(_, r)| self.lineage_of.get(&r.token) == Some(&w.lineage))
            .map(|(id, r)| format!("{} {id} holds {:?}", lineage.table, r.token))
            .collect();
        let now = if now.is_empty() {
            "no server row holds any value of that row".to_string()
        } else {
            format!("on the server: {}", now.join(", "))
        };
        format!(
            "lost: {:?}, written by {who} at step {} into a {} row, is on no server row; \
             no later step wrote or deleted that row, no moved_out entry of the writer \
             and no conflict-log entry names it ({now})",
            w.token,
            w.step.saturating_sub(1),
            lineage.table
        )
    }
}

/// Whether an entry of `log` names `token` among its lost values (only
/// `moved_out` entries when `moved_out`, only others otherwise).
fn names_lost(log: &[LoggedConflict], token: &str, moved_out: bool) -> bool {
    log.iter()
        .filter(|c| (c.entry.rule == Rule::MovedOut) == moved_out)
        .filter_map(|c| c.entry.lost.as_ref())
        .any(|lost| {
            lost.values()
                .any(|v| matches!(v, Value::Text(t) if t == token))
        })
}
