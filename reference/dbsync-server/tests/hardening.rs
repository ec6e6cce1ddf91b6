//! What a hostile or careless client cannot do: keep nonces forever,
//! make the server read a body before it knows who sent it, or make
//! register parse a stranger's body (spec §8.4, §9.2, §16.4).

mod common;

use common::*;
use dbsync_core::protocol::*;
use hyper::Method;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A nonce whose byte sum is not a multiple of 64 (the old code only
/// forgot nonces on a request whose nonce's byte sum was one).
fn unlucky_nonce() -> String {
    let mut n = nonce();
    while n.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 64 == 0 {
        n.push('x');
    }
    n
}

fn nonce_rows(ts: &TestServer, node: &Node) -> i64 {
    ts.db.int(&format!(
        "SELECT count(*) FROM dbsync_nonces WHERE node_id = {}",
        node.id
    ))
}

async fn expired_nonces_are_forgotten_whatever_the_nonces_hold() {
    let ts = TestServer::start(|c| c.skew_window = Duration::from_secs(300)).await;
    let node = ts.register().await;
    let old = now() - 601;
    for i in 0..50 {
        ts.db.exec(&format!(
            "INSERT INTO dbsync_nonces (node_id, nonce, seen_at) VALUES ({}, 'old-nonce-{i:08}', {old})",
            node.id
        ));
    }
    // Remembered for exactly twice the window: this one stays.
    let kept = now() - 590;
    ts.db.exec(&format!(
        "INSERT INTO dbsync_nonces (node_id, nonce, seen_at) VALUES ({}, 'recent-nonce-0001', {kept})",
        node.id
    ));
    let body = ts.pull_body(0, vec![], None);
    let mut headers = json_headers();
    headers.extend(auth_headers(
        &node,
        "/v1/pull",
        &body,
        now(),
        &unlucky_nonce(),
    ));
    ts.send(Method::POST, "/v1/pull", &headers, body)
        .await
        .parse::<PullResponse>();
    assert_eq!(
        nonce_rows(&ts, &node),
        2,
        "the recent nonce and the new one"
    );
}

async fn a_replayed_request_is_refused_after_a_restart() {
    let mut ts = TestServer::start(|_| {}).await;
    let node = ts.register().await;
    let body = ts.pull_body(0, vec![], None);
    let mut headers = json_headers();
    headers.extend(auth_headers(&node, "/v1/pull", &body, now(), &nonce()));
    ts.send(Method::POST, "/v1/pull", &headers, body.clone())
        .await
        .parse::<PullResponse>();
    ts.restart(|_| {}).await;
    ts.send(Method::POST, "/v1/pull", &headers, body)
        .await
        .expect_error(401, "replayed_nonce");
}

/// Sends a request head declaring a 1 MiB body and 10 bytes of it, then
/// reads the answer (the rest of the body never comes).
async fn head_only(ts: &TestServer, path: &str, headers: &[(String, String)]) -> String {
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 1048576\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n{\"protocol");
    let mut stream = tokio::net::TcpStream::connect(ts.addr()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn assert_refused(answer: &str, status: &str, code: &str) {
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status}")),
        "answered before the body: {answer:?}"
    );
    assert!(answer.contains(&format!("\"{code}\"")), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

async fn an_unknown_node_is_refused_before_its_body_is_read() {
    let ts = TestServer::start(|_| {}).await;
    let stranger = Node {
        id: 4242,
        secret: dbsync_core::auth::Secret([7; 32]),
    };
    let mut headers = json_headers();
    headers.extend(auth_headers(&stranger, "/v1/push", b"", now(), &nonce()));
    let answer = head_only(&ts, "/v1/push", &headers).await;
    assert_refused(&answer, "401", "unknown_node");
}

async fn a_stale_timestamp_is_refused_before_the_body_is_read() {
    let ts = TestServer::start(|_| {}).await;
    let node = ts.register().await;
    let mut headers = json_headers();
    headers.extend(auth_headers(&node, "/v1/push", b"", now() - 3600, &nonce()));
    let answer = head_only(&ts, "/v1/push", &headers).await;
    assert_refused(&answer, "401", "stale_timestamp");
}

async fn a_used_nonce_is_refused_before_the_body_is_read() {
    let ts = TestServer::start(|_| {}).await;
    let node = ts.register().await;
    let used = nonce();
    let body = ts.pull_body(0, vec![], None);
    let mut headers = json_headers();
    headers.extend(auth_headers(&node, "/v1/pull", &body, now(), &used));
    ts.send(Method::POST, "/v1/pull", &headers, body)
        .await
        .parse::<PullResponse>();
    let answer = head_only(&ts, "/v1/push", &headers).await;
    assert_refused(&answer, "401", "replayed_nonce");
}

async fn a_forged_request_is_refused_after_its_body_and_burns_no_nonce() {
    let ts = TestServer::start(|_| {}).await;
    let node = ts.register().await;
    let forger = Node {
        id: node.id,
        secret: dbsync_core::auth::Secret([9; 32]),
    };
    let body = ts.pull_body(0, vec![], None);
    let n = nonce();
    let mut headers = json_headers();
    headers.extend(auth_headers(&forger, "/v1/pull", &body, now(), &n));
    ts.send(Method::POST, "/v1/pull", &headers, body.clone())
        .await
        .expect_error(401, "bad_signature");
    let mut headers = json_headers();
    headers.extend(auth_headers(&node, "/v1/pull", &body, now(), &n));
    ts.send(Method::POST, "/v1/pull", &headers, body)
        .await
        .parse::<PullResponse>();
}

async fn register_checks_the_token_before_the_rest_of_the_body() {
    let ts = TestServer::start(|_| {}).await;
    let body = to_json(&RegisterRequest {
        protocol: "1.0".into(),
        schema: "0".repeat(64),
        app_data: None,
        token: Some("not-the-token".into()),
        user: None,
    });
    ts.unchanged(ts.post("/v1/register", body))
        .await
        .expect_error(403, "registration_refused");
}

async fn a_large_register_body_is_refused_before_it_is_read() {
    let ts = TestServer::start(|_| {}).await;
    let mut stream = tokio::net::TcpStream::connect(ts.addr()).await.unwrap();
    let head = "POST /v1/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                content-length: 11534336\r\n\r\n{\"token\":\"x\",\"app_data\":{\"a\":\"";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(answer.contains("\"limit\":65536"), "{answer}");
}

both_stores!(
    expired_nonces_are_forgotten_whatever_the_nonces_hold,
    a_replayed_request_is_refused_after_a_restart,
    an_unknown_node_is_refused_before_its_body_is_read,
    a_stale_timestamp_is_refused_before_the_body_is_read,
    a_used_nonce_is_refused_before_the_body_is_read,
    a_forged_request_is_refused_after_its_body_and_burns_no_nonce,
    register_checks_the_token_before_the_rest_of_the_body,
    a_large_register_body_is_refused_before_it_is_read,
);

/// PostgreSQL only: SQLite has one writer, so there a nonce waits for a
/// running push (docs/security.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_request_is_authenticated_while_another_nodes_push_runs() {
    set_backend(Backend::Postgres);
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new((entered_tx, release_rx));
    let ts = std::sync::Arc::new(
        TestServer::start(move |c| {
            c.hooks.before_push = Some(std::sync::Arc::new(move |_, _| {
                let g = gate.lock().unwrap();
                let _ = g.0.send(());
                let _ = g.1.recv_timeout(Duration::from_secs(30));
                Ok(())
            }));
        })
        .await,
    );
    let (pusher, puller) = (ts.register().await, ts.register().await);
    let rows = vec![city(1, "Lisbon")];
    let pushing = {
        let ts = ts.clone();
        tokio::spawn(async move {
            ts.push(&pusher, "push-held-0001", 0, inserts(&rows), rows)
                .await
        })
    };
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the push reached its hook");
    let pulled = tokio::time::timeout(Duration::from_secs(10), ts.pull(&puller, 0, None))
        .await
        .expect("the pull was answered while the push held its transaction");
    pulled.parse::<PullResponse>();
    release_tx.send(()).unwrap();
    pushing.await.unwrap().parse::<PushResponse>();
}
