//! Checking a row against its table before it is written (spec §4).
//!
//! A receiver (the server for a push, a node for a pull) runs every row of a
//! message through [`check_row`] before touching its database; table and
//! column names are only ever taken from the [`Schema`], never from input.

use crate::error::ErrorCode;
use crate::protocol::row_id::RowId;
use crate::protocol::value::{Row, Value};
use crate::schema::{ColumnType, Schema, TableSchema};

/// Why a row cannot be written, with the code of spec §17.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The row's table is not a synced table (`unknown_table`).
    #[error("table {0:?} is not synced")]
    UnknownTable(String),
    /// The row names a column its table does not have (`unknown_column`).
    #[error("table {table:?} has no column {column:?}")]
    UnknownColumn {
        /// The row's table.
        table: String,
        /// The column it names.
        column: String,
    },
    /// The row lacks a column of its table (`invalid_value`, spec §4.4).
    #[error("{table}.{column} is missing from row {id}")]
    MissingColumn {
        /// The row's table.
        table: String,
        /// The missing column.
        column: String,
        /// The row's id.
        id: RowId,
    },
    /// A value does not fit its column's type (`invalid_value`, spec §4.4.1).
    #[error("{table}.{column} of row {id} must be {expected}, not {found}")]
    WrongType {
        /// The row's table.
        table: String,
        /// The column.
        column: String,
        /// The row's id.
        id: RowId,
        /// The column's type, as its name.
        expected: &'static str,
        /// What the value is instead.
        found: String,
    },
    /// A NOT NULL column holds NULL (`invalid_value`, spec §4.1.4).
    #[error("{table}.{column} of row {id} is NOT NULL")]
    NullInNotNull {
        /// The row's table.
        table: String,
        /// The column.
        column: String,
        /// The row's id.
        id: RowId,
    },
    /// The row id is outside 1 to 2^53 − 1, or not of the kind its
    /// table's key holds (`invalid_value`, spec §2.2).
    #[error(
        "row id {0} is not a key of its table (an integer key is 1..2^53-1, a text key a string)"
    )]
    BadRowId(RowId),
}

impl RowError {
    /// Machine-readable details for the error response (spec §17.2).
    pub fn details(&self) -> serde_json::Value {
        match self {
            RowError::UnknownTable(t) => serde_json::json!({ "table": t }),
            RowError::UnknownColumn { table, column } => {
                serde_json::json!({ "table": table, "column": column })
            }
            RowError::MissingColumn { table, column, id }
            | RowError::NullInNotNull { table, column, id }
            | RowError::WrongType {
                table, column, id, ..
            } => {
                serde_json::json!({ "table": table, "column": column, "row_id": id })
            }
            RowError::BadRowId(id) => serde_json::json!({ "row_id": id }),
        }
    }

    /// The stable code this error travels as.
    pub fn code(&self) -> ErrorCode {
        match self {
            RowError::UnknownTable(_) => ErrorCode::UnknownTable,
            RowError::UnknownColumn { .. } => ErrorCode::UnknownColumn,
            _ => ErrorCode::InvalidValue,
        }
    }
}

/// The largest row id (spec §2.2): 2^53 − 1.
pub const MAX_ROW_ID: i64 = 9_007_199_254_740_991;

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Real(r) => format!("the number {r}"),
        Value::Text(t) => format!("the string {t:?}"),
        Value::Blob(_) => "a blob".into(),
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn number(s: &str, n: usize, max: u32) -> bool {
    digits(s, n) && s.parse::<u32>().is_ok_and(|v| v <= max)
}

/// `YYYY-MM-DD`, a real calendar date (spec §4.3).
pub fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    if p.len() != 3 || !digits(p[0], 4) || !number(p[1], 2, 12) || !number(p[2], 2, 31) {
        return false;
    }
    let (y, m, d): (u32, u32, u32) = (
        p[0].parse().unwrap_or(0),
        p[1].parse().unwrap_or(0),
        p[2].parse().unwrap_or(0),
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (1..=12).contains(&m) && (1..=days).contains(&d)
}

