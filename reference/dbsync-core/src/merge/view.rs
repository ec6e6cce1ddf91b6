//! The read-only view of the local database the merge planner needs
//! (spec §12.1): four look-ups a store answers from its indexes.

use crate::protocol::row_id::RowId;
use crate::protocol::value::{Value, Values};
use std::fmt;

/// A look-up of the local database failed (an I/O or database error of
/// the store). The merge stops and changes nothing.
#[derive(Debug)]
pub struct ViewError(pub Box<dyn std::error::Error + Send + Sync>);

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "local view failed: {}", self.0)
    }
}

impl std::error::Error for ViewError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The local database as the merge planner reads it, before any action of
/// the plan is applied. Every method is a point look-up; a store answers
/// each from an index so that planning stays linear (spec §12.1.2).
pub trait LocalView {
    /// The values of row `id` of `table` (without the primary key), or
    /// `None` when the row does not exist.
    fn row(&self, table: &str, id: RowId) -> Result<Option<Values>, ViewError>;

    /// Whether row `id` of `table` exists.
    fn contains(&self, table: &str, id: RowId) -> Result<bool, ViewError> {
        Ok(self.row(table, id)?.is_some())
    }

    /// The ids of the rows of `table` whose column `column` (a foreign key)
    /// holds `parent_id`, in ascending order.
    fn children(
        &self,
        table: &str,
        column: &str,
        parent_id: RowId,
    ) -> Result<Vec<RowId>, ViewError>;

    /// The id of the row of `table` whose `columns` hold `values` (same
    /// order), or `None`. `values` never contains NULL.
    fn row_with_unique(
        &self,
        table: &str,
        columns: &[String],
        values: &[Value],
    ) -> Result<Option<RowId>, ViewError>;

    /// The largest key `table` has used: its key sequence, at least the
    /// largest id of its rows; 0 for a table that never held a row.
    fn max_id(&self, table: &str) -> Result<RowId, ViewError>;
}
