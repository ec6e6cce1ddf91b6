//! # dbsync-engine
//!
//! The server side of the dbsync protocol, written once, over a
//! [`Store`]: the order of checks of every endpoint, push acceptance and
//! push records, version assignment, pull pages and cursors, repair,
//! query, trim and register. Modules are named after the spec's chapters:
//!
//! | module | spec |
//! |---|---|
//! | [`versions`] | §6 Versions (sealing direct writes) |
//! | [`envelope`] | §7 The message envelope |
//! | [`authentication`] | §8 Authentication |
//! | [`register`] | §9 Register |
//! | [`nodes`] | §9.7 Revoking and purging nodes |
//! | [`push`] | §10 Push |
//! | [`pull`], [`cursor`], [`rows`] | §11 Pull |
//! | [`repair`] | §13 Repair |
//! | [`query`] | §14 Query |
//! | [`trim`] | §15 Trim |
//! | [`rejection`] | §17 Errors |
//!
//! Architecture invariant: this crate knows no database and no network.
//! A store (`dbsync-sqlite`, `dbsync-postgres`) implements [`Store`]; a
//! transport (`dbsync-server`) reads requests and writes answers. Every
//! function here blocks on the store: call it from a blocking context.
//!
//! Architecture invariant: a request the engine refuses changes nothing
//! the node asked for (spec §16.4): a push is one store transaction that
//! commits only when it is accepted. What a refused request may still
//! leave is bookkeeping any request may do: the nonce it used, and direct
//! writes sealed into versions by a first pull or repair page before its
//! own checks.

pub mod authentication;
pub mod cursor;
pub mod envelope;
pub mod nodes;
pub mod pull;
pub mod push;
pub mod query;
pub mod register;
pub mod rejection;
pub mod repair;
pub mod rows;
pub mod scope;
pub mod settings;
pub mod store;
pub mod trim;
pub mod versions;

pub use authentication::{Authenticated, SignedRequest};
pub use rejection::Rejection;
pub use settings::{
    AfterPushHook, BeforePushHook, Hooks, Limits, RegisterDecision, RegisterHook, Registration,
    Settings,
};
pub use store::{NodeCounts, ReadTx, Store, StoreFault, StoreResult, WriteTx};
pub use trim::TrimReport;

use dbsync_core::auth::Secret;
use dbsync_core::protocol::{
    PullRequest, PushRequest, QueryRequest, RegisterRequest, RepairRequest,
};
use dbsync_core::Schema;
use serde::Serialize;
use std::sync::Arc;

/// One endpoint of the protocol (spec §16.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// §9.
    Register,
    /// §10.
    Push,
    /// §11.
    Pull,
    /// §13.
    Repair,
    /// §14.
    Query,
}

impl Endpoint {
    /// Every endpoint but register needs a signed request (spec §8).
    pub fn authenticated(self) -> bool {
        self != Endpoint::Register
    }
}

/// What a server holds, read in one snapshot ([`Engine::census`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Census {
    /// The latest version (0 before the first).
    pub latest_version: u64,
    /// The registered and stale nodes.
    pub nodes: NodeCounts,
}

/// The protocol's server side over one store. Cheap to share behind an
/// `Arc`; every method blocks on the store.
pub struct Engine {
    store: Arc<dyn Store>,
    fingerprint: String,
    cursor_key: Secret,
    settings: Settings,
    sweeper: authentication::NonceSweeper,
}

impl Engine {
    /// An engine over `store`, making the cursor key the first time a
    /// database is served (every process serving it shares that key).
    /// On a scoped server, it first seals direct writes and indexes every
    /// row (spec §19.4): linear in the rows.
    pub fn open(store: Arc<dyn Store>, settings: Settings) -> Result<Engine, Rejection> {
        let cursor_key = ensure_cursor_key(&*store)?;
        if let Some(scopes) = &settings.scopes {
            start_scoped(&*store, scopes)?;
        }
        Ok(Engine {
            fingerprint: store.schema().fingerprint(),
            store,
            cursor_key,
            settings,
            sweeper: Default::default(),
        })
    }

    /// The synced schema.
    pub fn schema(&self) -> &Schema {
        self.store.schema()
    }

