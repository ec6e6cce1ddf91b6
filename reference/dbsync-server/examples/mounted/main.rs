//! The dbsync server inside an application: a notes app serves its own
//! routes (`GET /health`, `GET /api/notes`) and the dbsync endpoints,
//! mounted at `/sync`, on one port and one SQLite file. The app's code is
//! `app.rs` beside this file (its test, `tests/mounted.rs`, runs it too).
//!
//! Run it (plain HTTP, or HTTPS with a certificate and its key):
//!
//! ```text
//! cargo run -p dbsync-server --features axum --example mounted -- \
//!     --db notes.db --listen 127.0.0.1:8080 --token let-me-in \
//!     [--tls-cert cert.pem --tls-key key.pem]
//! ```
//!
//! Then sync a node with it; its server URL holds the prefix:
//!
//! ```text
//! sqlite3 phone.db "CREATE TABLE note (id INTEGER PRIMARY KEY AUTOINCREMENT,
//!                   title TEXT NOT NULL, body TEXT NOT NULL DEFAULT '');"
//! dbsync track --db phone.db
//! dbsync register --db phone.db --server http://127.0.0.1:8080/sync --token let-me-in
//!     # over HTTPS: --server https://localhost:8080/sync [--ca-cert ca.pem]
//! sqlite3 phone.db "INSERT INTO note (title) VALUES ('buy milk');"
//! dbsync sync --db phone.db
//! curl http://127.0.0.1:8080/api/notes      # [{"body":"","id":1,"title":"buy milk"}]
//! ```
//!
//! The app is an axum `Router`: `server.router("/sync")` merged into it.
//! An app that already runs its own server (`axum::serve`, a TLS
//! acceptor of its own) merges the router the same way and keeps serving
//! as it does; here `Server::serve_with` serves the whole app with the
//! dbsync server's connection limits, timeouts and TLS.

mod app;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: mounted --db FILE [--listen ADDR] [--token TOKEN] \
                     [--tls-cert PEM --tls-key PEM]";

fn options(mut args: impl Iterator<Item = String>) -> Result<app::Options, String> {
    let mut db = None;
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut token = "let-me-in".to_string();
    let (mut cert, mut key) = (None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--db" => db = Some(PathBuf::from(value)),
            "--listen" => listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--token" => token = value,
            "--tls-cert" => cert = Some(PathBuf::from(value)),
            "--tls-key" => key = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(app::Options {
        db: db.ok_or("--db is required")?,
        listen,
        token,
        tls,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("{why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let running = match app::start(options).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = running.local_addr();
    println!("app on {scheme}://{addr}/health and {scheme}://{addr}/api/notes");
    println!("nodes sync with {scheme}://{addr}{}", app::SYNC_PREFIX);
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    ExitCode::SUCCESS
}
