//! Unique collisions settled from the command line (spec §12.2.4), and
//! the resolution policy chosen there (§12.4): two nodes add the same
//! track to a playlist offline, with Python's `sqlite3` as the
//! application; the second node's pull stops, its error names the local
//! row that holds the values, and one `dbsync resolve` lets it sync.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

mod support {
    pub mod app_rows;
    pub mod run;
    pub mod serving;
}
use support::app_rows::{app, conflicts, every_row, sync, track_and_register};
use support::run::{dbsync, ok, BIN};
use support::serving::{serve, Serving};

const SCHEMA: &str = "
CREATE TABLE playlist (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE playlist_track (id INTEGER PRIMARY KEY, playlist_id INTEGER NOT NULL REFERENCES playlist(id),
  track_id INTEGER NOT NULL, position INTEGER, UNIQUE (playlist_id, track_id));
";
const TABLES: [&str; 2] = ["playlist", "playlist_track"];

/// A server and two registered nodes that share playlist 1 and track 10
/// in it (row 1).
fn two_nodes(dir: &Path) -> (Serving, PathBuf, PathBuf, PathBuf) {
    let server_db = dir.join("server.db");
    app(&server_db, SCHEMA);
    let server = serve(
        BIN,
        server_db.to_str().unwrap(),
        &["--registration-token", "sesame"],
        Stdio::null(),
    );
    let [a, b] = ["a.db", "b.db"].map(|name| {
        let db = dir.join(name);
        app(&db, SCHEMA);
        track_and_register(&db, &TABLES, false, &server.url);
        db
    });
    app(
        &a,
        "INSERT INTO playlist VALUES (1, 'Road trip');
             INSERT INTO playlist_track VALUES (1, 1, 10, 1);",
    );
    sync(&a);
    sync(&b);
    (server, server_db, a, b)
}

/// Both nodes add track 42 to playlist 1 offline; `a` syncs first. The
/// rows take different keys on purpose (b's 7 is above a's 2), so the
/// collision is not also an insert conflict. `b`'s sync stops: the
/// error (its stderr) is returned.
fn collide(a: &Path, b: &Path) -> String {
    app(a, "INSERT INTO playlist_track VALUES (2, 1, 42, 2);");
    app(b, "INSERT INTO playlist_track VALUES (7, 1, 42, 5);");
    sync(a);
    let out = dbsync(&["sync", "--db", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "a unique collision exits 4");
    String::from_utf8(out.stderr).unwrap()
}

fn db(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `dbsync resolve` of `playlist_track` row `row_id` in `node`, settled
/// as `how` says.
fn resolve(node: &Path, row_id: &str, how: &[&str]) -> Output {
    let mut args = vec![
        "resolve",
        "--db",
        db(node),
        "--table",
        "playlist_track",
        "--row-id",
        row_id,
    ];
    args.extend(how);
    dbsync(&args)
}

#[test]
fn a_collision_names_both_rows_and_renaming_the_local_row_lets_the_node_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, server_db, a, b) = two_nodes(dir.path());
    let error = collide(&a, &b);
    assert!(
        error.contains("incoming playlist_track row 2 wants {\"playlist_id\":1,\"track_id\":42}, which local playlist_track row 7 holds"),
        "{error}"
    );
    assert!(
        error.contains(&format!(
            "dbsync resolve --db {} --table playlist_track --row-id 7 --rename playlist_id=NEW_VALUE",
            db(&b)
        )),
        "{error}"
    );
    let before = every_row(&b, &TABLES);

    // A rename to values another row holds changes nothing.
    let refused = resolve(&b, "7", &["--rename", "track_id=10"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("resolution_refused"));
    assert_eq!(every_row(&b, &TABLES), before);

    let renamed = resolve(&b, "7", &["--rename", "track_id=43"]);
    assert!(renamed.status.success());
    let said = String::from_utf8(renamed.stdout).unwrap();
    assert!(
        said.contains("renamed playlist_track row 7: track_id 42 -> 43"),
        "{said}"
    );
    sync(&b);
    sync(&a);
    let on_server = every_row(&server_db, &TABLES);
    assert_eq!(every_row(&a, &TABLES), on_server);
    assert_eq!(every_row(&b, &TABLES), on_server);
    assert!(
        on_server.contains(&"playlist_track: 2, 1, 42, 2".to_string()),
        "{on_server:?}"
    );
    assert!(
        on_server.contains(&"playlist_track: 7, 1, 43, 5".to_string()),
        "{on_server:?}"
    );
}

#[test]
fn keeping_the_remote_row_drops_a_local_row_the_server_never_had_and_the_node_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, server_db, a, b) = two_nodes(dir.path());
    collide(&a, &b);
    let kept = resolve(&b, "7", &["--keep-remote"]);
    assert!(kept.status.success());
    let said = String::from_utf8(kept.stdout).unwrap();
    assert!(said.contains("deleted playlist_track row 7"), "{said}");
    let status = ok(&["status", "--db", db(&b), "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        status["pending_ops"], 0,
        "the insert and its delete compress to nothing"
    );
    sync(&b);
    let on_server = every_row(&server_db, &TABLES);
    assert_eq!(every_row(&b, &TABLES), on_server);
    assert!(
        on_server.contains(&"playlist_track: 2, 1, 42, 2".to_string()),
        "{on_server:?}"
    );
    assert_eq!(on_server.len(), 3, "{on_server:?}");
}

#[test]
fn keeping_the_remote_row_refuses_a_row_the_server_has() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, _server_db, _a, b) = two_nodes(dir.path());
    let before = every_row(&b, &TABLES);
    let out = resolve(&b, "1", &["--keep-remote", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["error"]["code"], "resolution_refused", "{error}");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("rename it instead"));
    assert_eq!(every_row(&b, &TABLES), before, "nothing changed");
}

