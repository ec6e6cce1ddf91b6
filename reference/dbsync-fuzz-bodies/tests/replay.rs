//! Replays every file of `fuzz/corpus/<target>/` and `fuzz/crashes/<target>/`
//! through the target's body on the stable toolchain: a crash once found
//! and fixed stays fixed, without cargo-fuzz or a nightly compiler.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every (target, file) under `fuzz/<kind>/`, sorted; dot files (libFuzzer's
/// bookkeeping) are left out.
fn inputs(kind: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(fuzz_dir().join(kind)) else {
        return out;
    };
    for dir in dirs.flatten() {
        let target = dir.file_name().to_string_lossy().into_owned();
        if !dir.path().is_dir() || target.starts_with('.') {
            continue;
        }
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            if file.path().is_file() && !name.starts_with('.') {
                out.push((target.clone(), file.path()));
            }
        }
    }
    out.sort();
    out
}

fn replay(kind: &str) -> usize {
    let all = inputs(kind);
    let mut failures = Vec::new();
    for (target, path) in &all {
        let Some(body) = dbsync_fuzz_bodies::body(target) else {
            failures.push(format!(
                "{}: no fuzz target is named {target:?}",
                path.display()
            ));
            continue;
        };
        let data = std::fs::read(path).expect("a corpus file reads");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs of fuzz/{kind}/ fail:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    all.len()
}

#[test]
fn every_corpus_input_passes_its_target() {
    let n = replay("corpus");
    assert!(
        n > 0,
        "fuzz/corpus/ holds no input: the seed corpus is missing"
    );
    for (target, _) in dbsync_fuzz_bodies::TARGETS {
        assert!(
            inputs("corpus").iter().any(|(t, _)| t == target),
            "fuzz/corpus/{target}/ holds no input"
        );
    }
}

#[test]
fn every_past_crash_stays_fixed() {
    replay("crashes");
}
