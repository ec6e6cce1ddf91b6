//! `dbsync status` and `dbsync conflicts`: what a node database holds,
//! read without the server.

use crate::args::DbArgs;
use crate::database;
use crate::output::Output;
use serde_json::json;
use std::process::ExitCode;

/// The node id, server, last version and pending ops.
pub async fn status(out: Output, args: DbArgs) -> ExitCode {
    let status = match database::open_tracked(&args.db) {
        Ok(node) => node.status().await,
        Err(e) => Err(e),
    };
    let s = match status {
        Ok(s) => s,
        Err(e) => return out.fail(&e),
    };
    let value = serde_json::to_value(&s).expect("serializable");
    out.done(value, || {
        let mut lines = vec![match s.node_id {
            Some(id) => format!("node {id} of {}", s.server_url.as_deref().unwrap_or("?")),
            None => "not registered".to_string(),
        }];
        lines.push(format!("last version {}", s.last_version));
        lines.push(format!("pending ops {}", s.pending_ops));
        if s.repair_owed {
            lines.push("repair owed: the existing rows were tracked as a copy of the server's; run `dbsync repair`".into());
        }
        if let Some(p) = &s.outstanding_push {
            lines.push(format!(
                "outstanding push {p} (sent, answer not yet seen: the next push retries it)"
            ));
        }
        lines.push(format!("tables {}", s.tables.join(", ")));
        lines.push(format!("policy {}", s.policy));
        lines.push(format!("schema fingerprint {}", s.schema_fingerprint));
        lines.join("\n")
    })
}

/// The conflict log, most recent first: every resolution the merges
/// applied.
pub async fn conflicts(out: Output, args: DbArgs) -> ExitCode {
    let log = match database::open_tracked(&args.db) {
        Ok(node) => node.conflicts().await,
        Err(e) => Err(e),
    };
    let log = match log {
        Ok(log) => log,
        Err(e) => return out.fail(&e),
    };
    let entries: Vec<_> = log
        .iter()
        .rev()
        .map(|c| json!({"id": c.id, "recorded_at": c.recorded_at, "version": c.version, "entry": c.entry}))
        .collect();
    out.done(json!(entries), || {
        if log.is_empty() {
            return "no conflicts".to_string();
        }
        let lines: Vec<String> = log
            .iter()
            .rev()
            .map(|c| {
                let at = c
                    .version
                    .map_or(String::new(), |v| format!(" at version {v}"));
                format!("#{}{at}: {}", c.id, crate::demo::describe(&c.entry))
            })
            .collect();
        lines.join("\n")
    })
}
