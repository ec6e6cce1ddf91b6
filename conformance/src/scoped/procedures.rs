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
        let report = self.nodes[n]
            .node
            .sync()
            .await
            .map_err(|e| self.about(n, format!("sync failed: {e}")))?;
        self.stats.count("sync");
        self.count_n("pushed_ops", report.pushed_ops);
        self.count_n("merged_ops", report.merged_ops);
        self.count_n("conflicts", report.conflicts);
        self.trace.push(format!(
            "  node {n} ({}) syncs: pushed {} ops, {} pulls merged {} ops, {} conflicts, at version {}",
            self.nodes[n].user,
            report.pushed_ops,
            report.pulls,
            report.merged_ops,
            report.conflicts,
            report.version
        ));
        self.check_node(n, false)?;
        Ok(report.pushed_ops)
    }

    /// Node `n` pulls only (spec §11), then checks 1 to 3 hold on it.
    pub async fn pull(&mut self, n: usize) -> Result<(), Failure> {
        let report = self.nodes[n]
            .node
            .pull()
            .await
            .map_err(|e| self.about(n, format!("pull failed: {e}")))?;
        self.stats.count("pull");
        self.count_n("merged_ops", report.ops_merged);
        self.count_n("conflicts", report.conflicts.len());
        let rules: Vec<String> = report
            .conflicts
            .iter()
            .map(|c| format!("{} {} {:?}", c.table, c.row_id, c.rule))
            .collect();
        self.trace.push(format!(
            "  node {n} ({}) pulls: merged {} ops, at version {}; conflicts: [{}]",
            self.nodes[n].user,
            report.ops_merged,
            report.version,
            rules.join(", ")
        ));
        self.check_node(n, false)
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
