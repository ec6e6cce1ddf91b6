//! Repair (spec §13): a snapshot of the pull-capable tables in pages,
//! parents before children, cut by cursors.

use crate::cursor;
use crate::scope::{node_keys, Scopes};
use crate::settings::Limits;
use crate::store::{ReadTx, Store};
use crate::versions::seal_direct_writes;
use crate::{commit, Rejection};
use dbsync_core::auth::Secret;
use dbsync_core::protocol::{RepairPage, RepairRequest};
use dbsync_core::{Row, RowId, Schema, TableSchema};

/// The pull-capable tables, parents before children (spec §13.2); a
/// cycle of foreign keys is broken by name.
pub fn repair_order(schema: &Schema) -> Vec<&TableSchema> {
    let mut done: Vec<&TableSchema> = Vec::new();
    let mut left: Vec<&TableSchema> = schema
        .tables
        .iter()
        .filter(|t| t.direction.pulls())
        .collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|t| {
            let ready = t.foreign_keys.iter().all(|fk| {
                fk.references == t.name
                    || done.iter().any(|d| d.name == fk.references)
                    || !schema
                        .table(&fk.references)
                        .is_some_and(|p| p.direction.pulls())
            });
            if ready {
                done.push(t);
            }
            !ready
        });
        if left.len() == before {
            done.append(&mut left);
        }
    }
    done
}

/// Starts a repair (spec §13.1, first page): seals direct writes, and
/// records the node as live again, holding the latest version.
pub fn repair_start(
    store: &dyn Store,
    node_id: u64,
    scopes: Option<&Scopes>,
    now: u64,
) -> Result<(), Rejection> {
    let mut tx = store.write()?;
    tx.lock_history()?;
    tx.node(node_id)?
        .ok_or_else(|| Rejection::unknown_node(node_id))?;
    let latest = seal_direct_writes(&mut *tx, store.schema(), scopes, now)?;
    tx.note_known_version(node_id, latest, true)?;
    commit(tx)
}

/// Serves one page of a repair snapshot from one read snapshot; on a
/// scoped server, of the rows in the node's scope (spec §19.8).
pub fn repair_page(
    store: &dyn Store,
    limits: &Limits,
    key: &Secret,
    node_id: u64,
    req: &RepairRequest,
    scopes: Option<&Scopes>,
) -> Result<RepairPage, Rejection> {
    let mut tx = store.read()?;
    let node = tx
        .node(node_id)?
        .ok_or_else(|| Rejection::unknown_node(node_id))?;
    let keys = scopes.map(|_| node_keys(&node));
    let order = repair_order(store.schema());
    let (mut table, mut after) = match &req.cursor {
        None => (0usize, RowId::default()),
        Some(c) => cursor::read_repair(key, node_id, c)?,
    };
    let page_rows = limits.repair_page_rows.max(1);
    let mut rows: Vec<Row> = Vec::new();
    let mut bytes = 0;
    while table < order.len() && rows.len() < page_rows && bytes < limits.page_bytes {
        let want = page_rows - rows.len();
        let (mut got, whole_table) =
            table_part(&mut *tx, order[table], keys.as_deref(), after, want)?;
        // The rows that fit the page's bytes; at least one row per page.
        let fit = got
            .iter()
            .position(|r| {
                bytes += r.json_len_estimate();
                bytes >= limits.page_bytes
            })
            .map_or(got.len(), |last| last + 1);
        got.truncate(fit);
        if whole_table && bytes < limits.page_bytes {
            (table, after) = (table + 1, RowId::default());
        } else {
            after = got.last().map_or(after, |r| r.id);
        }
        rows.extend(got);
    }
    let next_cursor =
        (table < order.len()).then(|| cursor::issue_repair(key, node_id, table, after));
    // The first page counts what the whole repair sends (§13.2).
    let total_rows = match req.cursor {
        None => Some(total_rows(&mut *tx, &order, keys.as_deref())?),
        Some(_) => None,
    };
    Ok(RepairPage {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        version: latest(&mut *tx)?,
        rows,
        next_cursor,
        total_rows,
    })
}

/// Up to `want` rows of `t` after `after`, those in `keys` on a scoped
/// server; and whether they end the table.
fn table_part(
    tx: &mut dyn ReadTx,
    t: &TableSchema,
    keys: Option<&[String]>,
    after: RowId,
    want: usize,
) -> Result<(Vec<Row>, bool), Rejection> {
    let Some(keys) = keys else {
        let got = tx.rows_after(t, after, want)?;
        let whole = got.len() < want;
        return Ok((got, whole));
    };
    let ids = tx.scoped_ids_after(t, keys, after, want)?;
    let mut got = tx.rows(t, &ids)?;
    got.sort_by_key(|r| r.id);
    Ok((got, ids.len() < want))
}

/// The rows of every table a repair sends, in its snapshot.
fn total_rows(
    tx: &mut dyn ReadTx,
    order: &[&TableSchema],
    keys: Option<&[String]>,
) -> Result<u64, Rejection> {
    let mut sum = 0;
    for t in order {
        sum += match keys {
            None => tx.row_count(t)?,
            Some(keys) => tx.scoped_count(t, keys)?,
        };
    }
    Ok(sum)
}

fn latest(tx: &mut dyn ReadTx) -> Result<u64, Rejection> {
    Ok(tx.latest_version()?)
}
