//! One history played through adapters: the steps of a case (edits,
//! push, pull, sync, restarts, each with its fault) and what the runner
//! learns from them for the checks: what each node wrote (the ledger),
//! which pushes the server applied (seen by the proxy), and the server
//! state they imply (the model).

use super::checks::{integrity, same_rows};
use super::node::{NodeProc, PullEnd, Snapshot};
use super::observer::Observer;
use super::proxy::{Exchange, Fault, Proxy};
use super::target::Target;
use crate::history::edits::{self, Fresh, Written};
use crate::history::ledger::{self, Ledger, Note};
use crate::history::model::ServerModel;
use crate::history::rowset::RowSet;
use crate::history::writes::RowWrite;
use crate::history::{Case, Edit, Failure, PullFault, PushFault, Stats, Step};
use crate::node::history::Crash;
use crate::node::protocol::LocalError;
use dbsync_core::merge::UniqueCollision;
use dbsync_core::protocol::{PushRequest, PushResponse, Rekey};
use dbsync_core::{RowId, Schema, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::runtime::Runtime;

/// How often a node resolves unique collisions and pulls again before the
/// history counts the pull as stuck.
const COLLISION_RETRIES: usize = 6;

/// How long a delayed push waits in the proxy.
const DELAY: Duration = Duration::from_millis(20);

/// A history in play.
pub struct Run<'a> {
    pub case: &'a Case,
    pub schema: Schema,
    pub rt: &'a Runtime,
    pub target: Target,
    pub proxy: Proxy,
    pub observer: Observer,
    pub nodes: Vec<NodeProc>,
    pub ledger: Ledger,
    pub model: ServerModel,
    pub stats: Stats,
    pub fresh: Fresh,
    /// The server's rows as last read.
    pub server: RowSet,
    /// (table, key) → uid of the server's rows, from the pushes it applied.
    pub uids: HashMap<(String, RowId), String>,
    /// The largest version the server has given out, as far as seen.
    pub known: u64,
}

/// The proxy fault of a push fault.
fn proxy_fault(f: PushFault) -> Option<Fault> {
    match f {
        PushFault::None => None,
        PushFault::RequestLost => Some(Fault::DropRequest),
        PushFault::ResponseLost => Some(Fault::DropResponse),
        PushFault::Duplicated => Some(Fault::Duplicate),
        PushFault::BodyCut => Some(Fault::CutBody),
        PushFault::Delayed => Some(Fault::Delay(DELAY)),
    }
}

fn rejected(n: usize, what: &str, e: &LocalError) -> Failure {
    Failure::new(format!(
        "node {n}'s {what} failed: {}: {}",
        e.code, e.message
    ))
}

