//! Bounded resources: a client that never reads its answer is dropped,
//! and connections beyond the cap wait until one ends.

mod common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Ten thousand cities of about a kilobyte each, written beside the
/// server: a repair page of about 10 MB.
fn fill(ts: &TestServer) {
    let sql = match backend() {
        Backend::Sqlite => {
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10000) \
             INSERT INTO city (name) SELECT i || '-' || hex(zeroblob(500)) FROM c;"
        }
        Backend::Postgres => {
            "INSERT INTO city (name) \
             SELECT i || '-' || repeat('x', 1000) FROM generate_series(1, 10000) i;"
        }
    };
    ts.db.exec(sql);
}

/// A whole signed request, as bytes on the wire.
fn signed_request(ts: &TestServer, node: &Node, path: &str, body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in auth_headers(node, path, body, now(), &nonce()) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = ts;
    [head.as_bytes(), body].concat()
}

/// Reads what the server sent until it closes the connection or `wait`
/// passes without a byte.
async fn drain(stream: &mut TcpStream, wait: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(Ok(n)) = tokio::time::timeout(wait, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn declared_and_received(answer: &[u8]) -> (usize, usize) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer head")
        + 4;
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let declared = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap();
    (declared, answer.len() - end)
}

async fn a_client_that_does_not_read_its_answer_is_dropped() {
    let ts = TestServer::start(|c| c.write_timeout = Duration::from_millis(500)).await;
    fill(&ts);
    let node = ts.register().await;
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "protocol": "1.0", "schema": ts.fingerprint, "cursor": null
    }))
    .unwrap();
    stream
        .write_all(&signed_request(&ts, &node, "/v1/repair", &body))
        .await
        .unwrap();
    // The client reads nothing for much longer than the write timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answer = drain(&mut stream, Duration::from_secs(5)).await;
    let (declared, received) = declared_and_received(&answer);
    assert!(declared > 8_000_000, "a large page: {declared} bytes");
    assert!(
        received < declared,
        "the server kept the answer for a client that read nothing ({received} of {declared} bytes)"
    );
    let metrics = ts.server().metrics().encode();
    assert!(
        metrics.contains("dbsync_limit_rejections_total{reason=\"write_timeout\"} 1\n"),
        "{metrics}"
    );
}

async fn connections_beyond_the_cap_wait_until_one_ends() {
    let ts = TestServer::start(|c| c.max_connections = 2).await;
    let idle_a = TcpStream::connect(ts.addr()).await.unwrap();
    let _idle_b = TcpStream::connect(ts.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(ts.addr()).await.unwrap();
    third
        .write_all(b"POST /v1/nowhere HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(early.is_err(), "a third connection was served beside two");
    let metrics = ts.server().metrics().encode();
    assert!(
        metrics.contains("dbsync_limit_rejections_total{reason=\"connection_cap\"} 1\n"),
        "{metrics}"
    );
    drop(idle_a);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut buf))
        .await
        .expect("served once a connection ended")
        .unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 404");
}

both_stores!(
    a_client_that_does_not_read_its_answer_is_dropped,
    connections_beyond_the_cap_wait_until_one_ends,
);
