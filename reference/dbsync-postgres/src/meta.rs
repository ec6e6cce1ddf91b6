//! dbsync's own tables in PostgreSQL, the domains and functions synced
//! tables may use, and the capture triggers that turn writes made
//! directly on the server database into ops (spec §6.1).
//!
//! Everything is created inside one transaction holding an advisory lock,
//! so that several server processes starting at once on a fresh database
//! do not race; creating twice changes nothing.

use crate::catalog::{read_table, user_tables, CatalogError, PgTable, TableRefused};
use dbsync_core::{Direction, Schema, TableSchema, TableSpec};
use tokio_postgres::{Client, Error, Transaction};

/// The advisory lock key of dbsync's schema changes.
pub(crate) const SCHEMA_LOCK: i64 = 0x6462_7379_6e63_0001;

/// The domains and functions an application's tables may use. Run it
/// before creating tables that use `dbsync_time` or `dbsync_datetime`;
/// running it again changes nothing.
pub const DOMAINS_SQL: &str = include_str!("../sql/domains.sql");

/// dbsync's own tables. The row `history` of `dbsync_state` is the lock
/// every version assignment takes (spec §10.2.1: one linear order).
pub const META_SQL: &str = "
CREATE OR REPLACE FUNCTION dbsync_bool(v bigint) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF v IS NULL THEN RETURN NULL; END IF;
  IF v = 0 THEN RETURN false; END IF;
  IF v = 1 THEN RETURN true; END IF;
  RAISE EXCEPTION 'a boolean column holds 0 or 1, not %', v USING ERRCODE = '22003';