impl Run<'_> {
    /// Replays one step.
    pub fn step(&mut self, step: &Step) -> Result<(), Failure> {
        let count = self.nodes.len();
        let node = |n: u8| n as usize % count;
        match step {
            Step::Write { node: n, edit } => self.write(node(*n), edit),
            Step::Push { node: n, fault } => self.push(node(*n), *fault),
            Step::Pull { node: n, fault } => self.pull_step(node(*n), *fault),
            Step::Sync { node: n } => self.sync(node(*n)),
            Step::RestartServer => self.restart_server(),
            Step::RestartNode { node: n } => {
                self.stats.count("restart_node");
                self.nodes[node(*n)].restart()
            }
        }
    }

    fn write(&mut self, n: usize, edit: &Edit) -> Result<(), Failure> {
        let before = self.nodes[n].rows()?;
        let node = &mut self.nodes[n];
        let notes = edits::perform(
            &self.schema,
            &before,
            &mut self.fresh,
            &mut self.stats,
            n,
            edit,
            |w| {
                Ok(match node.write(w)? {
                    Some(ids) => Written::Done(ids),
                    None => Written::Refused,
                })
            },
        )?;
        self.note(n, notes, &before)
    }

    /// Records what node `n`'s committed edit did, from its rows now.
    /// `before`: the node's rows before the edit.
    fn note(&mut self, n: usize, notes: Vec<Note>, before: &RowSet) -> Result<(), Failure> {
        if notes.is_empty() {
            return Ok(());
        }
        let after = self.nodes[n].rows()?;
        for note in notes {
            match note {
                Note::Write { table, id } => {
                    // A row written then deleted in the same edit is gone.
                    if let Some(v) = after.get(&table, id) {
                        let values =
                            ledger::logical(&self.schema, &table, v, |t, i| after.uid(t, i))?;
                        let earlier = before.logical(&self.schema, &table, id)?;
                        self.ledger.rewrote_key(n, &table, id);
                        self.ledger.wrote(n, table, values, earlier.as_ref())?;
                    }
                }
                Note::Delete { table, id, uid } => {
                    let had = self.server.has_uid(&table, &uid);
                    self.ledger.removed(n, table, id, uid, had);
                }
            }
        }
        Ok(())
    }

    fn push(&mut self, n: usize, fault: PushFault) -> Result<(), Failure> {
        let armed = proxy_fault(fault);
        if let Some(f) = armed {
            self.proxy.arm("/v1/push", f);
        }
        let answer = self.nodes[n].push()?;
        self.proxy.disarm();
        self.absorb()?;
        let hidden = matches!(
            armed,
            Some(Fault::DropRequest | Fault::DropResponse | Fault::CutBody)
        );
        match answer {
            Ok(_) => Ok(()),
            Err(e) if e.code == "pull_required" => {
                self.stats.count("pull_required");
                Ok(())
            }
            Err(e) if e.code == "network_unreachable" && hidden => Ok(()),
            Err(e) => Err(rejected(n, "push", &e)),
        }
    }

    /// Takes in what the proxy saw since the last call.
    pub fn absorb(&mut self) -> Result<(), Failure> {
        for ex in self.proxy.take_log() {
            if ex.path.ends_with("/v1/push") {
                self.absorb_push(&ex)?;
            } else if ex.path.ends_with("/v1/pull") && ex.fault == Some(Fault::DropResponse) {
                self.stats.count("pull_page_lost");
            }
        }
        Ok(())
    }

    fn absorb_push(&mut self, ex: &Exchange) -> Result<(), Failure> {
        self.stats.count("push");
        if let Some(f) = ex.fault {
            self.stats.count(match f {
                Fault::DropRequest => "push_request_lost",
                Fault::DropResponse => "push_response_lost",
                Fault::Duplicate => "push_delivered_twice",
                Fault::CutBody => "push_body_cut",
                Fault::Delay(_) => "push_delayed",
            });
        }
        let node = ex
            .node
            .and_then(|id| self.nodes.iter().position(|p| p.id == id));
        if let (Some(n), Some((200, body))) = (node, ex.answers.first()) {
            let resp: PushResponse = serde_json::from_slice(body)
                .map_err(|e| Failure::new(format!("the server's push answer: {e}")))?;
            self.known = self.known.max(resp.version);
            if resp.duplicate {
                self.stats.count("push_duplicate");
            } else {
                let req: PushRequest = serde_json::from_slice(&ex.body)
                    .map_err(|e| Failure::new(format!("node {n}'s push body: {e}")))?;
                if resp.version > req.base_version + 1 {
                    self.stats.count("push_accepted_behind"); // §10.2.2.1
                }
                if !resp.rekeyed.is_empty() {
                    self.stats.count("push_rekeyed"); // §10.2.2.2
                }
                self.accept(n, &req, &resp.rekeyed)?;
            }
        }
        if ex.fault == Some(Fault::Duplicate) {
            if let Some((status, body)) = ex.answers.get(1) {
                let code = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|j| j["error"]["code"].as_str().map(str::to_string));
                if *status != 401 || code.as_deref() != Some("replayed_nonce") {
                    return Err(Failure::new(format!(
                        "the second copy of a push got {status} {}: a replayed request must \
                         be refused with replayed_nonce and change nothing (spec §8.4)",
                        String::from_utf8_lossy(body)
                    )));
                }
                self.stats.count("replay_refused");
            }
        }
        Ok(())
    }

    /// The server applied node `n`'s push `req`, moving the inserts of
    /// `rekeyed` (spec §10.2.2.2).
    fn accept(&mut self, n: usize, req: &PushRequest, rekeyed: &[Rekey]) -> Result<(), Failure> {
        // The push's foreign keys name its own rows first, by the keys the
        // node gave them, then the server's.
        let own = uids_of(req);
        let uids = &self.uids;
        self.ledger.built(n, &self.schema, req, |t, id| {
            let key = (t.to_string(), id);
            own.get(&key).or_else(|| uids.get(&key)).cloned()
        })?;
        let mut applied = req.clone();
        dbsync_core::rekey::rewrite(&self.schema, &mut applied, rekeyed);
        self.uids.extend(uids_of(&applied));
        self.ledger.accepted.push((n, req.push_id.clone()));
        self.ledger.note_rekeyed(n, req, rekeyed);
        self.model.apply(&applied);
        Ok(())
    }

    fn pull_step(&mut self, n: usize, fault: PullFault) -> Result<(), Failure> {
        match fault {
            PullFault::None => self.pull(n, false),
            PullFault::PageLost => {
                self.proxy.arm("/v1/pull", Fault::DropResponse);
                let pulled = self.pull(n, true);
                self.proxy.disarm();
                pulled
            }
            PullFault::CrashMidMerge { after } => self.crashing_pull(
                n,
                Crash {
                    after: Some(after),
                    at_commit: false,
                },
            ),
            PullFault::CrashAtCommit => self.crashing_pull(
                n,
                Crash {
                    after: None,
                    at_commit: true,
                },
            ),
        }
    }

    /// A failed procedure left node `n` as `before`.
    fn unchanged(&mut self, n: usize, before: &Snapshot, what: &str) -> Result<(), Failure> {
        let now = self.nodes[n].snapshot()?;
        if now.status != before.status || now.conflicts != before.conflicts {
            return Err(Failure::new(format!(
                "{what}, but the node changed: {:?} then {:?}",
                (&before.status, before.conflicts),
                (&now.status, now.conflicts)
            )));
        }
        same_rows(
            &now.rows,
            &before.rows,
            &format!("{what}, but its rows changed (now first)"),
        )
    }

    /// Node `n` pulls and merges (spec §11, §12). A unique collision is
    /// resolved as an application would, then the node pulls again;
    /// `lossy`: a page answer is lost on the way, and the node may give up.
    pub(super) fn pull(&mut self, n: usize, lossy: bool) -> Result<(), Failure> {
        for _ in 0..COLLISION_RETRIES {
            let before = self.nodes[n].snapshot()?;
            let answer = self.nodes[n].pull()?;
            self.absorb()?;
            let e = match answer {
                Ok(s) => {
                    self.known = self.known.max(s.version);
                    return self.merged(n);
                }
                Err(e) => e,
            };
            self.unchanged(n, &before, &format!("node {n}'s pull failed ({})", e.code))?;
            match e.code.as_str() {
                "unique_collision" => {
                    self.stats.count("unique_collision");
                    self.resolve_collisions(n, &e)?;
                }
                "network_unreachable" if lossy => return Ok(()),
                _ => return Err(rejected(n, "pull", &e)),
            }
        }
        Err(Failure::new(format!(
            "node {n} still meets unique collisions after {COLLISION_RETRIES} renames"
        )))
    }

    /// A pull whose merge the node's process does not survive: the node
    /// restarts and must be exactly as it was.
    fn crashing_pull(&mut self, n: usize, crash: Crash) -> Result<(), Failure> {
        let before = self.nodes[n].snapshot()?;
        let end = self.nodes[n].crashing_pull(crash)?;
        self.absorb()?;
        match end {
            PullEnd::Merged(v) => {
                // The merge finished before the crash point.
                self.known = self.known.max(v);
                self.merged(n)
            }
            PullEnd::Refused(e) if e.code == "unique_collision" => {
                self.stats.count("unique_collision");
                self.unchanged(
                    n,
                    &before,
                    &format!("node {n}'s merge met unique collisions"),
                )
            }
            PullEnd::Refused(e) => Err(rejected(n, "pull", &e)),
            PullEnd::Crashed => {
                self.stats.count(if crash.at_commit {
                    "crash_at_commit"
                } else {
                    "crash_mid_merge"
                });
                self.nodes[n].restart()?;
                self.unchanged(n, &before, &format!("node {n}'s merge crashed"))
            }
        }
    }

    /// Node `n` merged: its new conflict-log entries.
    fn merged(&mut self, n: usize) -> Result<(), Failure> {
        self.stats.count("merge");
        self.logged(n)
    }

    fn logged(&mut self, n: usize) -> Result<(), Failure> {
        let entries = self.nodes[n].new_conflicts()?;
        for c in &entries {
            let rule = serde_json::to_value(c.rule).unwrap_or_default();
            self.stats
                .count(&format!("rule_{}", rule.as_str().unwrap_or("?")));
        }
        if entries.is_empty() {
            return Ok(());
        }
        let rows = self.nodes[n].rows()?;
        self.ledger.merged(n, &entries, |t, id| rows.uid(t, id))
    }

    /// For each collision, the local row holding the server row's unique
    /// values takes fresh ones (one write, captured as a pending `u`).
    fn resolve_collisions(&mut self, n: usize, e: &LocalError) -> Result<(), Failure> {
        let collisions: Vec<UniqueCollision> = e
            .details
            .as_ref()
            .and_then(|d| d.get("collisions"))
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .ok_or_else(|| {
                Failure::new(format!("node {n}'s unique_collision lists no collisions"))
            })?;
        let rows = self.nodes[n].rows()?;
        let server = self.rt.block_on(self.observer.rows(&self.schema))?;
        let mut notes = Vec::new();
        for c in &collisions {
            let Some(remote) = server.get(&c.table, c.row_id) else {
                continue;
            };
            let wanted: Vec<Option<&Value>> = c.columns.iter().map(|col| remote.get(col)).collect();
            let holder = rows.ids(&c.table).into_iter().find(|id| {
                let local = rows.get(&c.table, *id).expect("listed");
                c.columns.iter().zip(&wanted).all(|(col, w)| {
                    w.is_some_and(|w| *w != Value::Null && local.get(col) == Some(w))
                })
            });
            let Some(holder) = holder else { continue };
            let column = if c.columns.iter().any(|x| x == "pb") {
                "pb"
            } else {
                "code"
            };
            let value = Value::Text(self.fresh.next(&format!("n{n}rename")));
            let rename = RowWrite::Update {
                table: c.table.clone(),
                id: holder,
                values: [(column.to_string(), value)].into_iter().collect(),
            };
            if self.nodes[n].write(&[rename])?.is_some() {
                notes.push(Note::Write {
                    table: c.table.clone(),
                    id: holder,
                });
            }
        }
        if notes.is_empty() {
            return Err(Failure::new(format!(
                "node {n} cannot resolve the unique collisions {collisions:?}: no local row holds the values"
            )));
        }
        self.stats.count("collision_renamed");
        self.note(n, notes, &rows)
    }

    /// Node `n` syncs (spec §11.7), resolving unique collisions as
    /// [`Run::pull`] does.
    pub fn sync(&mut self, n: usize) -> Result<(), Failure> {
        self.stats.count("sync");
        for _ in 0..COLLISION_RETRIES {
            let answer = self.nodes[n].sync()?;
            self.absorb()?;
            self.logged(n)?;
            match answer {
                Ok(s) => {
                    self.known = self.known.max(s.version);
                    return Ok(());
                }
                // The round bound of §11.7: others kept moving.
                Err(e) if e.code == "pull_required" => return Ok(()),
                Err(e) if e.code == "unique_collision" => {
                    self.stats.count("unique_collision");
                    self.resolve_collisions(n, &e)?;
                }
                Err(e) => return Err(rejected(n, "sync", &e)),
            }
        }
        Err(Failure::new(format!(
            "node {n}'s sync still meets unique collisions after {COLLISION_RETRIES} renames"
        )))
    }

    fn restart_server(&mut self) -> Result<(), Failure> {
        if self.rt.block_on(self.target.restart())? {
            self.proxy.set_upstream(self.target.base());
            self.observer.set_base(self.target.base());
            self.stats.count("restart_server");
        }
        Ok(())
    }

    /// The invariants that hold after every step: integrity on every
    /// replica; the server holds what the pushes it applied imply.
    pub fn check_always(&mut self) -> Result<(), Failure> {
        for n in 0..self.nodes.len() {
            let rows = self.nodes[n].rows()?;
            integrity(&self.schema, &rows, &format!("node {n}"))?;
        }
        let server = self.rt.block_on(self.observer.rows(&self.schema))?;
        integrity(&self.schema, &server, "server")?;
        same_rows(
            &server,
            &RowSet::new(self.model.rows()),
            "the server's tables are not what the pushes it applied imply (server first)",
        )?;
        self.server = server;
        Ok(())
    }
}

/// The `uid` of each row of a push, by table and key.
fn uids_of(req: &PushRequest) -> HashMap<(String, RowId), String> {
    req.rows
        .iter()
        .filter_map(|r| Some(((r.table.clone(), r.id), ledger::uid_of(&r.values)?)))
        .collect()
}
