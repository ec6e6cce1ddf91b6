//! `dbsync demo`: a server and two nodes in a temporary folder, offline
//! edits that conflict (updates of different columns and of the same
//! one, an update against a delete, two new rows with one key, a swap of
//! unique values, a unique collision and its resolution), the ops each
//! node pushes, and what each rule did, in plain words; then partial
//! sync (`scopes`): two users whose nodes hold only their own rows and a
//! shared parent, and a row moving from one to the other.

use crate::output::Output;
use clap::Args;
use dbsync_client::{ClientError, Node, Resolution, Resolved};
use dbsync_core::merge::{ConflictEntry, Rule};
use dbsync_server::{Config, Server, ServerHandle};
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

mod scopes;

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
        Rule::MovedOut => "it left this node's scope: its local change was dropped, never pushed".to_string(),
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

/// The node's pending ops as a push names them: `u city 1 (founded)`.
fn pending(node: &Node) -> Vec<String> {
    let db = node.database();
    let conn = db.lock().unwrap_or_else(|e| e.into_inner());
    let ops = dbsync_sqlite::node::compressed_pending(&conn).unwrap_or_default();
    ops.iter()
        .map(|o| {
            let columns = o.columns.as_ref().map_or(String::new(), |c| {
                format!(" ({})", c.iter().cloned().collect::<Vec<_>>().join(", "))
            });
            format!("{} {} {}{columns}", o.command, o.table, o.row_id)
        })
        .collect()
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
    let ops = pending(node);
    if !ops.is_empty() {
        say!(
            "  {name}'s pending ops (its push, unless a merge changes them): {}",
            ops.join(", ")
        );
    }
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

/// What `dbsync demo` is given.
#[derive(Args)]
pub struct DemoArgs {
    /// Keep the demo's folder (server and node databases) and print its
    /// path, so `dbsync conflicts --db …/bob.db` can be run afterwards.
    #[arg(long)]
    pub keep: bool,
}

/// The rules the demo's edits are made to show, each with a sentence in
/// plain words.
const EXPECTED: [(Rule, &str); 5] = [
    (Rule::LocalUpdateKept, "both changed the same column: the policy decided (node_wins, the default, keeps the merging node's value) and the merging node's log holds the losing value"),
    (Rule::DeletedRowRestored, "one deleted a row the other updated: under node_wins a delete never destroys another node's update, so the row came back with the server's values and the delete was dropped"),
    (Rule::LocalInsertRekeyed, "both added a row with the same key: they are different rows, so the merging node's row moved to a fresh key and the rows pointing at it followed"),
    (Rule::UniqueSwapApplied, "a unique column's values were exchanged between rows: applied as one swap"),
    (Rule::ReusedKeyMoved, "SQLite gave a new row a deleted row's key: the new row moved to a fresh key"),
];

/// How many of the rules the demo must show (the last one is shown only
/// when SQLite reuses a key, which these edits do not make it do).
const MUST_SHOW: usize = 4;

/// What the demo showed.
struct Outcome {
    /// The server and both nodes hold the same rows.
    same: bool,
    /// The rows they hold.
    rows: Vec<String>,
    /// The rules the merges applied, in order.
    seen: Vec<Rule>,
    /// Both nodes' edits of different columns of one row survived.
    columns_kept: bool,
    /// The unique collision stopped a merge and one resolution settled it.
    collision_resolved: bool,
    /// Where the demo's folder is, when `--keep` kept it.
    kept: Option<std::path::PathBuf>,
    /// What the partial-sync act showed.
    scopes: Option<scopes::ScopesOutcome>,
}

impl Outcome {
    fn shown(&self) -> usize {
        EXPECTED[..MUST_SHOW]
            .iter()
            .filter(|(r, _)| self.seen.contains(r))
            .count()
    }

    fn converged(&self) -> bool {
        self.same
            && self.columns_kept
            && self.collision_resolved
            && self.shown() == MUST_SHOW
            && self.scopes.as_ref().is_some_and(|s| s.shown())
    }
}

/// Runs the demo: the story as text, or with `--json` its outcome.
pub async fn run(out: Output, args: DemoArgs) -> ExitCode {
    QUIET.store(out.json, Ordering::Relaxed);
    let outcome = match demo(args.keep).await {
        Ok(o) => o,
        Err(e) => return out.fail(&e),
    };
    if out.json {
        let report = json!({
            "converged": outcome.same,
            "rows": outcome.rows,
            "rules": outcome.seen,
            "rules_shown": outcome.shown(),
            "rules_expected": MUST_SHOW,
            "disjoint_columns_kept": outcome.columns_kept,
            "collision_resolved": outcome.collision_resolved,
            "scopes": outcome.scopes.as_ref().map(|s| json!({
                "own_rows_only": s.own_rows_only,
                "write_outside_refused": s.refused,
                "row_moved": s.moved,
            })),
            "folder": outcome.kept,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializable")
        );
    }
    if outcome.converged() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::FAILURE)
    }
}

