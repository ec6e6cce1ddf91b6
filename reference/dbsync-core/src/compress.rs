//! Oplog compression (spec §5): reduce each side's ops to at most one op
//! per row before any exchange.
//!
//! - [`compress_pending`] implements the pending-op table of spec §5.2 and
//!   reports a sequence no rule allows as [`InvalidPendingSequence`]
//!   (spec §5.2.2).
//! - [`compress_pulled`] implements the pulled-op table of spec §5.3; the
//!   result keeps the version of each row's last op and the largest row
//!   id every table used (spec §5.3.2).
//! - [`without_versions`] drops the ops of versions the node recognises as
//!   its own (spec §10, §11).
//!
//! Both compressions are linear in the number of ops (one hash map keyed
//! by table and row id) apart from a sort by `order` that is linear on
//! already ordered input, and both return rows in the order of their first
//! op.

use crate::column_union::ColumnUnion;
use crate::error::ErrorCode;
use crate::merge::hash::FxHashMap;
use crate::protocol::op::{Command, Op, OplogRecord, VersionedOp};
use crate::protocol::row_id::RowId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// The pending ops of one row form a sequence no rule of spec §5.2 allows
/// (a reused key, or writes that bypassed capture).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(deny_unknown_fields)]
#[error("pending ops of {table} row {row_id} form the sequence {} which no rule of spec §5.2 allows", Letters(.sequence))]
pub struct InvalidPendingSequence {
    /// The row's table.
    pub table: String,
    /// The row's id.
    pub row_id: RowId,
    /// Every pending op of the row, oldest first.
    pub sequence: Vec<Command>,
}

impl InvalidPendingSequence {
    /// The stable code of the error model (spec §17).
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidPendingSequence
    }
}

struct Letters<'a>(&'a [Command]);

impl fmt::Display for Letters<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Where a row's pending sequence stands while it is read oldest first
/// (the states of the automaton of spec §5.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingState {
    /// `i u*`: compresses to `i`.
    Inserted,
    /// `i u* d`: compresses to nothing.
    Vanished,
    /// `u u*`: compresses to `u`.
    Updated,
    /// `u* d`: compresses to `d`.
    Deleted,
}

impl PendingState {
    fn start(c: Command) -> PendingState {
        match c {
            Command::Insert => PendingState::Inserted,
            Command::Update => PendingState::Updated,
            Command::Delete => PendingState::Deleted,
        }
    }

    /// The next state, or `None` when the sequence leaves the table. A
    /// text key (`text`) may be inserted again after its delete: the same
    /// row comes back (spec §2.2, §5.2.1), so `d i` is `u` and `i d i` is
    /// `i`.
    fn step(self, c: Command, text: bool) -> Option<PendingState> {
        match (self, c) {
            (PendingState::Inserted, Command::Update) => Some(PendingState::Inserted),
            (PendingState::Inserted, Command::Delete) => Some(PendingState::Vanished),
            (PendingState::Updated, Command::Update) => Some(PendingState::Updated),
            (PendingState::Updated, Command::Delete) => Some(PendingState::Deleted),
            (PendingState::Deleted, Command::Insert) if text => Some(PendingState::Updated),
            (PendingState::Vanished, Command::Insert) if text => Some(PendingState::Inserted),
            _ => None,
        }
    }

    fn result(self) -> Option<Command> {
        match self {
            PendingState::Inserted => Some(Command::Insert),
            PendingState::Vanished => None,
            PendingState::Updated => Some(Command::Update),
            PendingState::Deleted => Some(Command::Delete),
        }
    }
}

/// The pending-op rule of spec §5.2.1 for one integer-keyed row's
/// sequence, oldest first: `Ok(Some(c))` compresses to `c`, `Ok(None)` to nothing, `Err(())`
/// is a sequence no rule allows. An empty sequence compresses to nothing.
#[allow(clippy::result_unit_err)]
pub fn pending_rule(sequence: &[Command]) -> Result<Option<Command>, ()> {
    let Some((first, rest)) = sequence.split_first() else {
        return Ok(None);
    };
    let mut state = PendingState::start(*first);
    for c in rest {
        state = state.step(*c, false).ok_or(())?;
    }
    Ok(state.result())
}

