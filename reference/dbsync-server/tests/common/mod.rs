//! A real server on 127.0.0.1:0 over a real SQLite file, and a tiny
//! signing HTTP client (hyper's) to talk to it.
#![allow(dead_code)]

use bytes::Bytes;
use dbsync_core::auth::{sign, Secret};
use dbsync_core::protocol::*;
use dbsync_core::{Command, Direction, Op, Row, Value};
use dbsync_server::{Config, Server, ServerHandle};
use dbsync_sqlite::{SqliteStore, TableSpec};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const TOKEN: &str = "let-me-in-0123";

/// The application: cities, people living in them (a foreign key) and
/// holidays the server publishes (pull-only).
pub const APP: &str = "
CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);
CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                     city_id INTEGER REFERENCES city(id), born DATE);
CREATE TABLE holiday (id INTEGER PRIMARY KEY AUTOINCREMENT, day DATE NOT NULL);
";

pub fn tables() -> Vec<TableSpec> {
    vec![
        TableSpec::both("city"),
        TableSpec::both("person"),
        TableSpec {
            name: "holiday".into(),
            direction: Direction::PullOnly,
        },
    ]
}

/// Creates the application's database in `dir`.
pub fn app_db(dir: &Path) -> PathBuf {
    let path = dir.join("server.db");
    let conn = dbsync_sqlite::open(&path).unwrap();
    conn.execute_batch(APP).unwrap();
    path
}

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub handle: Option<ServerHandle>,
    pub base: String,
    pub fingerprint: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// A registered node's credentials.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: u64,
    pub secret: Secret,
}

/// An answer: status, headers and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        assert_eq!(
            self.status,
            200,
            "expected success, got {}",
            String::from_utf8_lossy(&self.body)
        );
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Asserts this is the error `code` with `status`, as a valid
    /// `ErrorResponse`; returns it.
    pub fn expect_error(&self, status: u16, code: &str) -> ErrorResponse {
        let err: ErrorResponse = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not an error response ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        });
        assert_eq!(
            (self.status, err.error.code.as_str()),
            (status, code),
            "message: {}",
            err.error.message
        );
        assert_eq!(err.protocol, "1.0");
        err
    }
}

static NONCES: AtomicU64 = AtomicU64::new(0);

/// A fresh nonce for every request of this test process.
pub fn nonce() -> String {
    let n = NONCES.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("n{}-{t:x}-{n}", std::process::id())
}

pub fn now() -> u64 {
    dbsync_server::unix_now()
}

/// The four authentication headers of a request signed by `node`.
pub fn auth_headers(
    node: &Node,
    path: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &str,
) -> Vec<(String, String)> {
    let sig = sign(&node.secret, "POST", path, node.id, timestamp, nonce, body);
    vec![
        ("dbsync-node".into(), node.id.to_string()),
        ("dbsync-timestamp".into(), timestamp.to_string()),
        ("dbsync-nonce".into(), nonce.into()),
        ("dbsync-signature".into(), sig),
    ]
}

pub fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

