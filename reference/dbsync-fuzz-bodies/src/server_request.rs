//! The `server_request` target: one (or, to test replay protection, the
//! same twice) HTTP request of arbitrary method, path, headers and body,
//! answered by [`Server::handle`] in process, against a real SQLite server
//! database made once per process.
//!
//! Checked on every answer:
//! - no panic, and no `internal_error` (a panic inside a handler surfaces
//!   as one, and a healthy database never fails);
//! - the `dbsync-protocol: 1.0` and JSON content-type headers;
//! - a 200 only for `POST` on one of the five paths, with a body that
//!   parses as that endpoint's response; any other status is the status of
//!   the error code in the body, which parses as an [`ErrorResponse`] with
//!   a code that travels on the wire (spec §16, §17);
//! - an unknown path is `not_found`, another method `method_not_allowed`
//!   with `Allow: POST`;
//! - the database (every synced table, `sqlite_sequence`, the history,
//!   push ids, nodes without `last_seen`, dbsync's state; not the nonces)
//!   is unchanged unless the answer is 200.
//!
//! # Input layout
//!
//! Five control bytes, then the body (missing control bytes count as 0):
//!
//! | byte | meaning |
//! |------|---------|
//! | 0 | method: `POST` below 192, else one of seven others |
//! | 1 | path: one of the five `/v1/...` paths below 200, else a near miss |
//! | 2 | content type: see [`content_type`] |
//! | 3 | authentication: see [`Auth`] |
//! | 4 | fixes applied to a JSON object body before signing: bit 0 the server's schema fingerprint, bit 1 the server's latest version as `base_version`, bit 2 the registration token, bit 3 `protocol` `"1.0"`; bit 4 a correct `Content-Length`, bit 5 a wrong one |

use bytes::Bytes;
use dbsync_core::auth::{sign, Secret};
use dbsync_core::protocol::*;
use dbsync_core::{Command, ErrorCode, Op, Row, Value};
use dbsync_server::{Config, Endpoint, Server};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The registration token of the fuzzed server.
pub const TOKEN: &str = "fuzz-registration-token";

pub use dbsync_server::example::{tables, APP_SQL};

/// The five paths, in the order of control byte 1.
pub const PATHS: [&str; 5] = [
    "/v1/register",
    "/v1/push",
    "/v1/pull",
    "/v1/repair",
    "/v1/query",
];

/// Near misses of the paths (control byte 1 from 200 on).
const OTHER_PATHS: [&str; 8] = [
    "/v1/push/",
    "/V1/PULL",
    "/",
    "/v1/query?limit=1",
    "/v1//register",
    "/v2/push",
    "/v1/repair%20",
    "/v1/pull/../push",
];

const OTHER_METHODS: [&str; 8] = [
    "GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "SYNC",
];

/// How a request authenticates (control byte 3 modulo 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// 0–5: signed by node 1; 6–7: by node 2.
    Valid(usize),
    /// 8: no authentication header.
    None,
    /// 9: signed, with a timestamp an hour old.
    Stale,
    /// 10: a well-formed signature that does not match.
    BadSignature,
    /// 11: signed with node 1's secret as node 4711.
    UnknownNode,
    /// 12: signed over another path and body.
    OtherRequest,
    /// 13: the nonce header left out.
    MissingNonce,
    /// 14: the node header twice.
    DuplicateHeader,
    /// 15: signed by node 1, sent twice: the second must be refused
    /// (`replayed_nonce`), or changes nothing.
    Replay,
}

impl Auth {
    pub fn of(byte: u8) -> Auth {
        match byte % 16 {
            0..=5 => Auth::Valid(0),
            6 | 7 => Auth::Valid(1),
            8 => Auth::None,
            9 => Auth::Stale,
            10 => Auth::BadSignature,
            11 => Auth::UnknownNode,
            12 => Auth::OtherRequest,
            13 => Auth::MissingNonce,
            14 => Auth::DuplicateHeader,
            _ => Auth::Replay,
        }
    }
}

/// The content-type headers of control byte 2 (modulo 8).
pub fn content_type(byte: u8) -> Vec<&'static str> {
    match byte % 8 {
        0..=3 => vec!["application/json"],
        4 => vec!["application/json; charset=utf-8"],
        5 => vec![],
        6 => vec!["text/plain"],
        _ => vec!["application/json", "application/json"],
    }
}

