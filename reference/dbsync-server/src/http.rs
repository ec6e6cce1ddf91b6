//! The HTTP binding's mechanics (spec §16): the route table, the content
//! type, reading a body within its size and time limits, and responses.

use bytes::{Buf, Bytes, BytesMut};
use dbsync_core::ErrorCode;
use dbsync_engine::{Endpoint, Rejection};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER,
};
use hyper::{Response, StatusCode};
use serde_json::json;
use std::time::Duration;

/// Every path the server serves, each with its endpoint; all take `POST`.
pub const ROUTES: &[(&str, Endpoint)] = &[
    ("/v1/register", Endpoint::Register),
    ("/v1/push", Endpoint::Push),
    ("/v1/pull", Endpoint::Pull),
    ("/v1/repair", Endpoint::Repair),
    ("/v1/query", Endpoint::Query),
];

/// The one method every route takes.
pub const METHOD: &str = "POST";

/// The endpoint serving `path` (the path only, no query string).
pub fn endpoint_of(path: &str) -> Option<Endpoint> {
    ROUTES.iter().find(|(p, _)| *p == path).map(|(_, e)| *e)
}

/// The path of `endpoint`.
pub fn path_of(endpoint: Endpoint) -> &'static str {
    ROUTES
        .iter()
        .find(|(_, e)| *e == endpoint)
        .map(|(p, _)| *p)
        .expect("every endpoint has a route")
}

/// Whether the request says its body is `application/json`, optionally
/// with `charset=utf-8` (case-insensitive, spaces allowed around `;`).
pub fn content_type_ok(headers: &HeaderMap) -> bool {
    // Bodies travel as they are (spec §16.2): no content coding but identity.
    for coding in headers.get_all(hyper::header::CONTENT_ENCODING) {
        if !coding
            .to_str()
            .is_ok_and(|c| c.trim().eq_ignore_ascii_case("identity"))
        {
            return false;
        }
    }
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let mut parts = text.split(';');
    if !parts
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return false;
    }
    match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(param), None) => {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            name.trim().eq_ignore_ascii_case("charset") && value.eq_ignore_ascii_case("utf-8")
        }
        _ => false,
    }
}

fn too_large(limit: usize) -> Rejection {
    Rejection::new(
        ErrorCode::BodyTooLarge,
        format!("the body is larger than this server's limit of {limit} bytes"),
    )
    .with(json!({ "limit": limit }))
}

/// Refuses a body whose declared length (`Content-Length`, or the
/// transport's `hint`) is above `limit`: checked before anything else is
/// read (spec §16.4, H4).
pub fn check_declared_size(headers: &HeaderMap, hint: u64, limit: usize) -> Result<(), Rejection> {
    let declared = match headers.get(CONTENT_LENGTH) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Rejection::new(
                        ErrorCode::MalformedRequest,
                        "Content-Length is not a number",
                    )
                })?,
        ),
        None => None,
    };
    if declared.unwrap_or(0).max(hint) > limit as u64 {
        return Err(too_large(limit));
    }
    Ok(())
}

/// Reads a whole body, refusing it as soon as it is known to exceed
/// `limit` (by its declared length, or while it arrives: never more than
/// `limit` bytes are buffered), and if it does not arrive within `timeout`.
pub async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    let hint = body.size_hint().lower();
    check_declared_size(headers, hint, limit)?;
    let read = async move {
        let mut body = std::pin::pin!(body);
        let mut buf = BytesMut::with_capacity(hint.min(limit as u64) as usize);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                Rejection::new(
                    ErrorCode::MalformedRequest,
                    format!("the body could not be read: {e}"),
                )
            })?;
            if let Ok(mut data) = frame.into_data() {
                if buf.len() + data.remaining() > limit {
                    return Err(too_large(limit));
                }
                while data.has_remaining() {
                    let chunk = data.chunk();
                    let n = chunk.len();
                    buf.extend_from_slice(chunk);
                    data.advance(n);
                }
            }
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(read_timed_out(timeout)),
    }
}

/// `request_timeout`: the body did not arrive within `timeout`.
pub fn read_timed_out(timeout: Duration) -> Rejection {
    Rejection::new(
        ErrorCode::RequestTimeout,
        format!("the body did not arrive within {} s", timeout.as_secs_f64()),
    )
    .with(json!({ "phase": "body" }))
}

fn base(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        dbsync_core::auth::HEADER_PROTOCOL,
        HeaderValue::from_static(dbsync_core::PROTOCOL_VERSION),
    );
    resp
}

/// A 200 answer carrying `body` (a serialized response message).
pub fn ok(body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    base(StatusCode::OK, body)
}

/// The error answer for `rejection`: its code's status and an
/// `ErrorResponse` body.
pub fn error(rejection: &Rejection) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(rejection.code.http_status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = base(status, error_body(rejection));
    match rejection.code {
        ErrorCode::MethodNotAllowed => {
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(METHOD));
        }
        ErrorCode::RateLimited => {
            let seconds = rejection
                .details
                .as_ref()
                .and_then(|d| d.get("retry_after"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(1);
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        // The rest of the body may still be on the wire: do not read it,
        // close the connection instead.
        ErrorCode::BodyTooLarge | ErrorCode::RequestTimeout => return closing(resp),
        _ => {}
    }
    resp
}

fn error_body(rejection: &Rejection) -> Vec<u8> {
    serde_json::to_vec(&rejection.to_response()).expect("an error response serializes")
}

/// `rejection`'s answer, with `Connection: close`, as the bytes of an
/// HTTP/1.1 response: for answers written beneath hyper (spec §16.4 H0).
pub fn error_bytes(rejection: &Rejection) -> Vec<u8> {
    let resp = closing(error(rejection));
    let body = error_body(rejection);
    let status = resp.status();
    let reason = status.canonical_reason().unwrap_or("");
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", status.as_u16()).into_bytes();
    for (name, value) in resp.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    out
}

/// `resp` with `Connection: close`: for answers sent while the request's
/// body may still be on the wire, unread.
pub fn closing(mut resp: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn json_with_or_without_a_utf8_charset_is_the_only_accepted_content_type() {
        for good in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(content_type_ok(&ct(good)), "{good}");
        }
        for bad in [
            "text/plain",
            "application/json; charset=latin1",
            "application/json; x=y",
            "application/jsonx",
            "application/json; charset=utf-8; x=y",
        ] {
            assert!(!content_type_ok(&ct(bad)), "{bad}");
        }
        assert!(!content_type_ok(&HeaderMap::new()));
    }

    #[test]
    fn every_endpoint_has_exactly_one_route() {
        for (path, e) in ROUTES {
            assert_eq!(path_of(*e), *path);
            assert_eq!(endpoint_of(path), Some(*e));
        }
        assert_eq!(endpoint_of("/v1/push/"), None);
    }
}
