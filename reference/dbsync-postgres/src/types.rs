//! PostgreSQL's column types as dbsync's (spec §2.5), and how each kind
//! of column is read and written so that a value comes back exactly as
//! it was given.

use dbsync_core::{ColumnType, Value};
use dbsync_engine::store::StoreFault;
use tokio_postgres::types::ToSql;

/// How PostgreSQL keeps a synced column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgKind {
    /// `smallint`, `integer`, `bigint`.
    Int,
    /// `boolean`, travelling as the integers 0 and 1.
    Bool,
    /// `double precision`.
    Float,
    /// `text`, `varchar`, and the text domains `dbsync_time`,
    /// `dbsync_datetime`.
    Text,
    /// `bytea`.
    Bytea,
    /// `date`, read back as `YYYY-MM-DD`.
    Date,
    /// The text domain `dbsync_any`, holding each value's wire form
    /// (spec §4.1.5).
    Any,
}

/// The dbsync type and kind of a column whose type (or domain) is named
/// `type_name` in `pg_type`, or what to declare instead.
pub fn column_type_of(type_name: &str) -> Result<(ColumnType, PgKind), &'static str> {
    Ok(match type_name {
        "int2" | "int4" | "int8" => (ColumnType::Integer, PgKind::Int),
        "bool" => (ColumnType::Integer, PgKind::Bool),
        "float8" => (ColumnType::Real, PgKind::Float),
        "text" | "varchar" => (ColumnType::Text, PgKind::Text),
        "bytea" => (ColumnType::Blob, PgKind::Bytea),
        "date" => (ColumnType::Date, PgKind::Date),
        "dbsync_time" => (ColumnType::Time, PgKind::Text),
        "dbsync_datetime" => (ColumnType::Datetime, PgKind::Text),
        "dbsync_any" => (ColumnType::Any, PgKind::Any),
        other => return Err(hint(other)),
    })
}

fn hint(type_name: &str) -> &'static str {
    match type_name {
        "float4" => "declare it `double precision` (dbsync `real`)",
        "numeric" => {
            "declare it `double precision` (dbsync `real`), or keep exact amounts in a `bigint` of the smallest unit"
        }
        "bpchar" => "declare it `text` or `varchar(n)`: `char(n)` pads values with spaces",
        "timestamp" | "timestamptz" => {
            "declare it with the domain `dbsync_datetime` (text holding an ISO 8601 date and time, spec §4.3), which dbsync creates: PostgreSQL's timestamps rewrite the text they are given"
        }
        "time" | "timetz" => {
            "declare it with the domain `dbsync_time` (text holding HH:MM:SS[.fraction], spec §4.3), which dbsync creates: PostgreSQL's times rewrite the text they are given"
        }
        "json" | "jsonb" | "uuid" => {
            "declare it `text`, or with the domain `dbsync_any` to hold values of any kind: this type rewrites the values it is given (spacing, key order or case)"
        }
        _ => {
            "declare it as one of bigint, integer, smallint, boolean, double precision, text, varchar(n), bytea, date, dbsync_time, dbsync_datetime or dbsync_any"
        }
    }
}

/// The SQL that reads column `name` of kind `kind` in its wire form.
pub fn read_expr(name: &str, kind: PgKind) -> String {
    match kind {
        PgKind::Int => format!("\"{name}\"::int8"),
        PgKind::Bool => format!("\"{name}\"::int4::int8"),
        PgKind::Float | PgKind::Bytea => format!("\"{name}\""),
        PgKind::Text | PgKind::Any => format!("\"{name}\"::text"),
        PgKind::Date => format!("to_char(\"{name}\", 'YYYY-MM-DD')"),
    }
}

