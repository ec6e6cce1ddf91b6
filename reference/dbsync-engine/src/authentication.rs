//! Request authentication (spec §8.4), after the HTTP layer read the
//! headers (A1). What needs no body — node (A2), timestamp (A3), the
//! nonce not used yet (A5, read only) — is [`precheck`]ed before the body
//! is read (§16.4); [`authenticate`] then checks the MAC (A4), and
//! A5 records the nonce in the same transaction as the request's own
//! work when it writes (`record_nonce`, then `commit`), or alone
//! ([`record_alone`]) when the request only reads or is refused. The
//! nonce is only remembered once the MAC verified, and forgotten by time
//! (§8.4.1). Nothing here logs a secret.

use crate::store::{Store, WriteTx};
use crate::Rejection;
use dbsync_core::auth::{self, AuthHeaders};
use dbsync_core::ErrorCode;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One request as authentication sees it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The four headers, already well formed (A1).
    pub headers: &'a AuthHeaders,
    /// The HTTP method.
    pub method: &'a str,
    /// The path, without query string.
    pub path: &'a str,
    /// The whole body, as received.
    pub body: &'a [u8],
}

/// When expired nonces were last forgotten: at most one sweep per second
/// of a process, whatever the nonces hold (spec §8.4.1).
#[derive(Debug, Default)]
pub struct NonceSweeper {
    last_sweep: AtomicU64,
}

impl NonceSweeper {
    /// Whether the caller should sweep now (true once per second of `now`).
    fn due(&self, now: u64) -> bool {
        let last = self.last_sweep.load(Ordering::Relaxed);
        now > last
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// How long a nonce is remembered: twice the skew window (spec §8.4).
pub fn nonce_lifetime(skew: u64) -> u64 {
    2 * skew
}

/// A2, A3 and the read-only part of A5: what can be checked before the
/// body is read (spec §16.4).
pub fn precheck(
    store: &dyn Store,
    skew: u64,
    now: u64,
    headers: &AuthHeaders,
) -> Result<(), Rejection> {
    let mut tx = store.read()?;
    tx.node(headers.node_id)?
        .ok_or_else(|| Rejection::unknown_node(headers.node_id))?;
    if !auth::fresh(headers.timestamp, now, skew) {
        return Err(stale(headers.timestamp, now, skew));
    }
    if tx.nonce_used(headers.node_id, &headers.nonce)? {
        return Err(replayed(headers.node_id, &headers.nonce));
    }
    Ok(())
}

/// A request that passed A2–A4, whose nonce A5 still has to record
/// (spec §8.4): in the transaction of the request's own work when it
/// writes one, so that an accepted push costs one commit, not two.
///
/// Architecture invariant: no answer leaves the engine for a request
/// whose nonce is not recorded; [`crate::Engine::handle`] records it
/// alone when the endpoint did not.
#[derive(Debug)]
pub struct Authenticated {
    node_id: u64,
    nonce: String,
    now: u64,
    /// Expired nonces to forget in the same transaction (§8.4.1).
    forget_before: Option<u64>,
    recorded: AtomicBool,
}

impl Authenticated {
    /// The authenticated node.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    fn is_recorded(&self) -> bool {
        self.recorded.load(Ordering::Acquire)
    }
}

/// Authenticates one request (A2–A4); A5 follows with its work.
pub fn authenticate(
    store: &dyn Store,
    sweeper: &NonceSweeper,
    skew: u64,
    now: u64,
    req: SignedRequest<'_>,
) -> Result<Authenticated, Rejection> {
    let h = req.headers;
    let node = store
        .read()?
        .node(h.node_id)?
        .ok_or_else(|| Rejection::unknown_node(h.node_id))?;
    if !auth::fresh(h.timestamp, now, skew) {
        return Err(stale(h.timestamp, now, skew));
    }
    if !auth::verify(&node.secret, req.method, req.path, h, req.body) {
        // The signed string holds no secret: it helps an operator compare
        // with what the node signed.
        tracing::debug!(
            node = h.node_id,
            signed = ?auth::string_to_sign(req.method, req.path, h.node_id, h.timestamp, &h.nonce, req.body),
            "bad signature"
        );
        return Err(Rejection::new(
            ErrorCode::BadSignature,
            "the request signature does not match",
        ));
    }
    let forget_before = sweeper
        .due(now)
        .then(|| now.saturating_sub(nonce_lifetime(skew)));
    Ok(Authenticated {
        node_id: h.node_id,
        nonce: h.nonce.clone(),
        now,
        forget_before,
        recorded: AtomicBool::new(false),
    })
}

/// A5 inside the request's own transaction `tx`, when the request is
/// authenticated: records the nonce and the node as seen, or
/// `replayed_nonce`. `commit` then marks it recorded.
pub(crate) fn record_nonce(
    auth: Option<&Authenticated>,
    tx: &mut dyn WriteTx,
) -> Result<(), Rejection> {
    let Some(auth) = auth else {
        return Ok(());
    };
    if !tx.record_nonce(auth.node_id, &auth.nonce, auth.now)? {
        return Err(replayed(auth.node_id, &auth.nonce));
    }
    if let Some(before) = auth.forget_before {
        tx.forget_nonces(before)?;
    }
    Ok(())
}

/// Commits `tx`, in which `record_nonce` recorded `auth`'s nonce; once
/// it committed, the nonce counts as recorded.
pub(crate) fn commit(
    tx: Box<dyn WriteTx + '_>,
    auth: Option<&Authenticated>,
) -> Result<(), Rejection> {
    tx.commit().map_err(crate::rejection::commit_failed)?;
    if let Some(auth) = auth {
        auth.recorded.store(true, Ordering::Release);
    }
    Ok(())
}

/// A5 for a request whose work did not record its nonce (it only read,
/// or was refused): the nonce in a transaction of its own. A request
/// refused after A5 has still used its nonce (§8.4).
pub fn record_alone(store: &dyn Store, auth: &Authenticated) -> Result<(), Rejection> {
    if auth.is_recorded() {
        return Ok(());
    }
    let mut tx = store.write()?;
    record_nonce(Some(auth), &mut *tx)?;
    commit(tx, Some(auth))
}

fn stale(timestamp: u64, now: u64, skew: u64) -> Rejection {
    let off = timestamp.abs_diff(now);
    Rejection::new(
        ErrorCode::StaleTimestamp,
        format!("timestamp {timestamp} is {off} s from the server's clock; the window is {skew} s"),
    )
    .with(json!({ "server_time": now, "window": skew }))
}

fn replayed(node_id: u64, nonce: &str) -> Rejection {
    Rejection::new(
        ErrorCode::ReplayedNonce,
        format!("nonce {nonce} was already used by node {node_id}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_is_due_once_per_second_whatever_the_nonce() {
        let s = NonceSweeper::default();
        assert!(s.due(100));
        assert!(!s.due(100));
        assert!(s.due(101));
        assert!(!s.due(99));
    }
}
