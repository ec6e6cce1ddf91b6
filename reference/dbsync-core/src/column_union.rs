//! The changed columns a compressed `u` carries (spec §5.2.3, §5.3.1):
//! the union of the columns of the row's updates, known only when every
//! op of the row was a `u` that named its columns.

use crate::protocol::op::{ChangedColumns, Command};

/// The changed columns of one row's ops so far, read oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColumnUnion {
    /// Every op so far was a `u` that named its columns; their union.
    /// `None` once an op was not, or named none.
    union: Option<ChangedColumns>,
}

impl ColumnUnion {
    /// The union of a row whose first op is `command` with `columns`.
    pub fn start(command: Command, columns: Option<&ChangedColumns>) -> ColumnUnion {
        ColumnUnion {
            union: (command == Command::Update)
                .then(|| columns.cloned())
                .flatten(),
        }
    }

    /// Adds the row's next op.
    pub fn add(&mut self, command: Command, columns: Option<&ChangedColumns>) {
        match (&mut self.union, command, columns) {
            (Some(union), Command::Update, Some(more)) => union.extend(more.iter().cloned()),
            _ => self.union = None,
        }
    }

    /// The columns the compressed op carries: only a `u` carries them.
    pub fn of(self, compressed: Command) -> Option<ChangedColumns> {
        (compressed == Command::Update)
            .then_some(self.union)
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::{Delete as D, Insert as I, Update as U};

    fn cols(names: &[&str]) -> ChangedColumns {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn union(ops: &[(Command, Option<&[&str]>)], compressed: Command) -> Option<ChangedColumns> {
        let named: Vec<(Command, Option<ChangedColumns>)> =
            ops.iter().map(|(c, n)| (*c, n.map(cols))).collect();
        let mut u = ColumnUnion::start(named[0].0, named[0].1.as_ref());
        for (c, n) in &named[1..] {
            u.add(*c, n.as_ref());
        }
        u.of(compressed)
    }

    #[test]
    fn updates_that_name_their_columns_compress_to_the_union() {
        let ops = [(U, Some(&["b"][..])), (U, Some(&["a", "b"][..]))];
        assert_eq!(union(&ops, U), Some(cols(&["a", "b"])));
    }

    #[test]
    fn one_update_without_columns_makes_the_union_unknown() {
        let ops = [(U, Some(&["b"][..])), (U, None)];
        assert_eq!(union(&ops, U), None);
    }

    #[test]
    fn a_delete_or_insert_in_the_sequence_makes_the_union_unknown() {
        let ops = [(U, Some(&["b"][..])), (D, None), (I, None)];
        assert_eq!(union(&ops, U), None);
    }

    #[test]
    fn only_an_update_carries_columns() {
        let ops = [(U, Some(&["b"][..]))];
        assert_eq!(union(&ops, D), None);
    }
}
