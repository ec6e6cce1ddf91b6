//! Bounded resources: a client that never reads its answer is dropped,
//! connections beyond the cap wait until one ends, repair pages stop at
//! their byte bound, and page answers beyond the answer budget wait until
//! an unread one leaves.

mod common;

use common::*;
use dbsync_core::protocol::RepairPage;
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
    let ts = TestServer::start(|c| {
        c.write_timeout = Duration::from_millis(500);
        c.limits.page_bytes = 32 << 20;
    })
    .await;
    fill(&ts);
    let node = ts.register().await;
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "protocol": "1.0", "schema": ts.fingerprint, "cursor": null
    }))
    .unwrap();
    stream
        .write_all(&signed_request(&node, "/v1/repair", &body))
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

async fn a_repair_page_stops_at_its_byte_bound_and_the_pages_carry_every_row_once() {
    let ts = TestServer::start(|c| c.limits.page_bytes = 64 * 1024).await;
    fill(&ts);
    let node = ts.register().await;
    let (mut cursor, mut ids, mut pages) = (None, Vec::new(), 0);
    loop {
        let reply = ts.repair(&node, cursor).await;
        assert!(
            reply.body.len() < 64 * 1024 + 4 * 1024,
            "a page of {} bytes",
            reply.body.len()
        );
        let page: RepairPage = reply.parse();
        assert!(!page.rows.is_empty() || page.next_cursor.is_none());
        ids.extend(page.rows.iter().map(|r| (r.table.clone(), r.id)));
        pages += 1;
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let cities = ids.iter().filter(|(t, _)| t == "city").count();
    assert_eq!(cities, 10_000, "every city once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.iter().filter(|(t, _)| t == "city").count(), 10_000);
    assert!(pages > 100, "pages of 64 KiB: {pages}");
}

async fn a_pull_page_stops_at_its_byte_bound_and_the_pages_carry_every_op_once() {
    let ts = TestServer::start(|c| c.limits.page_bytes = 256 * 1024).await;
    fill(&ts);
    let node = ts.register().await;
    let (mut cursor, mut ids, mut pages) = (None, Vec::new(), 0);
    loop {
        let reply = ts.pull(&node, 0, cursor).await;
        assert!(
            reply.body.len() < 320 * 1024,
            "a page of {} bytes",
            reply.body.len()
        );
        let page: dbsync_core::protocol::PullResponse = reply.parse();
        let rows: std::collections::HashSet<dbsync_core::RowId> =
            page.rows.iter().map(|r| r.id).collect();
        for op in &page.ops {
            assert!(
                rows.contains(&op.row_id),
                "the row of {op:?} travels with it"
            );
            ids.push(op.row_id);
        }
        pages += 1;
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(ids.len(), 10_000, "every insert once");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10_000);
    assert!(pages >= 30, "pages of 256 KiB: {pages}");
}

/// Sends a repair request for its first page and reads nothing.
async fn unread_repair(ts: &TestServer, node: &Node) -> TcpStream {
    let body = serde_json::to_vec(&serde_json::json!({
        "protocol": "1.0", "schema": ts.fingerprint, "cursor": null
    }))
    .unwrap();
    // A small receive buffer: the kernel holds little of the answer, the
    // server the rest.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(ts.addr()).await.unwrap();
    stream
        .write_all(&signed_request(node, "/v1/repair", &body))
        .await
        .unwrap();
    stream
}

async fn page_answers_beyond_the_budget_wait_until_an_unread_one_leaves() {
    // Pages of about 4 MiB, more than the kernel's socket buffers take;
    // two fit the budget, a third does not.
    let ts = TestServer::start(|c| {
        c.limits.page_bytes = 4 << 20;
        c.answer_budget = 9 << 20;
    })
    .await;
    fill(&ts);
    let (a, b, c) = (
        ts.register().await,
        ts.register().await,
        ts.register().await,
    );
    let first = unread_repair(&ts, &a).await;
    let _second = unread_repair(&ts, &b).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut third = unread_repair(&ts, &c).await;
    let mut buf = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third page was answered beside two unread ones"
    );
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut buf))
        .await
        .expect("answered once an unread page left")
        .unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 200");
}

both_stores!(
    a_pull_page_stops_at_its_byte_bound_and_the_pages_carry_every_op_once,
    a_repair_page_stops_at_its_byte_bound_and_the_pages_carry_every_row_once,
    page_answers_beyond_the_budget_wait_until_an_unread_one_leaves,
    a_client_that_does_not_read_its_answer_is_dropped,
    connections_beyond_the_cap_wait_until_one_ends,
);
