//! Writes the seed corpus of every fuzz target: `dbsync-fuzz-seeds DIR`
//! makes `DIR/<target>/<name>` from the spec's examples and scenarios, the
//! conformance vectors and a few hand-made inputs (see `fuzz/README.md`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: dbsync-fuzz-seeds DIR");
        return ExitCode::from(2);
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let seeds = match dbsync_fuzz_bodies::seeds::all(&root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reading the spec and vectors: {e}");
            return ExitCode::FAILURE;
        }
    };
    for s in &seeds {
        let dir = out.join(s.target);
        let written =
            std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join(&s.name), &s.data));
        if let Err(e) = written {
            eprintln!("writing {}: {e}", dir.join(&s.name).display());
            return ExitCode::FAILURE;
        }
    }
    for (target, _) in dbsync_fuzz_bodies::TARGETS {
        let n = seeds.iter().filter(|s| s.target == *target).count();
        println!("{target}: {n} seeds");
    }
    ExitCode::SUCCESS
}
