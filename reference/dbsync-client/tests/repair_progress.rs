//! A repair's progress names its total from the first page on (§13.2).

mod common;

use common::*;
use dbsync_client::{Node, Procedure};
use dbsync_server::{Config, Server};
use std::sync::{Arc, Mutex};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_progress_report_of_a_repair_names_the_total_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    make_db(&db);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        for i in 0..35 {
            conn.execute("INSERT INTO city (name) VALUES (?1)", [format!("c{i}")])
                .unwrap();
        }
        conn.execute("INSERT INTO person (name, city_id) VALUES ('Ana', 1)", [])
            .unwrap();
    }
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.limits.repair_page_rows = 10;
    let server = Server::bind(common::sqlite_store(&db), config)
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let path = db_path(dir.path(), "b");
    make_db(&path);
    let b = Node::open(&path, &[])
        .unwrap()
        .with_progress(Arc::new(move |p| log.lock().unwrap().push(p)));
    b.register(&url(server.local_addr()), Some(TOKEN))
        .await
        .unwrap();
    b.repair().await.unwrap();
    let reports: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.procedure == Procedure::Repair)
        .map(|p| (p.done, p.total))
        .collect();
    assert_eq!(
        reports,
        [
            (10, Some(36)),
            (20, Some(36)),
            (30, Some(36)),
            (36, Some(36)),
            (36, Some(36))
        ]
    );
    server.shutdown().await;
}