/// A registered node's credentials.
struct NodeCred {
    id: u64,
    secret: Secret,
}

/// The monitor: its own connection to the server database, the pristine
/// copy and the last `PRAGMA data_version` seen.
struct Monitor {
    conn: Connection,
    pristine: Connection,
    data_version: i64,
    pristine_hash: String,
    /// Each node's `last_seen` in the pristine state.
    pristine_last_seen: Vec<(i64, i64)>,
}

/// The tables [`db_hash`] covers; with `dbsync_nonces` (which it leaves
/// out), every table of the server database.
const HASHED_TABLES: [&str; 15] = [
    "city",
    "person",
    "holiday",
    "visit",
    "sqlite_sequence",
    "dbsync_versions",
    "dbsync_oplog",
    "dbsync_push_ids",
    "dbsync_nodes",
    "dbsync_tables",
    "dbsync_state",
    "dbsync_key_floor",
    "dbsync_reused_keys",
    "dbsync_row_scope",
    "dbsync_scope_marks",
];

struct Harness {
    rt: tokio::runtime::Runtime,
    server: Server,
    nodes: Vec<NodeCred>,
    latest_version: u64,
    monitor: Mutex<Monitor>,
    _dir: tempfile::TempDir,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An answer, read whole.
struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

fn send(rt: &tokio::runtime::Runtime, server: &Server, req: Request<Full<Bytes>>) -> Reply {
    rt.block_on(async {
        let resp = server.handle(req).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = match resp.into_body().collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(never) => match never {},
        };
        Reply {
            status,
            headers,
            body,
        }
    })
}

fn post(path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(Method::POST).uri(path);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(Bytes::from(body)))
        .expect("a well-formed request")
}

fn signed_headers(
    node: &NodeCred,
    path: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("dbsync-node", node.id.to_string()),
        ("dbsync-timestamp", timestamp.to_string()),
        ("dbsync-nonce", nonce.into()),
        (
            "dbsync-signature",
            sign(&node.secret, "POST", path, node.id, timestamp, nonce, body),
        ),
    ]
}

