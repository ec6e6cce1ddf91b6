//! The vectors themselves: valid against the vector schema, named after
//! their files, one per scenario of the spec, and covering what spec §18.3
//! asks the kit to check.

use dbsync_conformance::spec_examples::chapters;
use dbsync_conformance::spec_scenarios;
use dbsync_conformance::vectors::{self, Kind, Vector, VectorSchema};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn spec_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec"))
}

fn all() -> Vec<Vector> {
    vectors::load_dir(&vectors::default_dir()).expect("every vector file loads")
}

#[test]
fn every_vector_is_valid_against_the_vector_schema() {
    let schema = VectorSchema::load().expect("the vector schema compiles");
    let mut bad = Vec::new();
    for v in all() {
        if let Err(problems) = schema.check(&v) {
            bad.push(format!(
                "{}:\n  {}",
                v.path.display(),
                problems.join("\n  ")
            ));
        }
    }
    assert!(bad.is_empty(), "invalid vectors:\n{}", bad.join("\n"));
}

#[test]
fn vector_names_are_unique() {
    let mut seen = BTreeSet::new();
    for v in all() {
        assert!(
            seen.insert(v.name().to_string()),
            "two vectors are named {}",
            v.name()
        );
    }
}

#[test]
fn every_scenario_of_the_spec_has_its_vector() {
    let problems =
        spec_scenarios::check(&spec_dir(), &vectors::default_dir()).expect("the spec reads");
    assert!(
        problems.is_empty(),
        "run `cargo run -p dbsync-conformance -- vectors extract`:\n{}",
        problems.join("\n")
    );
    let scenarios = spec_scenarios::all_scenarios(&spec_dir()).unwrap();
    assert!(scenarios.iter().any(|s| s.kind == "compression"));
    assert!(scenarios.iter().any(|s| s.kind == "merge"));
}

#[test]
fn every_vector_names_a_section_the_spec_has() {
    let mut sections = BTreeSet::new();
    for path in chapters(&spec_dir()).unwrap() {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            if let Some(rest) = line.strip_prefix('#') {
                let word = rest
                    .trim_start_matches('#')
                    .split_whitespace()
                    .next()
                    .unwrap_or("");
                sections.insert(word.trim_end_matches('.').to_string());
            }
        }
    }
    for v in all() {
        assert!(
            sections.contains(&v.header.section),
            "{} names §{}, which no heading of the spec has",
            v.name(),
            v.header.section
        );
    }
}

#[test]
fn the_kit_has_at_least_60_vectors_of_every_node_and_wire_kind() {
    let all = all();
    assert!(all.len() >= 60, "only {} vectors", all.len());
    for kind in [Kind::Compression, Kind::Merge, Kind::Wire] {
        assert!(
            all.iter().filter(|v| v.kind() == kind).count() >= 10,
            "few {kind:?} vectors"
        );
    }
}

/// Every string value anywhere in `v` under member `key`.
fn strings_under(v: &Value, key: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    if let Some(s) = x.as_str() {
                        out.insert(s.to_string());
                    }
                }
                strings_under(x, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| strings_under(x, key, out)),
        _ => {}
    }
}

#[test]
fn every_merge_rule_has_a_vector_under_every_policy_that_applies_it() {
    let mut seen = BTreeSet::new();
    for v in all().into_iter().filter(|v| v.kind() == Kind::Merge) {
        let policy = v.json["input"]["policy"].as_str().unwrap_or("").to_string();
        let mut rules = BTreeSet::new();
        strings_under(v.expected(), "rule", &mut rules);
        for r in rules {
            seen.insert((policy.clone(), r));
        }
    }
    let both = [
        "deleted_row_restored",
        "both_deletes_dropped",
        "parent_restored_for_remote_child",
        "local_insert_rekeyed",
        "unique_swap_applied",
    ];
    let node_wins = [
        "local_update_kept",
        "local_update_reinserts_row",
        "parent_kept_for_local_child",
    ];
    let server_wins = [
        "remote_update_taken",
        "remote_delete_taken",
        "local_children_deleted_with_parent",
        "local_child_reverted",
    ];
    let mut missing = Vec::new();
    for (policy, rules) in [
        ("node_wins", [&both[..], &node_wins[..]].concat()),
        ("server_wins", [&both[..], &server_wins[..]].concat()),
    ] {
        for r in rules {
            if !seen.contains(&(policy.to_string(), r.to_string())) {
                missing.push(format!("{policy}/{r}"));
            }
        }
    }
    assert!(missing.is_empty(), "no merge vector shows: {missing:?}");
}

