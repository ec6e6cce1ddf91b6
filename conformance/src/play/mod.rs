//! Histories through any implementation (spec §18.2): the cases of the
//! property harness ([`crate::history`]) played over HTTP, each node an
//! adapter process speaking the history protocol
//! ([`crate::node::history`]), against the reference server started in
//! process or a server at a URL, with a fault proxy between the nodes and
//! the server. The invariants of spec §18.3 are checked from outside:
//! rows read through the adapters, the server's rows through queries and
//! a fresh node's repair, pushes seen by the proxy.
//!
//! - `target`: the server under test; `observer`: the runner's own node;
//! - `proxy`: the fault proxy; `node`: one node's adapter process;
//! - `run`: the steps; `end`: the final round and checks; `checks`:
//!   integrity and row comparisons;
//! - [`session`]: `dbsync-conformance history`, case after case.

mod checks;
mod end;
pub mod node;
mod observer;
pub mod proxy;
mod run;
pub mod session;
pub mod target;

use crate::history::edits::Fresh;
use crate::history::generate;
use crate::history::ledger::Ledger;
use crate::history::model::ServerModel;
use crate::history::{Case, Failure, Stats};
use crate::node::history::OpenArgs;
use crate::node::process::Adapter;
use crate::replica;
use node::NodeProc;
use observer::Observer;
use proptest::strategy::BoxedStrategy;
use proxy::Proxy;
use run::Run;
use std::collections::HashMap;
use std::path::Path;
pub use target::ServerChoice;
use target::Target;

/// How a history ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Played {
    /// Every invariant held; the events it went through.
    Passed(Stats),
    /// The adapter does not implement the history protocol (it answered
    /// `not_implemented` to `open`).
    NotImplemented(String),
}

/// Plays histories through one adapter command against one server.
pub struct Player {
    runtime: tokio::runtime::Runtime,
    adapter: Adapter,
    server: ServerChoice,
}

impl Player {
    /// A player starting nodes like `adapter` (one process each).
    pub fn new(adapter: &Adapter, server: ServerChoice) -> Result<Player, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Player {
            runtime,
            adapter: adapter.sibling(),
            server,
        })
    }

    /// The generator of this player's cases: generated schemas against
    /// the reference, the fixed history tables against a server at a URL.
    pub fn strategy(&self) -> BoxedStrategy<Case> {
        if self.server.generated_schemas() {
            generate::case()
        } else {
            generate::case_over_fixed_tables()
        }
    }

    /// Plays `case` from scratch and checks every invariant.
    pub fn play(&self, case: &Case, tag: &str) -> Result<Played, Failure> {
        let dir = tempfile::Builder::new()
            .prefix("dbsync-play-")
            .tempdir()
            .map_err(|e| Failure::new(format!("temporary folder: {e}")))?;
        let rt = &self.runtime;
        let schema = case.schema();
        let target = rt.block_on(Target::start(&self.server, case, dir.path()))?;
        let proxy = rt
            .block_on(Proxy::start(target.base()))
            .map_err(|e| Failure::new(format!("starting the fault proxy: {e}")))?;
        let mut observer =
            rt.block_on(Observer::register(target.base(), &schema, target.token()))?;
        let server = rt.block_on(observer.rows(&schema))?;
        let mut run = Run {
            case,
            rt,
            model: ServerModel::holding(&server.rows()),
            uids: HashMap::new(),
            server,
            schema,
            target,
            proxy,
            observer,
            nodes: Vec::new(),
            ledger: Ledger::new(case.server_wins.iter().map(|&n| usize::from(n))),
            stats: Stats::default(),
            fresh: Fresh::tagged(tag),
            known: 0,
        };
        let result = self.play_in(&mut run, dir.path());
        for n in &mut run.nodes {
            n.stop();
        }
        run.proxy.stop();
        rt.block_on(run.target.stop());
        result
    }

    fn open(
        &self,
        run: &Run<'_>,
        dir: &Path,
        index: usize,
    ) -> Result<Result<NodeProc, String>, Failure> {
        let policy = if run.case.server_wins.contains(&(index as u8)) {
            "server_wins"
        } else {
            "node_wins"
        };
        let args = OpenArgs {
            path: dir
                .join(format!("node{index}"))
                .join("node.db")
                .display()
                .to_string(),
            tables: run.schema.tables.clone(),
            policy: policy.into(),
            server: run.proxy.base(),
            token: run.target.token().map(str::to_string),
            reused_keys: run.case.reused_keys,
        };
        Ok(NodeProc::start(index, self.adapter.sibling(), args)?.map_err(|e| e.0))
    }

    fn play_in(&self, run: &mut Run<'_>, dir: &Path) -> Result<Played, Failure> {
        let at_url = !self.server.generated_schemas();
        for i in 0..usize::from(run.case.nodes.max(1)) {
            match self.open(run, dir, i)? {
                Ok(node) => run.nodes.push(node),
                Err(why) => return Ok(Played::NotImplemented(why)),
            }
            if at_url {
                // Start from the server's rows, not from version 0.
                if let Err(e) = run.nodes[i].repair()? {
                    return Err(Failure::new(format!(
                        "node {i}'s first repair: {}: {}",
                        e.code, e.message
                    )));
                }
            }
        }
        for (i, step) in run.case.steps.iter().enumerate() {
            let at = |mut f: Failure| {
                f.step = Some(i);
                f
            };
            run.step(step).map_err(at)?;
            run.check_always().map_err(at)?;
        }
        run.quiet_round()?;
        let fresh_node = self.open(run, dir, run.nodes.len())?;
        let mut fresh_node = fresh_node.map_err(Failure::new)?;
        run.check_final(&mut fresh_node)?;
        if at_url {
            run.clear_server(&mut fresh_node)?;
        }
        fresh_node.stop();
        Ok(Played::Passed(run.stats.clone()))
    }
}

/// The tables a server at a URL must serve for `dbsync-conformance
/// history --server`: SQLite `CREATE TABLE` statements.
pub fn fixed_tables_sql() -> String {
    crate::ddl::create_all(&fixed_schema())
}

/// The table specs (every table `both`) of the fixed history tables.
pub fn fixed_table_specs() -> Vec<dbsync_sqlite::TableSpec> {
    replica::specs(&fixed_schema())
}

/// The schema of the fixed history tables.
fn fixed_schema() -> dbsync_core::Schema {
    let case = Case {
        tables: generate::fixed_tables(),
        nodes: 2,
        page_ops: 1,
        server_wins: vec![],
        steps: vec![],
        reused_keys: false,
    };
    case.schema()
}