    /// The schema fingerprint requests must carry (spec §7.2).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// What authentication can check before the body is read (spec
    /// §16.4): the node (A2), the timestamp (A3), the nonce not yet used.
    pub fn precheck(
        &self,
        headers: &dbsync_core::auth::AuthHeaders,
        now: u64,
    ) -> Result<(), Rejection> {
        authentication::precheck(&*self.store, self.settings.skew_window, now, headers)
    }

    /// Authenticates a request (spec §8.4, A2–A4). Its nonce (A5) is
    /// recorded by [`Engine::handle`], with the request's work.
    pub fn authenticate(
        &self,
        req: SignedRequest<'_>,
        now: u64,
    ) -> Result<Authenticated, Rejection> {
        let skew = self.settings.skew_window;
        authentication::authenticate(&*self.store, &self.sweeper, skew, now, req)
    }

    /// Answers one request whose transport checks passed (spec §16.4,
    /// H6–H9): `auth` is the authenticated request (none for register).
    /// Its nonce is recorded before any answer is returned: in the
    /// transaction of an accepted push or of a pull's or repair's last
    /// page, or else alone.
    pub fn handle(
        &self,
        endpoint: Endpoint,
        auth: Option<&Authenticated>,
        body: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, Rejection> {
        let answer = self.answer(endpoint, auth, body, now);
        if let Some(auth) = auth {
            authentication::record_alone(&*self.store, auth)?;
        }
        answer
    }

    fn answer(
        &self,
        endpoint: Endpoint,
        auth: Option<&Authenticated>,
        body: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, Rejection> {
        let node = || {
            auth.map(Authenticated::node_id).ok_or_else(|| {
                tracing::error!(?endpoint, "an authenticated endpoint ran without a node");
                Rejection::internal()
            })
        };
        match endpoint {
            Endpoint::Register => encode(&self.register(&self.parse_register(body)?, now)?),
            Endpoint::Push => {
                let req =
                    self.parse_checked(body, envelope::check_push, |r: &PushRequest| &r.schema)?;
                let node = node()?;
                encode(&push::push(
                    &*self.store,
                    &self.settings,
                    node,
                    &req,
                    now,
                    auth,
                )?)
            }
            Endpoint::Pull => {
                let req =
                    self.parse_checked(body, envelope::check_pull, |r: &PullRequest| &r.schema)?;
                encode(&self.pull_page(node()?, &req, now, auth)?)
            }
            Endpoint::Repair => {
                let req =
                    self.parse_checked(body, envelope::check_repair, |r: &RepairRequest| {
                        &r.schema
                    })?;
                encode(&self.repair_page(node()?, &req, now, auth)?)
            }
            Endpoint::Query => {
                let req =
                    self.parse_checked(body, envelope::check_query, |r: &QueryRequest| &r.schema)?;
                encode(&self.query_as(node()?, &req)?)
            }
        }
    }

    fn parse_register(&self, body: &[u8]) -> Result<RegisterRequest, Rejection> {
        // R1 comes right after the protocol (spec §9.2): a stranger's
        // body is only skimmed.
        envelope::check_protocol(body)?;
        if let Some(token) = envelope::register_token(body) {
            register::check_token(&self.settings.registration, token.as_deref())?;
        }
        let req: RegisterRequest = envelope::parse(body)?;
        envelope::check_register(&req)?;
        envelope::same_schema(&self.fingerprint, &req.schema)?;
        Ok(req)
    }

    /// An endpoint's request: the envelope (spec §7), the endpoint's own
    /// checks, then the schema fingerprint.
    fn parse_checked<T: envelope::Request>(
        &self,
        body: &[u8],
        check: fn(&T) -> Result<(), Rejection>,
        schema: fn(&T) -> &str,
    ) -> Result<T, Rejection> {
        let req: T = envelope::parse(body)?;
        check(&req)?;
        envelope::same_schema(&self.fingerprint, schema(&req))?;
        Ok(req)
    }

    /// Register (spec §9), after the envelope checks.
    pub fn register(
        &self,
        req: &RegisterRequest,
        now: u64,
    ) -> Result<dbsync_core::protocol::RegisterResponse, Rejection> {
        register::register(&*self.store, &self.settings, req, now)
    }

    /// Push (spec §10), after the envelope checks.
    pub fn push(
        &self,
        node: u64,
        req: &PushRequest,
        now: u64,
    ) -> Result<dbsync_core::protocol::PushResponse, Rejection> {
        push::push(&*self.store, &self.settings, node, req, now, None)
    }

    /// One pull page (spec §11), after the envelope checks. The first page
    /// seals direct writes first; the last records the node's version.
    pub fn pull(
        &self,
        node: u64,
        req: &PullRequest,
        now: u64,
    ) -> Result<dbsync_core::protocol::PullResponse, Rejection> {
        self.pull_page(node, req, now, None)
    }

    /// A pull page whose last page records `auth`'s nonce with the
    /// node's version.
    fn pull_page(
        &self,
        node: u64,
        req: &PullRequest,
        now: u64,
        auth: Option<&Authenticated>,
    ) -> Result<dbsync_core::protocol::PullResponse, Rejection> {
        if req.cursor.is_none() {
            self.seal(now)?;
        }
        let page = pull::pull_page(
            &*self.store,
            &self.settings.limits,
            &self.cursor_key,
            node,
            req,
            self.settings.scopes.as_deref(),
        )?;
        if page.next_cursor.is_none() {
            self.note_version(node, page.target_version, false, auth)?;
        }
        Ok(page)
    }

    /// One repair page (spec §13), after the envelope checks.
    pub fn repair(
        &self,
        node: u64,
        req: &RepairRequest,
        now: u64,
    ) -> Result<dbsync_core::protocol::RepairPage, Rejection> {
        self.repair_page(node, req, now, None)
    }

    /// A repair page whose last page records `auth`'s nonce with the
    /// node's version.
    fn repair_page(
        &self,
        node: u64,
        req: &RepairRequest,
        now: u64,
        auth: Option<&Authenticated>,
    ) -> Result<dbsync_core::protocol::RepairPage, Rejection> {
        let scopes = self.settings.scopes.as_deref();
        if req.cursor.is_none() {
            repair::repair_start(&*self.store, node, scopes, now)?;
        }
        let page = repair::repair_page(
            &*self.store,
            &self.settings.limits,
            &self.cursor_key,
            node,
            req,
            scopes,
        )?;
        if page.next_cursor.is_none() {
            self.note_version(node, page.version, true, auth)?;
        }
        Ok(page)
    }

    /// Query (spec §14), after the envelope checks, as a server without
    /// scopes answers it (every row of the table).
    pub fn query(
        &self,
        req: &QueryRequest,
    ) -> Result<dbsync_core::protocol::QueryResponse, Rejection> {
        query::query(&*self.store, &self.settings.limits, req, None)
    }

    /// Query (spec §14) by `node`: on a scoped server, only rows in its
    /// scope (§19.8).
    pub fn query_as(
        &self,
        node: u64,
        req: &QueryRequest,
    ) -> Result<dbsync_core::protocol::QueryResponse, Rejection> {
        let scoped = match &self.settings.scopes {
            None => None,
            Some(_) => Some(self.node_view(node)?),
        };
        query::query(&*self.store, &self.settings.limits, req, scoped.as_ref())
    }

    /// Sets `node`'s claims (spec §19.1); on a scoped server, records the
    /// version that moves the rows of the claims it lost out of its scope
    /// and those of the claims it gained in, seen by that node only
    /// (§19.11): its next pull applies them, no repair needed.
    pub fn set_claims(
        &self,
        node: u64,
        claims: &[String],
        now: u64,
    ) -> Result<scope::claims::ClaimChange, Rejection> {
        let scopes = self.settings.scopes.as_deref();
        scope::claims::set_claims(&*self.store, scopes, node, claims, now)
    }

    /// The keys `node` reads with (spec §19.1).
    fn node_view(&self, node: u64) -> Result<scope::view::NodeView, Rejection> {
        let record = self
            .store
            .read()?
            .node(node)?
            .ok_or_else(|| Rejection::unknown_node(node))?;
        Ok(scope::view::NodeView::of(&record))
    }

    /// Trim (spec §15).
    pub fn trim(&self, now: u64, stale_after: u64) -> Result<TrimReport, Rejection> {
        trim::trim(&*self.store, now, stale_after)
    }

    /// Every registered node, by id (spec §9.7).
    pub fn nodes(&self) -> Result<Vec<store::NodeRecord>, Rejection> {
        nodes::list(&*self.store)
    }

    /// Revokes the nodes `ids`, all or none (spec §9.7): see
    /// [`nodes::revoke`].
    pub fn revoke(&self, ids: &[u64]) -> Result<Vec<u64>, Rejection> {
        nodes::revoke(&*self.store, ids)
    }

    /// Purges the nodes registered more than `unseen_for` seconds before
    /// `now` that never made a request (spec §9.7); returns them.
    pub fn purge_unseen(
        &self,
        now: u64,
        unseen_for: u64,
    ) -> Result<Vec<store::NodeRecord>, Rejection> {
        nodes::purge_unseen(&*self.store, now, unseen_for)
    }

    /// What the server holds, for its operators' metrics: the latest
    /// version and the node counts, read in one snapshot.
    pub fn census(&self) -> Result<Census, Rejection> {
        let mut tx = self.store.read()?;
        Ok(Census {
            latest_version: tx.latest_version()?,
            nodes: tx.node_counts()?,
        })
    }

    /// Seals direct writes into a version (spec §6.1), if any wait;
    /// returns the latest version. Takes the history lock only when
    /// there is something to seal.
    pub fn seal(&self, now: u64) -> Result<u64, Rejection> {
        let latest = {
            let mut tx = self.store.read()?;
            if !tx.has_unsealed()? {
                return Ok(tx.latest_version()?);
            }
            tx.latest_version()?
        };
        let mut tx = self.store.write()?;
        tx.lock_history()?;
        let sealed = versions::seal_direct_writes(
            &mut *tx,
            self.store.schema(),
            self.settings.scopes.as_deref(),
            now,
        )?;
        commit(tx)?;
        Ok(sealed.max(latest))
    }

    /// Notes the version `node` reached, recording `auth`'s nonce in
    /// the same transaction.
    fn note_version(
        &self,
        node: u64,
        version: u64,
        repaired: bool,
        auth: Option<&Authenticated>,
    ) -> Result<(), Rejection> {
        let mut tx = self.store.write()?;
        authentication::record_nonce(auth, &mut *tx)?;
        tx.note_known_version(node, version, repaired)?;
        authentication::commit(tx, auth)
    }
}

/// Commits a transaction that wrote no rows.
pub(crate) fn commit(tx: Box<dyn WriteTx + '_>) -> Result<(), Rejection> {
    tx.commit().map_err(rejection::commit_failed)
}

/// Seals what direct writes wait (indexing them), then indexes every row.
fn start_scoped(store: &dyn Store, scopes: &scope::Scopes) -> Result<(), Rejection> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut tx = store.write()?;
    let parents = scope::backfill::parent_columns(store.schema(), scopes);
    tx.enable_scopes(&parents)?;
    tx.lock_history()?;
    versions::seal_direct_writes(&mut *tx, store.schema(), Some(scopes), now)?;
    commit(tx)?;
    Ok(scope::backfill::index_every_row(store, scopes)?)
}

/// The cursor key, made and stored the first time (every process serving
/// the database reads the same one).
fn ensure_cursor_key(store: &dyn Store) -> Result<Secret, Rejection> {
    if let Some(key) = store.read()?.cursor_key()? {
        return Ok(key);
    }
    let mut tx = store.write()?;
    tx.set_cursor_key(&random_secret())?;
    commit(tx)?;
    store
        .read()?
        .cursor_key()?
        .ok_or_else(|| StoreFault("the cursor key was not kept".into()).into())
}

/// 32 random bytes from the operating system.
pub fn random_secret() -> Secret {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    Secret(bytes)
}

fn encode(message: &impl Serialize) -> Result<Vec<u8>, Rejection> {
    serde_json::to_vec(message).map_err(|e| {
        tracing::error!(error = %e, "an answer did not serialize");
        Rejection::internal()
    })
}
