//! Push (spec §10): the order of checks P1–P8, the push record that
//! makes a push idempotent (§10.4), and the new version (§6).
//!
//! - [`behind`]: P3 for a push behind the latest version (§10.2.2.1);
//! - [`checks`]: P4–P6, the ops and rows of a push (§10.2.3);
//! - [`rekey`]: the inserts of a push behind that take fresh keys
//!   (§10.2.2.2);
//! - [`apply`]: P8, applying the ops as if all at once (§10.2.4).

pub mod apply;
pub mod behind;
pub mod checks;
pub mod rekey;

use crate::authentication::{self, Authenticated};
use crate::register::hook_rejected;
use crate::scope::{node_keys, record::record_version, write::check_write};
use crate::settings::Settings;
use crate::store::{NodeRecord, OpPosition, PushRecord, ReadTx, Store, WriteTx};
use crate::versions::{rfc3339, seal_direct_writes};
use crate::Rejection;
use behind::Cleared;
use dbsync_core::auth::hex;
use dbsync_core::protocol::{PushRequest, PushResponse, Rekey, VersionInfo};
use dbsync_core::rekey::moves_between;
use dbsync_core::{ErrorCode, Schema};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// The digest that identifies a push's content (spec §10.4): SHA-256 of
/// the JSON of its ops and rows, hashed as it is written (no copy of the
/// push is made).
pub fn push_digest(req: &PushRequest) -> String {
    let mut hasher = Sha256::new();
    serde_json::to_writer(&mut hasher, &(&req.ops, &req.rows)).expect("serializable");
    hex(&hasher.finalize())
}

/// Applies a push (spec §10) in one transaction, or rejects it and
/// changes nothing. The transaction also records `auth`'s nonce (§8.4
/// A5), so an accepted push commits once.
pub fn push(
    store: &dyn Store,
    settings: &Settings,
    node_id: u64,
    req: &PushRequest,
    now: u64,
    auth: Option<&Authenticated>,
) -> Result<PushResponse, Rejection> {
    let schema = store.schema();
    let digest = push_digest(req);
    let mut tx = store.write()?;
    tx.lock_history()?;
    authentication::record_nonce(auth, &mut *tx)?;
    let scoped = settings.scopes.is_some();
    if let Some(done) = already_applied(&mut *tx, node_id, req, &digest, scoped)? {
        authentication::commit(tx, auth)?;
        return Ok(done);
    }
    let node = tx
        .node(node_id)?
        .ok_or_else(|| Rejection::unknown_node(node_id))?;
    let scopes = settings.scopes.as_deref();
    let latest = seal_direct_writes(&mut *tx, schema, scopes, now)?;
    check_base(&mut *tx, &node, req.base_version, latest)?;
    let cleared = if req.base_version == latest {
        Cleared {
            req: Cow::Borrowed(req),
            rekeyed: Vec::new(),
        }
    } else {
        behind::check_clear(&mut *tx, schema, req, latest)?
    };
    let cleared = match scopes {
        Some(_) => rekey_held(&mut *tx, schema, cleared)?,
        None => cleared,
    };
    // From here on the push is as re-keyed (§10.2.2.2, §19.7).
    let req = &*cleared.req;
    checks::check_push(schema, req)?;
    if let Some(s) = scopes {
        check_write(&mut *tx, s, &node_keys(&node), req)?; // P6a (§19.7)
    }
    if let Some(hook) = &settings.hooks.before_push {
        hook(node_id, req).map_err(|why| hook_rejected("before_push", why))?;
    }
    let version = latest + 1;
    record(&mut *tx, schema, node_id, req, version, digest, now)?;
    if let Some(s) = scopes {
        record_version(&mut *tx, schema, s, version)?;
    }
    authentication::commit(tx, auth)?;
    let answer = accepted(req, version, false, cleared.rekeyed);
    after_push(settings, node_id, req, &answer);
    Ok(answer)
}

