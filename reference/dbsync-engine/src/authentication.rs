//! Request authentication (spec §8.4), after the HTTP layer read the
//! headers (A1): node (A2), timestamp (A3), MAC (A4), nonce (A5). The
//! nonce is only remembered once the MAC verified. Nothing here logs a
//! secret.

use crate::store::Store;
use crate::Rejection;
use dbsync_core::auth::{self, AuthHeaders};
use dbsync_core::ErrorCode;
use serde_json::json;

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

/// Authenticates one request (A2–A5) and returns its node id.
pub fn authenticate(
    store: &dyn Store,
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
    remember_nonce(
        store,
        h.node_id,
        &h.nonce,
        now,
        now.saturating_sub(2 * skew),
    )?;
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

/// Records `nonce` for `node_id` and the node as seen; `replayed_nonce`
/// when the node already used it inside the window (spec §8.4). Nonces
/// older than `forget_before` are forgotten on the way.
fn remember_nonce(
    store: &dyn Store,
    node_id: u64,
    nonce: &str,
    now: u64,
    forget_before: u64,
) -> Result<(), Rejection> {
    let mut tx = store.write()?;
    if !tx.record_nonce(node_id, nonce, now)? {
        return Err(Rejection::new(
            ErrorCode::ReplayedNonce,
            "this nonce was already used; sign every request with a new one",
        ));
    }
    // Forget old nonces now and then (about one request in 64), so the
    // table stays small without a delete on every request.
    if nonce.as_bytes().iter().fold(0u8, |a, b| a.wrapping_add(*b)) % 64 == 0 {
        tx.forget_nonces(forget_before)?;
    }
    tx.commit().map_err(|e| match e {
        crate::store::RowWriteError::Fault(f) => Rejection::from(f),
        other => Rejection::from(crate::store::StoreFault::of(other)),
    })
}
