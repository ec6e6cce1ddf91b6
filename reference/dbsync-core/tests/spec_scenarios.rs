//! Runs every scenario of the spec (spec §5.4, §12.9) on the in-memory
//! store, and keeps an insta snapshot of the reference's plan for each
//! merge scenario (`tests/snapshots/`).
//!
//! Blocks whose kind is not `compression` or `merge` belong to other
//! chapters' runners and are skipped here.

use dbsync_core::model::scenario::{scenario_blocks, Scenario, ScenarioBlock};
use std::path::{Path, PathBuf};

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec")
}

/// Every scenario block of every chapter, with its place.
fn blocks() -> Vec<(String, ScenarioBlock)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spec_dir())
        .expect("spec/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable chapter");
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for b in scenario_blocks(&text) {
            out.push((format!("{name}:{}", b.line), b));
        }
    }
    out
}

fn slug(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    s.trim_matches('_').to_string()
}

#[test]
fn every_compression_scenario_of_the_spec_holds() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (place, block) in blocks()
        .into_iter()
        .filter(|(_, b)| b.kind == "compression")
    {
        count += 1;
        match block.parse() {
            Ok(Scenario::Compression(s)) => {
                if let Err(e) = s.check() {
                    failures.push(format!("{place} ({}): {e}", s.name()));
                }
            }
            Ok(_) => unreachable!(),
            Err(e) => failures.push(format!("{place}: not a compression scenario: {e}")),
        }
    }
    assert!(
        count >= 19,
        "only {count} compression scenarios found in spec/"
    );
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_merge_scenario_of_the_spec_holds() {
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let mut count = 0;
    for (place, block) in blocks().into_iter().filter(|(_, b)| b.kind == "merge") {
        count += 1;
        let s = match block.parse() {
            Ok(Scenario::Merge(s)) => s,
            Ok(_) => unreachable!(),
            Err(e) => {
                failures.push(format!("{place}: not a merge scenario: {e}"));
                continue;
            }
        };
        let key = format!("{}_{}", slug(&s.name), s.policy);
        if !names.insert(key.clone()) {
            failures.push(format!("{place}: duplicate scenario name {:?}", s.name));
            continue;
        }
        match s.check() {
            Ok(outcome) => insta::assert_json_snapshot!(format!("merge_{key}"), outcome),
            Err(e) => failures.push(format!("{place} ({}): {e}", s.name)),
        }
    }
    assert!(count >= 20, "only {count} merge scenarios found in spec/");
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
