//! The server of an in-process history: the engine over a SQLite store
//! (most cases) or a PostgreSQL store (a share of them), and what the
//! checks read of it, through the store as the engine sees it.

use super::{failed, Failure};
use crate::{ddl, replica};
use dbsync_core::{Row, RowId, Schema, Value};
use dbsync_engine::settings::{Limits, Registration, Settings};
use dbsync_engine::{Engine, Store};
use dbsync_postgres::scratch::ScratchDb;
use dbsync_sqlite::server::Synchronous;
use dbsync_sqlite::{SqliteStore, StoreOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which store a history's server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerStore {
    /// A SQLite file in the history's folder.
    #[default]
    Sqlite,
    /// A fresh database on the PostgreSQL of `DBSYNC_TEST_POSTGRES`.
    Postgres,
}

/// Where the server's database lives.
enum Database {
    Sqlite(PathBuf),
    Postgres(ScratchDb),
}

/// The server side of a history.
pub struct ServerDb {
    pub engine: Engine,
    pub limits: Limits,
    database: Database,
    schema: Schema,
}

impl ServerDb {
    /// Makes `schema`'s tables in a fresh database of `store` (in `dir`
    /// for SQLite) and opens the engine over them.
    pub fn create(
        store: ServerStore,
        dir: &Path,
        schema: &Schema,
        sqlite: ddl::Dialect,
        limits: Limits,
    ) -> Result<ServerDb, Failure> {
        let database = match store {
            ServerStore::Sqlite => {
                let path = dir.join("server.db");
                let conn = dbsync_sqlite::open(&path).map_err(|e| failed("opening")(&e))?;
                conn.execute_batch(&ddl::create_all_in(sqlite, schema))?;
                Database::Sqlite(path)
            }
            ServerStore::Postgres => {
                let db = ScratchDb::create("dbsync_history").map_err(Failure::new)?;
                db.execute(dbsync_postgres::DOMAINS_SQL)
                    .and_then(|()| db.execute(&ddl::create_all_in(ddl::Dialect::Postgres, schema)))
                    .map_err(Failure::new)?;
                Database::Postgres(db)
            }
        };
        let engine = open_engine(&database, schema, &limits)?;
        Ok(ServerDb {
            engine,
            limits,
            database,
            schema: schema.clone(),
        })
    }

    /// The server's process restarts: its store closes and the database
    /// is opened and prepared again, as the server does at start.
    pub fn restart(&mut self) -> Result<(), Failure> {
        let engine = open_engine(&self.database, &self.schema, &self.limits)?;
        drop(std::mem::replace(&mut self.engine, engine));
        Ok(())
    }

