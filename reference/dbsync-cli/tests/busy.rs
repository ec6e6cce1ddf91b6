//! `dbsync` beside an application that holds a write transaction (spec
//! §3.4.1): the application is a Python 3 process writing through the
//! standard library's `sqlite3`, the server a real `dbsync serve`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

const SCHEMA: &str =
    "CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);";

/// The application: opens the database, begins a transaction, runs one
/// statement, says `holding`, and ends the transaction with the statement
/// it reads on stdin (`COMMIT` or `ROLLBACK`; `ROLLBACK` when stdin closes).
const APP: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN")
c.execute(sys.argv[2])
print("holding", flush=True)
end = sys.stdin.readline().strip() or "ROLLBACK"
c.execute(end)
print("ended", flush=True)
"#;

mod support {
    pub mod run;
    pub mod serving;
}
use support::run::{dbsync, ok, BIN};

/// An application process holding a write transaction on a database.
struct App {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl App {
    /// Starts the application and waits until its transaction holds the
    /// write lock (`statement` has run).
    fn hold(db: &Path, statement: &str) -> App {
        let mut child = Command::new("python3")
            .args(["-c", APP, db.to_str().unwrap(), statement])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (the application of this test)");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "holding",
            "the application holds its transaction"
        );
        App { child, stdin }
    }

    /// Ends the transaction with `end` (`COMMIT` or `ROLLBACK`).
    fn end(mut self, end: &str) {
        let mut stdin = self.stdin.take().unwrap();
        writeln!(stdin, "{end}").unwrap();
        drop(stdin);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the application's {end} succeeded");
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.wait();
    }
}

/// Runs `dbsync args` while `app` holds its transaction, and ends the
/// transaction with `end` about a second later; returns the output.
fn run_beside(app: App, end: &str, args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dbsync runs");
    std::thread::sleep(Duration::from_secs(1));
    app.end(end);
    child.wait_with_output().unwrap()
}

fn succeeded(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "dbsync {args:?} failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn make_db(path: &Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
}

fn cities(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT name FROM city ORDER BY id").unwrap();
    let names = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names
}

/// A served database and one tracked, registered node; the server is
/// killed when the returned guard is dropped.
fn registered_node(dir: &Path) -> (support::serving::Serving, String) {
    make_db(&dir.join("server.db"));
    let server = support::serving::serve(
        BIN,
        dir.join("server.db").to_str().unwrap(),
        &["--registration-token", "sesame"],
        Stdio::null(),
    );
    let node = dir.join("node.db");
    make_db(&node);
    let node = node.to_str().unwrap().to_string();
    ok(&["track", "--db", &node]);
    ok(&[
        "register",
        "--db",
        &node,
        "--server",
        &server.url,
        "--token",
        "sesame",
    ]);
    (server, node)
}

#[test]
fn sync_and_status_wait_for_the_applications_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, node) = registered_node(dir.path());
    let app = App::hold(
        Path::new(&node),
        "INSERT INTO city (name) VALUES ('Lisbon')",
    );
    // Status only reads: it answers while the application still writes,
    // without the uncommitted row.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--db", &node, "--json"])).unwrap();
    assert_eq!(status["pending_ops"], 0);
    let args = ["sync", "--db", &node];
    let out = run_beside(app, "COMMIT", &args);
    let said = succeeded(&args, &out);
    assert!(said.contains("pushed 1 ops"), "{said}");
    assert_eq!(cities(&dir.path().join("server.db")), ["Lisbon"]);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--db", &node, "--json"])).unwrap();
    assert_eq!(status["pending_ops"], 0);
    assert_eq!(status["last_version"], 1);
}

#[test]
fn pull_push_and_repair_wait_for_the_applications_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, node) = registered_node(dir.path());
    let db = Path::new(&node);
    for (args, city, end) in [
        (vec!["pull", "--db", &node], "Faro", "ROLLBACK"),
        (vec!["push", "--db", &node], "Porto", "COMMIT"),
        (vec!["repair", "--db", &node], "Braga", "ROLLBACK"),
    ] {
        let insert = format!("INSERT INTO city (name) VALUES ('{city}')");
        let app = App::hold(db, &insert);
        let out = run_beside(app, end, &args);
        succeeded(&args, &out);
    }
    // The push waited for the commit and carried the committed row; the
    // repair brought it back from the server.
    assert_eq!(cities(&dir.path().join("server.db")), ["Porto"]);
    assert_eq!(cities(db), ["Porto"]);
}

#[test]
fn a_command_gives_up_with_its_own_exit_code_after_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, node) = registered_node(dir.path());
    let app = App::hold(Path::new(&node), "INSERT INTO city (name) VALUES ('Faro')");
    for command in ["sync", "push", "pull", "repair"] {
        let out = dbsync(&[command, "--db", &node, "--busy-timeout", "0.3"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(8), "{command}: {err}");
        assert!(err.contains("database_busy"), "{command}: {err}");
        assert!(err.contains("retrying is safe"), "{command}: {err}");
    }
    app.end("COMMIT");
    // Nothing was changed: the retry pushes the row.
    assert!(ok(&["sync", "--db", &node]).contains("pushed 1 ops"));
    assert_eq!(cities(&dir.path().join("server.db")), ["Faro"]);
    let help = ok(&["--help"]);
    assert!(help.contains("8  database busy"), "{help}");
}
