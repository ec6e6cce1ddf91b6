//! The runner acting as a well-behaved node: registering, signing requests
//! (spec §8), and observing the server through pull and query.

use super::http::{Http, Reply};
use super::session::{now, Credentials, Session};
use super::sign::{key, signature, signed_string};
use serde_json::{json, Value};

/// The fingerprint of the example application of spec §2.6, which every
/// wire vector assumes the server serves.
pub const EXAMPLE_FINGERPRINT: &str =
    "f2636ea39a758ee320018da4ef07676d01d92a74c06f2e72edf6b5443532a959";

/// The example application's tables a node may query (§2.4).
const QUERYABLE: [&str; 3] = ["city", "holiday", "person"];

pub struct Client {
    pub http: Http,
    /// The base URL, without a trailing `/`.
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a node with the runner's token, for `user` if given
    /// (spec §9.1, §19.1).
    pub async fn register(
        &self,
        s: &mut Session,
        user: Option<&str>,
    ) -> Result<Credentials, String> {
        let mut body = json!({"protocol": "1.0", "schema": EXAMPLE_FINGERPRINT});
        if let Some(t) = &self.token {
            body["token"] = json!(t);
        }
        if let Some(u) = user {
            body["user"] = json!(u);
        }
        let headers = [("Content-Type".to_string(), "application/json".to_string())];
        let reply = self
            .http
            .send(
                "POST",
                &self.url("/v1/register"),
                &headers,
                body.to_string().into_bytes(),
            )
            .await?;
        let j = reply.json().unwrap_or(Value::Null);
        if reply.status != 200 {
            return Err(format!("status {}: {j}", reply.status));
        }
        if user.is_some() && j["user_id"].as_str() != user {
            return Err(format!(
                "the node was registered for user {:?}, not {user:?}: {j}",
                j["user_id"]
            ));
        }
        let id = j["node_id"].as_u64().ok_or("no node_id")?;
        let secret = j["secret"].as_str().ok_or("no secret")?.to_string();
        s.learn_latest(j["latest_version"].as_u64().unwrap_or(0));
        Ok(Credentials { id, secret })
    }

    /// A request signed by `c` now, with a fresh nonce.
    pub async fn signed(
        &self,
        s: &mut Session,
        c: &Credentials,
        path: &str,
        body: &Value,
    ) -> Result<Reply, String> {
        let bytes = body.to_string().into_bytes();
        let key = key(&c.secret).ok_or("a secret that is not 32 bytes of base64url")?;
        let ts = now().as_secs().to_string();
        let nonce = s.nonce();
        let sig = signature(
            &key,
            &signed_string("POST", path, &c.id.to_string(), &ts, &nonce, &bytes),
        );
        let headers = [
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Dbsync-Node".to_string(), c.id.to_string()),
            ("Dbsync-Timestamp".to_string(), ts),
            ("Dbsync-Nonce".to_string(), nonce),
            ("Dbsync-Signature".to_string(), sig),
        ];
        self.http
            .send("POST", &self.url(path), &headers, bytes)
            .await
    }

    /// What a rejected request must not change, read through the wire: the
    /// server's latest version (a pull from `$latest` lists no version)
    /// and every row of the queryable tables, as the runner's observer
    /// reads them and, on a scoped server, as each node of the vector with
    /// a user reads them (its own rows, §19.8).
    pub async fn observe(&self, s: &mut Session) -> Result<Value, String> {
        let observer = match &s.observer {
            Some(o) => o.clone(),
            None => {
                let o = self.register(s, None).await?;
                s.observer = Some(o.clone());
                o
            }
        };
        let pull = json!({"protocol": "1.0", "schema": EXAMPLE_FINGERPRINT,
                          "base_version": s.vars.latest, "pending": [], "cursor": null});
        let reply = self.signed(s, &observer, "/v1/pull", &pull).await?;
        let page = reply.json().unwrap_or(Value::Null);
        if reply.status != 200 {
            return Err(format!("the observer's pull got {}: {page}", reply.status));
        }
        let mut seen = json!({
            "target_version": page["target_version"],
            "versions": page["versions"].as_array().map_or(0, Vec::len),
        });
        let mut readers = vec![("the observer".to_string(), observer)];
        for name in s.users.clone() {
            readers.push((format!("node {name}"), s.node(&name)?.clone()));
        }
        for (who, reader) in readers {
            for t in QUERYABLE {
                let q = json!({"protocol": "1.0", "schema": EXAMPLE_FINGERPRINT,
                               "table": t, "where": {}, "limit": 10000});
                let reply = self.signed(s, &reader, "/v1/query", &q).await?;
                let j = reply.json().unwrap_or(Value::Null);
                if reply.status != 200 {
                    return Err(format!("{who}'s query of {t} got {}: {j}", reply.status));
                }
                let key = match who.as_str() {
                    "the observer" => t.to_string(),
                    _ => format!("{t} as {who}"),
                };
                seen[key] = j["rows"].clone();
            }
        }
        Ok(seen)
    }
}
