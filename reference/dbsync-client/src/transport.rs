//! Sending one request: JSON over HTTP/1.1, signed per spec §8.

use crate::error::ClientError;
use base64::Engine as _;
use bytes::Bytes;
use dbsync_core::auth::{self, Secret};
use dbsync_core::protocol::ErrorResponse;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who signs a request.
#[derive(Clone)]
pub struct Signer {
    pub node_id: u64,
    pub secret: Secret,
}

/// An HTTP client for one server.
#[derive(Clone)]
pub struct Transport {
    http: Client<HttpConnector, Full<Bytes>>,
    base: String,
    timeout: Duration,
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

impl Transport {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Transport, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(ClientError::Network(format!(
                "unsupported server URL {base:?}: this client speaks plain http:// (put TLS in front with a proxy)"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.set_nodelay(true);
        // The server closes connections idle for 10 s (its header read
        // timeout); never reuse one that old.
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        Ok(Transport {
            http,
            base,
            timeout: Duration::from_secs(120),
        })
    }

    /// POSTs `body` to `path`, signed by `signer` when given; parses a 200
    /// answer as `T` and an error answer as [`ClientError::Rejected`].
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        signer: Option<&Signer>,
    ) -> Result<T, ClientError> {
        let mut req = hyper::Request::post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(s) = signer {
            let ts = now();
            let nonce = new_nonce();
            let sig = auth::sign(&s.secret, "POST", path, s.node_id, ts, &nonce, &body);
            req = req
                .header(auth::HEADER_NODE, s.node_id.to_string())
                .header(auth::HEADER_TIMESTAMP, ts.to_string())
                .header(auth::HEADER_NONCE, nonce)
                .header(auth::HEADER_SIGNATURE, sig);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Network(e.to_string()))?;
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| ClientError::Network(e.to_string()))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Network(e.to_string()))?
                .to_bytes();
            Ok::<_, ClientError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Network(format!("no answer within {:?}", self.timeout)))??;
        if status == 200 {
            // Maps would keep the last copy of a repeated member (§7.4).
            if let Some(pointer) = dbsync_core::protocol::json::first_duplicate_member(&bytes) {
                return Err(ClientError::Protocol(format!(
                    "{path} answered 200 with the member {pointer} twice in its object"
                )));
            }
            return serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Protocol(format!(
                    "{path} answered 200 with a body that is not its message: {e}"
                ))
            });
        }
        let err: ErrorResponse = serde_json::from_slice(&bytes).map_err(|_| {
            ClientError::Protocol(format!("{path} answered {status} without an error body"))
        })?;
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
            return Err(ClientError::SchemaMismatch {
                expected: get("expected"),
                received: get("received"),
            });
        }
        Err(ClientError::Rejected {
            code: err.error.code,
            status,
            message: err.error.message,
            details: err.error.details,
        })
    }
}

#[cfg(test)]
mod tests {
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
