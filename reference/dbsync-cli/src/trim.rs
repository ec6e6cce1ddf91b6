//! `dbsync trim`: drop history nobody needs, on a server or on a node.

use crate::database;
use crate::output::Output;
use crate::store::ServerDb;
use clap::Args;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// What `dbsync trim` is given.
#[derive(Args)]
pub struct TrimArgs {
    /// A node's SQLite file, or a server's database (a SQLite file or
    /// a PostgreSQL URL); a file must exist.
    #[arg(long)]
    pub db: String,
    /// (server) Days after which an unseen node stops holding back trim.
    #[arg(long, default_value_t = 30)]
    pub stale_after_days: u64,
}

/// On a server, drops the versions every live node holds; on a node, the
/// ops already pushed.
pub async fn trim(out: Output, args: TrimArgs) -> ExitCode {
    let db = ServerDb::parse(&args.db);
    match &db {
        ServerDb::Sqlite(path) if !path.is_file() => {
            out.usage(crate::args::existing_db(&args.db).err().unwrap_or_default())
        }
        ServerDb::Sqlite(path) if database::role(path).as_deref() != Some("server") => {
            trim_node(out, path)
        }
        _ => trim_server(out, db, args.stale_after_days).await,
    }
}

async fn trim_server(out: Output, db: ServerDb, stale_after_days: u64) -> ExitCode {
    let opened = tokio::task::spawn_blocking(move || {
        let store = crate::store::open_served(&db)?;
        dbsync_server::Server::open(store, dbsync_server::Config::new()).map_err(|e| e.to_string())
    });
    let server = match opened.await.unwrap_or_else(|e| Err(e.to_string())) {
        Ok(s) => s,
        Err(e) => return out.local_failure(e),
    };
    match server
        .trim(dbsync_server::unix_now(), stale_after_days * 86_400)
        .await
    {
        Ok(r) => out.done(
            json!({
                "trimmed_through": r.trimmed_through,
                "versions_dropped": r.versions_dropped,
                "nodes_marked_stale": r.nodes_marked_stale,
            }),
            || {
                format!(
                    "trimmed through version {}: {} version(s) dropped, {} node(s) now stale",
                    r.trimmed_through, r.versions_dropped, r.nodes_marked_stale
                )
            },
        ),
        Err(r) => out.local_failure(r.message),
    }
}

fn trim_node(out: Output, db: &Path) -> ExitCode {
    match database::open(db).and_then(|c| dbsync_sqlite::node::trim(&c)) {
        Ok(n) => out.done(json!({"ops_dropped": n}), || {
            format!("dropped {n} pushed op(s); pending ops kept")
        }),
        Err(e) => out.store_failure(e.into()),
    }
}
