//! A node's procedures over HTTP (spec §9–§14). Database work runs on
//! tokio's blocking pool; the network work is async.

use crate::credentials;
use crate::error::ClientError;
use crate::options::{OpenOptions, RepairOptions};
use crate::progress::{Procedure, Progress, ProgressFn};
use crate::report::{PushOutcome, Status, SyncReport};
use crate::rounds::{self, Rounds};
use crate::tls::CaCert;
use crate::transport::{now, Signer, Timeouts, Transport};
use dbsync_core::merge::{NodeWins, Policy};
use dbsync_core::protocol::*;
use dbsync_core::{ErrorCode, Schema};
use dbsync_sqlite::node::{self as store, LoggedConflict, NodeState, RepairReport, StagedPull};
use dbsync_sqlite::TableSpec;
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// A node (spec §1.3): one SQLite database, tracked, and the server it syncs
/// with.
///
/// [`Node::open`] tracks the application's tables (spec §2, §3.4: capture
/// triggers record every write as a pending op); [`Node::register`] gets
/// the node's credentials (spec §9); then [`Node::sync`] pushes and pulls
/// (spec §10, §11, §12). Every procedure runs in one transaction on each
/// side: a procedure that fails changes nothing and can simply be retried.
/// The application keeps writing through its own connections meanwhile;
/// the node waits for them up to its busy timeout ([`OpenOptions`]).
pub struct Node {
    db: Arc<Mutex<Connection>>,
    schema: Arc<Schema>,
    pub(crate) fingerprint: String,
    pub(crate) policy: Arc<dyn Policy + Send + Sync>,
    pub(crate) app_data: Option<AppData>,
    progress: Option<ProgressFn>,
    server_override: Option<String>,
    ca_cert: Option<CaCert>,
    timeouts: Timeouts,
    sync_time_limit: std::time::Duration,
    /// The most bytes one push may take (spec §10.1.2); lowered when the
    /// server answers `body_too_large` with its limit.
    pub(crate) push_budget: Arc<AtomicUsize>,
    /// How many pulled ops gather before a merge step (spec §11.6).
    pub(crate) pull_step_ops: usize,
}

fn join_err(e: tokio::task::JoinError) -> ClientError {
    ClientError::Store(format!("database task failed: {e}"))
}

impl Node {
    /// Opens (and tracks) the database at `path`: `specs` names the synced
    /// tables (every user table when empty). Tracking twice changes nothing.
    ///
    /// Tracking reads each table's shape from SQLite (spec §2) and refuses
    /// one it cannot sync, saying what to change; it installs the capture
    /// triggers (spec §3.4). A table that already holds rows is refused
    /// with [`ClientError::ExistingRows`] unless [`Node::open_with`] says
    /// what the rows are (spec §3.5). See [`Node::register`] for an example.
    pub fn open(path: &Path, specs: &[TableSpec]) -> Result<Node, ClientError> {
        Node::open_with(path, specs, &OpenOptions::default())
    }

    /// [`Node::open`] with `options`: the busy timeout, and what the rows
    /// of tables tracked for the first time are (spec §3.5).
    pub fn open_with(
        path: &Path,
        specs: &[TableSpec],
        options: &OpenOptions,
    ) -> Result<Node, ClientError> {
        let mut conn = dbsync_sqlite::open_with_busy_timeout(path, options.busy_timeout)?;
        let track = dbsync_sqlite::TrackOptions {
            existing_rows: options.existing_rows,
        };
        let schema = store::prepare_with(&mut conn, specs, &track)?;
        let policy = crate::resolve::stored_policy(&conn)?;
        Ok(Node::with_connection(conn, schema).with_policy(policy.policy()))
    }

    /// Opens a database that is already tracked, with the tables it tracks
    /// (as `dbsync track` or an earlier [`Node::open`] left them).
    pub fn open_tracked(path: &Path) -> Result<Node, ClientError> {
        Node::open_tracked_with(path, &OpenOptions::default())
    }

