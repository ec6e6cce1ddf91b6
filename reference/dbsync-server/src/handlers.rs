//! The five endpoints, once a request passed the HTTP and authentication
//! checks: read the message, compare the schema fingerprint, then the
//! store's logic. Blocking: called from `spawn_blocking`.

use crate::http::Endpoint;
use crate::wire;
use crate::Inner;
use dbsync_core::protocol::{
    PullRequest, PushRequest, QueryRequest, RegisterRequest, RepairRequest,
};
use dbsync_core::ErrorCode;
use dbsync_sqlite::server::{self, PushHook, Rejection};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Answers one request; `node` is the authenticated node (none for register).
pub fn handle(
    inner: &Inner,
    endpoint: Endpoint,
    node: Option<u64>,
    body: &[u8],
    now: u64,
) -> Result<Vec<u8>, Rejection> {
    let node = || {
        node.ok_or_else(|| {
            Rejection::new(
                ErrorCode::InternalError,
                "an authenticated endpoint ran without a node",
            )
        })
    };
    match endpoint {
        Endpoint::Register => register(inner, body, now),
        Endpoint::Push => push(inner, node()?, body, now),
        Endpoint::Pull => pull(inner, node()?, body, now),
        Endpoint::Repair => repair(inner, node()?, body, now),
        Endpoint::Query => query(inner, body),
    }
}

fn encode(message: &impl Serialize) -> Result<Vec<u8>, Rejection> {
    serde_json::to_vec(message).map_err(|e| {
        Rejection::new(
            ErrorCode::InternalError,
            format!("the answer did not serialize: {e}"),
        )
    })
}

/// Spec §7.2.4: the node's fingerprint must be the server's.
fn same_schema(inner: &Inner, received: &str) -> Result<(), Rejection> {
    if received == inner.fingerprint {
        Ok(())
    } else {
        Err(Rejection::new(
            ErrorCode::SchemaMismatch,
            "the node's synced tables differ from the server's",
        )
        .with(json!({ "expected": inner.fingerprint, "received": received })))
    }
}

/// Compares two strings without a timing leak: it compares their SHA-256
/// digests byte by byte, always all 32 bytes.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

fn hook_rejected(hook: &str, why: String) -> Rejection {
    let what = if hook == "register" {
        "registration"
    } else {
        "push"
    };
    Rejection::new(
        ErrorCode::HookRejected,
        format!("the application refused the {what}: {why}"),
    )
    .with(json!({ "hook": hook }))
}

fn register(inner: &Inner, body: &[u8], now: u64) -> Result<Vec<u8>, Rejection> {
    let req: RegisterRequest = wire::parse(body)?;
    wire::check_register(&req)?;
    same_schema(inner, &req.schema)?;
    let config = &inner.config;
    if !config.open_registration {
        let accepted = match (&config.registration_token, &req.token) {
            (Some(expected), Some(given)) => constant_time_eq(expected, given),
            _ => false,
        };
        if !accepted {
            let why = if req.token.is_some() {
                "the registration token is not valid"
            } else {
                "registration needs a token"
            };
            return Err(Rejection::new(ErrorCode::RegistrationRefused, why));
        }
    }
    let decision = match &config.hooks.register {
        Some(hook) => hook(&req).map_err(|why| hook_rejected("register", why))?,
        None => Default::default(),
    };
    let resp = inner
        .store
        .write(|conn| server::register(conn, decision.user_id, decision.reuse_node, now))?;
    tracing::info!(node = resp.node_id, "registered a node");
    encode(&resp)
}

fn push(inner: &Inner, node: u64, body: &[u8], now: u64) -> Result<Vec<u8>, Rejection> {
    let req: PushRequest = wire::parse(body)?;
    wire::check_push(&req)?;
    same_schema(inner, &req.schema)?;
    let hook: Option<PushHook<'_>> = match &inner.config.hooks.before_push {
        Some(h) => Some(&**h),
        None => None,
    };
    let resp = inner
        .store
        .write(|conn| server::push(conn, &inner.schema, node, &req, hook, now))
        .map_err(|mut r| {
            if r.code == ErrorCode::HookRejected && r.details.is_none() {
                r = hook_rejected("before_push", r.message);
            }
            r
        })?;
    if !resp.duplicate {
        if let Some(after) = &inner.config.hooks.after_push {
            let ran =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| after(node, &req, &resp)));
            if ran.is_err() {
                tracing::error!(
                    node,
                    version = resp.version,
                    "the after-push hook panicked; the push is committed"
                );
            }
        }
    }
    encode(&resp)
}

fn pull(inner: &Inner, node: u64, body: &[u8], now: u64) -> Result<Vec<u8>, Rejection> {
    let req: PullRequest = wire::parse(body)?;
    wire::check_pull(&req)?;
    same_schema(inner, &req.schema)?;
    if req.cursor.is_none() {
        inner.store.seal(now)?;
    }
    let page = inner
        .store
        .read(|conn| server::pull_page(conn, &inner.schema, node, &req, &inner.config.limits))?;
    if page.next_cursor.is_none() {
        inner.store.write(|conn| {
            Ok(server::note_version(
                conn,
                node,
                page.target_version,
                false,
            )?)
        })?;
    }
    encode(&page)
}

fn repair(inner: &Inner, node: u64, body: &[u8], now: u64) -> Result<Vec<u8>, Rejection> {
    let req: RepairRequest = wire::parse(body)?;
    wire::check_repair(&req)?;
    same_schema(inner, &req.schema)?;
    if req.cursor.is_none() {
        // Seals direct writes and makes the node live again (spec §13.2).
        inner
            .store
            .write(|conn| server::repair_start(conn, node, now))?;
    }
    let page = inner
        .store
        .read(|conn| server::repair_page(conn, &inner.schema, node, &req, &inner.config.limits))?;
    if page.next_cursor.is_none() {
        inner
            .store
            .write(|conn| Ok(server::note_version(conn, node, page.version, true)?))?;
    }
    encode(&page)
}

fn query(inner: &Inner, body: &[u8]) -> Result<Vec<u8>, Rejection> {
    let req: QueryRequest = wire::parse(body)?;
    wire::check_query(&req)?;
    same_schema(inner, &req.schema)?;
    let resp = inner
        .store
        .read(|conn| server::query(conn, &inner.schema, &req, &inner.config.limits))?;
    encode(&resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq("s3cret-token", "s3cret-token"));
        assert!(!constant_time_eq("s3cret-token", "s3cret-tokeN"));
        assert!(!constant_time_eq("s3cret-token", "s3cret"));
        assert!(!constant_time_eq("", "x"));
    }
}
