//! Databases made before text keys (spec §2.2) declared dbsync's
//! `row_id` columns `INTEGER`. SQLite would store a text key that looks
//! like a number (`"0123"`) as the integer 123 there, so such a column is
//! rebuilt without a type, rows and `AUTOINCREMENT` sequence kept, the
//! first time dbsync opens the database to track it.

use rusqlite::{Connection, OptionalExtension};

/// Rebuilds `table` as `create` (its new declaration, under the name
/// `{table}_retyped`) when its `row_id` column is declared `INTEGER`;
/// atomic on its own or inside the caller's transaction.
pub fn retype_row_ids(conn: &Connection, table: &str, create: &str) -> rusqlite::Result<bool> {
    let declared: Option<String> = conn
        .query_row(
            &format!("SELECT type FROM pragma_table_info('{table}') WHERE name = 'row_id'"),
            [],
            |r| r.get(0),
        )
        .optional()?;
    if !declared.is_some_and(|d| d.eq_ignore_ascii_case("INTEGER")) {
        return Ok(false);
    }
    let sequence: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .optional()
        .or_else(|e| match e {
            // No AUTOINCREMENT table yet: no sqlite_sequence either.
            rusqlite::Error::SqliteFailure(..) => Ok(None),
            e => Err(e),
        })?;
    // The old table may lack columns added since (they take their
    // default): copy the ones it has, by name.
    let copied = conn
        .prepare(&format!(
            "SELECT '\"' || name || '\"' FROM pragma_table_info('{table}')"
        ))?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .join(", ");
    // Legacy renaming leaves the capture triggers' `INSERT INTO
    // dbsync_oplog` as written: they name the rebuilt table afterwards.
    conn.execute_batch(&format!(
        "SAVEPOINT dbsync_retype;
         PRAGMA legacy_alter_table = ON;
         {create};
         INSERT INTO {table}_retyped ({copied}) SELECT {copied} FROM {table};
         DROP TABLE {table};
         ALTER TABLE {table}_retyped RENAME TO {table};
         PRAGMA legacy_alter_table = OFF;"
    ))?;
    if let Some(seq) = sequence {
        conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
            rusqlite::params![table, seq],
        )?;
    }
    conn.execute_batch("RELEASE dbsync_retype;")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_row_id_column_is_rebuilt_untyped_with_its_rows_and_sequence() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE dbsync_oplog (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
             table_id INTEGER NOT NULL, row_id INTEGER NOT NULL, command INTEGER NOT NULL, version INTEGER);
             INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES (1, 7, 1), (1, 8, 1);
             DELETE FROM dbsync_oplog WHERE seq = 2;
             CREATE TABLE t (id TEXT PRIMARY KEY);
             CREATE TRIGGER t_i AFTER INSERT ON t BEGIN \
               INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES (2, NEW.id, 1); END;",
        )
        .unwrap();
        let create = crate::track::retyped(crate::track::META_SQL, "dbsync_oplog");
        assert!(retype_row_ids(&conn, "dbsync_oplog", &create).unwrap());
        assert!(!retype_row_ids(&conn, "dbsync_oplog", &create).unwrap());
        conn.execute("INSERT INTO t VALUES ('0123')", []).unwrap();
        let rows: Vec<(i64, String)> = conn
            .prepare("SELECT seq, typeof(row_id) || ':' || row_id FROM dbsync_oplog ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // The text key kept its leading zero; the sequence went on at 3.
        assert_eq!(
            rows,
            vec![(1, "integer:7".to_string()), (3, "text:0123".to_string())]
        );
    }
}
