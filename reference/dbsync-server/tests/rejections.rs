//! Every kind of bad request gets its code and status, and leaves the
//! server database exactly as it was (content hash before and after).

mod common;

use common::*;
use dbsync_core::protocol::*;
use dbsync_core::{Command, Value};
use hyper::Method;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server with one node that pushed version 1, and a second node.
async fn setup(configure: impl FnOnce(&mut dbsync_server::Config)) -> (TestServer, Node, Node) {
    let ts = TestServer::start(configure).await;
    let a = ts.register().await;
    let b = ts.register().await;
    let rows = vec![city(1, "Lisbon"), person(1, "Ana", Some(1))];
    ts.push(&a, "push-a-0001", 0, inserts(&rows), rows)
        .await
        .parse::<PushResponse>();
    ts.pull(&b, 0, None).await.parse::<PullResponse>();
    (ts, a, b)
}

/// A push that would be accepted.
fn good_push(ts: &TestServer) -> Vec<u8> {
    let rows = vec![city(2, "Porto")];
    ts.push_body("push-b-0001", 1, inserts(&rows), rows)
}

fn signed_headers(
    node: &Node,
    path: &str,
    signed_body: &[u8],
    timestamp: u64,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut h = json_headers();
    h.extend(auth_headers(node, path, signed_body, timestamp, nonce));
    h
}

async fn a_replayed_request_is_refused_as_replayed_nonce() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = good_push(&ts);
    let headers = signed_headers(&b, "/v1/push", &body, now(), &nonce());
    ts.send(Method::POST, "/v1/push", &headers, body.clone())
        .await
        .parse::<PushResponse>();
    ts.unchanged(ts.send(Method::POST, "/v1/push", &headers, body))
        .await
        .expect_error(401, "replayed_nonce");
}

/// The nonce is recorded in the push's own transaction (spec §8.4): of
/// copies of one signed push that all pass the check before the body,
/// exactly one is applied and every other is `replayed_nonce`.
async fn copies_of_one_signed_push_sent_at_once_are_applied_once() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = good_push(&ts);
    let headers = signed_headers(&b, "/v1/push", &body, now(), &nonce());
    let send = || ts.send(Method::POST, "/v1/push", &headers, body.clone());
    let (r1, r2, r3, r4) = tokio::join!(send(), send(), send(), send());
    let replies = [r1, r2, r3, r4];
    let accepted: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(accepted.len(), 1, "exactly one copy is applied");
    assert_eq!(accepted[0].parse::<PushResponse>().version, 2);
    for refused in replies.iter().filter(|r| r.status != 200) {
        refused.expect_error(401, "replayed_nonce");
    }
    let pulled = ts.pull(&b, 1, None).await.parse::<PullResponse>();
    assert_eq!(pulled.target_version, 2, "one version, not one per copy");
}

/// A pull's last page records its nonce with the node's version: the
/// same signed pull sent again is `replayed_nonce`.
async fn a_replayed_last_pull_page_is_refused_as_replayed_nonce() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = ts.pull_body(1, vec![], None);
    let headers = signed_headers(&b, "/v1/pull", &body, now(), &nonce());
    ts.send(Method::POST, "/v1/pull", &headers, body.clone())
        .await
        .parse::<PullResponse>();
    ts.unchanged(ts.send(Method::POST, "/v1/pull", &headers, body))
        .await
        .expect_error(401, "replayed_nonce");
}

/// So does a repair's last page.
async fn a_replayed_last_repair_page_is_refused_as_replayed_nonce() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = to_json(&RepairRequest {
        protocol: "1.0".into(),
        schema: ts.fingerprint.clone(),
        app_data: None,
        cursor: None,
    });
    let headers = signed_headers(&b, "/v1/repair", &body, now(), &nonce());
    let page = ts
        .send(Method::POST, "/v1/repair", &headers, body.clone())
        .await
        .parse::<RepairPage>();
    assert!(page.next_cursor.is_none(), "one page: its last");
    ts.unchanged(ts.send(Method::POST, "/v1/repair", &headers, body))
        .await
        .expect_error(401, "replayed_nonce");
}

async fn a_tampered_body_is_refused_as_bad_signature() {
    let (ts, _, b) = setup(|_| {}).await;
    let signed = good_push(&ts);
    let rows = vec![city(2, "Evil")];
    let sent = ts.push_body("push-b-0001", 1, inserts(&rows), rows);
    let headers = signed_headers(&b, "/v1/push", &signed, now(), &nonce());
    let err = ts
        .unchanged(ts.send(Method::POST, "/v1/push", &headers, sent))
        .await
        .expect_error(401, "bad_signature");
    assert!(err.error.details.is_none(), "bad_signature reveals nothing");
}

