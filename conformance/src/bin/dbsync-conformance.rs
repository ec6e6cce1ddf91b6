//! `dbsync-conformance`: the conformance kit's runner (spec §18).
//!
//! - `spec`: every example of the spec against the protocol's JSON Schemas
//!   and the reference's types;
//! - `node --adapter "CMD ARGS"`: the node vectors through an adapter
//!   process (JSON lines on its stdin/stdout, see `conformance/README.md`);
//! - `server --url BASE --token T [--scoped-url BASE2]` or `server
//!   --reference`: the wire vectors against a server, those requiring
//!   `scopes` against a scoped one (spec §19);
//! - `history --node "CMD ARGS" (--reference | --server URL)`: generated
//!   divergent histories through a node adapter's history protocol, with
//!   a fault proxy between the nodes and the server;
//! - `vectors extract|validate`: the vectors of the spec's scenarios, and
//!   the vector files' validity.
//!
//! Each vector is printed with its name and spec section, with expected and
//! actual on failure; the last line is `N passed, N failed, N skipped`
//! (`--json`: one JSON document). The exit code is 1 when a vector failed,
//! 2 when the run could not start.

use clap::{Args, Parser, Subcommand};
use dbsync_conformance::node::process::Adapter;
use dbsync_conformance::play::{self, session, ServerChoice};
use dbsync_conformance::report::{self, Verdict};
use dbsync_conformance::schemas::SchemaSet;
use dbsync_conformance::spec_examples::{all_examples, check};
use dbsync_conformance::vectors::{self, Vector, VectorSchema};
use dbsync_conformance::wire::{Reference, StoreKind, Target, WireRunner};
use dbsync_conformance::{node, spec_scenarios};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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

#[derive(Args)]
struct Selection {
    /// The vectors folder (default: the one this kit was built from).
    #[arg(long, default_value_os_t = vectors::default_dir())]
    vectors: PathBuf,
    /// Only vectors whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Print one JSON document instead of lines for people.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Check every example message of the spec against its JSON Schema.
    Spec {
        /// The spec folder (default: the one this kit was built from).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec"))]
        spec: PathBuf,
    },
    /// Play the node vectors (compression, merge, history) through an adapter.
    Node {
        /// The adapter's command line, e.g. "python3 adapter.py".
        #[arg(long)]
        adapter: String,
        /// Seconds to wait for each answer.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        #[command(flatten)]
        selection: Selection,
    },
    /// Play the wire vectors against a server.
    Server {
        /// The server's base URL, e.g. http://127.0.0.1:8080.
        #[arg(
            long,
            required_unless_present = "reference",
            conflicts_with = "reference"
        )]
        url: Option<String>,
        /// The registration token the server accepts (omit for open
        /// registration).
        #[arg(long)]
        token: Option<String>,
        /// The server implements the kit's hook convention (README).
        #[arg(long)]
        hooks: bool,
        /// A second server, run with the kit's scopes file
        /// (conformance/scopes/example.json) and a registration token, for
        /// the vectors requiring `scopes` (spec §19); without it they are
        /// skipped.
        #[arg(long, conflicts_with = "reference")]
        scoped_url: Option<String>,
        /// The registration token of the server at --scoped-url (default:
        /// --token).
        #[arg(long, requires = "scoped_url")]
        scoped_token: Option<String>,
        /// Start the reference server in process on 127.0.0.1:0 instead,
        /// and a scoped one for the vectors requiring `scopes`.
        #[arg(long)]
        reference: bool,
        /// The reference server's store (with --reference); postgres makes
        /// a fresh database on DBSYNC_TEST_POSTGRES.
        #[arg(long, value_enum, default_value = "sqlite", requires = "reference")]
        store: StoreKind,
        #[command(flatten)]
        selection: Selection,
    },
    /// Play generated divergent histories through a node adapter against
    /// a server, with faults (see conformance/README.md).
    History {
        /// The node adapter's command line (it must speak the history
        /// protocol), e.g. "target/debug/dbsync-conformance-adapter".
        #[arg(long)]
        node: String,
        /// A running server's base URL; it must serve the kit's history
        /// tables (`--print-tables`).
        #[arg(
            long,
            required_unless_present_any = ["reference", "print_tables"],
            conflicts_with = "reference"
        )]
        server: Option<String>,
        /// The registration token of the server at `--server`.
        #[arg(long, requires = "server")]
        token: Option<String>,
        /// Start the reference server in process for each history instead.
        #[arg(long)]
        reference: bool,
        /// How many histories.
        #[arg(long, default_value_t = 100)]
        cases: u64,
        /// The first seed (history i uses seed + i); default: from the clock.
        #[arg(long)]
        seed: Option<u64>,
        /// Shrink a failing history to a smaller one that still fails.
        #[arg(long)]
        shrink: bool,
        /// Go on after a failure.
        #[arg(long)]
        keep_going: bool,
        /// Seconds to wait for each adapter answer.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Print the SQLite tables a server at `--server` must serve, and exit.
        #[arg(long)]
        print_tables: bool,
    },
    /// Work on the vector files.
    Vectors {
        #[command(subcommand)]
        command: VectorsCommand,
    },
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Write the vector of every scenario of the spec.
    Extract {
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec"))]
        spec: PathBuf,
        #[arg(long, default_value_os_t = vectors::default_dir())]
        vectors: PathBuf,
        /// Only report the scenarios whose vector is missing or different.
        #[arg(long)]
        check: bool,
    },
    /// Validate every vector against vectors/vector.schema.json.
    Validate {
        #[arg(long, default_value_os_t = vectors::default_dir())]
        vectors: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Spec { spec } => run_spec(spec),
        Command::Node {
            adapter,
            timeout,
            selection,
        } => run_node(&adapter, timeout, &selection),
        Command::Server {
            url,
            token,
            hooks,
            scoped_url,
            scoped_token,
            reference,
            store,
            selection,
        } => {
            let server = match reference {
                true => Served::Reference(store),
                false => Served::Url {
                    url: url.unwrap_or_default(),
                    scoped: scoped_url.map(|u| (u, scoped_token.or_else(|| token.clone()))),
                    token,
                    hooks,
                },
            };
            run_server(server, &selection)
        }
        Command::History {
            node,
            server,
            token,
            reference,
            cases,
            seed,
            shrink,
            keep_going,
            timeout,
            print_tables,
        } => {
            if print_tables {
                println!("{}", play::fixed_tables_sql());
                return ExitCode::SUCCESS;
            }
            let server = match (reference, server) {
                (false, Some(base)) => ServerChoice::Url { base, token },
                _ => ServerChoice::Reference,
            };
            run_history(&session::Options {
                node,
                server,
                cases,
                seed,
                shrink,
                keep_going,
                timeout: Duration::from_secs(timeout),
            })
        }
        Command::Vectors { command } => run_vectors(command),
    }
}

