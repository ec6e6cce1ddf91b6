//! A scoped history played step by step: edits, server writes, syncs
//! and pulls (each followed by checks 1 to 3 on the node), then the
//! final quiet round and checks 4 and 5.

use super::case::Step;
use super::ledger::Accounting;
use super::world::World;
use crate::history::Failure;
use dbsync_client::LoggedConflict;
use dbsync_core::merge::Rule;

/// How many rounds of syncs the quiet round may take before every node
/// has nothing left to push.
const QUIET_ROUNDS: usize = 4;

impl World {
    /// Plays one step of the case.
    pub async fn play(&mut self, step: &Step) -> Result<(), Failure> {
        let nodes = self.nodes.len();
        match step {
            Step::Edit { node, edit } => {
                self.stats.count("edit");
                self.node_edit(usize::from(*node) % nodes, edit)
            }
            Step::Server(write) => {
                self.stats.count("server_write");
                self.server_write(write)
            }
            Step::Sync { node } => self.sync(usize::from(*node) % nodes).await.map(|_| ()),
            Step::Pull { node } => self.pull(usize::from(*node) % nodes).await,
        }
    }

    /// Node `n` syncs (spec §11.7), then checks 1 to 3 hold on it.
    /// Returns how many ops it pushed. An error is a failure: no write of
    /// the history is outside a node's scope.
    pub async fn sync(&mut self, n: usize) -> Result<usize, Failure> {
        let report = match self.nodes[n].node.sync().await {
            Ok(report) => report,
            Err(e) => return Err(self.failed(n, "sync", &e).await),
        };
        self.stats.count("sync");
        self.count_n("pushed_ops", report.pushed_ops);
        self.count_n("merged_ops", report.merged_ops);
        self.count_n("conflicts", report.conflicts);
        let done = format!(
            "syncs: pushed {} ops, {} pulls merged {} ops, at version {}",
            report.pushed_ops, report.pulls, report.merged_ops, report.version
        );
        self.trace_node(n, &done).await?;
        self.check_node(n, false)?;
        Ok(report.pushed_ops)
    }

    /// Node `n` pulls only (spec §11), then checks 1 to 3 hold on it.
    pub async fn pull(&mut self, n: usize) -> Result<(), Failure> {
        let report = match self.nodes[n].node.pull().await {
            Ok(report) => report,
            Err(e) => return Err(self.failed(n, "pull", &e).await),
        };
        self.stats.count("pull");
        self.count_n("merged_ops", report.ops_merged);
        self.count_n("conflicts", report.conflicts.len());
        let done = format!(
            "pulls: merged {} ops, at version {}",
            report.ops_merged, report.version
        );
        self.trace_node(n, &done).await?;
        self.check_node(n, false)
    }

    /// The failure of node `n`'s `procedure`, with the node's pending
    /// ops and new conflict-log entries in the trace.
    async fn failed(&mut self, n: usize, procedure: &str, e: &dyn std::fmt::Display) -> Failure {
        let done = format!("{procedure} fails: {e}");
        if let Err(f) = self.trace_node(n, &done).await {
            self.trace
                .push(format!("  ({done}; tracing the node failed: {f})"));
        }
        self.about(n, format!("{procedure} failed: {e}"))
    }

    /// Traces what node `n` did, the conflict-log entries it wrote since
    /// the last trace, and its pending ops.
    async fn trace_node(&mut self, n: usize, done: &str) -> Result<(), Failure> {
        let log = self.nodes[n]
            .node
            .conflicts()
            .await
            .map_err(|e| self.about(n, format!("reading the conflict log: {e}")))?;
        let new: Vec<String> = log[self.nodes[n].logged.min(log.len())..]
            .iter()
            .map(|c| format!("{} {} {:?}", c.entry.table, c.entry.row_id, c.entry.rule))
            .collect();
        self.nodes[n].logged = log.len();
        let pending: Vec<String> = self
            .node_state(n)?
            .1
            .iter()
            .map(|((table, id), command)| format!("{command:?} {table} {id}"))
            .collect();
        self.trace.push(format!(
            "  node {n} ({}) {done}; logged [{}]; pending [{}]",
            self.nodes[n].user,
            new.join(", "),
            pending.join(", ")
        ));
        Ok(())
    }

    fn count_n(&mut self, event: &str, n: usize) {
        *self.stats.events.entry(event.to_string()).or_default() += n as u64;
    }

    /// Every node syncs, round after round, until a round pushes nothing
    /// and nothing is pending anywhere: then every node holds the
    /// server's latest version.
    pub async fn quiet_round(&mut self) -> Result<(), Failure> {
        self.trace.push("quiet round".into());
        for _ in 0..QUIET_ROUNDS {
            let mut pushed = 0;
            for n in 0..self.nodes.len() {
                pushed += self.sync(n).await?;
            }
            let mut pending = 0;
            for n in 0..self.nodes.len() {
                pending += self.node_state(n)?.1.len();
            }
            if pushed == 0 && pending == 0 {
                return Ok(());
            }
        }
        Err(Failure::new(format!(
            "after {QUIET_ROUNDS} rounds of syncs, ops are still pushed or pending"
        )))
    }

    /// Checks 4 and 5, after the quiet round; counts the changes
    /// dropped by move-outs.
    pub async fn check_final(&mut self) -> Result<Accounting, Failure> {
        for n in 0..self.nodes.len() {
            self.check_node(n, true)?;
        }
        let mut logs: Vec<Vec<LoggedConflict>> = Vec::new();
        for (n, slot) in self.nodes.iter().enumerate() {
            let log = slot
                .node
                .conflicts()
                .await
                .map_err(|e| self.about(n, format!("reading the conflict log: {e}")))?;
            for c in &log {
                let rule = if c.entry.rule == Rule::MovedOut {
                    "moved_out_entry".to_string()
                } else {
                    format!("rule_{:?}", c.entry.rule)
                };
                self.stats.count(&rule);
            }
            logs.push(log);
        }
        let users: Vec<String> = self.nodes.iter().map(|s| s.user.clone()).collect();
        let acc = self.ledger.check(&self.server_rows()?, &logs, &users)?;
        self.count_n("moved_out_drops", acc.moved_out as usize);
        self.count_n("lost_in_conflict", acc.lost_in_conflict as usize);
        self.count_n("tokens_checked", (acc.kept + acc.replaced) as usize);
        Ok(acc)
    }
}