async fn a_request_signed_for_another_path_is_refused_as_bad_signature() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = good_push(&ts);
    let headers = signed_headers(&b, "/v1/pull", &body, now(), &nonce());
    ts.unchanged(ts.send(Method::POST, "/v1/push", &headers, body))
        .await
        .expect_error(401, "bad_signature");
}

async fn an_expired_timestamp_is_refused_as_stale_timestamp_with_the_server_time() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = good_push(&ts);
    let headers = signed_headers(&b, "/v1/push", &body, now() - 301, &nonce());
    let err = ts
        .unchanged(ts.send(Method::POST, "/v1/push", &headers, body.clone()))
        .await
        .expect_error(401, "stale_timestamp");
    let details = err.error.details.unwrap();
    assert_eq!(details["window"], 300);
    assert!(details["server_time"].as_u64().unwrap() >= now() - 5);
    let headers = signed_headers(&b, "/v1/push", &body, now() + 400, &nonce());
    ts.unchanged(ts.send(Method::POST, "/v1/push", &headers, body))
        .await
        .expect_error(401, "stale_timestamp");
}

async fn an_unknown_node_is_refused_as_unknown_node() {
    let (ts, _, b) = setup(|_| {}).await;
    let stranger = Node {
        id: 99,
        secret: b.secret.clone(),
    };
    let body = good_push(&ts);
    let headers = signed_headers(&stranger, "/v1/push", &body, now(), &nonce());
    let err = ts
        .unchanged(ts.send(Method::POST, "/v1/push", &headers, body))
        .await
        .expect_error(401, "unknown_node");
    assert_eq!(err.error.details.unwrap()["node_id"], 99);
}

async fn a_missing_or_malformed_credential_header_is_refused_as_missing_credentials() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = good_push(&ts);
    let err = ts
        .unchanged(ts.send(Method::POST, "/v1/push", &json_headers(), body.clone()))
        .await
        .expect_error(401, "missing_credentials");
    assert_eq!(err.error.details.unwrap()["header"], "Dbsync-Node");
    let mut headers = signed_headers(&b, "/v1/push", &body, now(), &nonce());
    headers.retain(|(k, _)| k != "dbsync-signature");
    let err = ts
        .unchanged(ts.send(Method::POST, "/v1/push", &headers, body.clone()))
        .await
        .expect_error(401, "missing_credentials");
    assert_eq!(err.error.details.unwrap()["header"], "Dbsync-Signature");
    let mut headers = signed_headers(&b, "/v1/push", &body, now(), &nonce());
    headers[1].1 = format!("0{}", b.id);
    ts.unchanged(ts.send(Method::POST, "/v1/push", &headers, body))
        .await
        .expect_error(401, "missing_credentials");
}

async fn an_oversized_body_is_refused_with_413_before_authentication() {
    let (ts, _, b) = setup(|c| c.body_limit = 1024).await;
    let rows: Vec<_> = (2..40)
        .map(|i| city(i, &format!("a rather long city name number {i}")))
        .collect();
    let body = ts.push_body("push-b-0001", 1, inserts(&rows), rows);
    assert!(body.len() > 1024);
    let headers = signed_headers(&b, "/v1/push", &body, now(), &nonce());
    let err = ts
        .unchanged(ts.send(Method::POST, "/v1/push", &headers, body))
        .await
        .expect_error(413, "body_too_large");
    assert_eq!(err.error.details.unwrap()["limit"], 1024);
    // Unsigned too: the size is checked before the credentials.
    ts.unchanged(ts.post("/v1/push", vec![b' '; 2000]))
        .await
        .expect_error(413, "body_too_large");
}

/// Sends raw bytes on a fresh connection and reads until the server
/// closes it (or `wait` passes); returns what came back.
async fn raw(ts: &TestServer, bytes: &[u8], wait: Duration) -> String {
    let mut stream = tokio::net::TcpStream::connect(ts.addr()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn a_chunked_body_is_refused_with_413_as_soon_as_it_passes_the_limit() {
    let (ts, _, _) = setup(|c| c.body_limit = 1024).await;
    let before = ts.db_hash();
    let mut req = b"POST /v1/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(b"200\r\n");
        req.extend_from_slice(&[b' '; 0x200]);
        req.extend_from_slice(b"\r\n");
    }
    // The body never ends: the server must not wait for it.
    let answer = raw(&ts, &req, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"body_too_large\""), "{answer}");
    assert_eq!(ts.db_hash(), before);
}