    /// [`Node::open_tracked`] with `options`. A database whose tables are
    /// tracked as they are is only read: opening it never waits for the
    /// application's transactions.
    pub fn open_tracked_with(path: &Path, options: &OpenOptions) -> Result<Node, ClientError> {
        let mut conn = dbsync_sqlite::open_with_busy_timeout(path, options.busy_timeout)?;
        dbsync_sqlite::track::ensure_meta(&conn)?;
        let names = dbsync_sqlite::track::tracked_names(&conn)?;
        if names.is_empty() {
            return Err(ClientError::Store(format!(
                "{} tracks no table: run `dbsync track` first",
                path.display()
            )));
        }
        let schema = dbsync_sqlite::track::load_schema(&conn)?;
        let specs: Vec<TableSpec> = schema
            .tables
            .iter()
            .map(|t| TableSpec {
                name: t.name.clone(),
                direction: t.direction,
            })
            .collect();
        let schema = store::prepare(&mut conn, &specs)?;
        let policy = crate::resolve::stored_policy(&conn)?;
        Ok(Node::with_connection(conn, schema).with_policy(policy.policy()))
    }

    fn with_connection(conn: Connection, schema: Schema) -> Node {
        Node {
            db: Arc::new(Mutex::new(conn)),
            fingerprint: schema.fingerprint(),
            schema: Arc::new(schema),
            policy: Arc::new(NodeWins),
            app_data: None,
            progress: None,
            server_override: None,
            ca_cert: None,
            timeouts: Timeouts::default(),
            sync_time_limit: crate::rounds::DEFAULT_SYNC_TIME_LIMIT,
            push_budget: Arc::new(AtomicUsize::new(store::DEFAULT_PUSH_BUDGET)),
            pull_step_ops: crate::pull::STEP_OPS,
        }
    }

    /// Replaces the resolution policy for this handle (default: the one
    /// stored with [`Node::store_policy`], else node wins, spec §12.4.1).
    ///
    #[doc = include_str!("../doc/with_policy.md")]
    pub fn with_policy(mut self, policy: Arc<dyn Policy + Send + Sync>) -> Node {
        self.policy = policy;
        self
    }

    /// Application data attached to every request (spec §7.3).
    pub fn with_app_data(mut self, app_data: AppData) -> Node {
        self.app_data = Some(app_data);
        self
    }

    /// A progress callback for push, pull and repair: called as ops, versions
    /// or rows are done ([`Progress`]).
    pub fn with_progress(mut self, progress: ProgressFn) -> Node {
        self.progress = Some(progress);
        self
    }

    /// Uses `url` instead of the server URL stored at registration.
    pub fn with_server(mut self, url: &str) -> Node {
        self.server_override = Some(url.to_string());
        self
    }

    /// Trusts `ca` for an `https://` server, besides the platform's root
    /// certificates (instead of the CA stored at registration, if any).
    /// [`Node::register`] stores it with the credentials.
    pub fn with_ca_cert(mut self, ca: CaCert) -> Node {
        self.ca_cert = Some(ca);
        self
    }

