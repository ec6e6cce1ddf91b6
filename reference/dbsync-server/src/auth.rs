//! The HTTP side of request authentication (spec §8.2, check A1): the
//! four `Dbsync-*` headers, present once each and well formed. The rest
//! (A2–A5: node, timestamp, MAC, nonce) is the engine's
//! ([`dbsync_engine::authentication`]).

use dbsync_core::auth::{
    AuthHeaders, HEADER_NODE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use dbsync_core::validate::MAX_ROW_ID;
use dbsync_core::ErrorCode;
use dbsync_engine::Rejection;
use hyper::header::HeaderMap;
use serde_json::json;

/// The header names as the spec writes them, for messages and details.
fn display_name(header: &str) -> &'static str {
    match header {
        HEADER_NODE => "Dbsync-Node",
        HEADER_TIMESTAMP => "Dbsync-Timestamp",
        HEADER_NONCE => "Dbsync-Nonce",
        _ => "Dbsync-Signature",
    }
}

fn decimal(s: &str, max_digits: usize) -> Option<u64> {
    let ok = (1..=max_digits).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

/// Whether `value` is a well-formed value of `header` (spec §8.2).
fn well_formed(header: &str, value: &str) -> bool {
    match header {
        HEADER_NODE => {
            !value.starts_with('0')
                && decimal(value, 16).is_some_and(|n| (1..=MAX_ROW_ID as u64).contains(&n))
        }
        HEADER_TIMESTAMP => decimal(value, 19).is_some(),
        HEADER_NONCE => {
            (16..=64).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => {
            value.len() == 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
    }
}

/// A1: the four headers, present once each and well formed.
pub fn parse_headers(headers: &HeaderMap) -> Result<AuthHeaders, Rejection> {
    let mut values = [""; 4];
    for (i, name) in [
        HEADER_NODE,
        HEADER_TIMESTAMP,
        HEADER_NONCE,
        HEADER_SIGNATURE,
    ]
    .into_iter()
    .enumerate()
    {
        let mut all = headers.get_all(name).iter();
        let problem = match (all.next(), all.next()) {
            (None, _) => Some("is missing"),
            (Some(_), Some(_)) => Some("appears more than once"),
            (Some(v), None) => match v.to_str() {
                Ok(text) if well_formed(name, text) => {
                    values[i] = text;
                    None
                }
                _ => Some("is not well formed"),
            },
        };
        if let Some(problem) = problem {
            let shown = display_name(name);
            return Err(Rejection::new(
                ErrorCode::MissingCredentials,
                format!("header {shown} {problem}"),
            )
            .with(json!({ "header": shown })));
        }
    }
    let [node, timestamp, nonce, signature] = values;
    AuthHeaders::parse(|name| match name {
        HEADER_NODE => Some(node),
        HEADER_TIMESTAMP => Some(timestamp),
        HEADER_NONCE => Some(nonce),
        HEADER_SIGNATURE => Some(signature),
        _ => None,
    })
    .map_err(|code| Rejection::new(code, "the authentication headers are not well formed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const SIG: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn headers_follow_the_spec_forms_and_name_the_first_bad_one() {
        let good = [
            (HEADER_NODE, "7"),
            (HEADER_TIMESTAMP, "1735732800"),
            (HEADER_NONCE, "n7Qx4LmZ2pWv9kTa"),
            (HEADER_SIGNATURE, SIG),
        ];
        assert_eq!(parse_headers(&headers(&good)).unwrap().node_id, 7);
        for (i, bad) in ["07", "1735732800x", "short", &SIG.to_uppercase()]
            .iter()
            .enumerate()
        {
            let mut pairs = good;
            pairs[i].1 = bad;
            let err = parse_headers(&headers(&pairs)).unwrap_err();
            assert_eq!(err.code, ErrorCode::MissingCredentials);
            assert_eq!(err.details.unwrap()["header"], display_name(good[i].0));
        }
        let mut twice = good.to_vec();
        twice.push((HEADER_NONCE, "n7Qx4LmZ2pWv9kTb"));
        assert!(parse_headers(&headers(&twice))
            .unwrap_err()
            .message
            .contains("more than once"));
        let big = (MAX_ROW_ID as u64 + 1).to_string();
        let mut pairs = good;
        pairs[0].1 = &big;
        assert!(parse_headers(&headers(&pairs)).is_err());
    }
}