#[test]
fn a_policy_stored_at_registration_decides_and_pull_can_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _server_db, a, _) = two_nodes(dir.path());
    let b = dir.path().join("c.db");
    app(&b, SCHEMA);
    ok(&["track", "--db", db(&b)]);
    ok(&[
        "register",
        "--db",
        db(&b),
        "--server",
        &server.url,
        "--token",
        "sesame",
        "--policy",
        "server_wins",
    ]);
    let status = ok(&["status", "--db", db(&b)]);
    assert!(status.contains("policy server_wins"), "{status}");
    sync(&b);
    // Both move track 10 to another position; a first.
    app(&a, "UPDATE playlist_track SET position = 3 WHERE id = 1;");
    app(&b, "UPDATE playlist_track SET position = 4 WHERE id = 1;");
    sync(&a);
    sync(&b);
    let row = every_row(&b, &["playlist_track"]);
    assert_eq!(
        row[0], "playlist_track: 1, 1, 10, 3",
        "server_wins took a's position"
    );
    let log: Vec<serde_json::Value> = serde_json::from_str(&conflicts(&b)).unwrap();
    assert_eq!(log[0]["entry"]["rule"], "remote_update_taken", "{log:?}");
    assert_eq!(log[0]["entry"]["policy"], "server_wins");

    // --policy on one pull overrides the stored policy for that pull.
    app(&a, "UPDATE playlist_track SET position = 5 WHERE id = 1;");
    app(&b, "UPDATE playlist_track SET position = 6 WHERE id = 1;");
    sync(&a);
    ok(&["pull", "--db", db(&b), "--policy", "node_wins"]);
    let row = every_row(&b, &["playlist_track"]);
    assert_eq!(
        row[0], "playlist_track: 1, 1, 10, 6",
        "node_wins kept b's position"
    );
    let text = ok(&["conflicts", "--db", db(&b)]);
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("local_update_kept, node_wins"),
        "most recent first: {text}"
    );
    assert!(first.contains("lost: {\"position\":5}"), "{text}");
}
