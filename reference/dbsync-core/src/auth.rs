//! Request authentication (spec §8): an HMAC-SHA256 over the method, path,
//! node, timestamp, nonce and the SHA-256 of the whole body.
//!
//! Pure functions only: the clock, the nonce cache and randomness belong to
//! the caller.

use crate::error::ErrorCode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The header that carries the node id in decimal (spec §8.2), lowercase.
pub const HEADER_NODE: &str = "dbsync-node";
/// The header that carries the request's Unix time in seconds (spec §8.2).
pub const HEADER_TIMESTAMP: &str = "dbsync-timestamp";
/// The header that carries the request's fresh nonce (spec §8.2).
pub const HEADER_NONCE: &str = "dbsync-nonce";
/// The header that carries the MAC of spec §8.3 in lowercase hex (spec §8.2).
pub const HEADER_SIGNATURE: &str = "dbsync-signature";
/// The header every response carries (spec §16).
pub const HEADER_PROTOCOL: &str = "dbsync-protocol";

/// The default clock-skew window, in seconds (spec §8.4).
pub const DEFAULT_SKEW_SECONDS: u64 = 300;

/// A node's secret (spec §8.1): 32 bytes, base64url without padding on
/// the wire. Its `Debug` form never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub [u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)") // never printed
    }
}

