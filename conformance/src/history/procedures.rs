//! Push, pull and sync between a node and the server, as the reference
//! client and server run them (minus HTTP), with the faults of a history.

use super::case::{PullFault, PushFault, Step};
use super::checks::snapshot;
use super::rowset::RowSet;
use super::world::{World, NOW};
use super::{failed, Failure};
use dbsync_core::merge::{MergeError, UniqueCollision};
use dbsync_core::protocol::{PullRequest, PushRequest};
use dbsync_core::{ErrorCode, Row, RowId, Value};
use dbsync_engine::Rejection;
use dbsync_sqlite::node::{self, MergeReport, NodeError, StagedPull};
use dbsync_sqlite::sql_id::{id_at, SqlId};
use rusqlite::types::Value as Sql;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// How a push ended, for the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Nothing,
    Applied,
    PullRequired,
    /// A fault hid the answer (or the request) from the node.
    Unknown,
}

/// How many rounds one sync may take (spec §11.7's bound).
const SYNC_ROUNDS: usize = 5;

/// How often a node resolves unique collisions and pulls again before the
/// history counts the pull as stuck.
const COLLISION_RETRIES: usize = 6;

fn rejection(r: &Rejection) -> String {
    format!("{}: {}", r.code, r.message)
}

impl World {
    /// Replays one step.
    pub fn step(&mut self, step: &Step) -> Result<(), Failure> {
        let node = |n: u8| n as usize % self.nodes.len();
        match step {
            Step::Write { node: n, edit } => self.edit(node(*n), edit),
            Step::Push { node: n, fault } => self.push(node(*n), fault.in_process()).map(|_| ()),
            Step::Pull { node: n, fault } => self.pull(node(*n), fault.in_process()),
            Step::Sync { node: n } => self.sync(node(*n), SYNC_ROUNDS).map(|_| ()),
            Step::RestartServer => self.restart_server(),
            Step::RestartNode { node: n } => {
                self.stats.count("restart_node");
                self.restart_node(node(*n))
            }
        }
    }

    /// Node `n` pushes (spec §10): its outstanding push, or a new one.
    pub fn push(&mut self, n: usize, fault: PushFault) -> Result<Pushed, Failure> {
        let push_id = {
            let nd = &mut self.nodes[n];
            nd.pushes += 1;
            format!("p-{}-{:06}", nd.id, nd.pushes)
        };
        let nd = &mut self.nodes[n];
        let out = node::begin_push(
            &mut nd.conn,
            &self.schema,
            &self.fingerprint,
            || push_id,
            None,
        )
        .map_err(|e| failed("building a push")(&e))?;
        let Some(out) = out else {
            return Ok(Pushed::Nothing);
        };
        let req: PushRequest =
            serde_json::from_slice(&out.body).map_err(|e| failed("the stored push")(&e))?;
        self.note_built(n, &req)?;
        self.stats.count("push");
        if fault == PushFault::RequestLost {
            self.stats.count("push_request_lost");
            return Ok(Pushed::Unknown);
        }
        let node_id = self.nodes[n].id;
        let answer = self.server.engine.push(node_id, &req, NOW);
        if let Ok(resp) = &answer {
            if resp.duplicate {
                self.stats.count("push_duplicate");
            } else {
                if resp.version > req.base_version + 1 {
                    self.stats.count("push_accepted_behind"); // §10.2.2.1
                }
                if !resp.rekeyed.is_empty() {
                    self.stats.count("push_rekeyed"); // §10.2.2.2
                }
                self.note_accepted(n, &req, &resp.rekeyed);
            }
        }
        if fault == PushFault::ResponseLost {
            self.stats.count("push_response_lost");
            return Ok(Pushed::Unknown);
        }
        let conn = &mut self.nodes[n].conn;
        match answer {
            Ok(resp) => {
                node::finish_push(conn, &self.schema, &out, resp.version, &resp.rekeyed)
                    .map_err(|e| failed("marking the push")(&e))?;
                Ok(Pushed::Applied)
            }
            Err(r) if r.code == ErrorCode::PullRequired => {
                node::abandon_push(conn)?;
                self.stats.count("pull_required");
                Ok(Pushed::PullRequired)
            }
            Err(r) => Err(Failure::new(format!(
                "node {n}'s push was rejected: {}",
                rejection(&r)
            ))),
        }
    }

