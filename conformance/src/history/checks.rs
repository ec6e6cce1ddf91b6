//! The invariants of spec §18.3 on a history's databases.

use super::server::integrity_of;
use super::world::World;
use super::Failure;
use crate::replica;
use dbsync_core::{Row, Schema};
use dbsync_sqlite::node;
use rusqlite::types::Value as Sql;
use rusqlite::Connection;

/// Everything a failed procedure must leave as it was on a node: the
/// synced rows, the oplog, dbsync's state, the conflict log and the key
/// sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot(Vec<Vec<Sql>>);

pub fn snapshot(conn: &Connection) -> Result<Snapshot, Failure> {
    let mut out = Vec::new();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_stat%' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for t in tables {
        let n = conn
            .prepare(&format!("SELECT * FROM \"{t}\""))?
            .column_count();
        let order: Vec<String> = (1..=n.min(2)).map(|i| i.to_string()).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT * FROM \"{t}\" ORDER BY {}",
            order.join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let mut row = vec![Sql::Text(t.clone())];
            for i in 0..n {
                row.push(r.get::<_, Sql>(i)?);
            }
            out.push(row);
        }
    }
    Ok(Snapshot(out))
}

/// Invariant 3: every declared foreign key and unique constraint holds,
/// and no row is there twice (same `uid`).
pub fn integrity(conn: &Connection, schema: &Schema, who: &str) -> Result<(), Failure> {
    let broken: Vec<(String, i64, String)> = conn
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if let Some((t, id, parent)) = broken.first() {
        return Err(Failure::new(format!(
            "{who}: {t} row {id} references a missing {parent} row ({} broken in all)",
            broken.len()
        )));
    }
    for t in &schema.tables {
        let mut groups: Vec<Vec<String>> = t.unique.clone();
        groups.push(vec!["uid".into()]);
        for cols in groups {
            let list = cols
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let not_null = cols
                .iter()
                .map(|c| format!("\"{c}\" IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let dup: Option<i64> = conn
                .query_row(
                    &format!(
                        "SELECT count(*) FROM \"{}\" WHERE {not_null} GROUP BY {list} HAVING count(*) > 1",
                        t.name
                    ),
                    [],
                    |r| r.get(0),
                )
                .ok();
            if let Some(k) = dup {
                return Err(Failure::new(format!(
                    "{who}: {k} rows of {} share ({})",
                    t.name,
                    cols.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// Up to five rows only in `a` and five only in `b`, one per line.
pub fn diff(a: &[Row], b: &[Row]) -> String {
    let key = |r: &Row| serde_json::to_string(r).unwrap_or_default();
    let (sa, sb): (Vec<String>, Vec<String>) =
        (a.iter().map(key).collect(), b.iter().map(key).collect());
    let mut out = String::new();
    for x in sa.iter().filter(|x| !sb.contains(x)).take(5) {
        out.push_str(&format!("\n  only in the first:  {x}"));
    }
    for x in sb.iter().filter(|x| !sa.contains(x)).take(5) {
        out.push_str(&format!("\n  only in the second: {x}"));
    }
    out
}

impl World {
    /// The invariants that hold after every step.
    pub fn check_always(&self) -> Result<(), Failure> {
        let on_server = self.server.rows()?;
        integrity_of(&on_server, &self.schema, "server")?;
        for (i, n) in self.nodes.iter().enumerate() {
            integrity(&n.conn, &self.schema, &format!("node {i}"))?;
        }
        let implied = self.model.rows();
        if on_server != implied {
            return Err(Failure::new(format!(
                "the server's tables are not what the pushes it accepted imply (server first):{}",
                diff(&on_server, &implied)
            )));
        }
        Ok(())
    }

    /// After the quiet round: every node is settled and equals the server,
    /// table by table, row by row (invariant 1); nothing was lost
    /// (invariant 2).
    pub fn check_final(&mut self) -> Result<(), Failure> {
        self.check_always()?;
        let on_server = self.server.rows()?;
        let latest = self
            .server
            .engine
            .seal(super::world::NOW)
            .map_err(|r| Failure::new(format!("reading the latest version: {}", r.message)))?;
        for (i, n) in self.nodes.iter().enumerate() {
            let st = node::state(&n.conn)?;
            if st.outstanding_push.is_some() {
                return Err(Failure::new(format!(
                    "node {i} still has an outstanding push"
                )));
            }
            let pending =
                node::compressed_pending(&n.conn).map_err(|e| Failure::new(e.to_string()))?;
            if !pending.is_empty() {
                return Err(Failure::new(format!(
                    "node {i} still has pending ops: {pending:?}"
                )));
            }
            if st.last_version != latest {
                return Err(Failure::new(format!(
                    "node {i} is at version {}, the server at {latest}",
                    st.last_version
                )));
            }
            let rows = replica::dump(&n.conn, &self.schema)?;
            if rows != on_server {
                return Err(Failure::new(format!(
                    "node {i} differs from the server (node first):{}",
                    diff(&rows, &on_server)
                )));
            }
        }
        self.check_nothing_lost()
    }
}