impl Secret {
    /// The wire form (43 characters).
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses the wire form.
    pub fn decode(text: &str) -> Option<Secret> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .ok()?;
        Some(Secret(bytes.try_into().ok()?))
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The authentication headers of one request (spec §8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeaders {
    /// `Dbsync-Node`: the node id, 1 to 2^53 − 1.
    pub node_id: u64,
    /// `Dbsync-Timestamp`: the node's clock when it signed, Unix seconds.
    pub timestamp: u64,
    /// `Dbsync-Nonce`: 16 to 64 characters of `A`–`Z`, `a`–`z`, `0`–`9`, `_`, `-`.
    pub nonce: String,
    /// `Dbsync-Signature`: the MAC of spec §8.3, 64 lowercase hex digits.
    pub signature: String,
}

fn nonce_ok(n: &str) -> bool {
    (16..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl AuthHeaders {
    /// Parses the four headers (`get` looks one up by lowercase name);
    /// any missing or malformed one is `missing_credentials`.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<AuthHeaders, ErrorCode> {
        let missing = ErrorCode::MissingCredentials;
        // Decimal, no sign, no leading zero (spec §8.2).
        let decimal = |s: &str| -> Option<u64> {
            (!s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && (s == "0" || !s.starts_with('0')))
            .then(|| s.parse().ok())
            .flatten()
        };
        let node_id = get(HEADER_NODE)
            .and_then(decimal)
            .filter(|n| *n > 0)
            .ok_or(missing)?;
        let timestamp = get(HEADER_TIMESTAMP).and_then(decimal).ok_or(missing)?;
        let nonce = get(HEADER_NONCE).filter(|n| nonce_ok(n)).ok_or(missing)?;
        let signature = get(HEADER_SIGNATURE)
            .filter(|s| {
                s.len() == 64
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .ok_or(missing)?;
        Ok(AuthHeaders {
            node_id,
            timestamp,
            nonce: nonce.to_string(),
            signature: signature.to_string(),
        })
    }
}

/// The signed string of spec §8.3.
pub fn string_to_sign(
    method: &str,
    path: &str,
    node_id: u64,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "dbsync-v1\n{method}\n{path}\n{node_id}\n{timestamp}\n{nonce}\n{}",
        hex(&Sha256::digest(body))
    )
}

fn mac(secret: &Secret, text: &str) -> Hmac<Sha256> {
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(&secret.0).expect("HMAC takes any key length");
    m.update(text.as_bytes());
    m
}

/// The signature (lowercase hex HMAC-SHA256 of the signed string, spec
/// §8.3) of a request.
pub fn sign(
    secret: &Secret,
    method: &str,
    path: &str,
    node_id: u64,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    hex(&mac(
        secret,
        &string_to_sign(method, path, node_id, timestamp, nonce, body),
    )
    .finalize()
    .into_bytes())
}

/// Whether `headers` sign this request under `secret`, compared in
/// constant time (spec §8.4).
pub fn verify(
    secret: &Secret,
    method: &str,
    path: &str,
    headers: &AuthHeaders,
    body: &[u8],
) -> bool {
    let Some(expected) = decode_hex(&headers.signature) else {
        return false;
    };
    mac(
        secret,
        &string_to_sign(
            method,
            path,
            headers.node_id,
            headers.timestamp,
            &headers.nonce,
            body,
        ),
    )
    .verify_slice(&expected)
    .is_ok()
}

/// Whether `timestamp` is inside the skew window around `now`: at most
/// `skew` seconds before or after it (spec §8.4).
pub fn fresh(timestamp: u64, now: u64, skew: u64) -> bool {
    timestamp.abs_diff(now) <= skew
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(sig: String) -> AuthHeaders {
        AuthHeaders {
            node_id: 7,
            timestamp: 1_700_000_000,
            nonce: "n-0123456789abcdef".into(),
            signature: sig,
        }
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let secret = Secret([7; 32]);
        let body = br#"{"protocol":"1.0"}"#;
        let sig = sign(
            &secret,
            "POST",
            "/v1/push",
            7,
            1_700_000_000,
            "n-0123456789abcdef",
            body,
        );
        let h = headers(sig.clone());
        assert!(verify(&secret, "POST", "/v1/push", &h, body));
        assert!(!verify(&secret, "POST", "/v1/pull", &h, body), "path");
        assert!(
            !verify(&secret, "POST", "/v1/push", &h, br#"{"protocol":"1.1"}"#),
            "body"
        );
        assert!(
            !verify(&Secret([8; 32]), "POST", "/v1/push", &h, body),
            "secret"
        );
        let mut other = h.clone();
        other.nonce = "n-0123456789abcdeX".into();
        assert!(!verify(&secret, "POST", "/v1/push", &other, body), "nonce");
        let mut other = h.clone();
        other.timestamp += 1;
        assert!(
            !verify(&secret, "POST", "/v1/push", &other, body),
            "timestamp"
        );
    }

    #[test]
    fn secrets_round_trip_through_base64url() {
        let s = Secret([0xfb; 32]);
        let text = s.encode();
        assert_eq!(text.len(), 43);
        assert_eq!(Secret::decode(&text), Some(s));
        assert_eq!(Secret::decode("short"), None);
        assert_eq!(format!("{:?}", Secret([1; 32])), "Secret(..)");
    }

    #[test]
    fn malformed_headers_are_missing_credentials() {
        let ok = |name: &str| match name {
            HEADER_NODE => Some("7"),
            HEADER_TIMESTAMP => Some("1700000000"),
            HEADER_NONCE => Some("n-0123456789abcdef"),
            HEADER_SIGNATURE => {
                Some("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
            }
            _ => None,
        };
        assert!(AuthHeaders::parse(ok).is_ok());
        for broken in [
            HEADER_NODE,
            HEADER_TIMESTAMP,
            HEADER_NONCE,
            HEADER_SIGNATURE,
        ] {
            let without = |name: &str| if name == broken { None } else { ok(name) };
            assert_eq!(
                AuthHeaders::parse(without),
                Err(ErrorCode::MissingCredentials),
                "{broken}"
            );
            let bad = |name: &str| if name == broken { Some("x!") } else { ok(name) };
            assert_eq!(
                AuthHeaders::parse(bad),
                Err(ErrorCode::MissingCredentials),
                "{broken}"
            );
        }
        for zero_led in [HEADER_NODE, HEADER_TIMESTAMP] {
            let padded = |name: &str| {
                if name == zero_led {
                    Some("07")
                } else {
                    ok(name)
                }
            };
            assert_eq!(
                AuthHeaders::parse(padded),
                Err(ErrorCode::MissingCredentials),
                "{zero_led}"
            );
        }
    }

    #[test]
    fn the_skew_window_is_inclusive_both_ways() {
        assert!(fresh(1000, 1300, 300));
        assert!(fresh(1300, 1000, 300));
        assert!(!fresh(1000, 1301, 300));
    }
}
