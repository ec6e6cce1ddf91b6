//! Sending one request: JSON over HTTP/1.1, plain or over TLS, signed
//! per spec §8, within the node's timeouts.

use crate::connect::Connector;
use crate::error::ClientError;
use crate::tls::{self, CaCert};
use base64::Engine as _;
use bytes::Bytes;
use dbsync_core::auth::{self, Secret};
use dbsync_core::protocol::ErrorResponse;
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who signs a request.
#[derive(Clone)]
pub struct Signer {
    /// The node id the server gave at registration.
    pub node_id: u64,
    /// The node's secret.
    pub secret: Secret,
}

/// How long a request may take. A request that runs out of time fails
/// with [`ClientError::Network`]: its fate is unknown and retrying it is
/// safe (spec §16.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP connection.
    pub connect: Duration,
    /// The longest silence while waiting for the answer: from sending the
    /// request to the answer's head, and between pieces of its body.
    pub read: Duration,
    /// The whole exchange, from connecting to the last byte of the answer.
    pub request: Duration,
}

impl Default for Timeouts {
    /// Connect 10 s, read 30 s, whole request 60 s.
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            request: Duration::from_secs(60),
        }
    }
}

/// An HTTP client for one server.
#[derive(Clone)]
pub struct Transport {
    http: Client<HttpsConnector<Connector>, Full<Bytes>>,
    base: String,
    timeouts: Timeouts,
}