/// Removes the `dbsync-fuzz-<pid>-*` directories under `parent` whose
/// process no longer runs.
fn forget_dead_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("dbsync-fuzz-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Sets up the server database: two nodes, three versions (two pushes and
/// a sealed direct write), a push id to repeat.
fn setup() -> Harness {
    // The directory outlives the process (statics are never dropped):
    // remove those of processes that are gone.
    forget_dead_dirs(Path::new("/dev/shm"));
    forget_dead_dirs(&std::env::temp_dir());
    let dir = tempfile::Builder::new()
        .prefix(&format!("dbsync-fuzz-{}-", std::process::id()))
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory");
    let db = dir.path().join("server.db");
    let conn = dbsync_sqlite::open(&db).expect("the server database opens");
    conn.execute_batch(APP_SQL)
        .expect("the application's tables");
    drop(conn);
    let options = dbsync_sqlite::StoreOptions {
        idle_readers: 2,
        ..Default::default()
    };
    let store = dbsync_sqlite::SqliteStore::open(&db, &tables(), options).expect("the store opens");
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.body_limit = 16 * 1024;
    let server = Server::open(std::sync::Arc::new(store), config).expect("the server opens");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let fp = server.fingerprint().to_owned();
    let json = [("content-type", "application/json".to_string())];

    let mut nodes = Vec::new();
    for _ in 0..2 {
        let body = serde_json::to_vec(&RegisterRequest {
            protocol: "1.0".into(),
            schema: fp.clone(),
            app_data: None,
            token: Some(TOKEN.into()),
            user: None,
        })
        .unwrap();
        let reply = send(&rt, &server, post("/v1/register", &json, body));
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let r: RegisterResponse = serde_json::from_slice(&reply.body).unwrap();
        nodes.push(NodeCred {
            id: r.node_id,
            secret: Secret::decode(&r.secret).unwrap(),
        });
    }

    let text = |s: &str| Value::Text(s.into());
    let row = |table: &str, id: i64, values: Vec<(&str, Value)>| Row {
        table: table.into(),
        id: id.into(),
        values: values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    };
    let op = |table: &str, row_id: i64, command: Command| Op {
        table: table.into(),
        row_id: row_id.into(),
        command,
        columns: None,
    };
    let pushes = [
        (
            0usize,
            "seed-push-0001",
            0u64,
            vec![
                op("city", 1, Command::Insert),
                op("city", 2, Command::Insert),
                op("person", 1, Command::Insert),
                op("person", 2, Command::Insert),
            ],
            vec![
                row(
                    "city",
                    1,
                    vec![("name", text("Lisboa")), ("founded", text("1147-10-25"))],
                ),
                row(
                    "city",
                    2,
                    vec![("name", text("Porto")), ("founded", Value::Null)],
                ),
                row(
                    "person",
                    1,
                    vec![
                        ("name", text("Ana")),
                        ("city_id", Value::Integer(1)),
                        ("photo", Value::Null),
                    ],
                ),
                row(
                    "person",
                    2,
                    vec![
                        ("name", text("Rui")),
                        ("city_id", Value::Integer(2)),
                        ("photo", Value::Blob(vec![1, 2, 3])),
                    ],
                ),
            ],
        ),
        (
            1,
            "seed-push-0002",
            1,
            vec![
                op("person", 1, Command::Update),
                op("person", 2, Command::Delete),
                op("city", 3, Command::Insert),
                op("visit", 1, Command::Insert),
            ],
            vec![
                row(
                    "person",
                    1,
                    vec![
                        ("name", text("Ana M.")),
                        ("city_id", Value::Integer(3)),
                        ("photo", Value::Null),
                    ],
                ),
                row(
                    "city",
                    3,
                    vec![("name", text("Faro")), ("founded", Value::Null)],
                ),
                row(
                    "visit",
                    1,
                    vec![
                        ("person_id", Value::Integer(1)),
                        ("at", text("2025-01-01T10:00:00Z")),
                        ("km", Value::Real(12.5)),
                    ],
                ),
            ],
        ),
    ];
    let mut n = 0u64;
    let mut nonce = || {
        n += 1;
        format!("setup-nonce-{n:06}")
    };
    for (who, push_id, base, ops, rows) in pushes {
        let body = serde_json::to_vec(&PushRequest {
            protocol: "1.0".into(),
            schema: fp.clone(),
            app_data: None,
            push_id: push_id.into(),
            base_version: base,
            ops,
            rows,
            new_rows: Default::default(),
        })
        .unwrap();
        let h = signed_headers(
            &nodes[who],
            "/v1/push",
            &body,
            dbsync_server::unix_now(),
            &nonce(),
        );
        let reply = send(&rt, &server, post("/v1/push", &h, body));
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    // A write made directly on the server (captured by its triggers),
    // sealed into version 3 by a pull.
    let mut monitor = dbsync_sqlite::open(&db).expect("a monitor connection");
    monitor
        .execute(
            "INSERT INTO holiday (day, name, closes_at) VALUES ('2025-12-25', 'Natal', '13:00:00')",
            [],
        )
        .expect("a direct write");
    let body = serde_json::to_vec(&PullRequest {
        protocol: "1.0".into(),
        schema: fp.clone(),
        app_data: None,
        base_version: 0,
        pending: vec![],
        cursor: None,
    })
    .unwrap();
    let h = signed_headers(
        &nodes[0],
        "/v1/pull",
        &body,
        dbsync_server::unix_now(),
        &nonce(),
    );
    let reply = send(&rt, &server, post("/v1/pull", &h, body));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let page: PullResponse = serde_json::from_slice(&reply.body).unwrap();
    let latest_version = page.target_version;
    assert_eq!(latest_version, 3, "two pushes and a sealed write");

    let mut pristine = Connection::open_in_memory().expect("an in-memory database");
    copy(&monitor, &mut pristine);
    let pristine_hash = db_hash(&monitor);
    let data_version = data_version(&mut monitor);
    let mut all: Vec<String> = monitor
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("the table list");
    all.retain(|t| t != "dbsync_nonces");
    let mut hashed = HASHED_TABLES.map(String::from).to_vec();
    hashed.sort();
    assert_eq!(
        all, hashed,
        "the hash must cover every table but the nonces"
    );
    let pristine_last_seen = monitor
        .prepare("SELECT node_id, last_seen FROM dbsync_nodes ORDER BY node_id")
        .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("the nodes");
    Harness {
        rt,
        server,
        nodes,
        latest_version,
        monitor: Mutex::new(Monitor {
            conn: monitor,
            pristine,
            data_version,
            pristine_hash,
            pristine_last_seen,
        }),
        _dir: dir,
    }
}

fn copy(from: &Connection, to: &mut Connection) {
    let backup = rusqlite::backup::Backup::new(from, to).expect("a backup starts");
    backup
        .run_to_completion(1 << 16, Duration::ZERO, None)
        .expect("a backup completes");
}

fn data_version(conn: &mut Connection) -> i64 {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
        .expect("PRAGMA data_version")
}

/// A content hash of everything a rejected request must not change.
fn db_hash(conn: &Connection) -> String {
    let mut queries: Vec<String> = ["city", "person", "holiday", "visit"]
        .iter()
        .map(|t| format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
        .collect();
    queries.extend(
        [
            "SELECT * FROM sqlite_sequence ORDER BY name",
            "SELECT * FROM dbsync_versions ORDER BY version",
            "SELECT * FROM dbsync_oplog ORDER BY seq",
            "SELECT * FROM dbsync_push_ids ORDER BY node_id, push_id",
            "SELECT node_id, secret, user_id, registered_at, known_version, stale, claims FROM dbsync_nodes ORDER BY node_id",
            "SELECT * FROM dbsync_tables ORDER BY table_id",
            "SELECT * FROM dbsync_state ORDER BY key",
            "SELECT * FROM dbsync_key_floor ORDER BY table_id",
            "SELECT * FROM dbsync_reused_keys ORDER BY seq",
            "SELECT * FROM dbsync_row_scope ORDER BY table_id, row_id",
            "SELECT * FROM dbsync_scope_marks ORDER BY scope_key, version, table_id, row_id",
        ]
        .map(String::from),
    );
    let mut h = Sha256::new();
    for q in &queries {
        h.update(q.as_bytes());
        let mut stmt = conn.prepare_cached(q).expect("a hash query");
        let n = stmt.column_count();
        let mut rows = stmt.query([]).expect("a hash query runs");
        while let Some(r) = rows.next().expect("a hash row") {
            for i in 0..n {
                match r.get_ref(i).expect("a cell") {
                    ValueRef::Null => h.update(b"N"),
                    ValueRef::Integer(v) => h.update(format!("I{v}")),
                    ValueRef::Real(v) => h.update(format!("R{v:?}")),
                    ValueRef::Text(t) => {
                        h.update(format!("T{}:", t.len()));
                        h.update(t);
                    }
                    ValueRef::Blob(b) => {
                        h.update(format!("B{}:", b.len()));
                        h.update(b);
                    }
                }
                h.update(b"\x1f");
            }
            h.update(b"\x1e");
        }
    }
    dbsync_core::auth::hex(&h.finalize())
}

/// Applies the fixes of control byte 4 to a JSON object body.
fn fix_body(body: &[u8], fixes: u8, fingerprint: &str, latest: u64) -> Vec<u8> {
    if fixes & 0x0f == 0 {
        return body.to_vec();
    }
    let Ok(serde_json::Value::Object(mut obj)) = serde_json::from_slice(body) else {
        return body.to_vec();
    };
    if fixes & 1 != 0 {
        obj.insert("schema".into(), fingerprint.into());
    }
    if fixes & 2 != 0 {
        obj.insert("base_version".into(), latest.into());
    }
    if fixes & 4 != 0 {
        obj.insert("token".into(), TOKEN.into());
    }
    if fixes & 8 != 0 {
        obj.insert("protocol".into(), "1.0".into());
    }
    serde_json::to_vec(&obj).expect("a JSON object serializes")
}

/// A request target without its query string.
fn path_only(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

/// The request of one input, as (method, path, headers, body).
struct Wanted {
    method: String,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn build(h: &Harness, data: &[u8], timestamp: u64) -> (Wanted, Auth) {
    let ctl = |i: usize| data.get(i).copied().unwrap_or(0);
    let body = data.get(5..).unwrap_or(&[]);
    let method = match ctl(0) {
        0..=191 => "POST".to_string(),
        b => OTHER_METHODS[(b % 8) as usize].to_string(),
    };
    let path = match ctl(1) {
        b @ 0..=199 => PATHS[(b % 5) as usize],
        b => OTHER_PATHS[(b % 8) as usize],
    }
    .to_string();
    let fixes = ctl(4);
    let body = fix_body(body, fixes, h.server.fingerprint(), h.latest_version);
    let auth = Auth::of(ctl(3));
    let nonce = "fuzz-nonce-00000001";
    let mut headers: Vec<(&'static str, String)> = content_type(ctl(2))
        .into_iter()
        .map(|v| ("content-type", v.to_string()))
        .collect();
    if fixes & 0x10 != 0 {
        headers.push(("content-length", body.len().to_string()));
    }
    if fixes & 0x20 != 0 {
        let wrong = match fixes >> 6 {
            0 => (body.len() + 1).to_string(),
            1 => "1e3".into(),
            2 => "99999999999999999999999".into(),
            _ => (16 * 1024 + 1).to_string(),
        };
        headers.push(("content-length", wrong));
    }
    let signer = match auth {
        Auth::Valid(i) => &h.nodes[i],
        _ => &h.nodes[0],
    };
    // The signed path has no query string (spec §8.3).
    let signed_path = path_only(&path).to_string();
    let sig = |path: &str, body: &[u8], node_id: u64, timestamp: u64| {
        sign(
            &signer.secret,
            "POST",
            path,
            node_id,
            timestamp,
            nonce,
            body,
        )
    };
    let mut auth_headers: Vec<(&'static str, String)> = vec![
        ("dbsync-node", signer.id.to_string()),
        ("dbsync-timestamp", timestamp.to_string()),
        ("dbsync-nonce", nonce.to_string()),
        (
            "dbsync-signature",
            sig(&signed_path, &body, signer.id, timestamp),
        ),
    ];
    match auth {
        Auth::Valid(_) | Auth::Replay => {}
        Auth::None => auth_headers.clear(),
        Auth::Stale => {
            let old = timestamp - 3600;
            auth_headers[1].1 = old.to_string();
            auth_headers[3].1 = sig(&signed_path, &body, signer.id, old);
        }
        Auth::BadSignature => {
            let mut s = auth_headers[3].1.clone().into_bytes();
            s[0] = if s[0] == b'0' { b'1' } else { b'0' };
            auth_headers[3].1 = String::from_utf8(s).unwrap();
        }
        Auth::UnknownNode => {
            auth_headers[0].1 = "4711".into();
            auth_headers[3].1 = sig(&signed_path, &body, 4711, timestamp);
        }
        Auth::OtherRequest => auth_headers[3].1 = sig("/v1/other", b"{}", signer.id, timestamp),
        Auth::MissingNonce => {
            auth_headers.remove(2);
        }
        Auth::DuplicateHeader => auth_headers.push(("dbsync-node", signer.id.to_string())),
    }
    headers.extend(auth_headers);
    (
        Wanted {
            method,
            path,
            headers,
            body,
        },
        auth,
    )
}

fn request(w: &Wanted) -> Option<Request<Full<Bytes>>> {
    let mut b = Request::builder()
        .method(Method::from_bytes(w.method.as_bytes()).ok()?)
        .uri(w.path.as_str());
    for (k, v) in &w.headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(Bytes::from(w.body.clone()))).ok()
}

/// Checks one answer against the spec; returns it.
fn check_reply(w: &Wanted, reply: &Reply) {
    let shown = || {
        format!(
            "{} {} ({} headers, {} body bytes) -> {}: {}",
            w.method,
            w.path,
            w.headers.len(),
            w.body.len(),
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
    };
    assert_eq!(
        reply
            .headers
            .get("dbsync-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("1.0"),
        "every answer carries dbsync-protocol: {}",
        shown()
    );
    assert_eq!(
        reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "every answer is JSON: {}",
        shown()
    );
    let endpoint = dbsync_server::http::endpoint_of(path_only(&w.path));
    if reply.status == 200 {
        assert_eq!(w.method, "POST", "200 for another method: {}", shown());
        let parsed = match endpoint {
            Some(Endpoint::Register) => {
                serde_json::from_slice::<RegisterResponse>(&reply.body).map(drop)
            }
            Some(Endpoint::Push) => serde_json::from_slice::<PushResponse>(&reply.body).map(drop),
            Some(Endpoint::Pull) => serde_json::from_slice::<PullResponse>(&reply.body).map(drop),
            Some(Endpoint::Repair) => serde_json::from_slice::<RepairPage>(&reply.body).map(drop),
            Some(Endpoint::Query) => serde_json::from_slice::<QueryResponse>(&reply.body).map(drop),
            None => panic!("200 for a path no endpoint has: {}", shown()),
        };
        if let Err(e) = parsed {
            panic!(
                "the 200 answer is not the endpoint's response ({e}): {}",
                shown()
            );
        }
        return;
    }
    let err: ErrorResponse = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not an error response ({e}): {}", shown()));
    let code = err.error.code;
    assert_eq!(err.protocol, "1.0", "{}", shown());
    assert!(code.on_wire(), "a local-only code on the wire: {}", shown());
    assert_eq!(
        reply.status,
        code.http_status(),
        "the status is not the code's: {}",
        shown()
    );
    assert_ne!(
        code,
        ErrorCode::InternalError,
        "the server failed (a panic in a handler, or a database error): {}",
        shown()
    );
    match endpoint {
        None => assert_eq!(code, ErrorCode::NotFound, "{}", shown()),
        Some(_) if w.method != "POST" => {
            assert_eq!(code, ErrorCode::MethodNotAllowed, "{}", shown());
            assert_eq!(
                reply.headers.get("allow").and_then(|v| v.to_str().ok()),
                Some("POST"),
                "405 names the method: {}",
                shown()
            );
        }
        Some(_) => {}
    }
}

/// Whether `DBSYNC_FUZZ_TRACE` is set: each answer is printed.
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("DBSYNC_FUZZ_TRACE").is_some())
}

/// The target body.
pub fn run(data: &[u8]) {
    let h = HARNESS.get_or_init(setup);
    // One run at a time (tests may run in parallel threads).
    let mut m = lock(&h.monitor);
    let (wanted, auth) = build(h, data, dbsync_server::unix_now());
    let tries = if auth == Auth::Replay { 2 } else { 1 };
    let mut hash = m.pristine_hash.clone();
    let mut changed = false;
    for attempt in 0..tries {
        let Some(req) = request(&wanted) else {
            return; // not a request HTTP can carry
        };
        let reply = send(&h.rt, &h.server, req);
        if trace() {
            eprintln!(
                "server_request: {} {} {:?} -> {} {}",
                wanted.method,
                wanted.path,
                auth,
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
        check_reply(&wanted, &reply);
        let dv = data_version(&mut m.conn);
        if dv != m.data_version {
            m.data_version = dv;
            changed = true;
            let now = db_hash(&m.conn);
            if reply.status != 200 {
                assert_eq!(
                    now,
                    hash,
                    "a rejected request changed the database ({} {} -> {}: {})",
                    wanted.method,
                    wanted.path,
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                );
            }
            hash = now;
        }
        if attempt == 1 && reply.status == 200 {
            // The same nonce twice: only a request that needs no
            // authentication may succeed again.
            assert_eq!(
                path_only(&wanted.path),
                "/v1/register",
                "a replayed request was accepted: {}",
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
    if changed {
        let Monitor {
            conn,
            pristine,
            pristine_hash,
            pristine_last_seen,
            ..
        } = &mut *m;
        if hash == *pristine_hash {
            // Only the nonce and the nodes' last-seen times changed: undo
            // just those (a whole copy makes every connection reload).
            conn.execute("DELETE FROM dbsync_nonces WHERE nonce LIKE 'fuzz-%'", [])
                .expect("forgetting the fuzz nonce");
            for (node, seen) in pristine_last_seen.iter() {
                conn.execute(
                    "UPDATE dbsync_nodes SET last_seen = ?2 WHERE node_id = ?1",
                    [node, seen],
                )
                .expect("resetting last_seen");
            }
        } else {
            copy(&*pristine, conn);
        }
        m.data_version = data_version(&mut m.conn);
    }
}
