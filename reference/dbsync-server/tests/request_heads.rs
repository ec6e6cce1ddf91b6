//! Spec §16.4 H0: a request head that is not HTTP/1.1, or that does not
//! arrive in time, gets the protocol's error form (a JSON body and the
//! `Dbsync-Protocol` header) and the connection is closed. Raw bytes over
//! real TCP, against a real server; the store does not matter here, so
//! these run on SQLite only.

mod common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `bytes` and reads until the server closes the connection.
async fn exchange(ts: &TestServer, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_closed(&mut stream).await
}

async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the server closed the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer's status line, lowercased header block and parsed body.
fn parts(answer: &str) -> (String, String, serde_json::Value) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer:?}"));
    (status.to_owned(), headers.to_ascii_lowercase(), body)
}

fn assert_protocol_error(answer: &str, status: &str, code: &str) -> serde_json::Value {
    let (line, headers, body) = parts(answer);
    assert!(
        line.starts_with(&format!("HTTP/1.1 {status}")),
        "{answer:?}"
    );
    assert!(headers.contains("dbsync-protocol: 1.0"), "{answer:?}");
    assert!(
        headers.contains("content-type: application/json"),
        "{answer:?}"
    );
    assert!(headers.contains("connection: close"), "{answer:?}");
    assert_eq!(body["protocol"], "1.0", "{answer:?}");
    assert_eq!(body["error"]["code"], code, "{answer:?}");
    body
}

#[tokio::test]
async fn a_request_head_that_is_not_http_gets_malformed_request_in_the_protocols_form() {
    let ts = TestServer::start(|_| {}).await;
    let heads: [&[u8]; 4] = [
        b"POST /v1/pull HTTP/1.1\r\nhost: x\r\ncontent-length: ten\r\n\r\n",
        b"POST /v1/pull HTTP/1.1\r\nhost: x\r\nthis line has no colon\r\n\r\n",
        b"POST /v1/pull HTTP/9.9 extra\r\nhost: x\r\n\r\n",
        b"\x01\x02 not http at all\r\n\r\n",
    ];
    for head in heads {
        let answer = exchange(&ts, head).await;
        assert_protocol_error(&answer, "400", "malformed_request");
    }
}

#[tokio::test]
async fn a_request_head_too_large_to_read_gets_malformed_request_in_the_protocols_form() {
    let ts = TestServer::start(|_| {}).await;
    let mut head = b"POST /v1/pull HTTP/1.1\r\nhost: x\r\n".to_vec();
    for i in 0..2000 {
        head.extend_from_slice(format!("x-filler-{i}: {}\r\n", "y".repeat(200)).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    // The server may close before it has read everything: the write may fail.
    let _ = stream.write_all(&head).await;
    let answer = read_until_closed(&mut stream).await;
    assert_protocol_error(&answer, "400", "malformed_request");
}

#[tokio::test]
async fn a_head_that_stops_arriving_gets_request_timeout_for_the_headers() {
    let ts = TestServer::start(|c| c.header_read_timeout = Duration::from_millis(300)).await;
    let answer = exchange(&ts, b"POST /v1/pull HTTP/1.1\r\nhost: x\r\n").await;
    let body = assert_protocol_error(&answer, "408", "request_timeout");
    assert_eq!(body["error"]["details"]["phase"], "headers", "{answer:?}");
}

#[tokio::test]
async fn an_idle_connection_is_closed_without_an_answer_after_the_header_time() {
    let ts = TestServer::start(|c| c.header_read_timeout = Duration::from_millis(300)).await;
    let answer = exchange(&ts, b"").await;
    assert_eq!(answer, "", "an idle connection got an answer");
}

#[tokio::test]
async fn a_kept_alive_connection_answers_each_request_and_times_out_a_late_second_head() {
    let ts = TestServer::start(|c| c.header_read_timeout = Duration::from_millis(300)).await;
    let node = ts.register().await;
    let pull = ts.pull_body(0, vec![], None);
    let mut stream = TcpStream::connect(ts.addr()).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(&signed_request(&node, "/v1/pull", &pull))
            .await
            .unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }
    // A third head begins, slower than the header time: the first two
    // answers did not use up the connection's head time.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream
        .write_all(b"POST /v1/pull HTTP/1.1\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert_protocol_error(&answer, "408", "request_timeout");
}
