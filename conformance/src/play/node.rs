//! One node of a history: an adapter process that hosts it, driven with
//! the history protocol's commands (`crate::node::history`). The process
//! may end on purpose (a crash inside a merge); the node then restarts
//! with a new process opening the same path.

use crate::history::rowset::RowSet;
use crate::history::writes::RowWrite;
use crate::history::Failure;
use crate::node::history::*;
use crate::node::process::{Adapter, Broken};
use crate::node::protocol::{LocalError, Reply};
use dbsync_core::merge::ConflictEntry;
use dbsync_core::RowId;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// A node's state that a failed merge must leave as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub rows: RowSet,
    pub status: Status,
    pub conflicts: usize,
}

/// What a `pull` with a crash came to.
pub enum PullEnd {
    /// The merge finished first; the node's version.
    Merged(u64),
    /// The node reported an error (nothing may have changed).
    Refused(LocalError),
    /// The process ended, as told.
    Crashed,
}

/// An answer to a command: the outcome, or the node's local error.
pub type Answered<T> = Result<T, LocalError>;

/// A node and its adapter process.
pub struct NodeProc {
    /// The node's index in the history.
    pub index: usize,
    adapter: Adapter,
    open: OpenArgs,
    /// The node id the server gave it.
    pub id: u64,
    /// How many conflict-log entries the runner has read.
    seen: usize,
}

/// The adapter does not implement the history protocol.
#[derive(Debug, Clone)]
pub struct NotImplemented(pub String);

impl NodeProc {
    /// Starts the node's process and opens it. `Ok(Err(_))` when the
    /// adapter answers `not_implemented` to `open`.
    pub fn start(
        index: usize,
        adapter: Adapter,
        open: OpenArgs,
    ) -> Result<Result<NodeProc, NotImplemented>, Failure> {
        let mut node = NodeProc {
            index,
            adapter,
            open,
            id: 0,
            seen: 0,
        };
        let args = serde_json::to_value(&node.open).map_err(|e| Failure::new(e.to_string()))?;
        match node.adapter.command("open", args) {
            Ok(a) => match a.reply {
                Reply::NotImplemented(why) => Ok(Err(NotImplemented(why))),
                reply => {
                    let opened: Opened = node.expect("open", reply)?;
                    node.id = opened.node_id;
                    Ok(Ok(node))
                }
            },
            Err(e) => Err(node.broke("open", e)),
        }
    }

    fn broke(&self, command: &str, e: Broken) -> Failure {
        Failure::new(format!(
            "node {}'s adapter failed at `{command}`: {e}",
            self.index
        ))
    }

    /// The outcome of `reply`, which must not be an error.
    fn expect<T: DeserializeOwned>(&self, command: &str, reply: Reply) -> Result<T, Failure> {
        match self.answered(command, reply)? {
            Ok(v) => Ok(v),
            Err(e) => Err(Failure::new(format!(
                "node {}'s `{command}` failed: {}: {}",
                self.index, e.code, e.message
            ))),
        }
    }

    fn answered<T: DeserializeOwned>(
        &self,
        command: &str,
        reply: Reply,
    ) -> Result<Answered<T>, Failure> {
        match reply {
            Reply::Outcome(v) => serde_json::from_value(v).map(Ok).map_err(|e| {
                Failure::new(format!(
                    "node {}'s answer to `{command}` is not its outcome: {e}",
                    self.index
                ))
            }),
            Reply::Error(e) => Ok(Err(e)),
            Reply::NotImplemented(why) => Err(Failure::new(format!(
                "node {}'s adapter does not implement `{command}`: {why}",
                self.index
            ))),
        }
    }

    fn call<T: DeserializeOwned>(
        &mut self,
        command: &str,
        args: Value,
    ) -> Result<Answered<T>, Failure> {
        let reply = self
            .adapter
            .command(command, args)
            .map_err(|e| self.broke(command, e))?
            .reply;
        self.answered(command, reply)
    }

