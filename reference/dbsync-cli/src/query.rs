//! `dbsync query`: rows of a synced table, read from the server.

use crate::args::NodeArgs;
use crate::output::Output;
use clap::Args;
use dbsync_client::Node;
use dbsync_core::{ColumnType, Value};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// What `dbsync query` is given.
#[derive(Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The synced table to read.
    #[arg(long)]
    pub table: String,
    /// An equality filter COLUMN=VALUE (repeatable; VALUE `null` is NULL).
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub filters: Vec<String>,
    /// At most this many rows (the server caps it).
    #[arg(long)]
    pub limit: Option<u32>,
}

/// Parses `COLUMN=VALUE` with the column's type from the schema.
fn filter(node: &Node, table: &str, text: &str) -> Result<(String, Value), String> {
    let (col, raw) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not COLUMN=VALUE"))?;
    let (schema, _) = node.schema();
    let t = schema
        .table(table)
        .ok_or_else(|| format!("table {table:?} is not synced"))?;
    if raw == "null" {
        return Ok((col.into(), Value::Null));
    }
    let ty = if col == t.primary_key {
        ColumnType::Integer
    } else {
        t.column(col).map_or(ColumnType::Text, |c| c.ty)
    };
    let value = match ty {
        ColumnType::Integer => Value::Integer(
            raw.parse()
                .map_err(|_| format!("{col} is an integer column; {raw:?} is not an integer"))?,
        ),
        ColumnType::Real => Value::Real(
            raw.parse()
                .map_err(|_| format!("{col} is a real column; {raw:?} is not a number"))?,
        ),
        ColumnType::Blob => {
            return Err(format!("{col} is a blob column: filter on another column"))
        }
        // An `any` column holds what the application stored: a value
        // written as JSON (`12`, `1.5`, `"12"`) is that value, anything
        // else is text.
        ColumnType::Any => serde_json::from_str(raw).unwrap_or_else(|_| Value::Text(raw.into())),
        _ => Value::Text(raw.into()),
    };
    Ok((col.into(), value))
}

/// Prints the matching rows as JSON (text or `--json`: with `--json`,
/// also whether more rows matched than the limit).
pub async fn query(out: Output, args: QueryArgs) -> ExitCode {
    let node = match crate::procedures::open(out, &args.node) {
        Ok(n) => n,
        Err(e) => return out.fail(&e),
    };
    let mut filters = BTreeMap::new();
    for f in &args.filters {
        match filter(&node, &args.table, f) {
            Ok((c, v)) => {
                filters.insert(c, v);
            }
            Err(e) => return out.usage(e),
        }
    }
    match node.query(&args.table, filters, args.limit).await {
        Ok(r) => {
            if r.truncated && !out.json {
                eprintln!("(more rows matched than the limit; raise --limit)");
            }
            let rows = serde_json::to_string_pretty(&r.rows).expect("serializable");
            out.done(json!({"rows": r.rows, "truncated": r.truncated}), || rows)
        }
        Err(e) => out.fail(&e),
    }
}
