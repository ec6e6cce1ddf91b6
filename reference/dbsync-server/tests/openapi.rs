//! The OpenAPI document describes exactly the routes the server serves.

use dbsync_server::http::METHOD;
use dbsync_server::ROUTES;
use std::collections::BTreeSet;
use std::path::Path;

fn document() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_openapi_paths_and_the_served_routes_are_the_same_set() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(p, _)| (p.to_string(), METHOD.to_string()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn every_schema_the_openapi_document_references_exists() {
    let doc = document();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut refs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| walk(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&doc, &mut refs);
    assert!(refs.len() > 10);
    for r in refs {
        if let Some(local) = r.strip_prefix("#/") {
            let pointer = format!("/{local}");
            assert!(doc.pointer(&pointer).is_some(), "{r}");
        } else {
            assert!(dir.join(&r).is_file(), "{r} does not exist");
        }
    }
}

#[test]
fn every_authenticated_operation_lists_401_and_every_operation_its_common_errors() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let op = &item["post"];
        let responses = op["responses"].as_object().unwrap();
        for status in ["200", "400", "408", "409", "413", "415", "500"] {
            assert!(responses.contains_key(status), "{path} lacks {status}");
        }
        let open = op
            .get("security")
            .is_some_and(|s| s.as_array().unwrap().is_empty());
        assert_eq!(open, path == "/v1/register", "{path}");
        assert_eq!(responses.contains_key("401"), !open, "{path}");
    }
}
