//! Rows a server database holds before it is first served (spec §6.2):
//! captured when the store first tracks their table, they are sealed into
//! a version like any direct write, so registered nodes pull them. A real
//! server on 127.0.0.1:0 over a real SQLite file and a real PostgreSQL
//! database.

mod common;

use common::*;
use dbsync_core::protocol::PullResponse;
use dbsync_core::{Command, Value};
use dbsync_postgres::PgStore;
use dbsync_sqlite::SqliteStore;

/// Rows written before the first serve, children's before their parents'
/// ids so that capture order alone would not put parents first.
const BEFORE_FIRST_SERVE: &str = "
INSERT INTO city (id, name) VALUES (7, 'Braga'), (2, 'Porto');
INSERT INTO person (id, name, city_id) VALUES (1, 'Rui', 7);
INSERT INTO holiday (id, day) VALUES (3, '2025-12-25');
";

/// Opens the server's database again, as a second `dbsync serve` would.
async fn serve_again(db: &'static Db) {
    tokio::task::spawn_blocking(move || match db {
        Db::Sqlite(path) => drop(SqliteStore::open(path, &tables(), Default::default()).unwrap()),
        Db::Postgres(pg) => {
            drop(PgStore::connect(&pg.url(), &tables(), Default::default()).unwrap())
        }
    })
    .await
    .unwrap();
}

async fn rows_present_before_the_first_serve_reach_a_registered_node_as_one_version() {
    let ts = TestServer::start_seeded(BEFORE_FIRST_SERVE, |_| {}).await;
    let node = ts.register().await;
    let page: PullResponse = ts.pull(&node, 0, None).await.parse();
    assert_eq!(page.target_version, 1);
    assert_eq!(page.versions.len(), 1);
    assert_eq!(
        (
            page.versions[0].node_id,
            page.versions[0].push_id.as_deref()
        ),
        (None, None)
    );
    let ops: Vec<(&str, i64, Command)> = page
        .ops
        .iter()
        .map(|o| {
            (
                o.table.as_str(),
                o.row_id.as_int().expect("an integer id"),
                o.command,
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("city", 2, Command::Insert),
            ("city", 7, Command::Insert),
            ("person", 1, Command::Insert),
            ("holiday", 3, Command::Insert),
        ],
        "parents' tables first, rows in ascending id"
    );
    let rui = page.rows.iter().find(|r| r.table == "person").unwrap();
    assert_eq!(rui.values["city_id"], Value::Integer(7));
    // A push on version 0 that relies on those rows must pull them first
    // (spec §10.2.2.1, C2: Eva lives in Braga, which version 1 wrote).
    let rows = vec![person(9, "Eva", Some(7))];
    let err = ts
        .push(&node, "push-0001", 0, inserts(&rows), rows)
        .await
        .expect_error(409, "pull_required");
    assert_eq!(err.error.details.unwrap()["reason"], "parent");
}

async fn serving_the_database_again_records_its_rows_no_second_time() {
    let ts = TestServer::start_seeded(BEFORE_FIRST_SERVE, |_| {}).await;
    let ts: &'static TestServer = Box::leak(Box::new(ts));
    serve_again(&ts.db).await;
    assert_eq!(ts.db.int("SELECT count(*) FROM dbsync_oplog"), 4);
    let node = ts.register().await;
    let page: PullResponse = ts.pull(&node, 0, None).await.parse();
    assert_eq!((page.target_version, page.ops.len()), (1, 4));
    serve_again(&ts.db).await;
    assert_eq!(ts.db.int("SELECT count(*) FROM dbsync_oplog"), 4);
    assert_eq!(ts.db.int("SELECT count(*) FROM dbsync_versions"), 1);
}

async fn an_empty_database_first_served_has_no_version() {
    let ts = TestServer::start_seeded("", |_| {}).await;
    let node = ts.register().await;
    let page: PullResponse = ts.pull(&node, 0, None).await.parse();
    assert_eq!((page.target_version, page.ops.len()), (0, 0));
}

both_stores!(
    rows_present_before_the_first_serve_reach_a_registered_node_as_one_version,
    serving_the_database_again_records_its_rows_no_second_time,
    an_empty_database_first_served_has_no_version,
);