/// On a scoped server, the push with its inserts of keys the server holds
/// re-keyed too (spec §19.7): rows outside the node's scope hold them.
fn rekey_held<'r>(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    cleared: Cleared<'r>,
) -> Result<Cleared<'r>, Rejection> {
    let held = rekey::held(tx, schema, &cleared.req)?;
    if held.is_empty() {
        return Ok(cleared);
    }
    let mut moved = cleared.req.into_owned();
    dbsync_core::rekey::rewrite(schema, &mut moved, &held);
    let mut rekeyed = cleared.rekeyed;
    rekeyed.extend(held);
    Ok(Cleared {
        req: Cow::Owned(moved),
        rekeyed,
    })
}

/// P1: the answer to a push id this node already applied, if it did.
fn already_applied(
    tx: &mut dyn ReadTx,
    node_id: u64,
    req: &PushRequest,
    digest: &str,
    scoped: bool,
) -> Result<Option<PushResponse>, Rejection> {
    let Some(done) = tx.push_record(node_id, &req.push_id)? else {
        return Ok(None);
    };
    if done.digest != digest {
        return Err(Rejection::new(
            ErrorCode::PushIdReused,
            "this push id was applied with other content; use a new push id",
        )
        .with(json!({"push_id": req.push_id, "version": done.version})));
    }
    // Not behind, nothing was re-keyed, unless the server is scoped
    // (§19.7 re-keys at the latest version too).
    let rekeyed = if done.version == req.base_version + 1 && !scoped {
        Vec::new()
    } else {
        let applied = tx.ops_after(
            done.version - 1,
            done.version,
            OpPosition::default(),
            req.ops.len(),
        )?;
        moves_between(
            &req.ops,
            applied.iter().map(|p| (p.op.table.as_str(), p.op.row_id)),
        )
    };
    Ok(Some(accepted(req, done.version, true, rekeyed)))
}

/// Applies the ops and records the version, its ops and the push record.
fn record(
    tx: &mut dyn WriteTx,
    schema: &Schema,
    node_id: u64,
    req: &PushRequest,
    version: u64,
    digest: String,
    now: u64,
) -> Result<(), Rejection> {
    apply::apply_push(tx, schema, req)?;
    let info = VersionInfo {
        version,
        node_id: Some(node_id),
        push_id: Some(req.push_id.clone()),
        created_at: rfc3339(now),
    };
    tx.append_version(&info, &req.ops)?;
    tx.insert_push_record(node_id, &req.push_id, &PushRecord { version, digest })?;
    if req.base_version + 1 == version {
        // A push accepted behind (§10.2.2.1) does not bring its node the
        // versions in between: it still needs them, so trim must wait.
        tx.note_known_version(node_id, version, false)?;
    }
    Ok(())
}

fn accepted(req: &PushRequest, version: u64, duplicate: bool, rekeyed: Vec<Rekey>) -> PushResponse {
    PushResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        version,
        push_id: req.push_id.clone(),
        duplicate,
        rekeyed,
    }
}

fn after_push(settings: &Settings, node_id: u64, req: &PushRequest, answer: &PushResponse) {
    let Some(after) = &settings.hooks.after_push else {
        return;
    };
    let ran =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| after(node_id, req, answer)));
    if ran.is_err() {
        tracing::error!(
            node = node_id,
            version = answer.version,
            "the after-push hook panicked; the push is committed"
        );
    }
}

/// The version checks of spec §10.2.2, shared by push (P2) and pull (L2).
pub fn check_base(
    tx: &mut dyn ReadTx,
    node: &NodeRecord,
    base: u64,
    latest: u64,
) -> Result<(), Rejection> {
    if node.stale {
        return Err(Rejection::repair_required(
            "unseen",
            "this node was not seen for too long and no longer holds back trim; repair".into(),
        ));
    }
    if base > latest {
        return Err(Rejection::repair_required(
            "ahead",
            format!("base version {base} is later than the server's latest {latest}; repair"),
        ));
    }
    let trimmed = tx.trimmed_through()?;
    if base < trimmed {
        return Err(Rejection::repair_required(
            "trimmed",
            format!("versions up to {trimmed} were trimmed; repair"),
        ));
    }
    Ok(())
}