#[test]
fn every_compression_rule_has_a_vector() {
    let mut shapes = BTreeSet::new();
    for v in all().into_iter().filter(|v| v.kind() == Kind::Compression) {
        let side = v.json["input"]["side"].as_str().unwrap_or("").to_string();
        let ops = v.json["input"]["ops"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let mut sorted = ops.clone();
        if side == "pending" {
            sorted.sort_by_key(|o| o["order"].as_u64());
        }
        for o in sorted {
            let key = format!("{}/{}", o["table"], o["row_id"]);
            let c = o["command"].as_str().unwrap_or("").to_string();
            match rows.iter_mut().find(|(k, _)| *k == key) {
                Some((_, cs)) => cs.push(c),
                None => rows.push((key, vec![c])),
            }
        }
        for (_, cs) in rows {
            let shape = match side.as_str() {
                "pulled" => format!("pulled {} {}", cs[0], cs[cs.len() - 1]),
                _ => format!("pending {}", cs.join("")),
            };
            shapes.insert(shape);
        }
    }
    let pending = [
        "i", "iu", "iud", "u", "uu", "d", "ud", "ii", "di", "du", "ui", "udd",
    ];
    let pulled = [
        "i d", "i u", "i i", "u d", "u u", "u i", "d d", "d u", "d i",
    ];
    let mut missing = Vec::new();
    for p in pending {
        if !shapes
            .iter()
            .any(|s| s.starts_with(&format!("pending {p}")) && s.len() == 8 + p.len())
        {
            missing.push(format!("pending {p}"));
        }
    }
    for p in pulled {
        if !shapes.contains(&format!("pulled {p}")) {
            missing.push(format!("pulled {p}"));
        }
    }
    assert!(
        missing.is_empty(),
        "no compression vector shows {missing:?}; shapes: {shapes:?}"
    );
}

#[test]
fn every_push_rejection_and_authentication_failure_has_a_wire_vector() {
    let mut codes = BTreeSet::new();
    for v in all().into_iter().filter(|v| v.kind() == Kind::Wire) {
        strings_under(&v.json["steps"], "code", &mut codes);
    }
    let wanted = [
        // §10.2.1 P1–P8
        "push_id_reused",
        "repair_required",
        "pull_required",
        "empty_push",
        "unknown_table",
        "direction_violation",
        "duplicate_op",
        "missing_row",
        "unknown_column",
        "invalid_value",
        "hook_rejected",
        "integrity_violation",
        // §19.7 P6a, on a scoped server
        "forbidden",
        // §8.4 A1–A5
        "missing_credentials",
        "unknown_node",
        "stale_timestamp",
        "bad_signature",
        "replayed_nonce",
        // §7, §9, §11, §16
        "malformed_request",
        "unsupported_protocol",
        "schema_mismatch",
        "registration_refused",
        "invalid_cursor",
        "not_found",
        "method_not_allowed",
        "unsupported_media_type",
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|c| !codes.contains(*c))
        .collect();
    assert!(missing.is_empty(), "no wire vector expects {missing:?}");
    let mut reasons = BTreeSet::new();
    for v in all().into_iter().filter(|v| v.kind() == Kind::Wire) {
        strings_under(&v.json["steps"], "reason", &mut reasons);
    }
    for r in ["ahead", "trimmed", "unseen"] {
        assert!(
            reasons.contains(r),
            "no vector expects repair_required with reason {r}"
        );
    }
}

#[test]
fn scopes_have_their_wire_vectors() {
    let scoped: Vec<Vector> = all()
        .into_iter()
        .filter(|v| v.header.requires.iter().any(|c| c == "scopes"))
        .collect();
    assert!(scoped.len() >= 15, "only {} scoped vectors", scoped.len());
    // What a scoped server does differently: register with a user, pull,
    // push, query and repair in a scope, and the moves of a row.
    for section in ["19.1", "19.4", "19.5", "19.7", "19.8"] {
        assert!(
            scoped.iter().any(|v| v.header.section == section),
            "no scoped vector tests §{section}"
        );
    }
    let mut seen = BTreeSet::new();
    for v in &scoped {
        strings_under(&v.json["steps"], "path", &mut seen);
    }
    for path in [
        "/v1/register",
        "/v1/push",
        "/v1/pull",
        "/v1/query",
        "/v1/repair",
    ] {
        assert!(seen.contains(path), "no scoped vector calls {path}");
    }
    let text: Vec<String> = scoped.iter().map(|v| v.json.to_string()).collect();
    assert!(
        text.iter().any(|t| t.contains(r#""out":true"#)),
        "no scoped vector expects a move-out"
    );
    assert!(
        text.iter().any(|t| t.contains(r#""user_id":"#)),
        "no scoped vector expects a register answer's user_id"
    );
}
