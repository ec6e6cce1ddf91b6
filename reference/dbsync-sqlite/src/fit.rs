//! The value check of a tracked table (spec §3.4.2): SQL that holds when a
//! written row has a value its column's type cannot carry, so the capture
//! trigger refuses the write then, in the application's own transaction,
//! instead of a push failing later with `invalid_value`.
//!
//! The checks are plain SQL (`typeof`, `GLOB`, `substr`, `julianday`), so
//! they run in whatever SQLite the application links, without a function
//! of dbsync's. Each one holds exactly when `dbsync_core::validate::fits`
//! says no; a test compares the two on many strings.

use dbsync_core::protocol::row_id::TEXT_ID_MAX_BYTES;
use dbsync_core::{ColumnType, KeyType, TableSchema};

/// SQL that holds when `v` is a valid `date` text (spec §4.3): the shape,
/// and a real calendar date (`julianday` carries 02-30 into March, so the
/// date does not come back unchanged).
fn date_ok(v: &str) -> String {
    format!(
        "({v} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' AND date(julianday({v})) IS {v})"
    )
}

/// SQL that holds when `v` is a valid `time` text: `HH:MM:SS` with an
/// optional fraction of one to nine digits.
fn time_ok(v: &str) -> String {
    format!(
        "(substr({v}, 1, 8) GLOB '[0-2][0-9]:[0-5][0-9]:[0-5][0-9]' AND substr({v}, 1, 2) <= '23' \
         AND (length({v}) = 8 OR (substr({v}, 9, 1) = '.' AND length({v}) BETWEEN 10 AND 18 \
         AND substr({v}, 10) NOT GLOB '*[^0-9]*')))"
    )
}

/// SQL that holds when `r` is a time with an optional `Z` or `±HH:MM`.
fn time_with_offset_ok(r: &str) -> String {
    let before_z = format!("substr({r}, 1, length({r}) - 1)");
    let before_offset = format!("substr({r}, 1, length({r}) - 6)");
    format!(
        "(CASE WHEN {r} GLOB '*Z' THEN {} \
         WHEN length({r}) > 6 AND (substr({r}, -6, 1) = '+' OR substr({r}, -6, 1) = '-') THEN \
         substr({r}, -5) GLOB '[0-2][0-9]:[0-5][0-9]' AND substr({r}, -5, 2) <= '23' AND {} \
         ELSE {} END)",
        time_ok(&before_z),
        time_ok(&before_offset),
        time_ok(r)
    )
}

/// SQL that holds when `v` is a valid `datetime` text.
fn datetime_ok(v: &str) -> String {
    format!(
        "({} AND (substr({v}, 11, 1) = 'T' OR substr({v}, 11, 1) = ' ') AND {})",
        date_ok(&format!("substr({v}, 1, 10)")),
        time_with_offset_ok(&format!("substr({v}, 12)"))
    )
}

/// SQL that holds when `v`, a value stored in a column of type `ty`, is
/// one the type cannot carry; `None` when every value fits (`any`).
pub fn misfit(ty: ColumnType, v: &str) -> Option<String> {
    // Comparisons, not `typeof(v) NOT IN (…)`: SQLite builds an IN list's
    // ephemeral index at every row a trigger sees, which made capture of
    // an update ten times slower (docs/benchmarks.md).
    let kinds = |k: &[&str]| {
        let others: Vec<String> = k.iter().map(|k| format!("typeof({v}) <> '{k}'")).collect();
        format!("({v} IS NOT NULL AND {})", others.join(" AND "))
    };
    let text = |ok: String| format!("({v} IS NOT NULL AND NOT (typeof({v}) = 'text' AND {ok}))");
    Some(match ty {
        ColumnType::Any => return None,
        ColumnType::Integer => kinds(&["integer"]),
        ColumnType::Real => kinds(&["real", "integer"]),
        ColumnType::Text => kinds(&["text"]),
        ColumnType::Blob => kinds(&["blob"]),
        ColumnType::Date => text(date_ok(v)),
        ColumnType::Time => text(time_ok(v)),
        ColumnType::Datetime => text(datetime_ok(v)),
    })
}

/// One [`misfit`] condition per typed column of `t`, each over the
/// column's value as `prefix` names it (`NEW.` in a trigger, nothing in
/// a query of the table).
fn misfits(t: &TableSchema, prefix: &str) -> Vec<String> {
    let key = (t.key_type == KeyType::Text)
        .then(|| text_key_misfit(&format!("{prefix}\"{}\"", t.primary_key)));
    key.into_iter()
        .chain(
            t.columns
                .iter()
                .filter_map(|c| misfit(c.ty, &format!("{prefix}\"{}\"", c.name))),
        )
        .collect()
}