    /// Every page of node `n`'s pull (spec §11), as the client stages them.
    fn fetch(&mut self, n: usize) -> Result<StagedPull, Failure> {
        let nd = &self.nodes[n];
        let st = node::state(&nd.conn)?;
        let pending = node::compressed_pending(&nd.conn).map_err(|e| failed("pending ops")(&e))?;
        let mut staged = StagedPull::default();
        let mut cursor = None;
        loop {
            let req = PullRequest::page(&self.fingerprint, st.last_version, &pending, cursor);
            let page = self.server.engine.pull(nd.id, &req, NOW).map_err(|r| {
                Failure::new(format!("node {n}'s pull was rejected: {}", rejection(&r)))
            })?;
            cursor = page.next_cursor.clone();
            staged.add(page);
            if cursor.is_none() {
                return Ok(staged);
            }
        }
    }

    fn merge(&mut self, n: usize, staged: StagedPull) -> Result<MergeReport, NodeError> {
        let policy = self.nodes[n].policy;
        node::merge(&mut self.nodes[n].conn, &self.schema, policy, staged, NOW)
    }

    fn count_report(&mut self, n: usize, report: &MergeReport) -> Result<(), Failure> {
        self.note_merged(n, report)?;
        self.stats.count("merge");
        if !report.own_versions.is_empty() {
            self.stats.count("own_version_recognised");
        }
        for c in &report.conflicts {
            let rule = serde_json::to_value(c.rule).unwrap_or_default();
            self.stats
                .count(&format!("rule_{}", rule.as_str().unwrap_or("?")));
            if super::ledger::settles_text_key(c) {
                self.stats.count("text_key_one_row"); // §12.3.4
            }
        }
        Ok(())
    }

    /// Node `n` pulls and merges (spec §11, §12). A unique collision is
    /// resolved as an application would: the local row holding the values
    /// takes new ones, then the node pulls again.
    pub fn pull(&mut self, n: usize, fault: PullFault) -> Result<(), Failure> {
        if fault != PullFault::None {
            return self.crashing_pull(n, fault);
        }
        for _ in 0..COLLISION_RETRIES {
            let staged = self.fetch(n)?;
            let rows = staged.rows.clone();
            let before = snapshot(&self.nodes[n].conn)?;
            match self.merge(n, staged) {
                Ok(report) => {
                    return self.count_report(n, &report);
                }
                Err(NodeError::Merge(MergeError::UniqueCollisions(c))) => {
                    self.stats.count("unique_collision");
                    if snapshot(&self.nodes[n].conn)? != before {
                        return Err(Failure::new(format!(
                            "node {n}'s merge stopped on a unique collision but changed the node"
                        )));
                    }
                    self.resolve_collisions(n, &c, &rows)?;
                }
                Err(NodeError::PushUnsettled) => self.settle_push(n, &before)?,
                Err(e) => return Err(failed(&format!("node {n}'s merge failed"))(&e)),
            }
        }
        Err(Failure::new(format!(
            "node {n} still meets unique collisions after {COLLISION_RETRIES} renames"
        )))
    }

    /// The merge refused to run while the outstanding push may yet be
    /// applied re-keyed (spec §11.5): it must have changed nothing, and
    /// the node sends the push again, as the client does.
    fn settle_push(&mut self, n: usize, before: &super::checks::Snapshot) -> Result<(), Failure> {
        self.stats.count("push_unsettled_at_pull");
        if snapshot(&self.nodes[n].conn)? != *before {
            return Err(Failure::new(format!(
                "node {n}'s merge refused to run before its push was settled but changed the node"
            )));
        }
        self.push(n, PushFault::None).map(|_| ())
    }

    /// A pull whose merge transaction is cut short by a crash: it must fail
    /// and leave the node exactly as it was, and the node restarts.
    ///
    /// The crash is injected into the real merge transaction of
    /// `dbsync_sqlite::node::merge`, which offers no hook of its own:
    /// SQLite's progress handler interrupts whichever statement runs after
    /// about `after` × 64 virtual-machine steps (SQLite then rolls the
    /// transaction back), or the commit hook turns the final COMMIT into a
    /// ROLLBACK. Either way SQLite itself undoes every write the merge made,
    /// as it would if the process died; the connection is then closed and
    /// opened again, as a restarted node would.
    fn crashing_pull(&mut self, n: usize, fault: PullFault) -> Result<(), Failure> {
        let staged = self.fetch(n)?;
        let before = snapshot(&self.nodes[n].conn)?;
        let conn = &mut self.nodes[n].conn;
        match fault {
            PullFault::CrashMidMerge { after } => {
                let left = Arc::new(AtomicI64::new(i64::from(after) + 1));
                let l = left.clone();
                conn.progress_handler(64, Some(move || l.fetch_sub(1, Ordering::Relaxed) <= 1))?;
            }
            PullFault::CrashAtCommit => conn.commit_hook(Some(|| true))?,
            PullFault::None | PullFault::PageLost => {}
        }
        let result = self.merge(n, staged);
        let conn = &mut self.nodes[n].conn;
        conn.progress_handler(0, None::<fn() -> bool>)?;
        conn.commit_hook(None::<fn() -> bool>)?;
        match result {
            Ok(report) => {
                // The merge finished before the crash point.
                self.count_report(n, &report)
            }
            Err(NodeError::PushUnsettled) => self.settle_push(n, &before),
            Err(_) => {
                self.stats.count(match fault {
                    PullFault::CrashAtCommit => "crash_at_commit",
                    _ => "crash_mid_merge",
                });
                self.restart_node(n)?;
                if snapshot(&self.nodes[n].conn)? != before {
                    return Err(Failure::new(format!(
                        "node {n}'s merge crashed but its database changed"
                    )));
                }
                Ok(())
            }
        }
    }

