//! The client procedures against the real server on 127.0.0.1:0.

mod common;

use common::*;
use dbsync_client::{ClientError, Node, Procedure, PushOutcome};
use dbsync_core::{ErrorCode, RowId};
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_with_conflicting_offline_edits_converge_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let base = url(server.local_addr());
    let a = node(dir.path(), "a", &base).await;
    let b = node(dir.path(), "b", &base).await;
    let exec = |n: &Node, sql: &str| n.database().lock().unwrap().execute_batch(sql).unwrap();

    exec(
        &a,
        "INSERT INTO city (name) VALUES ('Lisbon'); INSERT INTO city (name) VALUES ('Porto');",
    );
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    // Offline: a updates Lisbon and b deletes it; both insert a person with key 1;
    // a swaps the two city names.
    exec(&a, "UPDATE city SET founded = '1147-10-25' WHERE id = 1; INSERT INTO person (name, city_id) VALUES ('Ana', 1);");
    exec(&a, "UPDATE city SET name = 'x' WHERE id = 1; UPDATE city SET name = 'Lisbon' WHERE id = 2; UPDATE city SET name = 'Porto' WHERE id = 1;");
    exec(
        &b,
        "DELETE FROM city WHERE id = 1; INSERT INTO person (name, city_id) VALUES ('Bruno', 2);",
    );
    a.sync().await.unwrap();
    let report = b.sync().await.unwrap();
    assert!(report.conflicts > 0, "{report:?}");
    a.sync().await.unwrap();
    let server_rows = dump(&dir.path().join("server.db"));
    assert_eq!(dump(&db_path(dir.path(), "a")), server_rows);
    assert_eq!(dump(&db_path(dir.path(), "b")), server_rows);
    assert_eq!(
        count(&dir.path().join("server.db"), "SELECT count(*) FROM person"),
        2,
        "both people kept"
    );
    assert!(!b.conflicts().await.unwrap().is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_response_is_lost_is_retried_and_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let relay = relay(server.local_addr(), "/v1/push").await;
    let a = node(dir.path(), "a", &url(relay.addr)).await;
    a.database()
        .lock()
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    relay.drop_responses.store(1, Ordering::SeqCst);
    let lost = a.push().await.unwrap_err();
    assert!(matches!(lost, ClientError::Network(_)), "{lost:?}");
    assert_eq!(
        count(&dir.path().join("server.db"), "SELECT count(*) FROM city"),
        1,
        "the server applied it"
    );
    assert!(a.status().await.unwrap().outstanding_push.is_some());
    match a.push().await.unwrap() {
        PushOutcome::Pushed {
            version, duplicate, ..
        } => {
            assert_eq!(version, 1);
            assert!(duplicate, "the retry must be recognised");
        }
        other => panic!("{other:?}"),
    }
    a.sync().await.unwrap();
    assert_eq!(
        count(&dir.path().join("server.db"), "SELECT count(*) FROM city"),
        1
    );
    assert_eq!(
        dump(&db_path(dir.path(), "a")),
        dump(&dir.path().join("server.db"))
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_pulls_after_a_lost_push_response_does_not_duplicate_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let relay = relay(server.local_addr(), "/v1/push").await;
    let a = node(dir.path(), "a", &url(relay.addr)).await;
    let b = node(dir.path(), "b", &url(server.local_addr())).await;
    a.database()
        .lock()
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    relay.drop_responses.store(1, Ordering::SeqCst);
    assert!(a.push().await.is_err());
    b.database()
        .lock()
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Porto');")
        .unwrap();
    b.sync().await.unwrap();
    let merged = a.pull().await.unwrap();
    assert_eq!(merged.own_versions, vec![1]);
    a.sync().await.unwrap();
    assert_eq!(
        count(&dir.path().join("server.db"), "SELECT count(*) FROM city"),
        2
    );
    assert_eq!(
        dump(&db_path(dir.path(), "a")),
        dump(&dir.path().join("server.db"))
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_made_beside_repeated_syncs_are_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let base = url(server.local_addr());
    let a = node(dir.path(), "a", &base).await;
    let stop = Arc::new(AtomicBool::new(false));
    let path = db_path(dir.path(), "a");
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // The application: its own connection, its own transactions.
            let conn = Connection::open(&path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(30))
                .unwrap();
            let mut written = 0i64;
            while !stop.load(Ordering::SeqCst) || written < 50 {
                written += 1;
                conn.execute(
                    "INSERT INTO city (name) VALUES (?1)",
                    [format!("city {written}")],
                )
                .unwrap();
                if written % 3 == 0 {
                    conn.execute(
                        "UPDATE city SET founded = '2000-01-01' WHERE id = ?1",
                        [written - 1],
                    )
                    .unwrap();
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            written
        })
    };
    // Sync again and again while the application writes: at least 20
    // syncs and at least half a second of overlap.
    let started = std::time::Instant::now();
    let mut syncs = 0;
    while syncs < 20 || started.elapsed() < std::time::Duration::from_millis(500) {
        a.sync().await.unwrap();
        syncs += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    // A quiet round: the application stopped writing.
    a.sync().await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(a.status().await.unwrap().pending_ops, 0);
    let on_server = count(&dir.path().join("server.db"), "SELECT count(*) FROM city");
    assert_eq!(on_server, written, "every write reached the server");
    assert_eq!(
        dump(&db_path(dir.path(), "a")),
        dump(&dir.path().join("server.db"))
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_and_query_work_over_http_and_report_progress() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let base = url(server.local_addr());
    let a = node(dir.path(), "a", &base).await;
    {
        let db = a.database();
        let conn = db.lock().unwrap();
        for i in 0..40 {
            conn.execute("INSERT INTO city (name) VALUES (?1)", [format!("c{i}")])
                .unwrap();
        }
    }
    a.sync().await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let path = db_path(dir.path(), "b");
    make_db(&path);
    let b = Node::open(&path, &[])
        .unwrap()
        .with_progress(Arc::new(move |p| log.lock().unwrap().push(p)));
    b.register(&base, Some(TOKEN)).await.unwrap();
    let version = b.repair().await.unwrap();
    assert_eq!(version, 1);
    assert_eq!(dump(&path), dump(&dir.path().join("server.db")));
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|p| p.procedure == Procedure::Repair && p.done == 40));
    let mut filter = std::collections::BTreeMap::new();
    filter.insert("name".to_string(), dbsync_core::Value::Text("c7".into()));
    let found = b.query("city", filter, None).await.unwrap();
    assert_eq!(found.rows.len(), 1);
    assert_eq!(found.rows[0].id, RowId::Int(8));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_its_own_error_with_a_stable_code() {
    let dir = tempfile::tempdir().unwrap();
    // Not registered.
    let path = db_path(dir.path(), "lonely");
    make_db(&path);
    let lonely = Node::open(&path, &[]).unwrap();
    let e = lonely.push().await.unwrap_err();
    assert!(matches!(e, ClientError::NotRegistered));
    assert_eq!(e.code(), ErrorCode::NotRegistered);
    // Network unreachable: nothing listens on that port.
    let closed = {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let e = lonely
        .register(&url(closed), Some(TOKEN))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NetworkUnreachable, "{e}");
    // Rejected by the server, with its code.
    let server = start_server(dir.path()).await;
    let e = lonely
        .register(&url(server.local_addr()), Some("wrong"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Rejected {
                code: ErrorCode::RegistrationRefused,
                status: 403,
                ..
            }
        ),
        "{e:?}"
    );
    // Schema mismatch: a node that syncs only one of the tables.
    let other = db_path(dir.path(), "other");
    make_db(&other);
    let partial = Node::open(&other, &[dbsync_sqlite::TableSpec::both("city")]).unwrap();
    let e = partial
        .register(&url(server.local_addr()), Some(TOKEN))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::SchemaMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("fingerprint"));
    server.shutdown().await;
}

async fn small_page_server(dir: &std::path::Path) -> dbsync_server::ServerHandle {
    let db = dir.join("server.db");
    make_db(&db);
    let mut config = dbsync_server::Config::new();
    config.registration_token = Some(TOKEN.into());
    config.limits.pull_page_ops = 4;
    config.limits.repair_page_rows = 4;
    dbsync_server::Server::bind(sqlite_store(&db), config)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_whose_page_is_lost_asks_again_with_the_same_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let server = small_page_server(dir.path()).await;
    let a = node(dir.path(), "a", &url(server.local_addr())).await;
    {
        let db = a.database();
        let conn = db.lock().unwrap();
        for i in 0..20 {
            conn.execute("INSERT INTO city (name) VALUES (?1)", [format!("c{i}")])
                .unwrap();
        }
    }
    a.sync().await.unwrap();
    let relay = relay(server.local_addr(), "/v1/pull").await;
    let b = node(dir.path(), "b", &url(relay.addr)).await;
    relay.drop_responses.store(2, Ordering::SeqCst);
    let merged = b.pull().await.unwrap();
    assert_eq!(merged.ops_merged, 20);
    assert_eq!(
        relay.drop_responses.load(Ordering::SeqCst),
        0,
        "two answers were lost on the way"
    );
    assert_eq!(
        dump(&db_path(dir.path(), "b")),
        dump(&dir.path().join("server.db"))
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_cut_short_resumes_from_its_last_staged_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = small_page_server(dir.path()).await;
    let a = node(dir.path(), "a", &url(server.local_addr())).await;
    {
        let db = a.database();
        let conn = db.lock().unwrap();
        for i in 0..30 {
            conn.execute("INSERT INTO city (name) VALUES (?1)", [format!("c{i}")])
                .unwrap();
        }
    }
    a.sync().await.unwrap();
    let relay = relay(server.local_addr(), "/v1/repair").await;
    let b = node(dir.path(), "b", &url(relay.addr)).await;
    // Let two pages through, then lose every answer: the repair gives up.
    let pages = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let drops = relay.drop_responses.clone();
    let b = b.with_progress(Arc::new(move |_| {
        if pages.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            drops.store(1000, Ordering::SeqCst);
        }
    }));
    let cut = b.repair().await;
    assert!(matches!(cut, Err(ClientError::Network(_))), "{cut:?}");
    let staged = count(
        &db_path(dir.path(), "b"),
        "SELECT count(*) FROM dbsync_repair_stage",
    );
    assert_eq!(
        staged, 8,
        "two pages of four rows were staged before the cut"
    );
    relay.drop_responses.store(0, Ordering::SeqCst);
    b.repair().await.unwrap();
    assert_eq!(
        dump(&db_path(dir.path(), "b")),
        dump(&dir.path().join("server.db"))
    );
    assert_eq!(
        count(
            &db_path(dir.path(), "b"),
            "SELECT count(*) FROM dbsync_repair_stage"
        ),
        0
    );
    server.shutdown().await;
}
