//! Every example of the spec is executed (spec §1.4): valid examples must
//! satisfy their schema and survive a trip through the reference's Rust
//! type unchanged; invalid examples must be rejected by their schema.

use dbsync_conformance::schemas::{document_schema_names, SchemaSet};
use dbsync_conformance::spec_examples::{all_examples, check, examples_in, Example};
use dbsync_conformance::typed::roundtrip;
use dbsync_core::ErrorCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn spec_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec"))
}

fn examples() -> Vec<Example> {
    let examples = all_examples(spec_dir()).expect("spec/ is readable");
    assert!(!examples.is_empty(), "no examples found in spec/");
    examples
}

#[test]
fn every_spec_example_agrees_with_its_schema_and_rust_type() {
    let set = SchemaSet::load().unwrap();
    let mut failed = Vec::new();
    let all = examples();
    for ex in &all {
        let verdict = if ex.valid { "valid" } else { "invalid" };
        match check(&set, ex) {
            Ok(()) => println!("ok   {} {} {}", ex.name(), ex.schema, verdict),
            Err(why) => {
                println!("FAIL {} {} {}: {why}", ex.name(), ex.schema, verdict);
                failed.push(format!("{} ({} {verdict}): {why}", ex.name(), ex.schema));
            }
        }
    }
    println!(
        "{} passed, {} failed",
        all.len() - failed.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} example(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn valid_examples_serialize_as_snapshotted() {
    // One snapshot per chapter: what the Rust types write for its valid
    // examples. A change in a type's JSON shows up here for review.
    let mut by_chapter: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for ex in examples().iter().filter(|e| e.valid) {
        let json = ex.json().unwrap();
        if let Some(Ok(back)) = roundtrip(&ex.schema, &json) {
            by_chapter
                .entry(ex.file.trim_end_matches(".md").to_string())
                .or_default()
                .push(serde_json::json!({"schema": ex.schema, "json": back}));
        }
    }
    for (chapter, docs) in by_chapter {
        insta::assert_json_snapshot!(chapter, docs);
    }
}

#[test]
fn spec_has_a_valid_example_of_every_message_type() {
    let covered: BTreeSet<String> = examples()
        .into_iter()
        .filter(|e| e.valid)
        .map(|e| e.schema)
        .collect();
    let missing: Vec<&str> = document_schema_names()
        .filter(|n| !covered.contains(*n))
        .collect();
    assert!(missing.is_empty(), "no valid example for: {missing:?}");
}

#[test]
fn spec_has_at_least_fifteen_invalid_examples() {
    let invalid = examples().into_iter().filter(|e| !e.valid).count();
    assert!(invalid >= 15, "only {invalid} invalid examples");
}

#[test]
fn every_error_code_has_an_example() {
    let shown: BTreeSet<String> = examples()
        .into_iter()
        .filter(|e| e.valid && e.schema == "error")
        .filter_map(|e| e.json().ok())
        .filter_map(|j| j["error"]["code"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<&str> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !shown.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "error codes without an example: {missing:?}"
    );
}

#[test]
fn a_broken_example_is_caught() {
    // The harness itself must be able to fail: a valid push response with
    // its version removed, and an invalid example the schema accepts.
    let doc = "text\n\n```json example=push-response\n{\"protocol\": \"1.0\", \"push_id\": \"p-7Hq2xK9d\", \"duplicate\": false}\n```\n\n```json example=push-response invalid\n{\"protocol\": \"1.0\", \"version\": 3, \"push_id\": \"p-7Hq2xK9d\", \"duplicate\": false}\n```\n";
    let set = SchemaSet::load().unwrap();
    let found = examples_in("self-test.md", doc);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].line, 3);
    assert!(check(&set, &found[0]).is_err(), "missing version must fail");
    assert!(
        check(&set, &found[1]).is_err(),
        "valid JSON marked invalid must fail"
    );
}

#[test]
fn a_valid_example_that_the_rust_type_changes_is_caught() {
    // A float where the schema allows any number but the type writes it back
    // differently would be a silent disagreement; an unknown schema name too.
    let set = SchemaSet::load().unwrap();
    let doc = "```json example=no-such-schema\n{}\n```\n";
    let found = examples_in("self-test.md", doc);
    assert!(check(&set, &found[0]).is_err());
}
