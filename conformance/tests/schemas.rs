//! The JSON Schemas themselves: complete, well formed, and in step with
//! the reference's error codes.

use dbsync_conformance::schemas::{schema_json, SchemaSet, ID_BASE, SCHEMA_FILES};
use dbsync_core::ErrorCode;
use std::collections::BTreeSet;
use std::path::Path;

fn schemas_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas"))
}

#[test]
fn every_schema_file_in_the_repo_is_embedded_in_the_kit() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(schemas_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".schema.json"))
        .map(|n| n.trim_end_matches(".schema.json").to_string())
        .collect();
    let embedded: BTreeSet<String> = SCHEMA_FILES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, embedded);
}

#[test]
fn embedded_schemas_are_the_files_on_disk() {
    for (name, text) in SCHEMA_FILES {
        let disk =
            std::fs::read_to_string(schemas_dir().join(format!("{name}.schema.json"))).unwrap();
        assert_eq!(
            &disk, text,
            "{name} differs from the embedded copy: rebuild"
        );
    }
}

#[test]
fn every_schema_is_valid_against_the_2020_12_meta_schema() {
    for (name, _) in SCHEMA_FILES {
        let json = schema_json(name).unwrap();
        assert_eq!(
            json["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name} must declare draft 2020-12"
        );
        if let Err(e) = jsonschema::meta::validate(&json) {
            panic!("{name} is not a valid schema: {e}");
        }
    }
}

#[test]
fn every_schema_id_is_stable_and_matches_its_file_name() {
    for (name, _) in SCHEMA_FILES {
        let json = schema_json(name).unwrap();
        assert_eq!(
            json["$id"],
            format!("{ID_BASE}{name}.schema.json"),
            "{name}"
        );
        assert!(json["title"].is_string(), "{name} has no title");
        assert!(json["description"].is_string(), "{name} has no description");
    }
}

#[test]
fn every_schema_compiles_with_references_resolved_offline() {
    SchemaSet::load().expect("schemas compile");
}

#[test]
fn error_schema_lists_exactly_the_reference_error_codes() {
    let schema = schema_json("error").unwrap();
    let listed: Vec<String> = schema["properties"]["error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let codes: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    assert_eq!(listed, codes);
}

#[test]
fn wire_error_codes_have_an_http_status_and_local_ones_none() {
    for code in ErrorCode::ALL {
        let status = code.http_status();
        if code.on_wire() {
            assert!((400..600).contains(&status), "{code}: {status}");
        } else {
            assert_eq!(status, 0, "{code} is local");
        }
        assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
    }
}
