//! The five endpoints doing their job, against a real server on
//! 127.0.0.1:0 over a real SQLite file.

mod common;

use common::*;
use dbsync_core::protocol::*;
use dbsync_core::{Command, RowId, Value, VersionedOp};
use dbsync_server::RegisterDecision;
use std::sync::{Arc, Mutex};

async fn registration_needs_the_configured_token_and_refuses_a_missing_or_wrong_one() {
    let ts = TestServer::start(|_| {}).await;
    ts.unchanged(ts.post("/v1/register", ts.register_body(None)))
        .await
        .expect_error(403, "registration_refused");
    ts.unchanged(ts.post("/v1/register", ts.register_body(Some("let-me-in-0124"))))
        .await
        .expect_error(403, "registration_refused");
    let reply = ts.post("/v1/register", ts.register_body(Some(TOKEN))).await;
    let resp: RegisterResponse = reply.parse();
    assert_eq!(
        (resp.protocol.as_str(), resp.latest_version, resp.user_id),
        ("1.0", 0, None)
    );
    assert_eq!(resp.secret.len(), 43);
    let second = ts.register().await;
    assert_ne!(second.id, resp.node_id, "every registration is a new node");
}

async fn open_registration_registers_a_node_without_a_token() {
    let ts = TestServer::start(|c| {
        c.registration_token = None;
        c.open_registration = true;
    })
    .await;
    let resp: RegisterResponse = ts
        .post("/v1/register", ts.register_body(None))
        .await
        .parse();
    assert!(resp.node_id >= 1);
}

async fn a_server_with_neither_token_nor_open_registration_refuses_every_registration() {
    let ts = TestServer::start(|c| c.registration_token = None).await;
    ts.unchanged(ts.post("/v1/register", ts.register_body(Some(TOKEN))))
        .await
        .expect_error(403, "registration_refused");
}

async fn the_register_hook_sees_app_data_attaches_a_user_id_reuses_a_node_and_may_refuse() {
    let ts = TestServer::start(|c| {
        c.hooks.register = Some(Arc::new(|req: &RegisterRequest| {
            let app = req.app_data.clone().unwrap_or_default();
            match app.get("user").and_then(|u| u.as_str()) {
                Some("mallory") => Err("mallory may not sync".into()),
                Some(user) => Ok(RegisterDecision {
                    user_id: Some(user.to_string()),
                    reuse_node: app.get("reuse").and_then(|n| n.as_u64()),
                    claims: Vec::new(),
                }),
                None => Ok(RegisterDecision::default()),
            }
        }))
    })
    .await;
    let body = |app: serde_json::Value| {
        to_json(&RegisterRequest {
            protocol: "1.0".into(),
            schema: ts.fingerprint.clone(),
            app_data: app.as_object().cloned(),
            token: Some(TOKEN.into()),
            user: None,
        })
    };
    let ana: RegisterResponse = ts
        .post("/v1/register", body(serde_json::json!({"user": "ana"})))
        .await
        .parse();
    assert_eq!(ana.user_id.as_deref(), Some("ana"));
    let again: RegisterResponse = ts
        .post(
            "/v1/register",
            body(serde_json::json!({"user": "ana", "reuse": ana.node_id})),
        )
        .await
        .parse();
    assert_eq!(
        again.node_id, ana.node_id,
        "the hook handed back the existing node"
    );
    assert_ne!(again.secret, ana.secret, "with a new secret");
    let refused = ts
        .unchanged(ts.post("/v1/register", body(serde_json::json!({"user": "mallory"}))))
        .await
        .expect_error(403, "hook_rejected");
    assert!(refused.error.message.contains("mallory may not sync"));
    assert_eq!(refused.error.details.unwrap()["hook"], "register");
}

