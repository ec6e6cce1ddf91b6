//! Request authentication (spec §8.4), after the HTTP layer read the
//! headers (A1). What needs no body — node (A2), timestamp (A3), the
//! nonce not used yet (A5, read only) — is [`precheck`]ed before the body
//! is read (§16.4); [`authenticate`] then checks the MAC (A4) and
//! records the nonce (A5). The nonce is only remembered once the MAC
//! verified, and forgotten by time (§8.4.1). Nothing here logs a secret.

use crate::store::Store;
use crate::Rejection;
use dbsync_core::auth::{self, AuthHeaders};
use dbsync_core::ErrorCode;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Authenticates one request (A2–A5) and returns its node id.
pub fn authenticate(
    store: &dyn Store,
    sweeper: &NonceSweeper,
    skew: u64,
    now: u64,
    req: SignedRequest<'_>,
) -> Result<u64, Rejection> {
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
    remember_nonce(store, h.node_id, &h.nonce, now, forget_before)?;
    Ok(h.node_id)
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

/// Records `nonce` for `node_id` and the node as seen; `replayed_nonce`
/// when the node already used it inside the window (spec §8.4). When
/// `forget_before` is given, nonces seen before it are forgotten in the
/// same transaction.
fn remember_nonce(
    store: &dyn Store,
    node_id: u64,
    nonce: &str,
    now: u64,
    forget_before: Option<u64>,
) -> Result<(), Rejection> {
    let mut tx = store.write()?;
    if !tx.record_nonce(node_id, nonce, now)? {
        return Err(replayed(node_id, nonce));
    }
    if let Some(before) = forget_before {
        tx.forget_nonces(before)?;
    }
    tx.commit().map_err(|e| match e {
        crate::store::RowWriteError::Fault(f) => Rejection::from(f),
        other => Rejection::from(crate::store::StoreFault::of(other)),
    })
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
