//! Where failures are kept: the seed of a failing case in
//! `proptest-regressions/harness.txt` (proptest's own format: a ChaCha
//! seed per line, which the harness maps one-to-one to its u64 seeds), and
//! the shrunk case as a regression vector under `vectors/regressions/`.

use dbsync_conformance::history::seeds::seed_bytes;
use dbsync_conformance::history::Case;
use dbsync_conformance::spec_scenarios::file_text;
use dbsync_conformance::vectors::{self, Kind};
use proptest::test_runner::{FailurePersistence, FileFailurePersistence, PersistedSeed};
use serde_json::json;
use std::path::PathBuf;
use std::str::FromStr;

pub const PERSISTENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/harness.txt"
);

fn persisted(seed: u64) -> PersistedSeed {
    let hex: String = seed_bytes(seed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    PersistedSeed::from_str(&format!("cc {hex}")).expect("a ChaCha seed")
}

fn persistence() -> FileFailurePersistence {
    FileFailurePersistence::Direct(PERSISTENCE)
}

/// The u64 seeds of the failures saved so far.
pub fn saved_seeds() -> Vec<u64> {
    persistence()
        .load_persisted_failures2(None)
        .into_iter()
        .filter_map(|p| {
            let text = p.to_string();
            let hex = text.strip_prefix("cc ")?;
            let bytes: Vec<u8> = (0..16)
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect::<Option<_>>()?;
            Some(u64::from_le_bytes(bytes.try_into().ok()?))
        })
        .collect()
}

/// Saves a failure: its seed for proptest (once), its shrunk case as a
/// vector.
/// Returns the vector's path.
pub fn save(seed: u64, case: &Case, reason: &str) -> std::io::Result<PathBuf> {
    if !saved_seeds().contains(&seed) {
        let shrunk = serde_json::to_string(case).unwrap_or_default();
        persistence().save_persisted_failure2(
            None,
            persisted(seed),
            &format!("seed {seed}: {reason}; shrinks to {shrunk}"),
        );
    }
    let name = format!("harness-seed-{seed}");
    let first_line = reason.lines().next().unwrap_or("").to_string();
    let vector = json!({
        "name": name,
        "title": format!("A history the property harness shrank to (seed {seed}): {first_line}"),
        "section": "18.3",
        "kind": Kind::History,
        "source": format!("harness seed {seed}"),
        "case": case,
        "expected": {"outcome": {"converged": true}},
    });
    let dir = vectors::default_dir().join("regressions");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, file_text(&vector))?;
    Ok(path)
}
