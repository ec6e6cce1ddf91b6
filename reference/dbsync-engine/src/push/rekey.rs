//! The inserts of a push behind that the server re-keys (spec
//! §10.2.2.2), and the fresh keys they take.

use crate::store::{PositionedOp, ReadTx};
use crate::Rejection;
use dbsync_core::protocol::{PushRequest, Rekey};
use dbsync_core::RowId;
use dbsync_core::{Command, Schema};
use std::collections::{BTreeMap, HashMap};

/// The moves for the push's inserts that C1 excepts: an `i` of a row the
/// node lists as new, whose first op among the later versions is an `i`
/// too. Each takes a
/// fresh key of its table, one above the greatest the table holds or
/// held and the greatest the push names there, in the order of the ops.
pub fn choose(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    req: &PushRequest,
    later: &[PositionedOp],
) -> Result<Vec<Rekey>, Rejection> {
    let mut first: HashMap<(&str, RowId), Command> = HashMap::new();
    for p in later {
        first
            .entry((p.op.table.as_str(), p.op.row_id))
            .or_insert(p.op.command);
    }
    // Only integer keys are new rows (text keys are never re-keyed).
    let taken: Vec<(&str, i64)> = req
        .ops
        .iter()
        .filter(|o| o.command == Command::Insert)
        .map(|o| (o.table.as_str(), o.row_id))
        .filter(|key| first.get(key) == Some(&Command::Insert))
        .filter(|(table, key)| req.is_new_row(table, *key))
        .filter_map(|(table, key)| Some((table, key.as_int()?)))
        .collect();
    fresh_keys(tx, schema, req, taken)
}

/// On a scoped server (spec §19.7): the moves for the push's inserts of
/// new rows whose integer key is not fresh on the server, not above the
/// greatest key the table holds or has held. The node could not see the
/// rows outside its scope, so it could not avoid their keys, nor those
/// of deleted rows that a restore may bring back; each takes a fresh key
/// as [`choose`] gives.
pub fn held(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    req: &PushRequest,
) -> Result<Vec<Rekey>, Rejection> {
    let mut greatest: BTreeMap<&str, i64> = BTreeMap::new();
    let mut taken: Vec<(&str, i64)> = Vec::new();
    for o in req.ops.iter().filter(|o| o.command == Command::Insert) {
        let (Some(t), Some(key)) = (schema.table(&o.table), o.row_id.as_int()) else {
            continue;
        };
        if !req.is_new_row(&o.table, o.row_id) {
            continue;
        }
        let held = match greatest.get(o.table.as_str()) {
            Some(g) => *g,
            None => {
                let g = tx.greatest_key(t)?;
                greatest.insert(o.table.as_str(), g);
                g
            }
        };
        if key <= held {
            taken.push((o.table.as_str(), key));
        }
    }
    fresh_keys(tx, schema, req, taken)
}

/// The moves of `taken` to fresh keys: one above the greatest its table
/// holds or held and the greatest the push names there, in order.
fn fresh_keys(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    req: &PushRequest,
    taken: Vec<(&str, i64)>,
) -> Result<Vec<Rekey>, Rejection> {
    if taken.is_empty() {
        return Ok(Vec::new());
    }
    let mut next = next_keys(tx, schema, req, &taken)?;
    Ok(taken
        .into_iter()
        .map(|(table, from)| {
            let to = next.get_mut(table).expect("a key for every table");
            *to += 1;
            Rekey {
                table: table.to_string(),
                from,
                to: *to,
            }
        })
        .collect())
}

/// For each table of `taken`, the greatest key it holds or held on the
/// server, or that the push names in it.
fn next_keys<'r>(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    req: &'r PushRequest,
    taken: &[(&'r str, i64)],
) -> Result<BTreeMap<&'r str, i64>, Rejection> {
    let mut greatest = BTreeMap::new();
    for (name, _) in taken {
        if greatest.contains_key(name) {
            continue;
        }
        // P5 refuses an unknown table later; it takes no key meanwhile.
        let held = match schema.table(name) {
            Some(t) => tx.greatest_key(t)?,
            None => 0,
        };
        let named = req
            .ops
            .iter()
            .filter(|o| o.table == *name)
            .filter_map(|o| o.row_id.as_int())
            .max()
            .unwrap_or(0);
        greatest.insert(*name, held.max(named));
    }
    Ok(greatest)
}
