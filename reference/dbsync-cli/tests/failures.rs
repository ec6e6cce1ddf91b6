//! How the command line reports a server that never answers, a malformed
//! server URL and an unreachable server: each with its exit code, and
//! never a hang.

mod support {
    pub mod run;
}
use support::run::dbsync;

use std::path::Path;
use std::time::{Duration, Instant};

fn tracked_db(dir: &Path) -> String {
    let path = dir.join("n.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);")
        .unwrap();
    let db = path.to_str().unwrap().to_string();
    assert!(dbsync(&["track", "--db", &db]).status.success());
    db
}

#[test]
fn a_server_that_accepts_and_never_answers_fails_within_the_timeouts_with_exit_code_5() {
    let dir = tempfile::tempdir().unwrap();
    let db = tracked_db(dir.path());
    // A real listener whose connections are accepted by the kernel and
    // never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = dbsync(&[
        "register",
        "--db",
        &db,
        "--server",
        &url,
        "--read-timeout",
        "1",
        "--timeout",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("read timeout") && stderr.contains("retrying is safe"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    drop(silent);
}

#[test]
fn a_malformed_server_url_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = tracked_db(dir.path());
    for bad in ["localhost:8080", "htp://127.0.0.1:8080", "http://"] {
        let out = dbsync(&["register", "--db", &db, "--server", bad]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("invalid_configuration"), "{stderr}");
        assert!(!stderr.contains("network"), "{stderr}");
    }
    let out = dbsync(&[
        "register",
        "--db",
        &db,
        "--server",
        "http://x",
        "--timeout",
        "-1",
    ]);
    assert_eq!(out.status.code(), Some(2), "a negative timeout");
}