    /// Opens the node again in a new process (its process ended, or the
    /// history restarts it).
    pub fn restart(&mut self) -> Result<(), Failure> {
        self.adapter.stop();
        let args = serde_json::to_value(&self.open).map_err(|e| Failure::new(e.to_string()))?;
        let reply = self
            .adapter
            .command("open", args)
            .map_err(|e| self.broke("open", e))?
            .reply;
        let opened: Opened = self.expect("open", reply)?;
        if opened.node_id != self.id {
            return Err(Failure::new(format!(
                "node {} reopened as node id {} (was {})",
                self.index, opened.node_id, self.id
            )));
        }
        Ok(())
    }

    /// Ends the node's process.
    pub fn stop(&mut self) {
        self.adapter.stop();
    }

    /// One transaction of writes: `Ok(None)` when a constraint refused it.
    pub fn write(&mut self, writes: &[RowWrite]) -> Result<Option<Vec<RowId>>, Failure> {
        match self.call::<WriteOutcome>("write", json!({ "writes": writes }))? {
            Ok(w) => Ok(Some(w.ids)),
            Err(e) if e.code == CONSTRAINT_VIOLATION => Ok(None),
            Err(e) => Err(Failure::new(format!(
                "node {}'s write failed: {}: {}",
                self.index, e.code, e.message
            ))),
        }
    }

    pub fn push(&mut self) -> Result<Answered<Pushed>, Failure> {
        self.call("push", json!({}))
    }

    /// Pulls and merges.
    pub fn pull(&mut self) -> Result<Answered<Synced>, Failure> {
        self.call("pull", json!({}))
    }

    /// Pulls with a crash in the merge.
    pub fn crashing_pull(&mut self, crash: Crash) -> Result<PullEnd, Failure> {
        let args = json!({ "crash": crash });
        match self.adapter.command("pull", args) {
            Err(Broken::Exited(_)) => Ok(PullEnd::Crashed),
            Err(e) => Err(self.broke("pull", e)),
            Ok(a) => Ok(match self.answered::<Synced>("pull", a.reply)? {
                Ok(s) => PullEnd::Merged(s.version),
                Err(e) => PullEnd::Refused(e),
            }),
        }
    }

    pub fn sync(&mut self) -> Result<Answered<Synced>, Failure> {
        self.call("sync", json!({}))
    }

    pub fn repair(&mut self) -> Result<Answered<Synced>, Failure> {
        self.call("repair", json!({}))
    }

    pub fn rows(&mut self) -> Result<RowSet, Failure> {
        let reply = self
            .adapter
            .command("rows", json!({}))
            .map_err(|e| self.broke("rows", e))?
            .reply;
        let r: RowsOutcome = self.expect("rows", reply)?;
        Ok(RowSet::new(r.rows))
    }

    pub fn conflicts(&mut self) -> Result<Vec<ConflictEntry>, Failure> {
        let reply = self
            .adapter
            .command("conflicts", json!({}))
            .map_err(|e| self.broke("conflicts", e))?
            .reply;
        let c: ConflictsOutcome = self.expect("conflicts", reply)?;
        Ok(c.conflicts)
    }

    /// The conflict-log entries written since the last call.
    pub fn new_conflicts(&mut self) -> Result<Vec<ConflictEntry>, Failure> {
        let all = self.conflicts()?;
        if all.len() < self.seen {
            return Err(Failure::new(format!(
                "node {}'s conflict log shrank from {} to {} entries",
                self.index,
                self.seen,
                all.len()
            )));
        }
        let fresh = all[self.seen..].to_vec();
        self.seen = all.len();
        Ok(fresh)
    }

    pub fn status(&mut self) -> Result<Status, Failure> {
        let reply = self
            .adapter
            .command("status", json!({}))
            .map_err(|e| self.broke("status", e))?
            .reply;
        let mut st: Status = self.expect("status", reply)?;
        st.pending
            .sort_by(|a, b| (&a.table, a.row_id).cmp(&(&b.table, b.row_id)));
        Ok(st)
    }

    /// What a failed merge must leave unchanged.
    pub fn snapshot(&mut self) -> Result<Snapshot, Failure> {
        Ok(Snapshot {
            rows: self.rows()?,
            status: self.status()?,
            conflicts: self.conflicts()?.len(),
        })
    }
}
