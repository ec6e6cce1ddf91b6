//! How ops are kept in `dbsync_oplog`: their command codes and changed
//! columns, reading one back with its position, and appending a
//! version's ops. Row ids are `bigint`: tables here are integer-keyed.

use crate::sql::int_id;
use crate::tx::PgTx;
use dbsync_core::{ChangedColumns, Command, Op, RowId, VersionedOp};
use dbsync_engine::store::{OpPosition, PositionedOp, StoreFault, StoreResult};

/// The code of a command in `dbsync_oplog.command`, as the capture
/// triggers write it.
fn command_code(c: Command) -> i16 {
    match c {
        Command::Insert => 1,
        Command::Update => 2,
        Command::Delete => 3,
    }
}

fn command_of(code: i16) -> Option<Command> {
    match code {
        1 => Some(Command::Insert),
        2 => Some(Command::Update),
        3 => Some(Command::Delete),
        _ => None,
    }
}

/// The changed columns (spec §3.1.1) of `dbsync_oplog.columns`: a JSON
/// array of names, or NULL for an op that names none.
fn changed_columns(text: Option<String>) -> Result<Option<ChangedColumns>, serde_json::Error> {
    text.map(|t| serde_json::from_str(&t)).transpose()
}

impl PgTx<'_> {
    /// The oplog's id of `table`.
    pub(crate) fn table_id(&self, table: &str) -> StoreResult<i32> {
        self.store
            .table_ids
            .get(table)
            .copied()
            .ok_or_else(|| StoreFault(format!("table {table} is not tracked")))
    }

    /// An op from a row whose first columns are `seq, version, table_id,
    /// row_id, command, columns` of `dbsync_oplog`.
    pub(crate) fn positioned(&self, r: &tokio_postgres::Row) -> StoreResult<PositionedOp> {
        let corrupt = || StoreFault("an oplog record is corrupt".into());
        let table = self
            .store
            .table_names
            .get(&r.get::<_, i32>(2))
            .ok_or_else(corrupt)?;
        let command = command_of(r.get(4)).ok_or_else(corrupt)?;
        let version = r.get::<_, i64>(1) as u64;
        Ok(PositionedOp {
            position: OpPosition {
                version,
                seq: r.get::<_, i64>(0) as u64,
            },
            op: VersionedOp {
                version,
                table: table.clone(),
                row_id: RowId::Int(r.get(3)),
                command,
                columns: changed_columns(r.get(5)).map_err(|_| corrupt())?,
                out: false,
            },
        })
    }

    /// Appends `ops` to the oplog as ops of `version`, in their order:
    /// one statement for them all.
    pub(crate) fn insert_ops(&self, version: u64, ops: &[Op]) -> StoreResult<()> {
        let table_ids: Vec<i32> = ops
            .iter()
            .map(|o| self.table_id(&o.table))
            .collect::<Result<_, _>>()?;
        let row_ids: Vec<i64> = ops
            .iter()
            .map(|o| int_id(o.row_id))
            .collect::<Result<_, _>>()?;
        let commands: Vec<i16> = ops.iter().map(|o| command_code(o.command)).collect();
        let columns: Vec<Option<String>> = ops
            .iter()
            .map(|o| {
                o.columns
                    .as_ref()
                    .map(|c| serde_json::to_string(c).expect("names serialize"))
            })
            .collect();
        let v = version as i64;
        self.execute(
            "INSERT INTO dbsync_oplog (table_id, row_id, command, version, columns) \
             SELECT t, r, c, $4, k FROM unnest($1::int4[], $2::int8[], $3::int2[], $5::text[]) \
             WITH ORDINALITY AS o(t, r, c, k, n) ORDER BY n",
            &[&table_ids, &row_ids, &commands, &v, &columns],
        )?;
        Ok(())
    }
}
