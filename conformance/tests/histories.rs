//! Generated histories played through the reference node adapter against
//! the reference server, over HTTP, with the fault proxy between them
//! (`dbsync-conformance history`); and the runner's own behaviour (its
//! output, an adapter without the history protocol, one that dies, a
//! server at a URL).

use dbsync_conformance::history::generate;
use dbsync_conformance::play::session::{self, Options, Outcome};
use dbsync_conformance::play::{fixed_table_specs, fixed_tables_sql, ServerChoice};
use dbsync_conformance::vectors::VectorSchema;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use std::time::Duration;

const ADAPTER: &str = env!("CARGO_BIN_EXE_dbsync-conformance-adapter");

/// Cases of the default run: modest, so that `cargo test --workspace`
/// stays short (conformance/README.md gives the long run).
const DEFAULT_CASES: u64 = 32;

fn options(node: &str, server: ServerChoice, cases: u64, seed: u64) -> Options {
    Options {
        node: node.to_string(),
        server,
        cases,
        seed: Some(seed),
        shrink: false,
        keep_going: false,
        timeout: Duration::from_secs(60),
    }
}

fn run(o: &Options) -> (Outcome, String) {
    let mut out = Vec::new();
    let outcome = session::run(o, &mut out).expect("the session starts");
    (outcome, String::from_utf8(out).unwrap())
}

#[test]
fn the_reference_node_keeps_every_invariant_through_the_fault_proxy() {
    let cases = std::env::var("DBSYNC_PLAY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let (outcome, text) = run(&options(ADAPTER, ServerChoice::Reference, cases, 1));
    assert_eq!(outcome.failed, 0, "{text}");
    assert_eq!(outcome.passed, cases, "{text}");
    assert!(
        text.starts_with("dbsync-conformance history: seed 1,"),
        "{text}"
    );
    if cases == DEFAULT_CASES {
        // Seeds 1–32 (since text keys joined the generator; 1–16 before) reach every fault of the proxy and both crashes.
        for event in [
            "push_request_lost",
            "push_response_lost",
            "push_delivered_twice",
            "replay_refused",
            "push_body_cut",
            "push_delayed",
            "pull_page_lost",
            "crash_mid_merge",
            "crash_at_commit",
            "restart_server",
            "rule_local_insert_rekeyed",
            "push_accepted_behind",
            "pull_required",
        ] {
            assert!(
                outcome.stats.events.get(event).copied().unwrap_or(0) > 0,
                "no case reached {event}: {:?}",
                outcome.stats.events
            );
        }
    }
}

#[test]
fn a_server_at_a_url_runs_histories_over_the_fixed_tables_and_is_left_empty() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&fixed_tables_sql())
        .unwrap();
    let store =
        dbsync_sqlite::SqliteStore::open(&db, &fixed_table_specs(), Default::default()).unwrap();
    let mut config = dbsync_server::Config::new();
    config.registration_token = Some("t".into());
    let handle = runtime
        .block_on(dbsync_server::Server::bind(
            std::sync::Arc::new(store),
            config,
        ))
        .unwrap();
    let server = ServerChoice::Url {
        base: format!("http://{}", handle.local_addr()),
        token: Some("t".into()),
    };
    let (outcome, text) = run(&options(ADAPTER, server, 3, 40));
    assert_eq!((outcome.passed, outcome.failed), (3, 0), "{text}");
    let conn = dbsync_sqlite::open(&db).unwrap();
    for t in ["t0", "t1", "t2", "t3"] {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{t} is left with rows");
    }
    runtime.block_on(handle.shutdown());
}

#[test]
fn an_adapter_without_the_history_protocol_is_skipped() {
    let skipper = r#"sh -c 'sed -u -E "s/^[{]\"id\":([0-9]+),.*/{\"id\":\1,\"not_implemented\":\"no histories\"}/"'"#;
    let (outcome, text) = run(&options(skipper, ServerChoice::Reference, 3, 1));
    assert_eq!(
        (outcome.passed, outcome.failed, outcome.skipped),
        (0, 0, 1),
        "{text}"
    );
    assert!(
        text.contains("SKIP seed 1: the adapter does not play histories"),
        "{text}"
    );
}

#[test]
fn a_failing_history_prints_its_case_and_the_command_that_replays_it() {
    // Opens (every process answers its first line), then dies.
    let dies = r#"sh -c 'read line; echo "{\"id\":1,\"outcome\":{\"node_id\":7}}"'"#;
    let (outcome, text) = run(&options(dies, ServerChoice::Reference, 2, 5));
    assert_eq!(outcome.failed, 1, "{text}");
    let fail = text
        .lines()
        .find(|l| l.starts_with("FAIL seed 5"))
        .expect(&text);
    assert!(fail.contains("adapter failed"), "{text}");
    assert!(text.contains("     case: {\"tables\":"), "{text}");
    let replay = session::replay_command(&options(dies, ServerChoice::Reference, 2, 5), 5);
    assert!(
        replay.starts_with("dbsync-conformance history --node 'sh -c '\\''read line;"),
        "{replay}"
    );
    assert!(
        replay.ends_with(" --reference --seed 5 --cases 1"),
        "{replay}"
    );
    assert!(text.contains(&format!("     replay: {replay}\n")), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("0 passed, 1 failed, 0 skipped"),
        "{text}"
    );
}

#[test]
fn every_generated_history_is_valid_against_the_history_schema() {
    let validator = VectorSchema::history().unwrap();
    let mut runner = TestRunner::deterministic();
    for strategy in [generate::case(), generate::case_over_fixed_tables()] {
        for _ in 0..50 {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            let json = serde_json::to_value(&case).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&json)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{errors:?}\n{json}");
        }
    }
    let mut bad = serde_json::to_value(generate::fixed_tables()).unwrap();
    bad = serde_json::json!({"tables": bad, "nodes": 2, "page_ops": 1,
                             "steps": [{"push": {"node": 0, "fault": "lost_in_space"}}]});
    assert!(!validator.is_valid(&bad));
}