/// `HH:MM:SS[.fraction]`: hours 00–23, minutes and seconds 00–59, one to
/// nine fraction digits (spec §4.3).
pub fn is_time(s: &str) -> bool {
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    let p: Vec<&str> = main.split(':').collect();
    p.len() == 3
        && number(p[0], 2, 23)
        && number(p[1], 2, 59)
        && number(p[2], 2, 59)
        && frac.is_none_or(|f| (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM]` (spec §4.3).
pub fn is_datetime(s: &str) -> bool {
    if s.len() < 19 || !s.is_ascii() {
        return false;
    }
    let (date, sep, rest) = (&s[..10], &s[10..11], &s[11..]);
    if !is_date(date) || !(sep == "T" || sep == " ") {
        return false;
    }
    let time = if let Some(t) = rest.strip_suffix('Z') {
        t
    } else if rest.len() > 6 && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-') {
        let (t, zone) = rest.split_at(rest.len() - 6);
        if zone.as_bytes()[3] != b':' || !number(&zone[1..3], 2, 23) || !number(&zone[4..], 2, 59) {
            return false;
        }
        t
    } else {
        rest
    };
    is_time(time)
}

/// Whether `value` may be stored in a column of type `ty` (NULL aside).
pub fn fits(ty: ColumnType, value: &Value) -> bool {
    match (ty, value) {
        (_, Value::Null) | (ColumnType::Any, _) => true,
        (ColumnType::Integer, Value::Integer(_)) => true,
        (ColumnType::Real, Value::Integer(_) | Value::Real(_)) => true,
        (ColumnType::Text, Value::Text(_)) => true,
        (ColumnType::Blob, Value::Blob(_)) => true,
        (ColumnType::Date, Value::Text(t)) => is_date(t),
        (ColumnType::Time, Value::Text(t)) => is_time(t),
        (ColumnType::Datetime, Value::Text(t)) => is_datetime(t),
        _ => false,
    }
}

/// Checks a whole row: its table is synced, it names every column but the
/// primary key and no other, and each value fits its column.
pub fn check_row<'s>(schema: &'s Schema, row: &Row) -> Result<&'s TableSchema, RowError> {
    let table = schema
        .table(&row.table)
        .ok_or_else(|| RowError::UnknownTable(row.table.clone()))?;
    let in_range = match row.id {
        RowId::Int(n) => (1..=MAX_ROW_ID).contains(&n),
        RowId::Text(_) => true,
    };
    if !(in_range && table.holds_id_kind(row.id)) {
        return Err(RowError::BadRowId(row.id));
    }
    for name in row.values.keys() {
        if table.column(name).is_none() {
            return Err(RowError::UnknownColumn {
                table: table.name.clone(),
                column: name.clone(),
            });
        }
    }
    for col in &table.columns {
        let value = row
            .values
            .get(&col.name)
            .ok_or_else(|| RowError::MissingColumn {
                table: table.name.clone(),
                column: col.name.clone(),
                id: row.id,
            })?;
        if value.is_null() && col.not_null {
            return Err(RowError::NullInNotNull {
                table: table.name.clone(),
                column: col.name.clone(),
                id: row.id,
            });
        }
        if !fits(col.ty, value) {
            return Err(RowError::WrongType {
                table: table.name.clone(),
                column: col.name.clone(),
                id: row.id,
                expected: col.ty.name(),
                found: describe(value),
            });
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_times_and_datetimes_are_recognised() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2024-2-29"));
        assert!(is_time("23:59:59") && is_time("23:59:59.125"));
        assert!(!is_time("23:59") && !is_time("23:59:59."));
        assert!(!is_date("2025-02-29") && !is_date("2024-13-01") && !is_date("2024-04-31"));
        assert!(!is_time("24:00:00") && !is_time("23:60:00") && !is_time("23:59:59.1234567890"));
        for ok in [
            "2024-02-29T23:59:59Z",
            "2024-02-29 23:59:59",
            "2024-02-29T23:59:59.5+01:00",
        ] {
            assert!(is_datetime(ok), "{ok}");
        }
        for bad in [
            "2024-02-29",
            "2024-02-29X23:59:59",
            "2024-02-29t23:59:59",
            "2024-02-29T23:59:59+0100",
            "2024-02-29T23:59:59+24:00",
            "2024-02-29T23:59:59z",
            "é024-02-29T23:59:59",
        ] {
            assert!(!is_datetime(bad), "{bad}");
        }
    }

    #[test]
    fn an_integer_fits_a_real_column_but_not_the_reverse() {
        assert!(fits(ColumnType::Real, &Value::Integer(3)));
        assert!(!fits(ColumnType::Integer, &Value::Real(3.5)));
        assert!(!fits(ColumnType::Text, &Value::Blob(vec![1])));
    }
}