/// A fresh nonce: 16 random bytes, base64url (22 characters).
pub fn new_nonce() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks a server base URL (`http://` or `https://`, a host, an optional
/// port and path, no query) and returns it without a trailing `/`.
pub fn server_url(url: &str) -> Result<String, ClientError> {
    let bad = |reason: &str| ClientError::InvalidServerUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = url.parse().map_err(|_| bad("it is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(bad("the scheme must be http:// or https://")),
        None => return Err(bad("it lacks http:// or https://")),
    }
    let authority = uri.authority().ok_or_else(|| bad("it names no host"))?;
    if authority.host().is_empty() {
        return Err(bad("it names no host"));
    }
    if authority.as_str().contains('@') {
        return Err(bad(
            "it carries a user name: dbsync authenticates by signing",
        ));
    }
    // (`Authority::port` is `None` for a port that is not a u16.)
    if let Some((_, port)) = authority.as_str().rsplit_once(':') {
        if !port.ends_with(']') && port.parse::<u16>().is_err() {
            return Err(bad("the port is not a number from 0 to 65535"));
        }
    }
    if uri.query().is_some() {
        return Err(bad("a base URL takes no query string"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The error and its causes, joined by `: ` (hyper's own message alone
/// says little, e.g. `client error (Connect)`).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cur = cause.source();
    }
    text
}

impl Transport {
    /// A client of the server at `base` (e.g. `https://sync.example.com`
    /// or `http://127.0.0.1:8080`). For `https`, the server's certificate
    /// must be signed by one of the platform's roots or by `ca`.
    pub fn new(
        base: &str,
        timeouts: Timeouts,
        ca: Option<&CaCert>,
    ) -> Result<Transport, ClientError> {
        let base = server_url(base)?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(timeouts.connect));
        tcp.set_nodelay(true);
        let https = base.starts_with("https:");
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(https, ca))
            .https_or_http()
            .enable_http1()
            .wrap_connector(Connector(tcp));
        // The server closes connections idle for 10 s (its header read
        // timeout); never reuse one that old.
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        Ok(Transport {
            http,
            base,
            timeouts,
        })
    }

    /// The failure of a request to `url` that got no complete answer.
    fn failure(&self, url: &str, e: &(dyn std::error::Error + 'static)) -> ClientError {
        match tls::certificate_problem(e) {
            Some(problem) => ClientError::UntrustedCertificate {
                url: url.to_string(),
                problem: rustls::Error::InvalidCertificate(problem)
                    .to_string()
                    .trim_start_matches("invalid peer certificate: ")
                    .to_string(),
            },
            None => ClientError::Network(format!("{url}: {}", chain(e))),
        }
    }

    /// Sends `req` and reads the whole answer, within the read and
    /// request timeouts.
    async fn exchange(
        &self,
        url: &str,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), ClientError> {
        let read = self.timeouts.read;
        let silent = || {
            ClientError::Network(format!(
                "{url}: no answer for {} s (read timeout)",
                read.as_secs_f64()
            ))
        };
        let exchange = async {
            let resp = tokio::time::timeout(read, self.http.request(req))
                .await
                .map_err(|_| silent())?
                .map_err(|e| self.failure(url, &e))?;
            let status = resp.status().as_u16();
            let mut body = resp.into_body();
            let mut bytes = Vec::new();
            while let Some(frame) = tokio::time::timeout(read, body.frame())
                .await
                .map_err(|_| silent())?
            {
                let frame = frame.map_err(|e| self.failure(url, &e))?;
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Ok::<_, ClientError>((status, Bytes::from(bytes)))
        };
        let whole = self.timeouts.request;
        tokio::time::timeout(whole, exchange).await.map_err(|_| {
            ClientError::Network(format!(
                "{url}: no complete answer within {} s (request timeout)",
                whole.as_secs_f64()
            ))
        })?
    }

    /// POSTs `body` to `path`, signed by `signer` when given; parses a 200
    /// answer as `T` and an error answer as [`ClientError::Rejected`].
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        signer: Option<&Signer>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        // The MAC covers the path as sent, base path included (§8.3).
        let signed_path = url
            .parse::<Uri>()
            .map_or_else(|_| path.to_string(), |u| u.path().to_string());
        let mut req = hyper::Request::post(url.as_str()).header("content-type", "application/json");
        if let Some(s) = signer {
            let ts = now();
            let nonce = new_nonce();
            let sig = auth::sign(
                &s.secret,
                "POST",
                &signed_path,
                s.node_id,
                ts,
                &nonce,
                &body,
            );
            req = req
                .header(auth::HEADER_NODE, s.node_id.to_string())
                .header(auth::HEADER_TIMESTAMP, ts.to_string())
                .header(auth::HEADER_NONCE, nonce)
                .header(auth::HEADER_SIGNATURE, sig);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Network(format!("{url}: {e}")))?;
        let (status, bytes) = self.exchange(&url, req).await?;
        if status == 200 {
            return answer(path, &bytes);
        }
        Err(rejection(path, status, &bytes))
    }
}

/// Parses a 200 answer as its message, in one pass: the message types
/// refuse a repeated member (§7.4) as they read. Only a failed parse walks
/// the body again, to name the repeated member.
fn answer<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| {
        match dbsync_core::protocol::json::first_duplicate_member(bytes) {
            Some(pointer) => ClientError::Protocol(format!(
                "{path} answered 200 with the member {pointer} twice in its object"
            )),
            None => ClientError::Protocol(format!(
                "{path} answered 200 with a body that is not its message: {e}"
            )),
        }
    })
}

/// The error an error answer stands for.
fn rejection(path: &str, status: u16, bytes: &[u8]) -> ClientError {
    let Ok(err) = serde_json::from_slice::<ErrorResponse>(bytes) else {
        return ClientError::Protocol(format!("{path} answered {status} without an error body"));
    };
    if err.error.code == dbsync_core::ErrorCode::SchemaMismatch {
        let get = |k: &str| {
            err.error
                .details
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string()
        };
        return ClientError::SchemaMismatch {
            expected: get("expected"),
            received: get("received"),
        };
    }
    ClientError::Rejected {
        code: err.error.code,
        status,
        message: err.error.message,
        details: err.error.details,
    }
}

#[cfg(test)]
mod tests {
    use super::server_url;

    #[test]
    fn a_server_url_is_http_or_https_with_a_host_and_loses_its_trailing_slash() {
        for (url, base) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://sync.example.com/", "https://sync.example.com"),
            ("https://example.com/api/", "https://example.com/api"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ] {
            assert_eq!(server_url(url).unwrap(), base);
        }
    }

    #[test]
    fn a_malformed_server_url_is_refused_with_the_reason() {
        for (url, reason) in [
            ("ftp://sync.example.com", "scheme"),
            ("sync.example.com:8080", "http://"),
            ("127.0.0.1:8080", "http://"),
            ("http//127.0.0.1", "not a URL"),
            ("http://", "not a URL"),
            ("http://exa mple.com", "not a URL"),
            ("", "not a URL"),
            ("http://127.0.0.1:99999", "port"),
            ("http://user:pw@example.com", "user name"),
            ("http://example.com/?x=1", "query"),
        ] {
            match server_url(url) {
                Err(crate::ClientError::InvalidServerUrl { reason: why, .. }) => {
                    assert!(why.contains(reason), "{url:?}: {why}")
                }
                other => panic!("{url:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn nonces_are_22_url_safe_characters_and_differ() {
        let a = super::new_nonce();
        assert_eq!(a.len(), 22);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, super::new_nonce());
    }
}
