//! Data a node holds before it syncs (spec §3.5, §13.5): rows a table
//! already holds when it is first tracked are pushed or replaced, as the
//! application says, and never silently ignored; a repair never discards
//! local work nobody has pushed unless told to. A real server on
//! 127.0.0.1:0, real SQLite files, real HTTP.

use dbsync_client::{ClientError, ExistingRows, LocalWork, Node, OpenOptions, RepairOptions};
use dbsync_core::merge::Rule;
use dbsync_core::{ErrorCode, Value};
use dbsync_server::{Config, Server, ServerHandle};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// Two tables shaped like the Chinook sample's `Artist` and `Album`.
const CATALOGUE: &str = "
CREATE TABLE Artist (ArtistId INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT);
CREATE TABLE Album (AlbumId INTEGER PRIMARY KEY AUTOINCREMENT, Title TEXT NOT NULL,
                    ArtistId INTEGER NOT NULL REFERENCES Artist(ArtistId));
";
const TOKEN: &str = "let-me-in";

fn make_db(path: &Path) {
    Connection::open(path)
        .unwrap()
        .execute_batch(CATALOGUE)
        .unwrap();
}

/// `artists` artists with two albums each, as an application wrote them.
fn fill(path: &Path, artists: i64) {
    let conn = Connection::open(path).unwrap();
    for a in 1..=artists {
        conn.execute(
            "INSERT INTO Artist (Name) VALUES (?1)",
            [format!("artist {a}")],
        )
        .unwrap();
        for n in 1..=2 {
            conn.execute(
                "INSERT INTO Album (Title, ArtistId) VALUES (?1, ?2)",
                rusqlite::params![format!("album {n} of {a}"), a],
            )
            .unwrap();
        }
    }
}

async fn start_server(dir: &Path) -> ServerHandle {
    let db = dir.join("server.db");
    make_db(&db);
    let store = std::sync::Arc::new(
        dbsync_sqlite::SqliteStore::open(&db, &[], Default::default()).unwrap(),
    );
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    Server::bind(store, config).await.unwrap()
}

fn url(server: &ServerHandle) -> String {
    format!("http://{}", server.local_addr())
}

fn push_existing() -> OpenOptions {
    OpenOptions::default().with_existing_rows(ExistingRows::Push)
}

async fn registered(path: &Path, options: &OpenOptions, server: &ServerHandle) -> Node {
    let node = Node::open_with(path, &[], options).unwrap();
    node.register(&url(server), Some(TOKEN)).await.unwrap();
    node
}

fn db(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.db"))
}

fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Every row of both tables, as text, for comparing replicas.
fn dump(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT 'artist', ArtistId, Name, NULL FROM Artist ORDER BY ArtistId",
        "SELECT 'album', AlbumId, Title, ArtistId FROM Album ORDER BY AlbumId",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{} {} {:?} {:?}",
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?
                ))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

