//! The end of a history played through adapters: a quiet round (every
//! node syncs until nothing is pending, then every node pulls), then
//! convergence (invariant 1), the server's rows read again through a
//! fresh node's repair, and "nothing lost" (invariant 2).

use super::checks::same_rows;
use super::node::NodeProc;
use super::run::Run;
use crate::history::ledger::explains_delete;
use crate::history::writes::RowWrite;
use crate::history::Failure;

/// Quiet rounds before the history counts the nodes as unable to settle.
const QUIET_ROUNDS: usize = 8;

impl Run<'_> {
    /// Every node syncs until nothing is pending, then every node pulls.
    pub fn quiet_round(&mut self) -> Result<(), Failure> {
        let mut settled = false;
        for _ in 0..QUIET_ROUNDS {
            for n in 0..self.nodes.len() {
                self.sync(n)?;
            }
            let mut all = true;
            for n in 0..self.nodes.len() {
                all &= self.nodes[n].status()?.settled();
            }
            if all {
                settled = true;
                break;
            }
        }
        if !settled {
            return Err(Failure::new(format!(
                "the nodes did not settle in {QUIET_ROUNDS} quiet rounds"
            )));
        }
        for n in 0..self.nodes.len() {
            self.pull(n, false)?;
            if !self.nodes[n].status()?.settled() {
                return Err(Failure::new(format!(
                    "node {n} has pending ops after the final pull"
                )));
            }
        }
        Ok(())
    }

    /// After the quiet round: every node equals the server at its latest
    /// version with nothing pending; a fresh node's repair gives the same
    /// rows; nothing was lost.
    pub fn check_final(&mut self, fresh_node: &mut NodeProc) -> Result<(), Failure> {
        self.check_always()?;
        let latest = self.rt.block_on(self.observer.latest(self.known))?;
        for n in 0..self.nodes.len() {
            let st = self.nodes[n].status()?;
            if st.outstanding_push {
                return Err(Failure::new(format!(
                    "node {n} still has an outstanding push"
                )));
            }
            if !st.pending.is_empty() {
                return Err(Failure::new(format!(
                    "node {n} still has pending ops: {:?}",
                    st.pending
                )));
            }
            if st.last_version != latest {
                return Err(Failure::new(format!(
                    "node {n} is at version {}, the server at {latest}",
                    st.last_version
                )));
            }
            let rows = self.nodes[n].rows()?;
            same_rows(
                &rows,
                &self.server,
                &format!("node {n} differs from the server (node first)"),
            )?;
        }
        if let Err(e) = fresh_node.repair()? {
            return Err(Failure::new(format!(
                "a fresh node's repair failed: {}: {}",
                e.code, e.message
            )));
        }
        same_rows(
            &fresh_node.rows()?,
            &self.server,
            "a fresh node's repair does not give the server's rows (repair first)",
        )?;
        let mut logs = Vec::new();
        for n in 0..self.nodes.len() {
            logs.push(self.nodes[n].conflicts()?);
        }
        let server = &self.server;
        let kept_beside = self.ledger.check(
            |n, table, id| Ok(logs[n].iter().any(|c| explains_delete(c, table, id))),
            |uid| Ok(server.count_uid(uid) as i64),
        )?;
        for _ in 0..kept_beside {
            self.stats.count("disjoint_columns_kept"); // §12.4.4
        }
        Ok(())
    }

    /// Leaves the server's tables empty for the next history (a server at
    /// a URL keeps its rows): `node`, repaired, deletes every row (the
    /// referencing tables first) and syncs.
    pub fn clear_server(&mut self, node: &mut NodeProc) -> Result<(), Failure> {
        let rows = node.rows()?;
        let mut writes = Vec::new();
        for t in self.schema.tables.iter().rev() {
            for id in rows.ids(&t.name) {
                writes.push(RowWrite::Delete {
                    table: t.name.clone(),
                    id,
                });
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        if node.write(&writes)?.is_none() {
            return Err(Failure::new(
                "clearing the server's rows: a constraint refused",
            ));
        }
        for _ in 0..QUIET_ROUNDS {
            if let Err(e) = node.sync()? {
                return Err(Failure::new(format!(
                    "clearing the server's rows: {}: {}",
                    e.code, e.message
                )));
            }
            if node.status()?.settled() {
                self.proxy.take_log();
                return Ok(());
            }
        }
        Err(Failure::new(
            "clearing the server's rows: the sync did not settle",
        ))
    }
}