async fn a_body_that_stops_arriving_is_refused_as_request_timeout() {
    let (ts, _, _) = setup(|c| c.body_read_timeout = Duration::from_millis(300)).await;
    let before = ts.db_hash();
    let req = b"POST /v1/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"protocol\":";
    let answer = raw(&ts, req, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("dbsync-protocol: 1.0"),
        "{answer}"
    );
    assert_eq!(ts.db_hash(), before);
}

async fn a_request_head_that_stops_arriving_gets_its_connection_closed() {
    let (ts, _, _) = setup(|c| c.header_read_timeout = Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let answer = raw(
        &ts,
        b"POST /v1/register HTTP/1.1\r\nhost: x\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the connection was closed by the server"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

async fn an_unknown_table_is_refused_as_unknown_table() {
    let (ts, _, b) = setup(|_| {}).await;
    let mut row = city(2, "Porto");
    row.table = "planet".into();
    let body = ts.push_body(
        "push-b-0001",
        1,
        vec![op("planet", 2, Command::Insert)],
        vec![row],
    );
    let err = ts
        .unchanged(ts.signed(&b, "/v1/push", body))
        .await
        .expect_error(400, "unknown_table");
    assert_eq!(err.error.details.unwrap()["table"], "planet");
}

async fn malformed_json_is_refused_as_malformed_request() {
    let (ts, _, b) = setup(|_| {}).await;
    for body in [&b"{\"protocol\": \"1.0\", "[..], b"[1, 2]", b"", b"\"1.0\""] {
        ts.unchanged(ts.signed(&b, "/v1/push", body.to_vec()))
            .await
            .expect_error(400, "malformed_request");
    }
    // Well-formed JSON that is not a push: an unknown member, a wrong type.
    let mut push: serde_json::Value = serde_json::from_slice(&good_push(&ts)).unwrap();
    push["since"] = 3.into();
    let err = ts
        .unchanged(ts.signed(&b, "/v1/push", to_json(&push)))
        .await
        .expect_error(400, "malformed_request");
    assert!(err.error.message.contains("since"), "{}", err.error.message);
    let mut push: serde_json::Value = serde_json::from_slice(&good_push(&ts)).unwrap();
    push["ops"][0]["command"] = "x".into();
    ts.unchanged(ts.signed(&b, "/v1/push", to_json(&push)))
        .await
        .expect_error(400, "malformed_request");
    // A schema pattern the type alone does not carry.
    let mut push: serde_json::Value = serde_json::from_slice(&good_push(&ts)).unwrap();
    push["push_id"] = "short".into();
    let err = ts
        .unchanged(ts.signed(&b, "/v1/push", to_json(&push)))
        .await
        .expect_error(400, "malformed_request");
    assert_eq!(err.error.details.unwrap()["pointer"], "/push_id");
}

async fn a_wrong_protocol_version_is_refused_as_unsupported_protocol() {
    let (ts, _, b) = setup(|_| {}).await;
    let mut push: serde_json::Value = serde_json::from_slice(&good_push(&ts)).unwrap();
    push["protocol"] = "2.0".into();
    push["whatever"] = "future versions may add members".into();
    let err = ts
        .unchanged(ts.signed(&b, "/v1/push", to_json(&push)))
        .await
        .expect_error(400, "unsupported_protocol");
    assert_eq!(
        err.error.details.unwrap()["supported"],
        serde_json::json!(["1.0"])
    );
    let err = ts
        .unchanged(ts.post(
            "/v1/register",
            br#"{"protocol":"2.0","schema":"x"}"#.to_vec(),
        ))
        .await
        .expect_error(400, "unsupported_protocol");
    assert_eq!(
        err.error.details.unwrap()["supported"],
        serde_json::json!(["1.0"])
    );
    // A protocol that is not a string, or none at all, is malformed.
    ts.unchanged(ts.post("/v1/register", br#"{"protocol":1.0,"schema":"x"}"#.to_vec()))
        .await
        .expect_error(400, "malformed_request");
}

async fn a_wrong_content_type_is_refused_with_415() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = good_push(&ts);
    let mut headers = signed_headers(&b, "/v1/push", &body, now(), &nonce());
    headers[0].1 = "text/plain".into();
    ts.unchanged(ts.send(Method::POST, "/v1/push", &headers, body.clone()))
        .await
        .expect_error(415, "unsupported_media_type");
    headers.remove(0);
    ts.unchanged(ts.send(Method::POST, "/v1/push", &headers, body))
        .await
        .expect_error(415, "unsupported_media_type");
    // With the charset the spec allows, the same request goes through.
    let body = good_push(&ts);
    let mut headers = signed_headers(&b, "/v1/push", &body, now(), &nonce());
    headers[0].1 = "application/json; charset=utf-8".into();
    ts.send(Method::POST, "/v1/push", &headers, body)
        .await
        .parse::<PushResponse>();
}

async fn an_unknown_path_is_refused_as_not_found() {
    let (ts, _, b) = setup(|_| {}).await;
    ts.unchanged(ts.signed(&b, "/v1/pushes", good_push(&ts)))
        .await
        .expect_error(404, "not_found");
    ts.unchanged(ts.send(Method::GET, "/", &[], Vec::new()))
        .await
        .expect_error(404, "not_found");
}

async fn a_wrong_method_on_a_known_path_is_refused_as_method_not_allowed() {
    let (ts, _, _) = setup(|_| {}).await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let reply = ts
            .unchanged(ts.send(method, "/v1/push", &json_headers(), good_push(&ts)))
            .await;
        reply.expect_error(405, "method_not_allowed");
        assert_eq!(reply.headers["allow"], "POST");
    }
}

async fn a_schema_mismatch_is_refused_with_both_fingerprints() {
    let (ts, _, b) = setup(|_| {}).await;
    let mut push: PushRequest = serde_json::from_slice(&good_push(&ts)).unwrap();
    push.schema = "0".repeat(64);
    let err = ts
        .unchanged(ts.signed(&b, "/v1/push", to_json(&push)))
        .await
        .expect_error(409, "schema_mismatch");
    let details = err.error.details.unwrap();
    assert_eq!(details["expected"], ts.fingerprint.as_str());
    assert_eq!(details["received"], "0".repeat(64));
    let mut reg: RegisterRequest = serde_json::from_slice(&ts.register_body(Some(TOKEN))).unwrap();
    reg.schema = "0".repeat(64);
    ts.unchanged(ts.post("/v1/register", to_json(&reg)))
        .await
        .expect_error(409, "schema_mismatch");
}

async fn an_empty_push_is_refused_as_empty_push() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = ts.push_body("push-b-0001", 1, vec![], vec![]);
    ts.unchanged(ts.signed(&b, "/v1/push", body))
        .await
        .expect_error(400, "empty_push");
}

async fn a_push_to_a_pull_only_table_is_refused_as_direction_violation() {
    let (ts, _, b) = setup(|_| {}).await;
    let holiday = dbsync_core::Row {
        table: "holiday".into(),
        id: 1.into(),
        values: [("day".to_string(), Value::Text("2025-06-10".into()))].into(),
    };
    let body = ts.push_body(
        "push-b-0001",
        1,
        vec![op("holiday", 1, Command::Insert)],
        vec![holiday],
    );
    ts.unchanged(ts.signed(&b, "/v1/push", body))
        .await
        .expect_error(403, "direction_violation");
}

async fn an_insert_without_its_row_is_refused_as_missing_row() {
    let (ts, _, b) = setup(|_| {}).await;
    let body = ts.push_body(
        "push-b-0001",
        1,
        vec![op("city", 2, Command::Insert)],
        vec![],
    );
    ts.unchanged(ts.signed(&b, "/v1/push", body))
        .await
        .expect_error(400, "missing_row");
    // And a row no op needs.
    let body = ts.push_body(
        "push-b-0001",
        1,
        vec![op("city", 1, Command::Delete)],
        vec![city(1, "Lisbon")],
    );
    ts.unchanged(ts.signed(&b, "/v1/push", body))
        .await
        .expect_error(400, "missing_row");
}

async fn a_value_that_does_not_fit_its_column_is_refused_as_invalid_value() {
    let (ts, _, b) = setup(|_| {}).await;
    let mut row = person(2, "Rui", Some(1));
    row.values
        .insert("born".into(), Value::Text("yesterday".into()));
    let body = ts.push_body(
        "push-b-0001",
        1,
        inserts(std::slice::from_ref(&row)),
        vec![row],
    );
    ts.unchanged(ts.signed(&b, "/v1/push", body))
        .await
        .expect_error(400, "invalid_value");
    let mut row = person(2, "Rui", Some(1));
    row.values.insert("name".into(), Value::Null);
    let body = ts.push_body(
        "push-b-0001",
        1,
        inserts(std::slice::from_ref(&row)),
        vec![row],
    );
    ts.unchanged(ts.signed(&b, "/v1/push", body))
        .await
        .expect_error(400, "invalid_value");
}

async fn a_push_breaking_a_foreign_key_or_unique_constraint_is_refused_as_integrity_violation() {
    let (ts, _, b) = setup(|_| {}).await;
    let rows = vec![person(2, "Rui", Some(42))];
    ts.unchanged(ts.push(&b, "push-b-0001", 1, inserts(&rows), rows))
        .await
        .expect_error(409, "integrity_violation");
    let rows = vec![city(2, "Lisbon")];
    ts.unchanged(ts.push(&b, "push-b-0001", 1, inserts(&rows), rows))
        .await
        .expect_error(409, "integrity_violation");
}

async fn a_forged_or_foreign_cursor_is_refused_as_invalid_cursor() {
    let (ts, a, b) = setup(|c| c.limits.pull_page_ops = 1).await;
    let page: PullResponse = ts.pull(&b, 0, None).await.parse();
    let cursor = page.next_cursor.expect("two ops, one per page");
    ts.unchanged(ts.pull(&b, 0, Some("pull.0.1.1.000000000000000000000000".into())))
        .await
        .expect_error(400, "invalid_cursor");
    let mut forged = cursor.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    ts.unchanged(ts.pull(&b, 0, Some(forged)))
        .await
        .expect_error(400, "invalid_cursor");
    // Another node's cursor, and a pull cursor handed to repair.
    ts.unchanged(ts.pull(&a, 0, Some(cursor.clone())))
        .await
        .expect_error(400, "invalid_cursor");
    ts.unchanged(ts.repair(&b, Some(cursor.clone())))
        .await
        .expect_error(400, "invalid_cursor");
    // The real one still works.
    ts.pull(&b, 0, Some(cursor)).await.parse::<PullResponse>();
}

async fn a_query_on_an_unknown_table_or_column_is_refused() {
    let (ts, _, b) = setup(|_| {}).await;
    let query = |table: &str, column: &str| {
        to_json(&QueryRequest {
            protocol: "1.0".into(),
            schema: ts.fingerprint.clone(),
            app_data: None,
            table: table.into(),
            filter: [(column.to_string(), Value::Integer(1))].into(),
            limit: None,
        })
    };
    ts.unchanged(ts.signed(&b, "/v1/query", query("planet", "id")))
        .await
        .expect_error(400, "unknown_table");
    ts.unchanged(ts.signed(&b, "/v1/query", query("person", "age")))
        .await
        .expect_error(400, "unknown_column");
    // Names that are not identifiers never reach SQL.
    ts.unchanged(ts.signed(
        &b,
        "/v1/query",
        query("person\"; DROP TABLE person; --", "id"),
    ))
    .await
    .expect_error(400, "malformed_request");
}

both_stores!(
    a_replayed_request_is_refused_as_replayed_nonce,
    copies_of_one_signed_push_sent_at_once_are_applied_once,
    a_replayed_last_pull_page_is_refused_as_replayed_nonce,
    a_replayed_last_repair_page_is_refused_as_replayed_nonce,
    a_tampered_body_is_refused_as_bad_signature,
    a_request_signed_for_another_path_is_refused_as_bad_signature,
    an_expired_timestamp_is_refused_as_stale_timestamp_with_the_server_time,
    an_unknown_node_is_refused_as_unknown_node,
    a_missing_or_malformed_credential_header_is_refused_as_missing_credentials,
    an_oversized_body_is_refused_with_413_before_authentication,
    a_chunked_body_is_refused_with_413_as_soon_as_it_passes_the_limit,
    a_body_that_stops_arriving_is_refused_as_request_timeout,
    a_request_head_that_stops_arriving_gets_its_connection_closed,
    an_unknown_table_is_refused_as_unknown_table,
    malformed_json_is_refused_as_malformed_request,
    a_wrong_protocol_version_is_refused_as_unsupported_protocol,
    a_wrong_content_type_is_refused_with_415,
    an_unknown_path_is_refused_as_not_found,
    a_wrong_method_on_a_known_path_is_refused_as_method_not_allowed,
    a_schema_mismatch_is_refused_with_both_fingerprints,
    an_empty_push_is_refused_as_empty_push,
    a_push_to_a_pull_only_table_is_refused_as_direction_violation,
    an_insert_without_its_row_is_refused_as_missing_row,
    a_value_that_does_not_fit_its_column_is_refused_as_invalid_value,
    a_push_breaking_a_foreign_key_or_unique_constraint_is_refused_as_integrity_violation,
    a_forged_or_foreign_cursor_is_refused_as_invalid_cursor,
    a_query_on_an_unknown_table_or_column_is_refused,
);