END $$;
CREATE TABLE IF NOT EXISTS dbsync_tables (
    table_id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    schema_json text NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_oplog (
    seq bigserial PRIMARY KEY,
    table_id integer NOT NULL,
    row_id bigint NOT NULL,
    command smallint NOT NULL,
    version bigint
);
-- The changed columns of a `u` (spec §3.1.1), a JSON array of names;
-- NULL: any column. Added to databases made before it.
ALTER TABLE dbsync_oplog ADD COLUMN IF NOT EXISTS columns text;
CREATE INDEX IF NOT EXISTS dbsync_oplog_by_version ON dbsync_oplog (version, seq);
CREATE INDEX IF NOT EXISTS dbsync_oplog_unsealed ON dbsync_oplog (seq) WHERE version IS NULL;
CREATE TABLE IF NOT EXISTS dbsync_state (
    key text PRIMARY KEY,
    value text
);
INSERT INTO dbsync_state (key, value) VALUES ('history', NULL) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS dbsync_versions (
    version bigint PRIMARY KEY,
    node_id bigint,
    push_id text,
    created_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_nodes (
    node_id bigserial PRIMARY KEY,
    secret text NOT NULL,
    user_id text,
    registered_at bigint NOT NULL,
    last_seen bigint NOT NULL,
    known_version bigint NOT NULL DEFAULT 0,
    stale boolean NOT NULL DEFAULT false,
    seen boolean NOT NULL DEFAULT false
);
-- A database made before nodes were purged: whether its nodes ever made a
-- request is not known, so they all count as seen (none is purged by
-- mistake). New nodes are inserted with seen = false.
ALTER TABLE dbsync_nodes ADD COLUMN IF NOT EXISTS seen boolean NOT NULL DEFAULT true;
-- Claims (spec §19.1): a JSON array of {name, since}; NULL for none.
ALTER TABLE dbsync_nodes ADD COLUMN IF NOT EXISTS claims text;
CREATE TABLE IF NOT EXISTS dbsync_push_ids (
    node_id bigint NOT NULL,
    push_id text NOT NULL,
    version bigint NOT NULL,
    digest text NOT NULL,
    PRIMARY KEY (node_id, push_id)
);
CREATE TABLE IF NOT EXISTS dbsync_nonces (
    node_id bigint NOT NULL,
    nonce text NOT NULL,
    seen_at bigint NOT NULL,
    PRIMARY KEY (node_id, nonce)
);
CREATE INDEX IF NOT EXISTS dbsync_nonces_by_time ON dbsync_nonces (seen_at);
";

/// The function and trigger that capture direct writes to `t`, skipped
/// while dbsync applies a push (`dbsync.applying`).
pub fn capture_sql(table_id: i32, t: &TableSchema) -> String {
    let (name, pk) = (&t.name, &t.primary_key);
    format!(
        r#"CREATE OR REPLACE FUNCTION "dbsync_capture_{name}"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('dbsync.applying', true) = 'on' THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES ({table_id}, NEW."{pk}", 1);
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES ({table_id}, OLD."{pk}", 3);
  ELSIF OLD."{pk}" <> NEW."{pk}" THEN
    INSERT INTO dbsync_oplog (table_id, row_id, command)
      VALUES ({table_id}, OLD."{pk}", 3), ({table_id}, NEW."{pk}", 1);
  ELSE
    INSERT INTO dbsync_oplog (table_id, row_id, command, columns) VALUES ({table_id}, NEW."{pk}", 2,
      (SELECT '[' || coalesce(string_agg(to_json(n.key)::text, ',' ORDER BY n.key COLLATE "C"), '') || ']'
         FROM jsonb_each(to_jsonb(NEW)) AS n
        WHERE n.key <> '{pk}' AND n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key));
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER "dbsync_capture" AFTER INSERT OR UPDATE OR DELETE ON "{name}"
  FOR EACH ROW EXECUTE FUNCTION "dbsync_capture_{name}"();"#
    )
}

/// Tracks `specs` (every user table when empty) on the server database:
/// creates dbsync's tables, reads and checks each table, records it and
/// installs its capture. Returns the synced tables.
pub async fn track(client: &mut Client, specs: &[TableSpec]) -> Result<Vec<PgTable>, CatalogError> {
    let tx = client.transaction().await?;
    tx.query_one("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    tx.batch_execute(DOMAINS_SQL).await?;
    tx.batch_execute(META_SQL).await?;
    tx.batch_execute(crate::scope::SCOPE_SQL).await?;
    let specs = match specs {
        [] => user_tables(&tx)
            .await?
            .iter()
            .map(|n| TableSpec::both(n))
            .collect(),
        given => given.to_vec(),
    };
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let already = tracked_names(&tx).await?;
    let mut tables = Vec::new();
    let mut first = Vec::new();
    for spec in &specs {
        let table = read_table(&tx, &spec.name, &names, spec.direction).await?;
        let id = record(&tx, &table.schema).await?;
        tx.batch_execute(&capture_sql(id, &table.schema)).await?;
        if !already.contains(&spec.name) {
            first.push((spec.name.clone(), id));
        }
        tables.push(table);
    }
    check_push_only_parents(&tables)?;
    capture_existing_rows(&tx, &tables, &first).await?;
    tx.commit().await?;
    Ok(tables)
}

/// The tables tracked before this call.
async fn tracked_names(tx: &Transaction<'_>) -> Result<Vec<String>, Error> {
    let rows = tx.query("SELECT name FROM dbsync_tables", &[]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Records the rows of tables tracked for the first time (`first`: name
/// and table id) as captured inserts, unsealed: writes made directly on
/// the server before capture began, which the next sealing makes a
/// version (spec §6.2). Parents' tables first, rows in ascending id. The
/// capture trigger is already created in this transaction, which holds
/// the table's lock from then on: no write falls between the rows read
/// here and the trigger.
async fn capture_existing_rows(
    tx: &Transaction<'_>,
    tables: &[PgTable],
    first: &[(String, i32)],
) -> Result<(), Error> {
    let schema = Schema::new(tables.iter().map(|t| t.schema.clone()).collect());
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    for name in schema.parents_first(&names) {
        let t = schema.table(name).expect("a table just tracked");
        let id = first.iter().find(|(n, _)| n == name).expect("listed").1;
        let pk = &t.primary_key;
        tx.execute(
            &format!(
                "INSERT INTO dbsync_oplog (table_id, row_id, command) \
                 SELECT $1, \"{pk}\", 1 FROM \"{name}\" ORDER BY \"{pk}\""
            ),
            &[&id],
        )
        .await?;
    }
    Ok(())
}

async fn record(tx: &Transaction<'_>, t: &TableSchema) -> Result<i32, Error> {
    let json = serde_json::to_string(t).expect("a schema serializes");
    let row = tx
        .query_one(
            "INSERT INTO dbsync_tables (name, schema_json) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET schema_json = excluded.schema_json \
             RETURNING table_id",
            &[&t.name, &json],
        )
        .await?;
    Ok(row.get(0))
}

/// §2.4: a pulled table may not reference a push-only one.
fn check_push_only_parents(tables: &[PgTable]) -> Result<(), TableRefused> {
    let schema = Schema::new(tables.iter().map(|t| t.schema.clone()).collect());
    for t in schema.tables.iter().filter(|t| t.direction.pulls()) {
        for fk in &t.foreign_keys {
            if schema
                .table(&fk.references)
                .is_some_and(|p| p.direction == Direction::PushOnly)
            {
                return Err(TableRefused::ForeignKeyToPushOnly {
                    table: t.name.clone(),
                    column: fk.column.clone(),
                    parent: fk.references.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Table ids of the oplog, by name.
pub async fn table_ids(client: &Client) -> Result<Vec<(i32, String)>, Error> {
    let rows = client
        .query("SELECT table_id, name FROM dbsync_tables", &[])
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The tables (and directions) the database tracks; none when dbsync
/// never served it.
pub async fn tracked_specs(client: &Client) -> Result<Vec<TableSpec>, crate::PgError> {
    let rows = client
        .query(
            "SELECT schema_json FROM dbsync_tables WHERE to_regclass('dbsync_tables') IS NOT NULL",
            &[],
        )
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        // Never served: dbsync's tables do not exist.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(crate::PgError::Postgres(e.to_string())),
    };
    rows.iter()
        .map(|r| {
            let t: TableSchema = serde_json::from_str(r.get::<_, &str>(0)).map_err(|e| {
                crate::PgError::Postgres(format!("dbsync_tables holds a malformed schema: {e}"))
            })?;
            Ok(TableSpec {
                name: t.name,
                direction: t.direction,
            })
        })
        .collect()
}