async fn an_accepted_push_becomes_the_next_version_and_a_push_on_an_old_base_is_accepted_only_when_clear(
) {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    let b = ts.register().await;
    let rows = vec![city(1, "Lisbon"), person(1, "Ana", Some(1))];
    let resp: PushResponse = ts
        .push(&a, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse();
    assert_eq!(
        (resp.version, resp.duplicate, resp.push_id.as_str()),
        (1, false, "push-a-0001")
    );
    let name = ts.db.value("SELECT name FROM person WHERE id = 1");
    assert_eq!(name.as_deref(), Some("Ana"));

    // b, still at 0, inserts another city: nothing it touches changed
    // after 0, so it becomes version 2 (spec §10.2.2.1).
    let rows = vec![city(2, "Porto")];
    let behind: PushResponse = ts
        .push(&b, "push-b-0001", 0, inserts(&rows), rows)
        .await
        .parse();
    assert_eq!((behind.version, behind.duplicate), (2, false));
    // b renames Lisbon, which version 1 wrote: pull first (C1).
    let rows = vec![city(1, "Lisboa")];
    let err = ts
        .unchanged(ts.push(
            &b,
            "push-b-0002",
            0,
            vec![op("city", 1, Command::Update)],
            rows,
        ))
        .await
        .expect_error(409, "pull_required");
    let details = err.error.details.unwrap();
    assert_eq!(details["latest_version"], 2);
    assert_eq!(
        (
            details["reason"].as_str(),
            details["table"].as_str(),
            details["row_id"].as_i64()
        ),
        (Some("row"), Some("city"), Some(1))
    );
}

async fn a_retried_push_answers_the_same_version_as_a_duplicate_and_applies_nothing_twice() {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    let rows = vec![city(1, "Lisbon")];
    let first: PushResponse = ts
        .push(&a, "push-a-0001", 0, inserts(&rows), rows.clone())
        .await
        .parse();
    // The answer was lost; the node retries the same push (new nonce).
    let retry = ts
        .unchanged(ts.push(&a, "push-a-0001", 0, inserts(&rows), rows))
        .await;
    let retry: PushResponse = retry.parse();
    assert_eq!((retry.version, retry.duplicate), (first.version, true));
    assert_eq!(ts.db.int("SELECT count(*) FROM city"), 1);
}

async fn a_push_id_reused_with_other_content_is_refused() {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    let rows = vec![city(1, "Lisbon")];
    ts.push(&a, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();
    let other = vec![city(2, "Porto")];
    let err = ts
        .unchanged(ts.push(&a, "push-a-0001", 1, inserts(&other), other))
        .await
        .expect_error(409, "push_id_reused");
    assert_eq!(err.error.details.unwrap()["version"], 1);
}

async fn a_pull_after_another_nodes_push_brings_its_ops_its_rows_and_their_parents() {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    let b = ts.register().await;
    let rows = vec![city(1, "Lisbon")];
    ts.push(&a, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();
    let rows = vec![person(1, "Ana", Some(1))];
    ts.push(&a, "push-a-0002", 1, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();

    // b already knows version 1: it gets version 2, the person, and the
    // city the person references.
    let page: PullResponse = ts.pull(&b, 1, None).await.parse();
    assert_eq!(page.target_version, 2);
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.versions.len(), 1);
    assert_eq!(
        (page.versions[0].version, page.versions[0].node_id),
        (2, Some(a.id))
    );
    assert_eq!(page.versions[0].push_id.as_deref(), Some("push-a-0002"));
    assert_eq!(
        page.ops,
        vec![VersionedOp {
            version: 2,
            table: "person".into(),
            row_id: RowId::Int(1),
            command: Command::Insert,
            columns: None,
            out: false,
        }]
    );
    let mut rows = page.rows.clone();
    rows.sort_by(|x, y| x.table.cmp(&y.table));
    assert_eq!(rows, vec![city(1, "Lisbon"), person(1, "Ana", Some(1))]);

    // From version 0 it gets both versions, in order.
    let page: PullResponse = ts.pull(&b, 0, None).await.parse();
    assert_eq!(
        page.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(page.ops.len(), 2);

    // Having pulled, b can push on version 2.
    let rows = vec![city(2, "Porto")];
    let resp: PushResponse = ts
        .push(&b, "push-b-0001", 2, inserts(&rows), rows)
        .await
        .parse();
    assert_eq!(resp.version, 3);
}

async fn a_pull_in_small_pages_resumes_from_each_cursor_and_ends_with_a_null_cursor() {
    let ts = TestServer::start(|c| c.limits.pull_page_ops = 2).await;
    let a = ts.register().await;
    let b = ts.register().await;
    let mut base = 0;
    for v in 0..3 {
        let rows = vec![
            city(v * 2 + 1, &format!("c{}", v * 2 + 1)),
            city(v * 2 + 2, &format!("c{}", v * 2 + 2)),
        ];
        let r: PushResponse = ts
            .push(&a, &format!("push-a-{v:04}"), base, inserts(&rows), rows)
            .await
            .parse();
        base = r.version;
    }
    // One more version of a single op, so pages do not all end on a version.
    let rows = vec![city(7, "c7")];
    ts.push(&a, "push-a-0003", base, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();

    let mut cursor = None;
    let mut ops = Vec::new();
    let mut versions = Vec::new();
    let mut rows = Vec::new();
    let mut pages = 0;
    loop {
        let page: PullResponse = ts.pull(&b, 0, cursor.clone()).await.parse();
        pages += 1;
        assert!(page.ops.len() <= 2);
        assert_eq!(page.target_version, 4);
        ops.extend(page.ops);
        versions.extend(page.versions.into_iter().map(|v| v.version));
        rows.extend(page.rows);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(
        ops.iter().map(|o| o.row_id).collect::<Vec<_>>(),
        (1..=7).map(RowId::Int).collect::<Vec<_>>()
    );
    assert_eq!(versions, vec![1, 2, 3, 4]);
    assert_eq!(rows.len(), 7);

    // Resuming from a page's cursor again (a dropped connection) answers
    // the same page.
    let first: PullResponse = ts.pull(&b, 0, None).await.parse();
    let c = first.next_cursor.clone().unwrap();
    let again1: PullResponse = ts.pull(&b, 0, Some(c.clone())).await.parse();
    let again2: PullResponse = ts.pull(&b, 0, Some(c)).await.parse();
    assert_eq!(again1, again2);
}

async fn a_repair_returns_every_row_in_pages_parents_first() {
    let ts = TestServer::start(|c| c.limits.repair_page_rows = 2).await;
    let a = ts.register().await;
    let rows = vec![
        city(1, "Lisbon"),
        city(2, "Porto"),
        person(1, "Ana", Some(1)),
        person(2, "Rui", Some(2)),
    ];
    ts.push(&a, "push-a-0001", 0, inserts(&rows), rows.clone())
        .await
        .parse::<PushResponse>();
    ts.db
        .exec("INSERT INTO holiday (id, day) VALUES (1, '2025-06-10')");

    let b = ts.register().await;
    let mut cursor = None;
    let mut got = Vec::new();
    let version = loop {
        let page: RepairPage = ts.repair(&b, cursor).await.parse();
        assert!(page.rows.len() <= 2);
        got.extend(page.rows);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break page.version,
        }
    };
    // The direct write on the server became version 2 before the snapshot.
    assert_eq!(version, 2);
    let tables: Vec<&str> = got.iter().map(|r| r.table.as_str()).collect();
    let first_person = tables.iter().position(|t| *t == "person").unwrap();
    assert!(
        tables[..first_person]
            .iter()
            .filter(|t| **t == "city")
            .count()
            == 2,
        "cities come before people: {tables:?}"
    );
    assert_eq!(got.len(), 5);
    assert!(got.contains(&person(2, "Rui", Some(2))));
    // The repaired node holds the latest version: it may push on it.
    let rows = vec![city(3, "Faro")];
    ts.push(&b, "push-b-0001", 2, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();
}

async fn a_query_returns_the_rows_matching_every_filter_up_to_its_limit() {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    let rows = vec![
        city(1, "Lisbon"),
        person(1, "Ana", Some(1)),
        person(2, "Rui", Some(1)),
        person(3, "Eva", None),
    ];
    ts.push(&a, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();
    let query = |filter: serde_json::Value, limit: Option<u32>| {
        to_json(&QueryRequest {
            protocol: "1.0".into(),
            schema: ts.fingerprint.clone(),
            app_data: None,
            table: "person".into(),
            filter: serde_json::from_value(filter).unwrap(),
            limit,
        })
    };
    let resp: QueryResponse = ts
        .signed(
            &a,
            "/v1/query",
            query(serde_json::json!({"city_id": 1}), None),
        )
        .await
        .parse();
    assert_eq!(
        resp.rows,
        vec![person(1, "Ana", Some(1)), person(2, "Rui", Some(1))]
    );
    assert!(!resp.truncated);
    let resp: QueryResponse = ts
        .signed(
            &a,
            "/v1/query",
            query(serde_json::json!({"city_id": null}), None),
        )
        .await
        .parse();
    assert_eq!(resp.rows, vec![person(3, "Eva", None)]);
    let resp: QueryResponse = ts
        .signed(&a, "/v1/query", query(serde_json::json!({}), Some(2)))
        .await
        .parse();
    assert_eq!((resp.rows.len(), resp.truncated), (2, true));
    let resp: QueryResponse = ts
        .signed(
            &a,
            "/v1/query",
            query(serde_json::json!({"name": "Rui", "id": 2}), None),
        )
        .await
        .parse();
    assert_eq!(resp.rows, vec![person(2, "Rui", Some(1))]);
}

async fn the_before_push_hook_may_refuse_and_the_after_push_hook_sees_each_commit_once() {
    let seen: Arc<Mutex<Vec<(u64, u64, usize)>>> = Arc::default();
    let log = seen.clone();
    let ts = TestServer::start(move |c| {
        c.hooks.before_push = Some(Arc::new(|_node, req: &PushRequest| {
            match req.app_data.as_ref().and_then(|a| a.get("session")) {
                Some(s) if s == "expired" => Err("session expired".into()),
                _ => Ok(()),
            }
        }));
        c.hooks.after_push = Some(Arc::new(
            move |node, req: &PushRequest, resp: &PushResponse| {
                log.lock()
                    .unwrap()
                    .push((node, resp.version, req.ops.len()));
            },
        ));
    })
    .await;
    let a = ts.register().await;
    let rows = vec![city(1, "Lisbon")];
    let mut req = PushRequest {
        protocol: "1.0".into(),
        schema: ts.fingerprint.clone(),
        app_data: serde_json::json!({"session": "expired"})
            .as_object()
            .cloned(),
        push_id: "push-a-0001".into(),
        base_version: 0,
        ops: inserts(&rows),
        rows,
        new_rows: Default::default(),
    };
    let err = ts
        .unchanged(ts.signed(&a, "/v1/push", to_json(&req)))
        .await
        .expect_error(403, "hook_rejected");
    assert!(err.error.message.contains("session expired"));
    assert_eq!(err.error.details.unwrap()["hook"], "before_push");
    assert!(seen.lock().unwrap().is_empty());

    req.app_data = None;
    ts.signed(&a, "/v1/push", to_json(&req))
        .await
        .parse::<PushResponse>();
    ts.signed(&a, "/v1/push", to_json(&req))
        .await
        .parse::<PushResponse>(); // a duplicate
    assert_eq!(*seen.lock().unwrap(), vec![(a.id, 1, 1)]);
}

async fn a_write_made_directly_on_the_server_database_reaches_pulling_nodes_as_a_version() {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    ts.db.exec("INSERT INTO holiday (id, day) VALUES (1, '2025-12-25'); INSERT INTO city (id, name) VALUES (1, 'Braga');");
    let page: PullResponse = ts.pull(&a, 0, None).await.parse();
    assert_eq!(page.target_version, 1);
    assert_eq!(page.versions[0].node_id, None);
    assert_eq!(page.versions[0].push_id, None);
    assert_eq!(page.ops.len(), 2);
    let holiday = page.rows.iter().find(|r| r.table == "holiday").unwrap();
    assert_eq!(holiday.values["day"], Value::Text("2025-12-25".into()));
    // And a push on version 0 that changes Braga must now pull first
    // (spec §10.2.2.1, C1).
    let rows = vec![city(1, "Braga do Minho")];
    let err = ts
        .push(
            &a,
            "push-a-0001",
            0,
            vec![op("city", 1, Command::Update)],
            rows,
        )
        .await
        .expect_error(409, "pull_required");
    assert_eq!(err.error.details.unwrap()["reason"], "row");
}

async fn an_update_made_directly_on_the_server_database_names_only_the_columns_it_changed() {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    ts.db
        .exec("INSERT INTO person (id, name, born) VALUES (1, 'Ann', '1990-01-01');");
    ts.pull(&a, 0, None).await.parse::<PullResponse>();
    // The name is set to what it was: only `born` changed (spec §3.1.1).
    ts.db
        .exec("UPDATE person SET name = 'Ann', born = '1991-02-03' WHERE id = 1;");
    let page: PullResponse = ts.pull(&a, 1, None).await.parse();
    assert_eq!(page.ops.len(), 1);
    assert_eq!(page.ops[0].command, Command::Update);
    let columns: Vec<&str> = page.ops[0]
        .columns
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    assert_eq!(columns, ["born"]);
}

async fn trim_drops_versions_every_node_holds_and_a_node_unseen_too_long_must_repair() {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    let b = ts.register().await;
    let rows = vec![city(1, "Lisbon")];
    ts.push(&a, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();
    // b has not pulled: nothing can go.
    let report = ts.server().trim(now(), 3600).await.unwrap();
    assert_eq!((report.trimmed_through, report.versions_dropped), (0, 0));
    ts.pull(&b, 0, None).await.parse::<PullResponse>();
    let report = ts.server().trim(now(), 3600).await.unwrap();
    assert_eq!((report.trimmed_through, report.versions_dropped), (1, 1));
    // A node asking for trimmed history must repair.
    let err = ts
        .pull(&b, 0, None)
        .await
        .expect_error(410, "repair_required");
    assert_eq!(err.error.details.unwrap()["reason"], "trimmed");

    // Much later, a has not been seen: it is marked stale and must repair.
    let report = ts.server().trim(now() + 7200, 3600).await.unwrap();
    assert_eq!(report.nodes_marked_stale, 2);
    let err = ts
        .pull(&a, 1, None)
        .await
        .expect_error(410, "repair_required");
    assert_eq!(err.error.details.unwrap()["reason"], "unseen");
    let mut cursor = None;
    loop {
        let page: RepairPage = ts.repair(&a, cursor).await.parse();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    ts.pull(&a, 1, None).await.parse::<PullResponse>();
}

async fn a_background_trim_runs_at_the_configured_interval() {
    let ts =
        TestServer::start(|c| c.trim_interval = Some(std::time::Duration::from_millis(100))).await;
    let a = ts.register().await;
    let rows = vec![city(1, "Lisbon")];
    ts.push(&a, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();
    for _ in 0..50 {
        let trimmed = ts
            .db
            .value("SELECT value FROM dbsync_state WHERE key = 'trimmed_through'");
        if trimmed.as_deref() == Some("1") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the background trim never ran");
}

async fn shutdown_stops_accepting_connections_and_the_database_stays_usable() {
    let mut ts = TestServer::start(|_| {}).await;
    let addr = ts.addr();
    ts.register().await;
    ts.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert_eq!(ts.db.int("SELECT count(*) FROM dbsync_nodes"), 1);
}

async fn the_content_hash_used_by_the_rejection_tests_sees_an_accepted_push() {
    let ts = TestServer::start(|_| {}).await;
    let a = ts.register().await;
    let before = ts.db_hash();
    let rows = vec![city(1, "Lisbon")];
    ts.push(&a, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();
    assert_ne!(ts.db_hash(), before);
    // A query only reads (the node's last-seen time is not hashed).
    let before = ts.db_hash();
    let query = to_json(&QueryRequest {
        protocol: "1.0".into(),
        schema: ts.fingerprint.clone(),
        app_data: None,
        table: "city".into(),
        filter: Default::default(),
        limit: None,
    });
    ts.signed(&a, "/v1/query", query)
        .await
        .parse::<QueryResponse>();
    assert_eq!(ts.db_hash(), before);
}

async fn many_nodes_pushing_and_pulling_at_once_all_get_their_writes_in_exactly_once() {
    let ts = Arc::new(TestServer::start(|_| {}).await);
    let mut nodes = Vec::new();
    for _ in 0..6 {
        nodes.push(ts.register().await);
    }
    let mut tasks = Vec::new();
    for (n, node) in nodes.into_iter().enumerate() {
        let ts = ts.clone();
        tasks.push(tokio::spawn(async move {
            let mut base = 0;
            for k in 0..3 {
                let id = (n * 10 + k + 1) as i64;
                let rows = vec![city(id, &format!("city {id}"))];
                let push_id = format!("push-{n}-{k:04}");
                loop {
                    let reply = ts
                        .push(&node, &push_id, base, inserts(&rows), rows.clone())
                        .await;
                    if reply.status == 200 {
                        base = reply.parse::<PushResponse>().version;
                        break;
                    }
                    reply.expect_error(409, "pull_required");
                    let mut cursor = None;
                    loop {
                        let page: PullResponse = ts.pull(&node, base, cursor).await.parse();
                        cursor = page.next_cursor;
                        if cursor.is_none() {
                            base = page.target_version;
                            break;
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let cities = ts.db.int("SELECT count(*) FROM city");
    let versions = ts.db.int("SELECT count(*) FROM dbsync_versions");
    assert_eq!((cities, versions), (18, 18));
}

both_stores!(
    registration_needs_the_configured_token_and_refuses_a_missing_or_wrong_one,
    open_registration_registers_a_node_without_a_token,
    a_server_with_neither_token_nor_open_registration_refuses_every_registration,
    the_register_hook_sees_app_data_attaches_a_user_id_reuses_a_node_and_may_refuse,
    an_accepted_push_becomes_the_next_version_and_a_push_on_an_old_base_is_accepted_only_when_clear,
    a_retried_push_answers_the_same_version_as_a_duplicate_and_applies_nothing_twice,
    a_push_id_reused_with_other_content_is_refused,
    a_pull_after_another_nodes_push_brings_its_ops_its_rows_and_their_parents,
    a_pull_in_small_pages_resumes_from_each_cursor_and_ends_with_a_null_cursor,
    a_repair_returns_every_row_in_pages_parents_first,
    a_query_returns_the_rows_matching_every_filter_up_to_its_limit,
    the_before_push_hook_may_refuse_and_the_after_push_hook_sees_each_commit_once,
    a_write_made_directly_on_the_server_database_reaches_pulling_nodes_as_a_version,
    an_update_made_directly_on_the_server_database_names_only_the_columns_it_changed,
    trim_drops_versions_every_node_holds_and_a_node_unseen_too_long_must_repair,
    a_background_trim_runs_at_the_configured_interval,
    shutdown_stops_accepting_connections_and_the_database_stays_usable,
    the_content_hash_used_by_the_rejection_tests_sees_an_accepted_push,
    many_nodes_pushing_and_pulling_at_once_all_get_their_writes_in_exactly_once,
);
