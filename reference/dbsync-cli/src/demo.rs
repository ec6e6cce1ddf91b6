//! `dbsync demo`: a server and two nodes in a temporary folder, offline
//! edits that conflict, a sync, and what each rule did.

use crate::output::Output;
use dbsync_client::{ClientError, Node};
use dbsync_core::merge::{ConflictEntry, Rule};
use dbsync_server::{Config, Server};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// With `--json` the story is not told: only the outcome is printed.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Prints one line of the story (nothing with `--json`).
macro_rules! say {
    ($($arg:tt)*) => {
        if !QUIET.load(Ordering::Relaxed) {
            println!($($arg)*);
        }
    };
}

/// The demo's application schema (also what `dbsync serve` creates by
/// default).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS city (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    founded DATE
);
CREATE TABLE IF NOT EXISTS person (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    city_id INTEGER REFERENCES city(id)
);
";

const TOKEN: &str = "demo-token";

/// One sentence for a person about a conflict-log entry.
pub fn describe(e: &ConflictEntry) -> String {
    let row = format!("{} {}", e.table, e.row_id);
    let what = match e.rule {
        Rule::LocalUpdateKept => "both sides updated it; the local values were kept (the server's lost)".to_string(),
        Rule::RemoteUpdateTaken => "both sides updated it; the server's values were taken (the local ones lost)".to_string(),
        Rule::DeletedRowRestored => "deleted here but updated on the server: the row came back with the server's values".to_string(),
        Rule::LocalUpdateReinsertsRow => "updated here but deleted on the server: the row stays and will be re-created on the server".to_string(),
        Rule::RemoteDeleteTaken => "updated here but deleted on the server: the delete won".to_string(),
        Rule::BothDeletesDropped => "deleted on both sides: nothing left to do".to_string(),
        Rule::ParentKeptForLocalChild => "deleted on the server, but a local row still references it: it stays and will be re-created".to_string(),
        Rule::LocalChildrenDeletedWithParent => "its parent was deleted on the server: deleted with it".to_string(),
        Rule::LocalChildReverted => "its parent was deleted on the server: it took the server's values".to_string(),
        Rule::ParentRestoredForRemoteChild => "deleted here, but a row from the server references it: it came back".to_string(),
        Rule::LocalInsertRekeyed => format!(
            "inserted here and on the server with the same key: the local row moved to key {}",
            e.new_row_id.map_or("?".into(), |k| k.to_string())
        ),
        Rule::UniqueSwapApplied => "its unique values were swapped with another row's on the server: applied as a swap".to_string(),
        Rule::LocalChangeDiscarded => "a repair discarded its local work, as asked: it never reached the server".to_string(),
        Rule::ReusedKeyMoved => format!(
            "SQLite gave a new row the key of a deleted one: the new row moved to key {}",
            e.new_row_id.map_or("?".into(), |k| k.to_string())
        ),
    };
    let rule = serde_json::to_value(e.rule)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let lost = match &e.lost {
        Some(values) => format!("; lost: {}", serde_json::json!(values)),
        None => String::new(),
    };
    format!("{row}: {what}{lost}  [{rule}, {}]", e.policy)
}

fn sql(node: &Node, statements: &str) {
    node.database()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .execute_batch(statements)
        .expect("demo SQL");
}

fn table(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut out = Vec::new();
    let mut stmt = conn
        .prepare("SELECT id, name, ifnull(founded, '-') FROM city ORDER BY id")
        .expect("query");
    let cities = stmt
        .query_map([], |r| {
            Ok(format!(
                "city {}: {} (founded {})",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?
            ))
        })
        .expect("rows");
    out.extend(cities.map(|c| c.expect("row")));
    let mut stmt = conn
        .prepare("SELECT id, name, ifnull(city_id, 0) FROM person ORDER BY id")
        .expect("query");
    let people = stmt
        .query_map([], |r| {
            Ok(format!(
                "person {}: {} (city {})",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?
            ))
        })
        .expect("rows");
    out.extend(people.map(|p| p.expect("row")));
    out
}

async fn open_node(dir: &Path, name: &str, url: &str) -> Result<Node, ClientError> {
    let path = dir.join(format!("{name}.db"));
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch(SCHEMA))
        .map_err(|e| ClientError::Store(e.to_string()))?;
    let node = Node::open(&path, &[])?;
    let r = node.register(url, Some(TOKEN)).await?;
    say!("  {name} registered as node {}", r.node_id);
    Ok(node)
}

async fn sync(name: &str, node: &Node, seen: &mut Vec<Rule>) -> Result<(), ClientError> {
    let before = node.conflicts().await?.len();
    let r = node.sync().await?;
    say!(
        "  {name} syncs: pushed {} ops, pulled {} time(s), now at version {}",
        r.pushed_ops,
        r.pulls,
        r.version
    );
    for c in node.conflicts().await?.into_iter().skip(before) {
        say!("    {name}'s merge: {}", describe(&c.entry));
        seen.push(c.entry.rule);
    }
    Ok(())
}

