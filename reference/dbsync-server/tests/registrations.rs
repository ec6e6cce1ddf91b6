//! Registrations (spec §9.6, §9.7): the rate limit of open registration,
//! the background purge of nodes never seen, and revoked nodes — on a
//! real server over both stores.

mod common;

use common::*;
use dbsync_server::RegisterRate;
use std::time::Duration;

/// Runs blocking engine work from a test.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn node_count(ts: &TestServer) -> i64 {
    ts.db.int("SELECT count(*) FROM dbsync_nodes")
}

async fn open_register(ts: &TestServer) -> Reply {
    ts.post("/v1/register", ts.register_body(None)).await
}

async fn open_registration_over_its_rate_is_rate_limited_until_the_bucket_refills() {
    let ts = TestServer::start(|c| {
        c.open_registration = true;
        c.register_rate = Some(RegisterRate {
            count: 2,
            per: Duration::from_secs(2),
        });
    })
    .await;
    let mut registered = 0;
    let refused = loop {
        let reply = open_register(&ts).await;
        if reply.status != 200 {
            break reply;
        }
        registered += 1;
        assert!(registered <= 4, "the bucket of 2 never emptied");
    };
    let err = refused.expect_error(429, "rate_limited");
    let retry_after = err.error.details.unwrap()["retry_after"].as_u64().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        refused
            .headers
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap(),
        retry_after.to_string()
    );
    assert_eq!(
        node_count(&ts),
        registered,
        "a refused register records nothing"
    );
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = open_register(&ts).await;
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
}

async fn registration_with_a_token_is_not_rate_limited() {
    let ts = TestServer::start(|c| {
        c.register_rate = Some(RegisterRate {
            count: 1,
            per: Duration::from_secs(3600),
        });
    })
    .await;
    for _ in 0..3 {
        ts.register().await;
    }
    assert_eq!(node_count(&ts), 3);
}

async fn a_node_never_seen_is_purged_in_the_background_and_a_node_seen_is_kept() {
    let ts = TestServer::start(|c| c.purge_unused_after = Some(Duration::from_secs(1))).await;
    let (seen, unseen) = (ts.register().await, ts.register().await);
    // Most likely in the second it registered: seen all the same.
    ts.pull(&seen, 0, None).await.parse::<serde_json::Value>();
    let query = format!(
        "SELECT count(*) FROM dbsync_nodes WHERE node_id = {}",
        unseen.id
    );
    for _ in 0..100 {
        if ts.db.int(&query) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ts.db.int(&query), 0, "the node never seen was not purged");
    ts.pull(&unseen, 0, None)
        .await
        .expect_error(401, "unknown_node");
    ts.pull(&seen, 0, None).await.parse::<serde_json::Value>();
}

async fn a_revoked_node_is_unknown_leaves_no_nonce_and_no_longer_holds_back_trim() {
    let ts = TestServer::start(|_| {}).await;
    let (pusher, idle) = (ts.register().await, ts.register().await);
    let rows = vec![city(1, "Lyon")];
    ts.push(&pusher, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse::<serde_json::Value>();
    // `idle` authenticates (a nonce) but still holds version 0.
    ts.repair(&idle, None).await;
    let idle_nonces = format!(
        "SELECT count(*) FROM dbsync_nonces WHERE node_id = {}",
        idle.id
    );
    assert!(ts.db.int(&idle_nonces) > 0);
    let engine = ts.server().engine();
    // The repair's first page recorded it at version 1: put it back at 0,
    // so that it is the node holding back trim.
    ts.db.exec(&format!(
        "UPDATE dbsync_nodes SET known_version = 0 WHERE node_id = {}",
        idle.id
    ));
    assert_eq!(
        blocking(|| engine.trim(now(), 86_400))
            .unwrap()
            .versions_dropped,
        0
    );

    let refused = blocking(|| engine.revoke(&[idle.id, 999_999])).unwrap_err();
    assert_eq!(refused.code.as_str(), "unknown_node");
    assert_eq!(node_count(&ts), 2, "an unknown id changes nothing");

    assert_eq!(blocking(|| engine.revoke(&[idle.id])).unwrap(), [idle.id]);
    assert_eq!(ts.db.int(&idle_nonces), 0);
    ts.pull(&idle, 0, None)
        .await
        .expect_error(401, "unknown_node");
    let push_records = format!(
        "SELECT count(*) FROM dbsync_push_ids WHERE node_id = {}",
        pusher.id
    );
    assert_eq!(ts.db.int(&push_records), 1);
    let trimmed = blocking(|| engine.trim(now(), 86_400)).unwrap();
    assert_eq!((trimmed.trimmed_through, trimmed.versions_dropped), (1, 1));
}

async fn an_id_of_a_revoked_or_purged_node_is_never_given_again() {
    let ts = TestServer::start(|_| {}).await;
    let engine = ts.server().engine();
    let (a, b) = (ts.register().await, ts.register().await);
    blocking(|| engine.revoke(&[b.id])).unwrap();
    let c = ts.register().await;
    assert!(c.id > b.id, "{} came back", b.id);
    let purged = blocking(|| engine.purge_unseen(now() + 10, 5)).unwrap();
    let purged: Vec<u64> = purged.iter().map(|n| n.node_id).collect();
    assert_eq!(purged, [a.id, c.id]);
    assert!(ts.register().await.id > c.id);
}

async fn nodes_of_a_database_made_before_the_seen_column_count_as_seen() {
    let mut ts = TestServer::start(|_| {}).await;
    let old = ts.register().await;
    ts.stop().await;
    ts.db.exec("ALTER TABLE dbsync_nodes DROP COLUMN seen");
    ts.restart(|_| {}).await;
    let fresh = ts.register().await;
    let engine = ts.server().engine();
    let nodes = blocking(|| engine.nodes()).unwrap();
    let seen: Vec<(u64, bool)> = nodes.iter().map(|n| (n.node_id, n.seen)).collect();
    assert_eq!(seen, [(old.id, true), (fresh.id, false)]);
    let purged = blocking(|| engine.purge_unseen(now() + 10, 5)).unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].node_id, fresh.id);
}

both_stores!(
    open_registration_over_its_rate_is_rate_limited_until_the_bucket_refills,
    registration_with_a_token_is_not_rate_limited,
    a_node_never_seen_is_purged_in_the_background_and_a_node_seen_is_kept,
    a_revoked_node_is_unknown_leaves_no_nonce_and_no_longer_holds_back_trim,
    an_id_of_a_revoked_or_purged_node_is_never_given_again,
    nodes_of_a_database_made_before_the_seen_column_count_as_seen,
);
