//! The limits `dbsync serve` takes from its flags, seen by a client.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod support {
    pub mod run;
    pub mod serving;
}
use support::run::{ok, server_and_node_dbs, BIN};

/// Sends a pull head signed (badly) by node 1 at `timestamp`, declaring a
/// body it never sends; returns the answer.
fn pull_head(url: &str, timestamp: u64) -> String {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let sig = "0".repeat(64);
    write!(
        s,
        "POST /v1/pull HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 100\r\ndbsync-node: 1\r\ndbsync-timestamp: {timestamp}\r\n\
         dbsync-nonce: flag-test-nonce-0001\r\ndbsync-signature: {sig}\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn clock_skew_sets_the_window_of_request_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (server_db, node_db) = server_and_node_dbs(dir.path());
    let server = support::serving::serve(
        BIN,
        server_db.to_str().unwrap(),
        &["--registration-token", "sesame", "--clock-skew", "7"],
        Stdio::null(),
    );
    let node = node_db.to_str().unwrap();
    ok(&["track", "--db", node]);
    ok(&[
        "register",
        "--db",
        node,
        "--server",
        &server.url,
        "--token",
        "sesame",
    ]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let answer = pull_head(&server.url, now - 60);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"stale_timestamp\""), "{answer}");
    assert!(answer.contains("\"window\":7"), "{answer}");
}
