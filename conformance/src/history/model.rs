//! The server state the accepted pushes imply: each push's `i` and `u`
//! set the row to the values it carried, each `d` removes it (spec
//! §10.2.4). A history makes no direct server writes, so the server's
//! tables must always equal this fold.

use dbsync_core::protocol::value::Values;
use dbsync_core::protocol::PushRequest;
use dbsync_core::{Command, Row, RowId};
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, PartialEq)]
/// The fold of the accepted pushes over the server's first rows.
pub struct ServerModel {
    rows: BTreeMap<(String, RowId), Values>,
}

impl ServerModel {
    /// A server that already holds `rows` (a server the runner did not
    /// start empty).
    pub fn holding(rows: &[Row]) -> ServerModel {
        ServerModel {
            rows: rows
                .iter()
                .map(|r| ((r.table.clone(), r.id), r.values.clone()))
                .collect(),
        }
    }

    pub fn apply(&mut self, req: &PushRequest) {
        for op in &req.ops {
            let key = (op.table.clone(), op.row_id);
            match op.command {
                Command::Delete => {
                    self.rows.remove(&key);
                }
                _ => {
                    if let Some(row) = req
                        .rows
                        .iter()
                        .find(|r| r.table == op.table && r.id == op.row_id)
                    {
                        self.rows.insert(key, row.values.clone());
                    }
                }
            }
        }
    }

    /// Every row, by table then id.
    pub fn rows(&self) -> Vec<Row> {
        self.rows
            .iter()
            .map(|((table, id), values)| Row {
                table: table.clone(),
                id: *id,
                values: values.clone(),
            })
            .collect()
    }
}