/// The SQL that writes parameter `$n` into a column of kind `kind`.
pub fn write_expr(n: usize, kind: PgKind) -> String {
    match kind {
        PgKind::Int => format!("${n}::int8"),
        PgKind::Bool => format!("dbsync_bool(${n}::int8)"),
        PgKind::Float => format!("${n}::float8"),
        PgKind::Text | PgKind::Any => format!("${n}::text"),
        PgKind::Bytea => format!("${n}::bytea"),
        PgKind::Date => format!("${n}::text::date"),
    }
}

/// Parameter `$n` in the wire form [`read_expr`] gives, for comparisons.
pub fn compare_expr(n: usize, kind: PgKind) -> String {
    match kind {
        PgKind::Int | PgKind::Bool => format!("${n}::int8"),
        PgKind::Float => format!("${n}::float8"),
        PgKind::Text | PgKind::Date | PgKind::Any => format!("${n}::text"),
        PgKind::Bytea => format!("${n}::bytea"),
    }
}

/// A parameter for a column of kind `kind`.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// `value` as the parameter [`write_expr`] expects for `kind`.
pub fn param(kind: PgKind, value: &Value) -> Result<Param, StoreFault> {
    let bad = || StoreFault(format!("a {value:?} cannot be written as {kind:?}"));
    Ok(match (kind, value) {
        (PgKind::Int | PgKind::Bool, Value::Integer(i)) => Box::new(*i),
        (PgKind::Int | PgKind::Bool, Value::Null) => Box::new(None::<i64>),
        (PgKind::Float, Value::Real(r)) => Box::new(*r),
        (PgKind::Float, Value::Integer(i)) => Box::new(*i as f64),
        (PgKind::Float, Value::Null) => Box::new(None::<f64>),
        (PgKind::Text | PgKind::Date, Value::Text(t)) => Box::new(t.clone()),
        (PgKind::Text | PgKind::Date, Value::Null) => Box::new(None::<String>),
        (PgKind::Bytea, Value::Blob(b)) => Box::new(b.clone()),
        (PgKind::Bytea, Value::Null) => Box::new(None::<Vec<u8>>),
        (PgKind::Any, Value::Null) => Box::new(None::<String>),
        (PgKind::Any, v) => Box::new(serde_json::to_string(v).map_err(StoreFault::of)?),
        _ => return Err(bad()),
    })
}

/// Reads column `i` of `row`, written by [`read_expr`] for `kind`.
pub fn value_at(row: &tokio_postgres::Row, i: usize, kind: PgKind) -> Result<Value, StoreFault> {
    let v = match kind {
        PgKind::Int | PgKind::Bool => row
            .try_get::<_, Option<i64>>(i)
            .map(|v| v.map(Value::Integer)),
        PgKind::Float => row.try_get::<_, Option<f64>>(i).map(|v| v.map(Value::Real)),
        PgKind::Text | PgKind::Date => row
            .try_get::<_, Option<String>>(i)
            .map(|v| v.map(Value::Text)),
        PgKind::Bytea => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map(|v| v.map(Value::Blob)),
        PgKind::Any => {
            let wire = row
                .try_get::<_, Option<String>>(i)
                .map_err(StoreFault::of)?;
            return wire.map_or(Ok(Value::Null), |w| {
                serde_json::from_str(&w).map_err(StoreFault::of)
            });
        }
    };
    v.map(|v| v.unwrap_or(Value::Null)).map_err(StoreFault::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_that_rewrite_values_are_refused_with_what_to_declare() {
        assert_eq!(
            column_type_of("int4").unwrap(),
            (ColumnType::Integer, PgKind::Int)
        );
        assert_eq!(
            column_type_of("dbsync_datetime").unwrap().0,
            ColumnType::Datetime
        );
        for refused in [
            "timestamptz",
            "numeric",
            "float4",
            "bpchar",
            "jsonb",
            "point",
        ] {
            assert!(column_type_of(refused).is_err(), "{refused}");
        }
        assert!(column_type_of("timestamp")
            .unwrap_err()
            .contains("dbsync_datetime"));
    }
}