fn work(table: &str, pending_ops: u64, unsynced_rows: u64) -> LocalWork {
    LocalWork {
        table: table.into(),
        pending_ops,
        unsynced_rows,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_tracked_as_the_nodes_own_work_reach_the_server_and_another_node() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let a_path = db(dir.path(), "a");
    make_db(&a_path);
    fill(&a_path, 30);
    // Unasked, the rows are not ignored: tracking is refused, and nothing
    // of dbsync is left in the database.
    match Node::open(&a_path, &[]) {
        Err(e @ ClientError::ExistingRows(_)) => {
            assert_eq!(e.code(), ErrorCode::ExistingRows);
            let said = e.to_string();
            assert!(said.contains("Album (60 rows), Artist (30 rows)"), "{said}");
            assert!(said.contains("push") && said.contains("replace"), "{said}");
        }
        Err(e) => panic!("expected existing_rows, got {e}"),
        Ok(_) => panic!("a table holding rows was tracked unasked"),
    }
    let leftovers = "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'dbsync%'";
    assert_eq!(count(&a_path, leftovers), 0);

    let a = registered(&a_path, &push_existing(), &server).await;
    assert_eq!(a.status().await.unwrap().pending_ops, 90);
    assert_eq!(a.sync().await.unwrap().pushed_ops, 90);
    let server_db = dir.path().join("server.db");
    assert_eq!(count(&server_db, "SELECT count(*) FROM Album"), 60);

    // Another node with rows of its own, under keys the server already
    // used: merged like any local insert, its rows move to fresh keys.
    let b_path = db(dir.path(), "b");
    make_db(&b_path);
    fill(&b_path, 1);
    let b = registered(&b_path, &push_existing(), &server).await;
    b.sync().await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(count(&server_db, "SELECT count(*) FROM Artist"), 31);
    assert_eq!(count(&server_db, "SELECT count(*) FROM Album"), 62);
    assert_eq!(dump(&a_path), dump(&server_db));
    assert_eq!(dump(&b_path), dump(&server_db));
    let log = b.conflicts().await.unwrap();
    assert!(
        log.iter()
            .any(|c| c.entry.rule == Rule::LocalInsertRekeyed && c.entry.table == "Artist"),
        "{log:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_tracked_as_a_copy_are_replaced_by_the_first_repair() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let a_path = db(dir.path(), "a");
    make_db(&a_path);
    fill(&a_path, 5);
    registered(&a_path, &push_existing(), &server)
        .await
        .sync()
        .await
        .unwrap();
    // An old copy of the server's data, with a row the server no longer has.
    let c_path = db(dir.path(), "c");
    make_db(&c_path);
    fill(&c_path, 6);
    let replace = OpenOptions::default().with_existing_rows(ExistingRows::Replace);
    let c = registered(&c_path, &replace, &server).await;
    let status = c.status().await.unwrap();
    assert!(status.repair_owed);
    assert_eq!(status.pending_ops, 0);
    for refused in [c.pull().await.err(), c.push().await.err()] {
        match refused {
            Some(e @ ClientError::RepairOwed) => {
                assert_eq!(e.code(), ErrorCode::RepairRequired)
            }
            other => panic!("expected repair_required, got {other:?}"),
        }
    }
    // The copy is no local work: the repair needs no consent.
    let report = c.repair_with(RepairOptions::default()).await.unwrap();
    assert!(report.discarded.is_empty(), "{report:?}");
    let server_db = dir.path().join("server.db");
    assert_eq!(dump(&c_path), dump(&server_db));
    assert!(!c.status().await.unwrap().repair_owed);
    c.database()
        .lock()
        .unwrap()
        .execute("INSERT INTO Artist (Name) VALUES ('after the repair')", [])
        .unwrap();
    assert_eq!(c.sync().await.unwrap().pushed_ops, 1);
    assert_eq!(dump(&c_path), dump(&server_db));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_refuses_to_discard_pending_work_unless_told_and_then_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let a_path = db(dir.path(), "a");
    make_db(&a_path);
    fill(&a_path, 3);
    registered(&a_path, &push_existing(), &server)
        .await
        .sync()
        .await
        .unwrap();
    let b_path = db(dir.path(), "b");
    make_db(&b_path);
    let b = registered(&b_path, &OpenOptions::default(), &server).await;
    b.repair().await.unwrap();
    b.database()
        .lock()
        .unwrap()
        .execute_batch(
            "INSERT INTO Artist (Name) VALUES ('new here'), ('also new');
             UPDATE Album SET Title = 'renamed here' WHERE AlbumId = 1;",
        )
        .unwrap();
    let before = dump(&b_path);
    let expected = vec![work("Album", 1, 0), work("Artist", 2, 0)];
    match b.repair().await {
        Err(e @ ClientError::UnpushedChanges(_)) => {
            assert_eq!(e.code(), ErrorCode::UnpushedChanges);
            assert!(
                e.to_string()
                    .contains("Album: 1 pending op; Artist: 2 pending ops"),
                "{e}"
            );
            let ClientError::UnpushedChanges(found) = e else {
                unreachable!()
            };
            assert_eq!(found, expected);
        }
        other => panic!("expected unpushed_changes, got {other:?}"),
    }
    assert_eq!(dump(&b_path), before, "a refused repair changes nothing");
    assert_eq!(b.status().await.unwrap().pending_ops, 3);

    let discard = RepairOptions {
        discard_local_changes: true,
    };
    let report = b.repair_with(discard).await.unwrap();
    assert_eq!(report.discarded, expected);
    assert_eq!(dump(&b_path), dump(&dir.path().join("server.db")));
    assert_eq!(b.status().await.unwrap().pending_ops, 0);
    let log = b.conflicts().await.unwrap();
    let discarded: Vec<_> = log
        .iter()
        .filter(|c| c.entry.rule == Rule::LocalChangeDiscarded)
        .collect();
    assert_eq!(discarded.len(), 3);
    let album = discarded.iter().find(|c| c.entry.table == "Album").unwrap();
    assert_eq!(
        album.entry.lost.as_ref().unwrap()["Title"],
        Value::Text("renamed here".into())
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_no_op_ever_named_on_a_node_that_never_synced_are_local_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    // A database tracked before §3.5: its rows were never captured.
    let d_path = db(dir.path(), "d");
    make_db(&d_path);
    let d = registered(&d_path, &OpenOptions::default(), &server).await;
    {
        let db = d.database();
        let conn = db.lock().unwrap();
        conn.execute_batch("BEGIN").unwrap();
        dbsync_sqlite::track::without_capture(&conn, || {
            conn.execute_batch(
                "INSERT INTO Artist (Name) VALUES ('a'), ('b'), ('c');
                 INSERT INTO Album (Title, ArtistId) VALUES ('x', 1);",
            )
        })
        .unwrap();
        conn.execute_batch("COMMIT").unwrap();
    }
    assert_eq!(d.status().await.unwrap().pending_ops, 0);
    match d.repair().await {
        Err(ClientError::UnpushedChanges(found)) => {
            assert_eq!(found, vec![work("Album", 0, 1), work("Artist", 0, 3)])
        }
        other => panic!("expected unpushed_changes, got {other:?}"),
    }
    assert_eq!(count(&d_path, "SELECT count(*) FROM Artist"), 3);
    let discard = RepairOptions {
        discard_local_changes: true,
    };
    let report = d.repair_with(discard).await.unwrap();
    assert_eq!(
        report
            .discarded
            .iter()
            .map(|w| w.unsynced_rows)
            .sum::<u64>(),
        4
    );
    assert_eq!(count(&d_path, "SELECT count(*) FROM Artist"), 0);
    let log = d.conflicts().await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|c| c.entry.rule == Rule::LocalChangeDiscarded && c.entry.local_op.is_none())
            .count(),
        4
    );
    server.shutdown().await;
}