    /// For each collision, the local row holding the pulled row's unique
    /// values takes fresh ones (one write, captured as a pending `u`).
    fn resolve_collisions(
        &mut self,
        n: usize,
        collisions: &[UniqueCollision],
        pulled: &[Row],
    ) -> Result<(), Failure> {
        let mut renamed = 0;
        for c in collisions {
            let Some(row) = pulled
                .iter()
                .rev()
                .find(|r| r.table == c.table && r.id == c.row_id)
            else {
                continue;
            };
            let mut filter = Vec::new();
            let mut params = Vec::new();
            for col in &c.columns {
                let v = match row.values.get(col) {
                    Some(Value::Text(s)) => Sql::Text(s.clone()),
                    Some(Value::Integer(i)) => Sql::Integer(*i),
                    _ => continue,
                };
                params.push(v);
                filter.push(format!("\"{col}\" = ?{}", params.len()));
            }
            if filter.len() != c.columns.len() {
                continue;
            }
            let holder: Option<RowId> = self.nodes[n]
                .conn
                .query_row(
                    &format!(
                        "SELECT id FROM \"{}\" WHERE {}",
                        c.table,
                        filter.join(" AND ")
                    ),
                    rusqlite::params_from_iter(params),
                    |r| id_at(r, 0),
                )
                .ok();
            let Some(holder) = holder else { continue };
            let (column, value) = if c.columns.iter().any(|x| x == "pb") {
                ("pb", self.fresh(&format!("n{n}rename")))
            } else {
                ("code", self.fresh(&format!("n{n}rename")))
            };
            let before = RowSet::new(crate::replica::dump(&self.nodes[n].conn, &self.schema)?);
            self.nodes[n].conn.execute(
                &format!("UPDATE \"{}\" SET \"{column}\" = ?2 WHERE id = ?1", c.table),
                rusqlite::params![SqlId(holder), value],
            )?;
            self.note(
                n,
                super::ledger::Note::Write {
                    table: c.table.clone(),
                    id: holder,
                },
                &before,
            )?;
            renamed += 1;
        }
        if renamed == 0 {
            return Err(Failure::new(format!(
                "node {n} cannot resolve the unique collisions {collisions:?}: no local row holds the values"
            )));
        }
        self.stats.count("collision_renamed");
        Ok(())
    }

    fn settled(&self, n: usize) -> Result<bool, Failure> {
        let nd = &self.nodes[n];
        Ok(node::state(&nd.conn)?.outstanding_push.is_none()
            && node::compressed_pending(&nd.conn)
                .map_err(|e| failed("pending ops")(&e))?
                .is_empty())
    }

    /// Node `n` syncs (spec §11.7): push, and on `pull_required` pull and
    /// push again, for at most `rounds` rounds. `true` when it settled.
    pub fn sync(&mut self, n: usize, rounds: usize) -> Result<bool, Failure> {
        self.stats.count("sync");
        for _ in 0..rounds {
            match self.push(n, PushFault::None)? {
                Pushed::Nothing => {
                    self.pull(n, PullFault::None)?;
                }
                Pushed::PullRequired => {
                    self.pull(n, PullFault::None)?;
                    continue;
                }
                Pushed::Applied | Pushed::Unknown => {}
            }
            if self.settled(n)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The final quiet round: no more edits or faults; each node syncs
    /// until it has nothing left to push, then every node pulls.
    pub fn quiet_round(&mut self) -> Result<(), Failure> {
        let nodes = self.nodes.len();
        let mut settled = false;
        for _ in 0..8 {
            for n in 0..nodes {
                self.sync(n, 10)?;
            }
            let mut all = true;
            for n in 0..nodes {
                all &= self.settled(n)?;
            }
            if all {
                settled = true;
                break;
            }
        }
        if !settled {
            return Err(Failure::new("the nodes did not settle in 8 quiet rounds"));
        }
        for n in 0..nodes {
            self.pull(n, PullFault::None)?;
            if !self.settled(n)? {
                return Err(Failure::new(format!(
                    "node {n} has pending ops after the final pull"
                )));
            }
        }
        Ok(())
    }
}