fn store_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Store(e.to_string())
}

async fn start(dir: &Path) -> Result<(ServerHandle, String), ClientError> {
    let server_db = dir.join("server.db");
    rusqlite::Connection::open(&server_db)
        .and_then(|c| c.execute_batch(SCHEMA))
        .map_err(store_err)?;
    let store = crate::store::open(&crate::store::ServerDb::Sqlite(server_db), &[])
        .map_err(ClientError::Store)?;
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    let server = Server::bind(store, config).await.map_err(store_err)?;
    let url = format!("http://{}", server.local_addr());
    Ok((server, url))
}

async fn demo(keep: bool) -> Result<Outcome, ClientError> {
    let dir = tempfile::tempdir().map_err(store_err)?;
    say!(
        "dbsync demo: a server and two nodes, alice and bob, in {}",
        dir.path().display()
    );
    say!();
    let (server, url) = start(dir.path()).await?;
    say!("1. The server listens on {url}, syncing tables city and person.");
    let alice = open_node(dir.path(), "alice", &url).await?;
    let bob = open_node(dir.path(), "bob", &url).await?;
    let mut seen = Vec::new();

    say!();
    say!("2. Alice adds five cities and a person; both sync, so both start from the same data.");
    sql(&alice, "INSERT INTO city (name, founded) VALUES ('Lisbon', NULL), ('Porto', '0868-01-01'), ('Faro', NULL), ('Braga', NULL), ('Evora', NULL);
                 INSERT INTO person (name, city_id) VALUES ('Rui', 2);");
    sync("alice", &alice, &mut seen).await?;
    sync("bob", &bob, &mut seen).await?;

    offline_edits(&alice, &bob);

    say!();
    say!("4. Alice syncs first; her push needs no merge.");
    sync("alice", &alice, &mut seen).await?;
    let collision_resolved = collide_and_resolve(&bob, dir.path()).await?;

    say!();
    say!("6. Bob syncs again: the merge goes through. Then alice syncs and takes bob's work.");
    sync("bob", &bob, &mut seen).await?;
    sync("alice", &alice, &mut seen).await?;

    let outcome = result(dir.path(), seen, collision_resolved);
    explain(&outcome.seen);
    server.shutdown().await;
    let scopes = scopes::act(dir.path()).await?;
    let kept = keep.then(|| dir.keep());
    match &kept {
        Some(path) => say!(
            "\nThe folder stays: `dbsync conflicts --db {}` lists bob's resolutions, most recent first.",
            path.join("bob.db").display()
        ),
        None => say!("\n(`dbsync demo --keep` keeps the folder, to run `dbsync conflicts --db …/bob.db` afterwards.)"),
    }
    Ok(Outcome {
        kept,
        scopes: Some(scopes),
        ..outcome
    })
}

fn offline_edits(alice: &Node, bob: &Node) {
    say!();
    say!("3. Offline, they make edits that conflict:");
    say!("   alice sets Lisbon's founding date             | bob renames Lisbon to Lisboa (another column)");
    say!(
        "   alice sets Faro's founding date to 1540       | bob sets it to 1544 (the same column)"
    );
    say!("   alice sets Braga's founding date              | bob deletes Braga");
    say!("   alice adds person Ana (her next key: 2)       | bob adds person Bruno (his next key: 2 too)");
    say!("   alice adds city Coimbra                       | bob adds city Coimbra too (a unique name)");
    say!("   alice swaps the names of Porto and Evora (a unique column, through a temporary name)");
    sql(
        alice,
        "UPDATE city SET founded = '1147-10-25' WHERE name = 'Lisbon';
         UPDATE city SET founded = '1540-01-01' WHERE name = 'Faro';
         UPDATE city SET founded = '0001-01-01' WHERE name = 'Braga';
         INSERT INTO person (name, city_id) VALUES ('Ana', 3);
         INSERT INTO city (name) VALUES ('Coimbra');
         UPDATE city SET name = 'tmp' WHERE id = 2;
         UPDATE city SET name = 'Porto' WHERE id = 5;
         UPDATE city SET name = 'Evora' WHERE id = 2;",
    );
    sql(
        bob,
        "UPDATE city SET name = 'Lisboa' WHERE name = 'Lisbon';
         UPDATE city SET founded = '1544-01-01' WHERE name = 'Faro';
         DELETE FROM city WHERE name = 'Braga';
         INSERT INTO person (name, city_id) VALUES ('Bruno', 2);
         INSERT INTO city (name, founded) VALUES ('Coimbra', '1131-01-01');",
    );
}

/// Bob's sync stops on the unique collision; he keeps the server's row.
async fn collide_and_resolve(bob: &Node, dir: &Path) -> Result<bool, ClientError> {
    say!();
    say!("5. Bob syncs: his pull brings alice's Coimbra, whose unique name his own new row holds.");
    let collisions = match bob.sync().await {
        Err(ClientError::UniqueCollisions(c)) => c,
        Ok(_) => {
            say!("   (no collision: the demo expected one)");
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    say!(
        "   bob's merge stopped and changed nothing: a unique collision is never left to a policy."
    );
    say!(
        "   error [unique_collision]: {}",
        ClientError::UniqueCollisions(collisions.clone())
    );
    let Some(c) = collisions.first() else {
        return Ok(false);
    };
    say!(
        "   bob's row was never pushed, so he keeps the server's:\n   $ dbsync resolve --db {} --table {} --row-id {} --keep-remote",
        dir.join("bob.db").display(),
        c.table,
        c.holder_row_id
    );
    let resolved = bob
        .resolve(&c.table, c.holder_row_id, Resolution::KeepRemote)
        .await?;
    if let Resolved::Dropped(row) = &resolved {
        say!(
            "   deleted city {} {}: its insert and this delete cancel out, nothing of it will be pushed",
            row.id,
            json!(row.values)
        );
    }
    Ok(collisions.len() == 1)
}

fn result(dir: &Path, seen: Vec<Rule>, collision_resolved: bool) -> Outcome {
    say!();
    say!("7. The result, the same on all three:");
    let on_server = table(&dir.join("server.db"));
    for line in &on_server {
        say!("   {line}");
    }
    let same = table(&dir.join("alice.db")) == on_server && table(&dir.join("bob.db")) == on_server;
    let columns_kept = on_server
        .iter()
        .any(|l| l.contains("Lisboa (founded 1147-10-25)"));
    say!();
    say!(
        "   alice, bob and the server hold the same rows: {}",
        if same { "yes" } else { "NO" }
    );
    say!(
        "   Lisboa kept bob's name and alice's date (different columns, both kept, nothing logged): {}",
        if columns_kept { "yes" } else { "NO" }
    );
    Outcome {
        same,
        rows: on_server,
        seen,
        columns_kept,
        collision_resolved,
        kept: None,
        scopes: None,
    }
}

/// One sentence per rule the merges applied.
fn explain(seen: &[Rule]) {
    say!();
    say!("In plain words:");
    say!("   - different columns of one row: both changes are kept (spec §12.4.4)");
    for (rule, words) in EXPECTED.iter().filter(|(r, _)| seen.contains(r)) {
        let name = serde_json::to_value(rule).unwrap_or_default();
        say!("   - {}: {words}", name.as_str().unwrap_or("?"));
    }
    say!("   - unique_collision: two rows want one unique value; the merge stops, names both rows, and the node renames or drops its own (`dbsync resolve`)");
    let shown = EXPECTED[..MUST_SHOW]
        .iter()
        .filter(|(r, _)| seen.contains(r))
        .count();
    say!("   rules shown: {shown} of {MUST_SHOW}");
}
