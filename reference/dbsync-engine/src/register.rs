//! Register (spec §9): R1 the registration token, R2 the register hook,
//! then a new node (or a reused one, §9.4) with a fresh secret.

use crate::settings::{RegisterDecision, Registration, Settings};
use crate::store::{Claim, NewNode, Store};
use crate::{commit, random_secret, Rejection};
use dbsync_core::protocol::{RegisterRequest, RegisterResponse};
use dbsync_core::ErrorCode;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Registers a node (R1, R2, then the store), answering its credentials.
pub fn register(
    store: &dyn Store,
    settings: &Settings,
    req: &RegisterRequest,
    now: u64,
) -> Result<RegisterResponse, Rejection> {
    check_token(&settings.registration, req.token.as_deref())?;
    let decision = match &settings.hooks.register {
        Some(hook) => hook(req).map_err(|why| hook_rejected("register", why))?,
        None => named_user(&settings.registration, req)?,
    };
    let secret = random_secret();
    let mut tx = store.write()?;
    // A version assigned meanwhile only makes `latest` a little low, which
    // holds back trim a little longer: no need to wait for pushes.
    let latest = tx.latest_version()?;
    let node_id = match decision.reuse_node {
        Some(id) => {
            if !tx.renew_node(id, &secret, decision.user_id.as_deref(), now)? {
                return Err(Rejection::new(
                    ErrorCode::RegistrationRefused,
                    format!("node {id} to reuse does not exist"),
                ));
            }
            id
        }
        // The new node holds back trim from the latest version on
        // (spec §9.3): older versions are no use to it.
        None => tx.insert_node(&NewNode {
            secret: secret.clone(),
            user_id: decision.user_id.clone(),
            now,
            known_version: latest,
        })?,
    };
    // Claims given at registration count from version 0, as the user
    // does (spec §9.4, §19.11): a pull from 0 brings their rows.
    if !decision.claims.is_empty() {
        let claims: Vec<Claim> = sorted(&decision.claims)
            .into_iter()
            .map(|name| Claim { name, since: 0 })
            .collect();
        tx.set_node_claims(node_id, &claims)?;
    }
    commit(tx)?;
    tracing::info!(node = node_id, "registered a node");
    Ok(RegisterResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        node_id,
        secret: secret.encode(),
        user_id: decision.user_id,
        latest_version: latest,
    })
}

/// Without a register hook, the user the request names (spec §9.1,
/// §19.1): only a registration token's holder may name one.
fn named_user(
    registration: &Registration,
    req: &RegisterRequest,
) -> Result<RegisterDecision, Rejection> {
    match (&req.user, registration) {
        (None, _) => Ok(RegisterDecision::default()),
        (Some(user), Registration::Token(_)) => Ok(RegisterDecision {
            user_id: Some(user.clone()),
            ..RegisterDecision::default()
        }),
        (Some(_), _) => Err(Rejection::new(
            ErrorCode::RegistrationRefused,
            "naming a user needs registration by token (or a register hook)",
        )),
    }
}

/// Claims once each, in byte order.
pub(crate) fn sorted(claims: &[String]) -> Vec<String> {
    let set: std::collections::BTreeSet<&String> = claims.iter().collect();
    set.into_iter().cloned().collect()
}

/// R1: the registration token, unless registration is open.
pub fn check_token(registration: &Registration, token: Option<&str>) -> Result<(), Rejection> {
    let accepted = match (registration, token) {
        (Registration::Open, _) => true,
        (Registration::Token(expected), Some(given)) => constant_time_eq(expected, given),
        _ => false,
    };
    if accepted {
        return Ok(());
    }
    let why = if token.is_some() {
        "the registration token is not valid"
    } else {
        "registration needs a token"
    };
    Err(Rejection::new(ErrorCode::RegistrationRefused, why))
}

/// `hook_rejected` naming the hook that refused.
pub(crate) fn hook_rejected(hook: &str, why: String) -> Rejection {
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

/// Compares two strings without a timing leak: it compares their SHA-256
/// digests byte by byte, always all 32 bytes.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
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

    #[test]
    fn only_the_operators_token_passes_unless_registration_is_open() {
        let token = Registration::Token("t0k3n".into());
        assert!(check_token(&token, Some("t0k3n")).is_ok());
        assert!(check_token(&token, Some("other")).is_err());
        assert!(check_token(&token, None).is_err());
        assert!(check_token(&Registration::Closed, Some("t0k3n")).is_err());
        assert!(check_token(&Registration::Open, None).is_ok());
    }
}