impl TestServer {
    /// Starts a server over a fresh application database; `configure` may
    /// change the configuration (the registration token is [`TOKEN`]).
    pub async fn start(configure: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let db = app_db(dir.path());
        let store = SqliteStore::open(&db, &tables(), Default::default()).unwrap();
        let mut config = Config::new();
        config.registration_token = Some(TOKEN.into());
        configure(&mut config);
        let handle = Server::bind(Arc::new(store), config).await.unwrap();
        let base = format!("http://{}", handle.local_addr());
        let fingerprint = handle.server().fingerprint().to_string();
        TestServer {
            dir,
            db,
            handle: Some(handle),
            base,
            fingerprint,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn server(&self) -> &Server {
        self.handle.as_ref().unwrap().server()
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.handle.as_ref().unwrap().local_addr()
    }

    /// Sends one request; checks every answer carries `dbsync-protocol: 1.0`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = self
            .http
            .request(req.body(Full::new(body.into())).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        assert_eq!(
            headers.get("dbsync-protocol").map(|v| v.to_str().unwrap()),
            Some("1.0"),
            "every answer carries dbsync-protocol"
        );
        Reply {
            status,
            headers,
            body,
        }
    }

    /// An unsigned JSON POST.
    pub async fn post(&self, path: &str, body: impl Into<Bytes>) -> Reply {
        self.send(Method::POST, path, &json_headers(), body).await
    }

    /// A JSON POST signed by `node` now, with a fresh nonce.
    pub async fn signed(&self, node: &Node, path: &str, body: impl Into<Bytes>) -> Reply {
        let body: Bytes = body.into();
        let mut headers = json_headers();
        headers.extend(auth_headers(node, path, &body, now(), &nonce()));
        self.send(Method::POST, path, &headers, body).await
    }

    pub fn register_body(&self, token: Option<&str>) -> Vec<u8> {
        to_json(&RegisterRequest {
            protocol: "1.0".into(),
            schema: self.fingerprint.clone(),
            app_data: None,
            token: token.map(str::to_string),
        })
    }

    /// Registers a node with the token.
    pub async fn register(&self) -> Node {
        let resp: RegisterResponse = self
            .post("/v1/register", self.register_body(Some(TOKEN)))
            .await
            .parse();
        Node {
            id: resp.node_id,
            secret: Secret::decode(&resp.secret).expect("a 43-character secret"),
        }
    }

    pub fn push_body(&self, push_id: &str, base: u64, ops: Vec<Op>, rows: Vec<Row>) -> Vec<u8> {
        to_json(&PushRequest {
            protocol: "1.0".into(),
            schema: self.fingerprint.clone(),
            app_data: None,
            push_id: push_id.into(),
            base_version: base,
            ops,
            rows,
        })
    }

    pub async fn push(
        &self,
        node: &Node,
        push_id: &str,
        base: u64,
        ops: Vec<Op>,
        rows: Vec<Row>,
    ) -> Reply {
        self.signed(node, "/v1/push", self.push_body(push_id, base, ops, rows))
            .await
    }

    pub fn pull_body(&self, base: u64, pending: Vec<Op>, cursor: Option<String>) -> Vec<u8> {
        to_json(&PullRequest {
            protocol: "1.0".into(),
            schema: self.fingerprint.clone(),
            app_data: None,
            base_version: base,
            pending,
            cursor,
        })
    }

    pub async fn pull(&self, node: &Node, base: u64, cursor: Option<String>) -> Reply {
        self.signed(node, "/v1/pull", self.pull_body(base, vec![], cursor))
            .await
    }

    pub async fn repair(&self, node: &Node, cursor: Option<String>) -> Reply {
        let body = to_json(&RepairRequest {
            protocol: "1.0".into(),
            schema: self.fingerprint.clone(),
            app_data: None,
            cursor,
        });
        self.signed(node, "/v1/repair", body).await
    }

    /// A content hash of everything a rejected request must not change:
    /// every user table, the history, push ids, node records (but not
    /// `last_seen`) and dbsync's state. Nonces are left out: using one is
    /// what authentication does.
    pub fn db_hash(&self) -> String {
        db_hash(&self.db)
    }

    /// Runs `request` and asserts the database is the same after it.
    pub async fn unchanged<F: std::future::Future<Output = Reply>>(&self, request: F) -> Reply {
        let before = self.db_hash();
        let reply = request.await;
        assert_eq!(
            self.db_hash(),
            before,
            "the database changed; answer: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply
    }

    /// Opens the server database beside the server (as any other writer).
    pub fn sql(&self) -> Connection {
        dbsync_sqlite::open(&self.db).unwrap()
    }

    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }
}

pub fn to_json(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

pub fn db_hash(path: &Path) -> String {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut queries: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'dbsync_%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|n| format!("SELECT * FROM \"{}\" ORDER BY rowid", n.unwrap()))
        .collect();
    queries.extend(
        [
            "SELECT * FROM dbsync_versions ORDER BY version",
            "SELECT * FROM dbsync_oplog ORDER BY seq",
            "SELECT * FROM dbsync_push_ids ORDER BY node_id, push_id",
            "SELECT node_id, secret, user_id, registered_at, known_version, stale FROM dbsync_nodes ORDER BY node_id",
            "SELECT * FROM dbsync_tables ORDER BY table_id",
            "SELECT * FROM dbsync_state ORDER BY key",
            "SELECT * FROM sqlite_sequence ORDER BY name",
        ]
        .map(String::from),
    );
    let mut h = Sha256::new();
    for q in &queries {
        h.update(q.as_bytes());
        let mut stmt = conn.prepare(q).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                let cell = match r.get_ref(i).unwrap() {
                    ValueRef::Null => "N".to_string(),
                    ValueRef::Integer(v) => format!("I{v}"),
                    ValueRef::Real(v) => format!("R{v:?}"),
                    ValueRef::Text(t) => format!("T{}:{}", t.len(), String::from_utf8_lossy(t)),
                    ValueRef::Blob(b) => format!("B{b:?}"),
                };
                h.update(cell.as_bytes());
                h.update(b"\x1f");
            }
            h.update(b"\x1e");
        }
    }
    dbsync_core::auth::hex(&h.finalize())
}

pub fn op(table: &str, row_id: i64, command: Command) -> Op {
    Op {
        table: table.into(),
        row_id,
        command,
    }
}

pub fn city(id: i64, name: &str) -> Row {
    Row {
        table: "city".into(),
        id,
        values: [("name".to_string(), Value::Text(name.into()))].into(),
    }
}

pub fn person(id: i64, name: &str, city_id: Option<i64>) -> Row {
    Row {
        table: "person".into(),
        id,
        values: [
            ("name".to_string(), Value::Text(name.into())),
            (
                "city_id".to_string(),
                city_id.map_or(Value::Null, Value::Integer),
            ),
            ("born".to_string(), Value::Null),
        ]
        .into(),
    }
}

/// An insert of each row.
pub fn inserts(rows: &[Row]) -> Vec<Op> {
    rows.iter()
        .map(|r| op(&r.table, r.id, Command::Insert))
        .collect()
}
