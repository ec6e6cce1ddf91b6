//! `dbsync-conformance`: the conformance kit's runner (spec §18).
//!
//! `dbsync-conformance spec [--spec DIR]` executes every example of the
//! spec against the protocol's JSON Schemas and the reference's types,
//! printing each by name and ending with `N passed, N failed`.

use clap::{Parser, Subcommand};
use dbsync_conformance::schemas::SchemaSet;
use dbsync_conformance::spec_examples::{all_examples, check};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dbsync-conformance",
    version,
    about = "The dbsync conformance kit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check every example message of the spec against its JSON Schema.
    Spec {
        /// The spec folder (default: the one this kit was built from).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec"))]
        spec: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Spec { spec } => run_spec(spec),
    }
}

fn run_spec(dir: PathBuf) -> ExitCode {
    let set = match SchemaSet::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: the schemas do not compile: {e}");
            return ExitCode::from(2);
        }
    };
    let examples = match all_examples(&dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for ex in &examples {
        let verdict = if ex.valid { "valid" } else { "invalid" };
        let outcome = check(&set, ex);
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("PASS {} ({} {verdict})", ex.name(), ex.schema);
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {} ({} {verdict})\n     {why}", ex.name(), ex.schema);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
