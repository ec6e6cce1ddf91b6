//! `dbsync-conformance-adapter`: the reference implementation's adapter
//! for `dbsync-conformance node --adapter ...` and `dbsync-conformance
//! history --node ...` (the protocols are in `conformance/README.md`):
//! one request per line on standard input, one answer per line on
//! standard output.

use clap::{Parser, ValueEnum};
use dbsync_conformance::adapter::{AdapterState, Store};
use std::io::{BufRead, Write};

#[derive(Clone, Copy, ValueEnum)]
enum StoreArg {
    /// A real SQLite node database (the reference store).
    Sqlite,
    /// The core's in-memory model store.
    Memory,
}

#[derive(Parser)]
#[command(
    name = "dbsync-conformance-adapter",
    version,
    about = "The reference implementation's conformance adapter (JSON lines on stdin/stdout)"
)]
struct Cli {
    /// Where merge vectors run.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: StoreArg,
}

fn main() -> std::io::Result<()> {
    let store = match Cli::parse().store {
        StoreArg::Sqlite => Store::Sqlite,
        StoreArg::Memory => Store::Memory,
    };
    let mut state = AdapterState::new(store);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        writeln!(stdout, "{}", state.answer_line(&line))?;
        stdout.flush()?;
    }
    Ok(())
}
