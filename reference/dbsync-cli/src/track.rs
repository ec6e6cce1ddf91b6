//! `dbsync track` and `dbsync untrack`.

use crate::args::{existing_db, TableArgs};
use crate::database;
use crate::existing;
use crate::output::Output;
use clap::Args;
use dbsync_sqlite::{track, Role, StoreError, TrackOptions};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `dbsync track` is given.
#[derive(Args)]
pub struct TrackArgs {
    /// The application's SQLite database (it must exist).
    #[arg(long, value_parser = existing_db)]
    pub db: PathBuf,
    #[command(flatten)]
    pub tables: TableArgs,
    /// What rows a table already holds when a node first tracks it are:
    /// `push` (this node's own work: recorded as pending inserts, sent
    /// with the next push) or `replace` (a copy of the server's data:
    /// the next repair replaces them). Required when such a table holds
    /// rows.
    #[arg(long, alias = "existing", value_enum, value_name = "push|replace")]
    pub existing_rows: Option<existing::ExistingRowsArg>,
}

/// What `dbsync check` is given.
#[derive(Args)]
pub struct CheckArgs {
    /// The application's SQLite database (it must exist).
    #[arg(long, value_parser = existing_db)]
    pub db: PathBuf,
    #[command(flatten)]
    pub tables: TableArgs,
}

/// What `dbsync untrack` is given.
#[derive(Args)]
pub struct UntrackArgs {
    /// The application's SQLite database (it must exist).
    #[arg(long, value_parser = existing_db)]
    pub db: PathBuf,
    /// The tables to stop tracking (default: every tracked table).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
}

/// Tracks the tables `args` names (every user table by default).
pub fn track(out: Output, args: TrackArgs) -> ExitCode {
    let mut conn = match database::open(&args.db) {
        Ok(c) => c,
        Err(e) => return out.store_failure(e.into()),
    };
    let user_tables = if args.tables.needs_user_tables() {
        match dbsync_sqlite::introspect::user_tables(&conn) {
            Ok(t) => t,
            Err(e) => return out.store_failure(e.into()),
        }
    } else {
        Vec::new()
    };
    let specs = match args.tables.specs(&user_tables) {
        Ok(s) => s,
        Err(e) => return out.usage(e),
    };
    let options = existing::track_options(args.existing_rows);
    let schema = match track_as(&mut conn, &args.db, &specs, &options) {
        Ok(schema) => schema,
        Err(StoreError::ExistingRows(refused)) => return existing::refused(out, &refused),
        Err(e) => return out.store_failure(e),
    };
    tables_report(out, &schema, "tracking")
}

/// Prints each synced table as `{what} NAME (DIRECTION)`, then the
/// fingerprint (as JSON: `tables` and `fingerprint`).
fn tables_report(out: Output, schema: &dbsync_core::Schema, what: &str) -> ExitCode {
    let tables: Vec<_> = schema
        .tables
        .iter()
        .map(|t| json!({"name": t.name, "direction": t.direction.name()}))
        .collect();
    out.done(
        json!({"tables": tables, "fingerprint": schema.fingerprint()}),
        || {
            let mut text: Vec<String> = schema
                .tables
                .iter()
                .map(|t| format!("{what} {} ({})", t.name, t.direction.name()))
                .collect();
            text.push(format!("schema fingerprint {}", schema.fingerprint()));
            text.join("\n")
        },
    )
}

/// Says whether the tables `args` names (every user table by default)
/// can sync as they are, naming every refused one, without writing.
pub fn check(out: Output, args: CheckArgs) -> ExitCode {
    let conn = match database::open(&args.db) {
        Ok(c) => c,
        Err(e) => return out.store_failure(e.into()),
    };
    let user_tables = match dbsync_sqlite::introspect::user_tables(&conn) {
        Ok(t) => t,
        Err(e) => return out.store_failure(e.into()),
    };
    let specs = match args.tables.specs(&user_tables) {
        Ok(s) => s,
        Err(e) => return out.usage(e),
    };
    match track::check(&conn, &specs) {
        Ok(schema) => tables_report(out, &schema, "can sync as it is:"),
        Err(e) => out.store_failure(e),
    }
}

/// Tracks `specs` in the role the database already has (a node's when
/// it has none yet).
fn track_as(
    conn: &mut rusqlite::Connection,
    db: &Path,
    specs: &[dbsync_sqlite::TableSpec],
    options: &TrackOptions,
) -> Result<dbsync_core::Schema, StoreError> {
    let role = if database::role(db).as_deref() == Some("server") {
        Role::Server
    } else {
        Role::Node
    };
    let schema = track::track_with(conn, specs, role, options)?;
    if role == Role::Node {
        conn.execute_batch(dbsync_sqlite::node::NODE_SQL)?;
    }
    Ok(schema)
}

/// Stops tracking the tables `args` names (every table when none); their
/// data stays.
pub fn untrack(out: Output, args: UntrackArgs) -> ExitCode {
    let tables = &args.tables;
    let result = database::open(&args.db)
        .map_err(StoreError::from)
        .and_then(|mut c| track::untrack(&mut c, tables));
    match result {
        Ok(()) => out.done(
            json!({"untracked": tables, "every_table": tables.is_empty()}),
            || {
                if tables.is_empty() {
                    "untracked every table".to_string()
                } else {
                    format!("untracked {}", tables.join(", "))
                }
            },
        ),
        Err(e) => out.store_failure(e),
    }
}