/// SQL that holds when `k`, a text key's value, is not a text row id:
/// NULL, not text, or outside 1 to 64 bytes (spec §2.2).
pub fn text_key_misfit(k: &str) -> String {
    format!(
        "({k} IS NULL OR typeof({k}) <> 'text' OR length(CAST({k} AS BLOB)) NOT BETWEEN 1 AND {TEXT_ID_MAX_BYTES})"
    )
}

/// The statement a capture trigger runs first: it aborts the write when a
/// value of the `row` (`NEW`) does not fit its column. `None` when every
/// column is `any`.
pub fn check_statement(t: &TableSchema, row: &str) -> Option<String> {
    let conds = misfits(t, &format!("{row}."));
    if conds.is_empty() {
        return None;
    }
    let key = (t.key_type == KeyType::Text).then(|| {
        format!(
            "{} text key of 1 to {TEXT_ID_MAX_BYTES} bytes",
            t.primary_key
        )
    });
    let types: Vec<String> = key
        .into_iter()
        .chain(
            t.columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.ty.name())),
        )
        .collect();
    Some(format!(
        "SELECT RAISE(ABORT, 'dbsync: a value does not fit its column in table {} ({}); \
         dates and times are text as in spec 4.3, and a column declared without a type holds any value') \
         WHERE {};",
        t.name,
        types.join(", "),
        conds.join(" OR ")
    ))
}

/// A query counting the rows of `t` already holding a value their column
/// cannot carry (for `track`, which refuses such a table).
pub fn misfits_query(t: &TableSchema) -> Option<String> {
    let conds = misfits(t, "");
    (!conds.is_empty()).then(|| {
        format!(
            "SELECT count(*) FROM \"{}\" WHERE {}",
            t.name,
            conds.join(" OR ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsync_core::validate::fits;
    use dbsync_core::Value;
    use proptest::prelude::*;
    use rusqlite::Connection;

    fn sql_says_misfit(conn: &Connection, ty: ColumnType, text: &str) -> bool {
        let cond = misfit(ty, "?1").expect("typed");
        conn.query_row(&format!("SELECT {cond}"), [text], |r| r.get(0))
            .unwrap()
    }

    const SAMPLES: &[&str] = &[
        "2025-06-10",
        "2024-02-29",
        "2025-02-29",
        "2025-02-30",
        "2025-13-01",
        "0000-01-01",
        "2025-6-10",
        "2025-06-10 ",
        "13:00:00",
        "08:15:30.25",
        "23:59:59.123456789",
        "23:59:59.1234567890",
        "24:00:00",
        "12:60:00",
        "12:00:00.",
        "12:00:00.5x",
        "2025-03-14T09:30:00+00:00",
        "2025-03-14 09:30:00",
        "2025-03-14T09:30:00.125Z",
        "2025-03-14t09:30:00",
        "2025-03-14T09:30:00+24:00",
        "2025-03-14T09:30:00-05:30",
        "2025-03-14T09:30:00+0530",
        "2025-03-14T09:30:00ZZ",
        "2025-02-29T09:30:00",
        "2025-03-14T25:30:00",
        "",
        "yesterday",
    ];

    #[test]
    fn the_sql_checks_agree_with_the_core_on_dates_times_and_datetimes() {
        let conn = Connection::open_in_memory().unwrap();
        for ty in [ColumnType::Date, ColumnType::Time, ColumnType::Datetime] {
            for s in SAMPLES {
                let core = fits(ty, &Value::Text((*s).into()));
                assert_eq!(sql_says_misfit(&conn, ty, s), !core, "{ty:?} {s:?}");
            }
        }
    }

    #[test]
    fn an_integer_fits_an_integer_or_real_column_and_nothing_else_typed() {
        let conn = Connection::open_in_memory().unwrap();
        let misfits = |ty| -> bool {
            let cond = misfit(ty, "?1").unwrap();
            conn.query_row(&format!("SELECT {cond}"), [1_i64], |r| r.get(0))
                .unwrap()
        };
        assert!(!misfits(ColumnType::Integer));
        assert!(!misfits(ColumnType::Real));
        assert!(misfits(ColumnType::Text));
        assert!(misfits(ColumnType::Blob));
        assert!(misfits(ColumnType::Datetime));
        assert_eq!(misfit(ColumnType::Any, "x"), None);
    }

    proptest! {
        #[test]
        fn the_sql_checks_agree_with_the_core_on_near_misses(
            s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T t][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?(Z|[+-][0-9]{2}:[0-9]{2}|[+-][0-9]{4})?",
        ) {
            let conn = Connection::open_in_memory().unwrap();
            for ty in [ColumnType::Date, ColumnType::Time, ColumnType::Datetime] {
                for part in [s.as_str(), &s[..10], &s[11..]] {
                    let core = fits(ty, &Value::Text(part.into()));
                    prop_assert_eq!(sql_says_misfit(&conn, ty, part), !core, "{:?} {:?}", ty, part);
                }
            }
        }
    }
}
