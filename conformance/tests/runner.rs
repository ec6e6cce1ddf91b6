//! The runner against the reference: every node vector through the
//! reference adapter process, every wire vector against the reference
//! server started in process (those requiring `scopes` against a scoped
//! one, spec §19), and the runner's own behaviour (output, exit code,
//! adapters that skip or crash).

use dbsync_conformance::node::{self, process::Adapter};
use dbsync_conformance::report::{self, Status, Summary, Verdict};
use dbsync_conformance::vectors::{self, Kind, Vector};
use dbsync_conformance::wire::{Reference, StoreKind, WireRunner};
use std::process::Command;
use std::time::Duration;

const ADAPTER: &str = env!("CARGO_BIN_EXE_dbsync-conformance-adapter");
const RUNNER: &str = env!("CARGO_BIN_EXE_dbsync-conformance");

fn all() -> Vec<Vector> {
    vectors::load_dir(&vectors::default_dir()).expect("vectors load")
}

fn assert_none_failed(verdicts: &[Verdict]) {
    let summary = Summary::of(verdicts);
    if summary.failed > 0 {
        let mut out = Vec::new();
        let failed: Vec<Verdict> = verdicts
            .iter()
            .filter(|v| v.status == Status::Failed)
            .cloned()
            .collect();
        report::print(&mut out, &failed, false).unwrap();
        panic!("{}\n{}", String::from_utf8_lossy(&out), summary.line());
    }
}

#[test]
fn the_reference_adapter_passes_every_node_vector() {
    let vectors = all();
    let mut adapter = Adapter::new(ADAPTER, Duration::from_secs(120)).unwrap();
    let verdicts = node::run(&mut adapter, &vectors);
    let expected = vectors.iter().filter(|v| v.kind().is_node()).count();
    assert_eq!(verdicts.len(), expected);
    assert_none_failed(&verdicts);
    assert_eq!(Summary::of(&verdicts).skipped, 0);
}

#[test]
fn the_in_memory_model_store_passes_every_compression_and_merge_vector() {
    let vectors: Vec<Vector> = all()
        .into_iter()
        .filter(|v| matches!(v.kind(), Kind::Compression | Kind::Merge))
        .collect();
    let mut adapter = Adapter::new(
        &format!("{ADAPTER} --store memory"),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_none_failed(&node::run(&mut adapter, &vectors));
}

#[test]
fn the_reference_server_passes_every_wire_vector() {
    every_wire_vector_passes_on(StoreKind::Sqlite);
}

#[test]
fn the_reference_server_on_postgresql_passes_every_wire_vector() {
    every_wire_vector_passes_on(StoreKind::Postgres);
}

/// Plays every wire vector on the reference over `store`, those
/// requiring `scopes` on a scoped reference over `store` too.
fn every_wire_vector_passes_on(store: StoreKind) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let verdicts = runtime.block_on(async {
        let reference = Reference::start_on(store).await.unwrap();
        let scoped = Reference::start_scoped_on(store).await.unwrap();
        let mut runner = WireRunner::for_reference(&reference, &scoped).unwrap();
        let verdicts = runner.run(&all()).await;
        reference.stop().await;
        scoped.stop().await;
        verdicts
    });
    let wire: Vec<Vector> = all()
        .into_iter()
        .filter(|v| v.kind() == Kind::Wire)
        .collect();
    assert_eq!(verdicts.len(), wire.len());
    assert_none_failed(&verdicts);
    assert_eq!(
        Summary::of(&verdicts).skipped,
        0,
        "the reference offers every capability"
    );
    let scoped = wire
        .iter()
        .filter(|v| v.header.requires.iter().any(|c| c == "scopes"))
        .count();
    assert!(
        scoped >= 15,
        "only {scoped} vectors played on the scoped server"
    );
}

#[test]
fn the_runner_prints_each_vector_and_ends_with_the_counts() {
    let out = Command::new(RUNNER)
        .args(["node", "--adapter", ADAPTER, "--filter", "spec-a-single"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(out.status.success(), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l
                .starts_with("PASS spec-a-single-insert-stays-an-insert (§5.2.3, compression)")),
        "{text}"
    );
    assert_eq!(
        lines.last(),
        Some(&"3 passed, 0 failed, 0 skipped"),
        "{text}"
    );
}

#[test]
fn the_runner_writes_one_json_document_with_json() {
    let out = Command::new(RUNNER)
        .args([
            "node",
            "--adapter",
            ADAPTER,
            "--filter",
            "spec-a-single",
            "--json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["summary"],
        serde_json::json!({"passed": 3, "failed": 0, "skipped": 0})
    );
    assert_eq!(doc["vectors"][0]["status"], "passed");
    assert!(doc["vectors"][0]["section"].is_string());
}

#[test]
fn an_adapter_that_answers_not_implemented_is_skipped_and_the_run_succeeds() {
    let skipper = r#"sh -c 'sed -u -E "s/^[{]\"id\":([0-9]+),.*/{\"id\":\1,\"not_implemented\":\"no merge here\"}/"'"#;
    let out = Command::new(RUNNER)
        .args(["node", "--adapter", skipper, "--filter", "spec-a-single"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("SKIP spec-a-single-insert-stays-an-insert"),
        "{text}"
    );
    assert!(text.ends_with("0 passed, 0 failed, 3 skipped\n"), "{text}");
}

#[test]
fn an_adapter_that_dies_fails_its_vectors_and_the_exit_code_says_so() {
    let out = Command::new(RUNNER)
        .args([
            "node",
            "--adapter",
            "sh -c 'exit 3'",
            "--filter",
            "spec-a-single",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL spec-a-single-insert-stays-an-insert"),
        "{text}"
    );
    assert!(text.contains("adapter:"), "{text}");
    assert!(text.ends_with("0 passed, 3 failed, 0 skipped\n"), "{text}");
}

#[test]
fn a_wrong_answer_is_printed_with_expected_and_actual() {
    // An adapter that compresses nothing: every vector expecting ops fails.
    let wrong =
        r#"sh -c 'sed -u -E "s/^[{]\"id\":([0-9]+),.*/{\"id\":\1,\"outcome\":{\"ops\":[]}}/"'"#;
    let out = Command::new(RUNNER)
        .args([
            "node",
            "--adapter",
            wrong,
            "--filter",
            "spec-a-single-insert",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("expected: {") && text.contains("actual:   {"),
        "{text}"
    );
}

#[test]
fn without_a_scoped_server_the_scoped_vectors_are_skipped_saying_why() {
    // Nothing listens on port 9: a vector that tried it would fail.
    let out = Command::new(RUNNER)
        .args([
            "server",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            "T",
            "--filter",
            "a-visit-under-the-node-s-own-person",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("SKIP a-visit-under-the-node-s-own-person-is-accepted (§19.7, wire)"),
        "{text}"
    );
    assert!(text.contains("--scoped-url"), "{text}");
    assert!(text.ends_with("0 passed, 0 failed, 1 skipped\n"), "{text}");
}