/// Compresses a node's pending ops (spec §5.2).
///
/// `records` may come in any order; they are read in `order`. Records that
/// carry a version are not pending and are skipped. The result has at most
/// one op per row, rows in the order of their oldest pending op. The first
/// row (in that order) whose sequence no rule allows is reported.
pub fn compress_pending(records: &[OplogRecord]) -> Result<Vec<Op>, InvalidPendingSequence> {
    let mut sorted: Vec<&OplogRecord> = records.iter().filter(|r| r.version.is_none()).collect();
    sorted.sort_by_key(|r| r.order);

    // Per row: its index in `rows`, and its state (`None` once invalid).
    let mut index: FxHashMap<(&str, RowId), usize> =
        FxHashMap::with_capacity_and_hasher(sorted.len(), Default::default());
    type PendingRow<'r> = ((&'r str, RowId), Option<PendingState>, ColumnUnion);
    let mut rows: Vec<PendingRow> = Vec::new();
    for r in &sorted {
        let key = (r.table.as_str(), r.row_id);
        match index.get(&key) {
            None => {
                index.insert(key, rows.len());
                let columns = ColumnUnion::start(r.command, r.columns.as_ref());
                rows.push((key, Some(PendingState::start(r.command)), columns));
            }
            Some(&i) => {
                let (_, state, columns) = &mut rows[i];
                let text = r.row_id.as_text().is_some();
                *state = state.and_then(|s| s.step(r.command, text));
                columns.add(r.command, r.columns.as_ref());
            }
        }
    }

    let mut out = Vec::with_capacity(rows.len());
    for ((table, row_id), state, columns) in rows {
        match state {
            Some(s) => {
                if let Some(command) = s.result() {
                    out.push(Op {
                        table: table.to_owned(),
                        row_id,
                        command,
                        columns: columns.of(command),
                    });
                }
            }
            None => {
                let sequence = sorted
                    .iter()
                    .filter(|r| r.table == table && r.row_id == row_id)
                    .map(|r| r.command)
                    .collect();
                return Err(InvalidPendingSequence {
                    table: table.to_owned(),
                    row_id,
                    sequence,
                });
            }
        }
    }
    Ok(out)
}

/// The pulled-op rule of spec §5.3.1 for one row, given its first and last
/// op in server order (equal for a single op): `None` means nothing.
pub fn pulled_rule(first: Command, last: Command) -> Option<Command> {
    use Command::{Delete as D, Insert as I, Update as U};
    match (first, last) {
        (I, D) => None,
        (I, _) => Some(I),
        (U, D) => Some(D),
        (U, _) => Some(U),
        (D, D) => Some(D),
        (D, _) => Some(U),
    }
}

/// The compressed ops of a pull (spec §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompressedPull {
    /// At most one op per row, in the order of each row's first op; each
    /// carries the version of the row's last op.
    pub ops: Vec<VersionedOp>,
    /// The largest row id any op (compressed away or not) named, per table
    /// (spec §5.3.2).
    pub max_row_ids: BTreeMap<String, RowId>,
    /// The largest version of any op, if there was one.
    pub last_version: Option<u64>,
}

/// Compresses ops pulled from the server (spec §5.3). `ops` are in server
/// order (the order of the versions, then of the ops inside a version).
pub fn compress_pulled(ops: &[VersionedOp]) -> CompressedPull {
    struct Acc<'a> {
        key: (&'a str, RowId),
        first: Command,
        last: Command,
        version: u64,
        columns: ColumnUnion,
        out: bool,
    }
    let mut index: FxHashMap<(&str, RowId), usize> =
        FxHashMap::with_capacity_and_hasher(ops.len(), Default::default());
    let mut rows: Vec<Acc> = Vec::new();
    let mut max_row_ids: BTreeMap<String, RowId> = BTreeMap::new();
    let mut last_version = None;
    for op in ops {
        let key = (op.table.as_str(), op.row_id);
        last_version = last_version.max(Some(op.version));
        match max_row_ids.get_mut(&op.table) {
            Some(m) => *m = (*m).max(op.row_id),
            None => {
                max_row_ids.insert(op.table.clone(), op.row_id);
            }
        }
        match index.get(&key) {
            None => {
                index.insert(key, rows.len());
                rows.push(Acc {
                    key,
                    first: op.command,
                    last: op.command,
                    version: op.version,
                    columns: ColumnUnion::start(op.command, op.columns.as_ref()),
                    out: op.out,
                });
            }
            Some(&i) => {
                let acc = &mut rows[i];
                acc.last = op.command;
                acc.version = op.version;
                acc.columns.add(op.command, op.columns.as_ref());
                acc.out = op.out;
            }
        }
    }
    let ops = rows
        .into_iter()
        .filter_map(|acc| {
            pulled_rule(acc.first, acc.last).map(|command| VersionedOp {
                version: acc.version,
                table: acc.key.0.to_owned(),
                row_id: acc.key.1,
                command,
                columns: acc.columns.of(command),
                // §19.6: a `d` that is a move-out stays one.
                out: command == Command::Delete && acc.out,
            })
        })
        .collect();
    CompressedPull {
        ops,
        max_row_ids,
        last_version,
    }
}