    /// The connect, read and whole-request timeouts of every request
    /// (default: [`Timeouts::default`]).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Node {
        self.timeouts = timeouts;
        self
    }

    /// How long a sync keeps going while the server keeps moving or the
    /// application keeps writing (default 60 s; spec §11.7): a round that
    /// could not begin within it makes [`Node::sync`] fail with
    /// [`ClientError::TooManyRounds`], which is safe to retry. There is no
    /// bound on the count of rounds.
    pub fn with_sync_time_limit(mut self, limit: std::time::Duration) -> Node {
        self.sync_time_limit = limit;
        self
    }

    /// The synced schema and its fingerprint (spec §2, §7.2).
    pub fn schema(&self) -> (&Schema, &str) {
        (&self.schema, &self.fingerprint)
    }

    /// Runs `f` on the database in tokio's blocking pool.
    pub(crate) async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &Schema) -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, ClientError> {
        let db = self.db.clone();
        let schema = self.schema.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn, &schema)
        })
        .await
        .map_err(join_err)?
    }

    /// Direct access to the database, for the application and for tests.
    ///
    /// The application may as well write through its own connections to
    /// the same file: the capture triggers record every write to a synced
    /// table, whichever connection makes it (spec §3.4). Holding this lock
    /// keeps the node's procedures waiting.
    pub fn database(&self) -> Arc<Mutex<Connection>> {
        self.db.clone()
    }

    pub(crate) fn report(&self, procedure: Procedure, done: u64, total: Option<u64>) {
        if let Some(p) = &self.progress {
            p(Progress {
                procedure,
                done,
                total,
            });
        }
    }

    pub(crate) async fn connect(&self) -> Result<(Transport, Signer, NodeState), ClientError> {
        let (st, stored_ca) = self
            .with_db(|c, _| Ok((store::state(c)?, credentials::ca_cert(c)?)))
            .await?;
        let (Some(node_id), Some(secret)) = (st.node_id, st.secret.clone()) else {
            return Err(ClientError::NotRegistered);
        };
        let url = self
            .server_override
            .clone()
            .or(st.server_url.clone())
            .ok_or(ClientError::NotRegistered)?;
        let ca = match (&self.ca_cert, stored_ca) {
            (Some(ca), _) => Some(ca.clone()),
            (None, Some(pem)) => Some(CaCert::from_pem(&pem)?),
            (None, None) => None,
        };
        let transport = Transport::new(&url, self.timeouts, ca.as_ref())?;
        Ok((transport, Signer { node_id, secret }, st))
    }

    /// Registers this database with the server at `url` (spec §9) and
    /// stores the credentials, the URL and the CA given by
    /// [`Node::with_ca_cert`] (if any) in it.
    ///
    #[doc = include_str!("../doc/register.md")]
    pub async fn register(
        &self,
        url: &str,
        token: Option<&str>,
    ) -> Result<RegisterResponse, ClientError> {
        self.register_as(url, token, None).await
    }

    /// [`Node::register`] for the application user `user` (spec §9.1,
    /// §19.1): on a server with scopes, the node receives and may write
    /// that user's rows. The server accepts a named user under a
    /// registration token, or its register hook decides.
    pub async fn register_as(
        &self,
        url: &str,
        token: Option<&str>,
        user: Option<&str>,
    ) -> Result<RegisterResponse, ClientError> {
        let transport = Transport::new(url, self.timeouts, self.ca_cert.as_ref())?;
        let req = RegisterRequest {
            protocol: dbsync_core::PROTOCOL_VERSION.into(),
            schema: self.fingerprint.clone(),
            app_data: self.app_data.clone(),
            token: token.map(str::to_string),
            user: user.map(str::to_string),
        };
        let resp: RegisterResponse = transport
            .post(
                "/v1/register",
                serde_json::to_vec(&req).expect("serializable"),
                None,
            )
            .await?;
        let url = url.to_string();
        let saved = resp.clone();
        let ca = self.ca_cert.as_ref().map(|c| c.pem().to_string());
        self.with_db(move |c, _| {
            let tx = c.transaction()?;
            store::save_registration(&tx, &url, &saved)?;
            credentials::set_ca_cert(&tx, ca.as_deref())?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(resp)
    }

    /// Push; when the server says to pull first, pull and push again,
    /// after a random pause, until the sync's time limit (spec §11.7;
    /// [`Node::with_sync_time_limit`]). With nothing to push, pull once;
    /// after a push the server accepted behind (§10.2.2.1), pull the
    /// versions in between, so a sync always leaves the node holding the
    /// server's latest as of its last exchange. Ops the application
    /// records while the sync runs go with the next sync.
    ///
    #[doc = include_str!("../doc/sync.md")]
    pub async fn sync(&self) -> Result<SyncReport, ClientError> {
        let mut report = SyncReport::default();
        let mut rounds = Rounds::new(self.sync_time_limit);
        loop {
            let pull_first = match self.push().await {
                Ok(PushOutcome::Pushed { version, ops, .. }) => {
                    report.pushed_ops += ops;
                    report.version = version;
                    if self.holds_version(version).await? {
                        return Ok(report);
                    }
                    // Accepted behind (§10.3): the versions in between are
                    // pulled now, not when the node next has nothing to
                    // push, so that a sync leaves it holding them.
                    false
                }
                Ok(PushOutcome::NothingToPush) if report.pulls > 0 => return Ok(report),
                Ok(PushOutcome::NothingToPush) => false,
                Err(ClientError::Rejected {
                    code: ErrorCode::PullRequired,
                    ..
                }) => true,
                Err(e) => return Err(e),
            };
            if pull_first {
                // Another node won the race for the next version: step
                // aside for a random while (longer each lost race in a
                // row) before pulling, so that the push follows the pull
                // at once.
                rounds.pause(true).await?;
            }
            let merged = self.pull().await?;
            report.pulls += 1;
            report.merged_ops += merged.ops_merged;
            report.conflicts += merged.conflicts.len();
            report.version = merged.version;
            if !pull_first {
                if self.status().await?.pending_ops == 0 {
                    return Ok(report);
                }
                rounds.pause(false).await?;
            }
        }
    }

    /// Whether the node's last version is `version` or later: false
    /// after a push accepted behind (spec §10.3).
    async fn holds_version(&self, version: u64) -> Result<bool, ClientError> {
        self.with_db(move |c, _| Ok(store::state(c)?.last_version >= version))
            .await
    }

    /// Replaces the node's pull-capable tables with the server's (spec §13).
    /// Refuses with [`ClientError::UnpushedChanges`], changing nothing,
    /// when that would discard local work (spec §13.5): see
    /// [`Node::repair_with`]. Returns the version the node now holds.
    ///
    #[doc = include_str!("../doc/repair.md")]
    pub async fn repair(&self) -> Result<u64, ClientError> {
        Ok(self.repair_with(RepairOptions::default()).await?.version)
    }

    /// [`Node::repair`] with `options`: with `discard_local_changes`, the
    /// local work the repair replaces is discarded, reported by table and
    /// logged in the conflict log (spec §13.5).
    ///
    #[doc = include_str!("../doc/repair_with.md")]
    pub async fn repair_with(&self, options: RepairOptions) -> Result<RepairReport, ClientError> {
        let (transport, signer, _) = self.connect().await?;
        if !options.discard_local_changes {
            // Checked again when the repair finishes: the application may
            // write meanwhile.
            let work = self
                .with_db(|c, schema| Ok(store::local_work(c, schema)?))
                .await?;
            if !work.is_empty() {
                return Err(ClientError::UnpushedChanges(work));
            }
        }
        let rows = self.stage_snapshot(&transport, &signer).await?;
        // Catch up from the first page's version; nothing is pending after a repair.
        let base = self.with_db(|c, _| Ok(store::repair_version(c)?)).await?;
        let mut staged = StagedPull::default();
        let mut cursor = None;
        loop {
            let req = PullRequest {
                app_data: self.app_data.clone(),
                ..PullRequest::page(&self.fingerprint, base, &[], cursor)
            };
            let page: PullResponse =
                page_with_retries(&transport, "/v1/pull", &req, &signer).await?;
            cursor = page.next_cursor.clone();
            staged.add(page);
            if cursor.is_none() {
                break;
            }
        }
        self.report(Procedure::Repair, rows, Some(rows));
        let discard = options.discard_local_changes;
        self.with_db(move |c, schema| Ok(store::repair_finish(c, schema, staged, discard, now())?))
            .await
    }

    /// Stages the server's snapshot page by page (spec §13.2), resuming a
    /// repair cut short from its last staged page; returns how many rows
    /// this call staged.
    async fn stage_snapshot(
        &self,
        transport: &Transport,
        signer: &Signer,
    ) -> Result<u64, ClientError> {
        let resumed = self.with_db(|c, _| Ok(store::repair_progress(c)?)).await?;
        let (mut cursor, mut staging) = match resumed {
            Some(next) => (next.clone(), next.is_some()),
            None => {
                self.with_db(|c, _| Ok(store::repair_begin(c)?)).await?;
                (None, true)
            }
        };
        let mut rows = 0u64;
        // The first page says how many rows come (§13.2); a resumed
        // repair does not know.
        let mut total = None;
        while staging {
            let req = RepairRequest {
                protocol: dbsync_core::PROTOCOL_VERSION.into(),
                schema: self.fingerprint.clone(),
                app_data: self.app_data.clone(),
                cursor: cursor.clone(),
            };
            let page: RepairPage = page_with_retries(transport, "/v1/repair", &req, signer).await?;
            cursor = page.next_cursor.clone();
            rows += page.rows.len() as u64;
            total = total.or(page.total_rows);
            self.with_db(move |c, schema| Ok(store::repair_stage(c, schema, &page)?))
                .await?;
            // Rows written during the repair may make the count grow.
            self.report(Procedure::Repair, rows, total.map(|t| t.max(rows)));
            staging = cursor.is_some();
        }
        Ok(rows)
    }

    /// A read-only query on the server (spec §14): the rows of `table`
    /// whose columns equal every value of `filter` (an empty filter matches
    /// every row; [`Value::Null`](crate::Value::Null) matches NULL), at most
    /// `limit` of them (1 to 10,000; 100 when `None`). The node's own
    /// database is not changed. A `push_only` table cannot be queried.
    ///
    #[doc = include_str!("../doc/query.md")]
    pub async fn query(
        &self,
        table: &str,
        filter: std::collections::BTreeMap<String, dbsync_core::Value>,
        limit: Option<u32>,
    ) -> Result<QueryResponse, ClientError> {
        let (transport, signer, _) = self.connect().await?;
        let req = QueryRequest {
            protocol: dbsync_core::PROTOCOL_VERSION.into(),
            schema: self.fingerprint.clone(),
            app_data: self.app_data.clone(),
            table: table.to_string(),
            filter,
            limit,
        };
        transport
            .post(
                "/v1/query",
                serde_json::to_vec(&req).expect("serializable"),
                Some(&signer),
            )
            .await
    }

    /// The node's status, read from its database: it needs no server.
    ///
    #[doc = include_str!("../doc/status.md")]
    pub async fn status(&self) -> Result<Status, ClientError> {
        let fingerprint = self.fingerprint.clone();
        let policy = self.policy.name().to_owned();
        self.with_db(move |c, schema| {
            let st = store::state(c)?;
            let pending = store::compressed_pending(c)?;
            Ok(Status {
                node_id: st.node_id,
                server_url: st.server_url,
                last_version: st.last_version,
                pending_ops: pending.len(),
                outstanding_push: st.outstanding_push,
                repair_owed: st.repair_owed,
                schema_fingerprint: fingerprint,
                tables: schema.tables.iter().map(|t| t.name.clone()).collect(),
                policy,
            })
        })
        .await
    }

    /// The conflict log, oldest first (`dbsync conflicts` shows it most
    /// recent first): every resolution a merge applied and
    /// every piece of local work a repair discarded (spec §12.7, §13.5).
    /// The log only grows; an application reads it to show or undo what a
    /// policy decided.
    ///
    #[doc = include_str!("../doc/conflicts.md")]
    pub async fn conflicts(&self) -> Result<Vec<LoggedConflict>, ClientError> {
        self.with_db(|c, _| Ok(store::conflicts(c)?)).await
    }
}

/// How many times one page is asked for again after the connection
/// dropped (spec §11.4: the same request with the same cursor resumes).
const PAGE_RETRIES: usize = 3;

/// Fetches one page of a pull or repair, asking again with the same
/// cursor (and a fresh nonce) when the connection drops.
pub(crate) async fn page_with_retries<Q: serde::Serialize, T: serde::de::DeserializeOwned>(
    transport: &Transport,
    path: &str,
    req: &Q,
    signer: &Signer,
) -> Result<T, ClientError> {
    let body = serde_json::to_vec(req).expect("serializable");
    let mut tries = 0;
    loop {
        match transport.post(path, body.clone(), Some(signer)).await {
            Err(ClientError::Network(why)) if tries < PAGE_RETRIES => {
                tries += 1;
                tracing::debug!(%path, %why, tries, "page lost; asking again with the same cursor");
                tokio::time::sleep(rounds::pause_after(tries as u32)).await;
            }
            other => return other,
        }
    }
}
