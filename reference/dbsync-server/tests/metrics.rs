//! What operators see: the metrics listener's scrape after real
//! requests, on both stores.

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a server whose metrics listen on a free port of 127.0.0.1.
async fn start_with_metrics(configure: impl FnOnce(&mut dbsync_server::Config)) -> TestServer {
    TestServer::start(|c| {
        c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        configure(c);
    })
    .await
}

fn metrics_addr(ts: &TestServer) -> SocketAddr {
    ts.handle
        .as_ref()
        .unwrap()
        .metrics_addr()
        .expect("metrics listen")
}

/// Sends `request` (its head and body) to `addr`; returns the whole answer.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// `GET /metrics` on the metrics listener: the answer's head and body.
async fn scrape(ts: &TestServer) -> (String, String) {
    let answer = exchange(
        metrics_addr(ts),
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_ascii_lowercase(), body.to_string())
}

/// The value of the sample `series` (its name and labels as written).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

fn requests(endpoint: &str, status: u16, code: &str) -> String {
    format!("dbsync_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\",code=\"{code}\"}}")
}

async fn a_scrape_counts_each_request_by_endpoint_status_and_code() {
    let ts = start_with_metrics(|c| c.body_limit = 4096).await;
    let node = ts.register().await;
    let pushed = ts
        .push(
            &node,
            "push-m-0001",
            0,
            inserts(&[city(1, "Lyon")]),
            vec![city(1, "Lyon")],
        )
        .await;
    let push_body_len = ts
        .push_body(
            "push-m-0001",
            0,
            inserts(&[city(1, "Lyon")]),
            vec![city(1, "Lyon")],
        )
        .len();
    assert_eq!(pushed.status, 200);
    let pulled = ts.pull(&node, 0, None).await;
    assert_eq!(pulled.status, 200);
    ts.signed(&node, "/v1/pull", vec![b' '; 5000])
        .await
        .expect_error(413, "body_too_large");
    ts.post("/v1/nowhere", "{}")
        .await
        .expect_error(404, "not_found");

    let (head, text) = scrape(&ts).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    let expected = [
        (requests("register", 200, "none"), 1.0),
        (requests("push", 200, "none"), 1.0),
        (requests("pull", 200, "none"), 1.0),
        (requests("pull", 413, "body_too_large"), 1.0),
        (requests("unknown", 404, "not_found"), 1.0),
        (
            "dbsync_request_duration_seconds_count{endpoint=\"push\"}".into(),
            1.0,
        ),
        (
            "dbsync_request_duration_seconds_count{endpoint=\"pull\"}".into(),
            2.0,
        ),
        (
            "dbsync_request_duration_seconds_count{endpoint=\"register\"}".into(),
            1.0,
        ),
        (
            "dbsync_request_bytes_total{endpoint=\"push\"}".into(),
            push_body_len as f64,
        ),
        (
            "dbsync_response_bytes_total{endpoint=\"push\"}".into(),
            pushed.body.len() as f64,
        ),
        (
            "dbsync_limit_rejections_total{reason=\"body_too_large\"}".into(),
            1.0,
        ),
        (
            "dbsync_limit_rejections_total{reason=\"request_timeout\"}".into(),
            0.0,
        ),
        ("dbsync_latest_version".into(), 1.0),
        ("dbsync_registered_nodes".into(), 1.0),
        ("dbsync_stale_nodes".into(), 0.0),
    ];
    for (series, value) in &expected {
        assert_eq!(sample(&text, series), Some(*value), "{series} in\n{text}");
    }
    let counted = text
        .lines()
        .filter(|l| l.starts_with("dbsync_requests_total{"))
        .count();
    assert_eq!(counted, 5, "no other request series:\n{text}");
    assert!(
        !text.contains(&format!("\"{}\"", node.id)) && !text.contains("nowhere"),
        "no node id or path as sent is a label:\n{text}"
    );

    // A node unseen past stale_after is stale at the next scrape.
    ts.server().trim(now() + 1000, 10).await.unwrap();
    let (_, text) = scrape(&ts).await;
    assert_eq!(
        sample(&text, "dbsync_registered_nodes"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "dbsync_stale_nodes"), Some(1.0), "{text}");
}

async fn open_connections_count_the_connections_until_they_end() {
    let ts = start_with_metrics(|_| {}).await;
    let gauge = |text: String| sample(&text, "dbsync_open_connections");
    assert_eq!(gauge(scrape(&ts).await.1), Some(0.0));
    let a = TcpStream::connect(ts.addr()).await.unwrap();
    let b = TcpStream::connect(ts.addr()).await.unwrap();
    let mut seen = None;
    for _ in 0..50 {
        seen = gauge(scrape(&ts).await.1);
        if seen == Some(2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(2.0), "two connections open");
    drop((a, b));
    for _ in 0..50 {
        seen = gauge(scrape(&ts).await.1);
        if seen == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(0.0), "both connections ended");
}

async fn a_request_head_not_sent_in_time_counts_as_a_header_timeout() {
    let ts = start_with_metrics(|c| c.header_read_timeout = Duration::from_millis(300)).await;
    let mut slow = TcpStream::connect(ts.addr()).await.unwrap();
    slow.write_all(b"POST /v1/pull HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    let series = "dbsync_limit_rejections_total{reason=\"header_timeout\"}";
    let mut seen = None;
    for _ in 0..50 {
        seen = sample(&scrape(&ts).await.1, series);
        if seen == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(1.0));
}

async fn the_metrics_listener_serves_only_get_metrics_and_stops_with_the_server() {
    let mut ts = start_with_metrics(|_| {}).await;
    let addr = metrics_addr(&ts);
    let other = exchange(
        addr,
        "GET /v1/push HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    let posted = exchange(
        addr,
        "POST /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(posted.starts_with("HTTP/1.1 405"), "{posted}");
    assert!(
        posted.to_ascii_lowercase().contains("allow: get, head"),
        "{posted}"
    );
    ts.handle.take().unwrap().shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the metrics listener stopped with the server"
    );
}

#[tokio::test]
async fn a_server_without_a_metrics_address_opens_no_metrics_listener() {
    let ts = TestServer::start(|_| {}).await;
    assert_eq!(ts.handle.as_ref().unwrap().metrics_addr(), None);
    // The metrics are still recorded, for an application to serve.
    ts.post("/v1/nowhere", "{}").await;
    let text = ts.server().scrape().await.unwrap();
    assert_eq!(
        sample(&text, &requests("unknown", 404, "not_found")),
        Some(1.0)
    );
}

both_stores!(
    a_scrape_counts_each_request_by_endpoint_status_and_code,
    open_connections_count_the_connections_until_they_end,
    a_request_head_not_sent_in_time_counts_as_a_header_timeout,
    the_metrics_listener_serves_only_get_metrics_and_stops_with_the_server,
);
