//! The runner's own view of the server under test, over HTTP as any node
//! would have it: a node it registers and signs for (spec §8) that reads
//! every row with queries (spec §14) and the latest version with a pull
//! (spec §11). It talks to the server directly, never through the fault
//! proxy.

use crate::history::rowset::RowSet;
use crate::history::Failure;
use crate::wire::http::{Http, Reply};
use crate::wire::sign::{key, signature, signed_string};
use dbsync_core::protocol::QueryResponse;
use dbsync_core::Schema;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest `limit` of a query (spec §14.1).
const QUERY_LIMIT: u32 = 10_000;

/// A registered node of the runner.
pub struct Observer {
    http: Http,
    base: String,
    fingerprint: String,
    node: u64,
    key: Vec<u8>,
    nonces: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn refused(what: &str, reply: &Reply) -> Failure {
    Failure::new(format!(
        "the server refused the runner's {what}: {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    ))
}

impl Observer {
    /// Registers with the server at `base` for `schema`.
    pub async fn register(
        base: &str,
        schema: &Schema,
        token: Option<&str>,
    ) -> Result<Observer, Failure> {
        let http = Http::new(Duration::from_secs(60));
        let fingerprint = schema.fingerprint();
        let mut body = json!({"protocol": "1.0", "schema": fingerprint});
        if let Some(t) = token {
            body["token"] = json!(t);
        }
        let headers = [("Content-Type".to_string(), "application/json".to_string())];
        let reply = http
            .send(
                "POST",
                &format!("{base}/v1/register"),
                &headers,
                body.to_string().into_bytes(),
            )
            .await
            .map_err(Failure::new)?;
        let j = reply.json().unwrap_or(Value::Null);
        if reply.status != 200 {
            return Err(refused("register", &reply));
        }
        let secret = j["secret"].as_str().unwrap_or_default();
        Ok(Observer {
            http,
            base: base.to_string(),
            fingerprint,
            node: j["node_id"].as_u64().unwrap_or(0),
            key: key(secret).ok_or_else(|| Failure::new("the server gave a malformed secret"))?,
            nonces: 0,
        })
    }

    /// Talks to the server at another address (a restarted server).
    pub fn set_base(&mut self, base: &str) {
        self.base = base.to_string();
    }

    async fn signed(&mut self, path: &str, body: Value) -> Result<Reply, Failure> {
        self.nonces += 1;
        let bytes = body.to_string().into_bytes();
        let ts = now().to_string();
        let nonce = format!("observer{}n{:08}", self.node, self.nonces);
        let sig = signature(
            &self.key,
            &signed_string("POST", path, &self.node.to_string(), &ts, &nonce, &bytes),
        );
        let headers = [
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Dbsync-Node".to_string(), self.node.to_string()),
            ("Dbsync-Timestamp".to_string(), ts),
            ("Dbsync-Nonce".to_string(), nonce),
            ("Dbsync-Signature".to_string(), sig),
        ];
        self.http
            .send("POST", &format!("{}{path}", self.base), &headers, bytes)
            .await
            .map_err(Failure::new)
    }

    /// Every row of every table of `schema` on the server.
    pub async fn rows(&mut self, schema: &Schema) -> Result<RowSet, Failure> {
        let mut all = Vec::new();
        for t in &schema.tables {
            let q = json!({"protocol": "1.0", "schema": self.fingerprint,
                           "table": t.name, "where": {}, "limit": QUERY_LIMIT});
            let reply = self.signed("/v1/query", q).await?;
            if reply.status != 200 {
                return Err(refused("query", &reply));
            }
            let answer: QueryResponse = serde_json::from_slice(&reply.body)
                .map_err(|e| Failure::new(format!("the server's query answer: {e}")))?;
            if answer.truncated {
                return Err(Failure::new(format!(
                    "{} holds more than {QUERY_LIMIT} rows: too many to check",
                    t.name
                )));
            }
            all.extend(answer.rows);
        }
        Ok(RowSet::new(all))
    }

    /// The server's latest version: the `target_version` of a pull from
    /// `known` (a version the server has given out).
    pub async fn latest(&mut self, known: u64) -> Result<u64, Failure> {
        let pull = json!({"protocol": "1.0", "schema": self.fingerprint,
                          "base_version": known, "pending": [], "cursor": null});
        let reply = self.signed("/v1/pull", pull).await?;
        if reply.status != 200 {
            return Err(refused("pull", &reply));
        }
        reply
            .json()
            .and_then(|j| j["target_version"].as_u64())
            .ok_or_else(|| Failure::new("the server's pull answer has no target_version"))
    }
}
