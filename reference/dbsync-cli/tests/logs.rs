//! What `dbsync serve` shows its operators: JSON request logs that name
//! no secret, and Prometheus metrics on a listener of their own.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

mod support {
    pub mod run;
}
use support::run::{ok, server_and_node_dbs, BIN};

const TOKEN: &str = "sesame-token-7f3a9c";

/// `GET /metrics` on `addr` (`HOST:PORT`): the answer's body.
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[test]
fn serve_logs_json_request_lines_without_secrets_and_serves_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (server_db, node_db) = server_and_node_dbs(dir.path());
    let stderr_path = dir.path().join("serve.log");
    let mut server = Command::new(BIN)
        .args(["--json", "serve", "--db", server_db.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .args(["--log-format", "json", "--registration-token", TOKEN])
        .env("DBSYNC_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("dbsync serve starts");
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let announced: serde_json::Value = serde_json::from_str(&first).expect("a JSON line");
    let url = announced["listening"].as_str().unwrap().to_string();
    let metrics_url = announced["metrics"].as_str().expect("the metrics URL");
    let metrics_addr = metrics_url
        .strip_prefix("http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .expect("http://ADDR/metrics")
        .to_string();

    let node = node_db.to_str().unwrap();
    ok(&["track", "--db", node]);
    ok(&["register", "--db", node, "--server", &url, "--token", TOKEN]);
    rusqlite::Connection::open(&node_db)
        .unwrap()
        .execute_batch("INSERT INTO note (body) VALUES ('hello');")
        .unwrap();
    ok(&["sync", "--db", node]);
    let metrics = scrape(&metrics_addr);
    let _ = server.kill();
    let _ = server.wait();

    for series in [
        "dbsync_requests_total{endpoint=\"register\",status=\"200\",code=\"none\"} 1",
        "dbsync_requests_total{endpoint=\"push\",status=\"200\",code=\"none\"} 1",
        "dbsync_latest_version 1",
        "dbsync_registered_nodes 1",
    ] {
        assert!(
            metrics.contains(&format!("{series}\n")),
            "{series} in\n{metrics}"
        );
    }

    let logs = std::fs::read_to_string(&stderr_path).unwrap();
    let requests: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    let endpoints: Vec<&str> = requests
        .iter()
        .map(|r| r["fields"]["endpoint"].as_str().unwrap())
        .collect();
    assert!(
        endpoints.starts_with(&["register", "push"]),
        "one line per request: {endpoints:?}\n{logs}"
    );
    let node_id = rusqlite::Connection::open(&node_db)
        .unwrap()
        .query_row(
            "SELECT value FROM dbsync_state WHERE key = 'node_id'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap();
    for line in &requests {
        let fields = &line["fields"];
        for field in ["method", "path", "status", "ms", "bytes_in", "bytes_out"] {
            assert!(!fields[field].is_null(), "{field} missing: {line}");
        }
        assert_eq!(line["level"], "INFO");
        if fields["endpoint"] == "push" {
            assert_eq!(fields["node"], node_id, "{line}");
            assert_eq!(fields["status"], 200);
            assert!(fields["bytes_in"].as_u64().unwrap() > 0);
        }
    }

    let secret = rusqlite::Connection::open(&node_db)
        .unwrap()
        .query_row(
            "SELECT value FROM dbsync_state WHERE key = 'secret'",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap();
    assert!(secret.len() >= 43, "the node holds its secret");
    for shown in [&logs, &first, &metrics] {
        assert!(
            !shown.contains(TOKEN),
            "the registration token was shown:\n{shown}"
        );
        assert!(
            !shown.contains(&secret),
            "the node's secret was shown:\n{shown}"
        );
    }
}