    /// Every row of every synced table, by table then key, read through
    /// the store in one snapshot.
    pub fn rows(&self) -> Result<Vec<Row>, Failure> {
        let store = self.engine.store();
        let mut tx = store.read().map_err(|e| failed("reading the server")(&e))?;
        let mut out = Vec::new();
        for t in &self.schema.tables {
            let rows = tx
                .rows_after(t, RowId::Int(i64::MIN), i64::MAX as usize)
                .map_err(|e| failed("reading the server")(&e))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// How many rows of `table` on the server hold `uid` (a history's
    /// row identity).
    pub fn rows_with_uid(&self, table: &str, uid: &str) -> Result<usize, Failure> {
        let uid = Value::Text(uid.to_string());
        Ok(self
            .rows()?
            .iter()
            .filter(|r| r.table == table && r.values.get("uid") == Some(&uid))
            .count())
    }

    /// How many rows of any table on the server hold `uid`.
    pub fn rows_with_uid_anywhere(&self, uid: &str) -> Result<usize, Failure> {
        let uid = Value::Text(uid.to_string());
        Ok(self
            .rows()?
            .iter()
            .filter(|r| r.values.get("uid") == Some(&uid))
            .count())
    }
}

fn open_engine(database: &Database, schema: &Schema, limits: &Limits) -> Result<Engine, Failure> {
    let specs = replica::specs(schema);
    let store: Arc<dyn Store> = match database {
        Database::Sqlite(path) => {
            let options = StoreOptions {
                synchronous: Synchronous::Off,
                ..StoreOptions::default()
            };
            Arc::new(
                SqliteStore::open(path, &specs, options)
                    .map_err(|e| failed("opening the server's store")(&e))?,
            )
        }
        Database::Postgres(db) => Arc::new(
            dbsync_postgres::PgStore::connect(&db.url(), &specs, Default::default())
                .map_err(|e| failed("opening the server's store")(&e))?,
        ),
    };
    if store.schema().fingerprint() != schema.fingerprint() {
        return Err(Failure::new(format!(
            "the server reads its tables as another schema:\n{}\ninstead of\n{}",
            store.schema().canonical_text(),
            schema.canonical_text()
        )));
    }
    let settings = Settings {
        limits: limits.clone(),
        registration: Registration::Open,
        ..Settings::default()
    };
    Engine::open(store, settings)
        .map_err(|r| Failure::new(format!("opening the engine: {}", r.message)))
}

/// Invariant 3 over a table dump: foreign keys resolve, unique groups and
/// `uid`s are not repeated (NULLs never collide, spec §2.3.2).
pub fn integrity_of(rows: &[Row], schema: &Schema, who: &str) -> Result<(), Failure> {
    let keys: BTreeSet<(&str, RowId)> = rows.iter().map(|r| (r.table.as_str(), r.id)).collect();
    for t in &schema.tables {
        let of_table = rows.iter().filter(|r| r.table == t.name);
        let mut groups: Vec<Vec<String>> = t.unique.clone();
        groups.push(vec!["uid".into()]);
        let mut seen: BTreeMap<(usize, String), RowId> = BTreeMap::new();
        for row in of_table {
            for fk in &t.foreign_keys {
                if let Some(parent) = row.values.get(&fk.column).and_then(RowId::from_value) {
                    if !keys.contains(&(fk.references.as_str(), parent)) {
                        return Err(Failure::new(format!(
                            "{who}: {} row {} references a missing {} row {parent}",
                            t.name, row.id, fk.references
                        )));
                    }
                }
            }
            for (g, cols) in groups.iter().enumerate() {
                let values: Option<Vec<&Value>> = cols
                    .iter()
                    .map(|c| row.values.get(c).filter(|v| **v != Value::Null))
                    .collect();
                let Some(values) = values else { continue };
                let key = serde_json::to_string(&values).unwrap_or_default();
                if let Some(other) = seen.insert((g, key), row.id) {
                    return Err(Failure::new(format!(
                        "{who}: {} rows {other} and {} share ({})",
                        t.name,
                        row.id,
                        cols.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsync_core::{Column, ColumnType, Direction, ForeignKey, KeyType, TableSchema};

    fn schema() -> Schema {
        let column = |name: &str, ty| Column {
            name: name.into(),
            ty,
            not_null: false,
        };
        let parent = TableSchema {
            name: "p".into(),
            primary_key: "id".into(),
            key_type: KeyType::Integer,
            columns: vec![
                column("uid", ColumnType::Text),
                column("code", ColumnType::Text),
            ],
            foreign_keys: vec![],
            unique: vec![vec!["code".into()]],
            direction: Direction::Both,
        };
        let child = TableSchema {
            name: "c".into(),
            primary_key: "id".into(),
            key_type: KeyType::Integer,
            columns: vec![
                column("uid", ColumnType::Text),
                column("p_id", ColumnType::Integer),
            ],
            foreign_keys: vec![ForeignKey {
                column: "p_id".into(),
                references: "p".into(),
            }],
            unique: vec![],
            direction: Direction::Both,
        };
        Schema {
            tables: vec![parent, child],
        }
    }

    fn row(table: &str, id: i64, values: &[(&str, Value)]) -> Row {
        Row {
            table: table.into(),
            id: RowId::Int(id),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn rows_whose_keys_resolve_and_whose_unique_values_differ_pass() {
        let rows = [
            row("p", 1, &[("uid", text("a")), ("code", Value::Null)]),
            row("p", 2, &[("uid", text("b")), ("code", Value::Null)]),
            row("c", 1, &[("uid", text("c")), ("p_id", Value::Integer(2))]),
        ];
        assert!(integrity_of(&rows, &schema(), "server").is_ok());
    }

    #[test]
    fn a_dangling_foreign_key_and_a_repeated_unique_value_are_each_caught() {
        let dangling = [row(
            "c",
            1,
            &[("uid", text("c")), ("p_id", Value::Integer(9))],
        )];
        let why = integrity_of(&dangling, &schema(), "server").unwrap_err();
        assert!(why.to_string().contains("missing p row 9"), "{why}");
        let repeated = [
            row("p", 1, &[("uid", text("a")), ("code", text("x"))]),
            row("p", 2, &[("uid", text("b")), ("code", text("x"))]),
        ];
        let why = integrity_of(&repeated, &schema(), "server").unwrap_err();
        assert!(why.to_string().contains("share (code)"), "{why}");
        let same_uid = [
            row("p", 1, &[("uid", text("a"))]),
            row("p", 2, &[("uid", text("a"))]),
        ];
        assert!(integrity_of(&same_uid, &schema(), "server").is_err());
    }
}
