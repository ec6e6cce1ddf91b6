//! An application's own conflict policy (spec §12.4.3), run against a
//! real server on 127.0.0.1 with two nodes in a temporary folder:
//!
//! - a city's founding date is the office's (the server's value wins),
//!   every other column the node's: the policy is told which columns
//!   both sides changed (§12.4.4);
//! - a city both nodes added under one name is a unique collision
//!   (§12.2.3); the policy settles it by renaming the node's own row
//!   (§12.2.4), and the pull goes through.
//!
//! `cargo run -p dbsync-client --example custom_policy`

use dbsync_client::{DirectConflict, Policy, Resolution, UniqueCollision, Value, Values, Winner};
use std::error::Error;
use std::sync::Arc;

/// Founding dates are the office's; a second city of one name is renamed.
struct OfficeDates;

impl Policy for OfficeDates {
    fn name(&self) -> &str {
        "office_dates"
    }

    fn direct(&self, conflict: &DirectConflict<'_>) -> Winner {
        // `columns`: the columns both sides changed to different values;
        // `None` when the decision is about the whole row.
        let dates = conflict.columns.is_some_and(|c| c.contains("founded"));
        if conflict.table == "city" && dates {
            Winner::Remote
        } else {
            Winner::Local
        }
    }

    fn dependency(&self) -> Winner {
        Winner::Local
    }

    fn collision(&self, collision: &UniqueCollision) -> Option<Resolution> {
        let Some(Value::Text(name)) = collision.values.get("name") else {
            return None; // not ours to decide: the application is told
        };
        let renamed: Values = [("name".to_string(), Value::Text(format!("{name} (2)")))].into();
        Some(Resolution::Rename(renamed))
    }
}

fn sql(node: &dbsync_client::Node, statements: &str) -> rusqlite::Result<()> {
    node.database().lock().unwrap().execute_batch(statements)
}

fn cities(node: &dbsync_client::Node) -> rusqlite::Result<Vec<String>> {
    let db = node.database();
    let conn = db.lock().unwrap();
    let mut stmt =
        conn.prepare("SELECT name || ' ' || ifnull(founded, '-') FROM city ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// The example, returning the cities both nodes end with.
pub async fn run() -> Result<Vec<String>, Box<dyn Error>> {
    dbsync_client::doc_example!(url; a, b);
    let b = b.with_policy(Arc::new(OfficeDates));
    sql(&a, "INSERT INTO city (name) VALUES ('Lisbon')")?;
    a.sync().await?;
    b.sync().await?;

    // Offline: both date Lisbon and both add Porto; b also renames Lisbon.
    sql(
        &a,
        "UPDATE city SET founded = '1147-10-25'; INSERT INTO city (name) VALUES ('Porto')",
    )?;
    sql(&b, "UPDATE city SET founded = '1200-01-01', name = 'Lisboa'; INSERT INTO city (name) VALUES ('Porto')")?;
    a.sync().await?;
    b.sync().await?; // the collision is settled by the policy, then merged
    a.sync().await?;

    for entry in b.conflicts().await? {
        println!(
            "b's log: {} {} {:?} lost {:?}",
            entry.entry.table, entry.entry.row_id, entry.entry.rule, entry.entry.lost
        );
    }
    let (on_a, on_b) = (cities(&a)?, cities(&b)?);
    assert_eq!(on_a, on_b, "both nodes hold the same cities");
    Ok(on_b)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    for city in run().await? {
        println!("{city}");
    }
    Ok(())
}