/// Drops the ops of the given versions: the versions a node recognises as
/// its own pushes (spec §10, §11). Apply it to the raw pulled ops, before
/// [`compress_pulled`].
pub fn without_versions(ops: Vec<VersionedOp>, versions: &HashSet<u64>) -> Vec<VersionedOp> {
    if versions.is_empty() {
        return ops;
    }
    ops.into_iter()
        .filter(|op| !versions.contains(&op.version))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::{Delete as D, Insert as I, Update as U};

    fn pending(seq: &[Command]) -> Vec<OplogRecord> {
        seq.iter()
            .enumerate()
            .map(|(i, c)| OplogRecord {
                order: i as u64 + 1,
                table: "t".into(),
                row_id: 7.into(),
                command: *c,
                version: None,
                columns: None,
            })
            .collect()
    }

    fn compressed(seq: &[Command]) -> Result<Vec<Command>, InvalidPendingSequence> {
        compress_pending(&pending(seq)).map(|ops| ops.into_iter().map(|o| o.command).collect())
    }

    fn pulled(seq: &[Command]) -> CompressedPull {
        let ops: Vec<VersionedOp> = seq
            .iter()
            .enumerate()
            .map(|(i, c)| VersionedOp {
                version: i as u64 + 10,
                table: "t".into(),
                row_id: 7.into(),
                command: *c,
                columns: None,
                out: false,
            })
            .collect();
        compress_pulled(&ops)
    }

    fn pulled_commands(seq: &[Command]) -> Vec<(Command, u64)> {
        pulled(seq)
            .ops
            .into_iter()
            .map(|o| (o.command, o.version))
            .collect()
    }

    fn invalid(seq: &[Command]) {
        let err = compressed(seq).unwrap_err();
        assert_eq!(err.table, "t");
        assert_eq!(err.row_id, RowId::Int(7));
        assert_eq!(err.sequence, seq);
        assert_eq!(err.code(), ErrorCode::InvalidPendingSequence);
    }

    #[test]
    fn pending_single_insert_stays_insert() {
        assert_eq!(compressed(&[I]).unwrap(), vec![I]);
    }

    #[test]
    fn pending_insert_then_updates_compresses_to_insert() {
        assert_eq!(compressed(&[I, U, U]).unwrap(), vec![I]);
    }

    #[test]
    fn pending_insert_then_delete_compresses_to_nothing() {
        assert_eq!(compressed(&[I, D]).unwrap(), Vec::<Command>::new());
        assert_eq!(compressed(&[I, U, U, D]).unwrap(), Vec::<Command>::new());
    }

    #[test]
    fn pending_updates_compress_to_one_update() {
        assert_eq!(compressed(&[U]).unwrap(), vec![U]);
        assert_eq!(compressed(&[U, U, U]).unwrap(), vec![U]);
    }

    #[test]
    fn pending_updates_then_delete_compress_to_delete() {
        assert_eq!(compressed(&[U, U, D]).unwrap(), vec![D]);
    }

    #[test]
    fn pending_single_delete_stays_delete() {
        assert_eq!(compressed(&[D]).unwrap(), vec![D]);
    }

    #[test]
    fn pending_insert_twice_is_an_invalid_sequence() {
        invalid(&[I, I]);
    }

    #[test]
    fn pending_insert_after_delete_is_an_invalid_sequence() {
        invalid(&[D, I]);
        invalid(&[I, D, I]);
    }

    #[test]
    fn pending_update_after_delete_is_an_invalid_sequence() {
        invalid(&[D, U]);
        invalid(&[I, D, U]);
    }

    #[test]
    fn pending_insert_after_update_is_an_invalid_sequence() {
        invalid(&[U, I]);
    }

    #[test]
    fn pending_delete_twice_is_an_invalid_sequence() {
        invalid(&[D, D]);
        invalid(&[U, D, D]);
    }

    #[test]
    fn pending_records_are_read_in_order_not_in_slice_order() {
        let mut recs = pending(&[I, U, D]);
        recs.reverse();
        assert_eq!(compress_pending(&recs).unwrap(), vec![]);
        let mut recs = pending(&[U, D]);
        recs.swap(0, 1);
        assert_eq!(compress_pending(&recs).unwrap()[0].command, D);
    }

    #[test]
    fn pending_versioned_records_are_not_pending() {
        let mut recs = pending(&[I, U]);
        recs[0].version = Some(3);
        assert_eq!(compress_pending(&recs).unwrap()[0].command, U);
    }

    #[test]
    fn pending_rows_keep_the_order_of_their_first_op() {
        let recs: Vec<OplogRecord> = [("b", 2, I), ("a", 1, U), ("b", 2, U), ("a", 3, D)]
            .iter()
            .enumerate()
            .map(|(i, (t, id, c))| OplogRecord {
                order: i as u64,
                table: (*t).into(),
                row_id: RowId::Int(*id),
                command: *c,
                version: None,
                columns: None,
            })
            .collect();
        let ops = compress_pending(&recs).unwrap();
        let keys: Vec<(&str, RowId)> = ops.iter().map(|o| (o.table.as_str(), o.row_id)).collect();
        assert_eq!(
            keys,
            vec![("b", 2.into()), ("a", 1.into()), ("a", 3.into())]
        );
    }

    #[test]
    fn pulled_single_op_stays_as_it_is() {
        for c in [I, U, D] {
            assert_eq!(pulled_commands(&[c]), vec![(c, 10)]);
        }
    }

    #[test]
    fn pulled_insert_first_and_delete_last_compresses_to_nothing() {
        assert_eq!(pulled_commands(&[I, U, D]), vec![]);
        let p = pulled(&[I, D]);
        assert_eq!(p.max_row_ids.get("t"), Some(&RowId::Int(7)));
        assert_eq!(p.last_version, Some(11));
    }

    #[test]
    fn pulled_insert_first_otherwise_compresses_to_insert() {
        assert_eq!(pulled_commands(&[I, U, U]), vec![(I, 12)]);
        assert_eq!(pulled_commands(&[I, D, I]), vec![(I, 12)]);
    }

    #[test]
    fn pulled_update_first_and_delete_last_compresses_to_delete() {
        assert_eq!(pulled_commands(&[U, U, D]), vec![(D, 12)]);
    }

    #[test]
    fn pulled_update_first_otherwise_compresses_to_update() {
        assert_eq!(pulled_commands(&[U, U]), vec![(U, 11)]);
        assert_eq!(pulled_commands(&[U, D, I]), vec![(U, 12)]);
    }

    #[test]
    fn pulled_delete_first_and_delete_last_compresses_to_delete() {
        assert_eq!(pulled_commands(&[D, I, D]), vec![(D, 12)]);
    }

    #[test]
    fn pulled_delete_first_and_not_delete_last_compresses_to_update() {
        assert_eq!(pulled_commands(&[D, I]), vec![(U, 11)]);
        assert_eq!(pulled_commands(&[D, I, U]), vec![(U, 12)]);
    }

    #[test]
    fn own_versions_are_dropped_before_compression() {
        let ops = vec![
            VersionedOp {
                version: 4,
                table: "t".into(),
                row_id: 1.into(),
                command: I,
                columns: None,
                out: false,
            },
            VersionedOp {
                version: 5,
                table: "t".into(),
                row_id: 1.into(),
                command: U,
                columns: None,
                out: false,
            },
        ];
        let kept = without_versions(ops, &HashSet::from([4]));
        assert_eq!(compress_pulled(&kept).ops[0].command, U);
    }
}