/// What the demo showed.
struct Outcome {
    /// The server and both nodes hold the same rows.
    same: bool,
    /// The rows they hold.
    rows: Vec<String>,
    /// The rules the merges applied, in order.
    seen: Vec<Rule>,
    /// How many of the rules the demo sets out to show it showed.
    shown: usize,
}

/// Runs the demo: the story as text, or with `--json` its outcome.
pub async fn run(out: Output) -> ExitCode {
    QUIET.store(out.json, Ordering::Relaxed);
    let outcome = match demo().await {
        Ok(o) => o,
        Err(e) => return out.fail(&e),
    };
    let converged = outcome.same && outcome.shown == EXPECTED.len();
    if out.json {
        let report = json!({
            "converged": outcome.same,
            "rows": outcome.rows,
            "rules": outcome.seen,
            "rules_shown": outcome.shown,
            "rules_expected": EXPECTED.len(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializable")
        );
    }
    if converged {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::FAILURE)
    }
}

/// The rules the demo's edits are made to show.
const EXPECTED: [Rule; 3] = [
    Rule::DeletedRowRestored,
    Rule::LocalInsertRekeyed,
    Rule::UniqueSwapApplied,
];

async fn demo() -> Result<Outcome, ClientError> {
    let dir = tempfile::tempdir().map_err(|e| ClientError::Store(e.to_string()))?;
    say!(
        "dbsync demo: a server and two nodes, alice and bob, in {}",
        dir.path().display()
    );
    say!();
    let server_db = dir.path().join("server.db");
    rusqlite::Connection::open(&server_db)
        .and_then(|c| c.execute_batch(SCHEMA))
        .map_err(|e| ClientError::Store(e.to_string()))?;
    let store = crate::store::open(&crate::store::ServerDb::Sqlite(server_db.clone()), &[])
        .map_err(ClientError::Store)?;
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    let server = Server::bind(store, config)
        .await
        .map_err(|e| ClientError::Store(e.to_string()))?;
    let url = format!("http://{}", server.local_addr());
    say!("1. The server listens on {url}, syncing tables city and person.");
    let alice = open_node(dir.path(), "alice", &url).await?;
    let bob = open_node(dir.path(), "bob", &url).await?;
    let mut seen = Vec::new();

    say!();
    say!("2. Alice adds three cities; both sync, so both start from the same data.");
    sql(&alice, "INSERT INTO city (name, founded) VALUES ('Lisbon', NULL), ('Porto', '0868-01-01'), ('Faro', NULL);
                 INSERT INTO person (name, city_id) VALUES ('Rui', 2);");
    sync("alice", &alice, &mut seen).await?;
    sync("bob", &bob, &mut seen).await?;

    say!();
    say!("3. Offline, they make edits that conflict:");
    say!("   alice updates Lisbon's founding date         | bob deletes Lisbon");
    say!("   alice adds person Ana (her next key: 2)       | bob adds person Bruno (his next key: 2 too)");
    say!("   alice swaps the names of Porto and Faro (a unique column)");
    sql(
        &alice,
        "UPDATE city SET founded = '1147-10-25' WHERE name = 'Lisbon';
                 INSERT INTO person (name, city_id) VALUES ('Ana', 3);
                 UPDATE city SET name = 'tmp' WHERE id = 2;
                 UPDATE city SET name = 'Porto' WHERE id = 3;
                 UPDATE city SET name = 'Faro' WHERE id = 2;",
    );
    sql(
        &bob,
        "DELETE FROM city WHERE name = 'Lisbon';
               INSERT INTO person (name, city_id) VALUES ('Bruno', 2);",
    );

    say!();
    say!("4. They sync: alice first, then bob (whose push is refused until he pulls), then alice again.");
    sync("alice", &alice, &mut seen).await?;
    sync("bob", &bob, &mut seen).await?;
    sync("alice", &alice, &mut seen).await?;

    say!();
    say!("5. The result, the same on all three:");
    let on_server = table(&server_db);
    for line in &on_server {
        say!("   {line}");
    }
    let same = table(&dir.path().join("alice.db")) == on_server
        && table(&dir.path().join("bob.db")) == on_server;
    say!();
    say!(
        "   alice, bob and the server hold the same rows: {}",
        if same { "yes" } else { "NO" }
    );
    let shown = EXPECTED.iter().filter(|r| seen.contains(r)).count();
    say!("   rules shown: {} of {}", shown, EXPECTED.len());
    say!("   (each resolution is in the node's conflict log: `dbsync conflicts --db bob.db`)");
    server.shutdown().await;
    Ok(Outcome {
        same,
        rows: on_server,
        seen,
        shown,
    })
}