fn run_history(options: &session::Options) -> ExitCode {
    match session::run(options, &mut std::io::stdout().lock()) {
        Ok(o) if o.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn load(selection: &Selection) -> Result<Vec<Vector>, ExitCode> {
    let mut all = vectors::load_dir(&selection.vectors).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    if let Some(f) = &selection.filter {
        all.retain(|v| v.name().contains(f.as_str()));
    }
    Ok(all)
}

fn finish(verdicts: &[Verdict], json: bool) -> ExitCode {
    match report::print(&mut std::io::stdout().lock(), verdicts, json) {
        Ok(s) if s.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_node(command: &str, timeout: u64, selection: &Selection) -> ExitCode {
    let vectors = match load(selection) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut adapter = match Adapter::new(command, Duration::from_secs(timeout)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --adapter: {e}");
            return ExitCode::from(2);
        }
    };
    let verdicts = node::run(&mut adapter, &vectors);
    finish(&verdicts, selection.json)
}

/// The servers `server` plays the wire vectors on.
enum Served {
    /// The reference, started in process: plain and scoped.
    Reference(StoreKind),
    /// Servers already running.
    Url {
        url: String,
        token: Option<String>,
        hooks: bool,
        /// The scoped server's URL and token.
        scoped: Option<(String, Option<String>)>,
    },
}

fn run_server(server: Served, selection: &Selection) -> ExitCode {
    let vectors = match load(selection) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let mut running = Vec::new();
        let runner = match server {
            Served::Reference(store) => {
                let plain = match Reference::start_on(store).await {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("error: starting the reference server: {e}");
                        return ExitCode::from(2);
                    }
                };
                let runner = WireRunner::new(plain.target.clone())
                    .map(|r| r.with_direct_writes(plain.direct_writes()));
                running.push(plain);
                match (runner, Reference::start_scoped_on(store).await) {
                    (Ok(r), Ok(scoped)) => {
                        let r = r.with_scoped(scoped.target.clone(), Some(scoped.direct_writes()));
                        running.push(scoped);
                        Ok(r)
                    }
                    (Ok(r), Err(e)) => {
                        eprintln!("warning: the scoped reference server did not start: {e}");
                        Ok(r.without_scoped(format!(
                            "the scoped reference server did not start: {e}"
                        )))
                    }
                    (Err(e), _) => Err(e),
                }
            }
            Served::Url {
                url,
                token,
                hooks,
                scoped,
            } => {
                let mut capabilities = BTreeSet::new();
                if token.is_some() {
                    capabilities.insert("token_registration".to_string());
                }
                if hooks {
                    capabilities.insert("hooks".to_string());
                }
                let target = Target {
                    base: url.trim_end_matches('/').to_string(),
                    token,
                    capabilities,
                    control: None,
                };
                WireRunner::new(target).map(|r| match scoped {
                    Some((base, token)) => {
                        let target = Target {
                            base: base.trim_end_matches('/').to_string(),
                            capabilities: token
                                .iter()
                                .map(|_| "token_registration".to_string())
                                .collect(),
                            token,
                            control: None,
                        };
                        r.with_scoped(target, None)
                    }
                    None => r,
                })
            }
        };
        let mut runner = match runner {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let verdicts = runner.run(&vectors).await;
        for r in running {
            r.stop().await;
        }
        finish(&verdicts, selection.json)
    })
}

fn run_vectors(command: VectorsCommand) -> ExitCode {
    match command {
        VectorsCommand::Extract {
            spec,
            vectors,
            check,
        } => {
            let result = if check {
                spec_scenarios::check(&spec, &vectors).map(|problems| {
                    for p in &problems {
                        println!("{p}");
                    }
                    problems.is_empty()
                })
            } else {
                spec_scenarios::extract(&spec, &vectors).map(|written| {
                    for p in &written {
                        println!("wrote {}", p.display());
                    }
                    println!("{} vector(s) written", written.len());
                    true
                })
            };
            match result {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        VectorsCommand::Validate { vectors } => {
            let schema = match VectorSchema::load() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: the vector schema: {e}");
                    return ExitCode::from(2);
                }
            };
            let all = match vectors::load_dir(&vectors) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let mut bad = 0;
            for v in &all {
                if let Err(problems) = schema.check(v) {
                    bad += 1;
                    println!("INVALID {}", v.path.display());
                    for p in problems {
                        println!("     {p}");
                    }
                }
            }
            println!("{} vectors, {bad} invalid", all.len());
            if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
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
