//! What the dbsync-cli benches share (`sync.rs`, `postgres.rs`): the
//! nodes' table, a `dbsync serve` process with its log, a push then pull
//! of N inserts through a server, and nodes syncing small batches
//! concurrently.

use dbsync_client::Node;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[path = "../../tests/support/serving.rs"]
mod serving;
pub use serving::Serving;

pub const BIN: &str = env!("CARGO_BIN_EXE_dbsync");
/// The nodes' table (and the server's, when the server is on SQLite).
pub const SCHEMA: &str = "CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, qty INTEGER, price REAL);";

/// A `dbsync serve --db DB --open-registration` process (`db` a SQLite
/// path or a `postgres://` URL), its stderr in `log`.
pub fn serve(db: &str, log: &Path) -> Serving {
    let log = std::fs::File::create(log).unwrap();
    serving::serve(BIN, db, &["--open-registration"], Stdio::from(log))
}

pub fn make_db(path: &Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
}

/// Inserts `n` rows into `item` in one transaction; the time it took.
pub fn fill(conn: &mut rusqlite::Connection, n: i64) -> Duration {
    let start = Instant::now();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare("INSERT INTO item (name, qty, price) VALUES (?1, ?2, ?3)")
            .unwrap();
        for i in 0..n {
            stmt.execute(rusqlite::params![format!("item {i}"), i, i as f64 * 0.5])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    start.elapsed()
}

/// A new node database `dir/name`, tracked and registered with `url`.
pub async fn node(dir: &Path, name: &str, url: &str) -> Node {
    let path = dir.join(name);
    make_db(&path);
    let node = Node::open(&path, &[]).unwrap();
    node.register(url, None).await.unwrap();
    node
}

/// Node `a` pushes `n` inserts through the server at `url`, then node `b`
/// pulls them (both made in `dir`): the seconds of the push and of the
/// pull.
pub async fn push_pull_through(dir: &Path, url: &str, n: i64) -> (f64, f64) {
    let a = node(dir, "a.db", url).await;
    let b = node(dir, "b.db", url).await;
    fill(&mut a.database().lock().unwrap(), n);
    let start = Instant::now();
    a.push().await.unwrap();
    let t_push = start.elapsed().as_secs_f64();
    let start = Instant::now();
    b.pull().await.unwrap();
    let t_pull = start.elapsed().as_secs_f64();
    let count: i64 = b
        .database()
        .lock()
        .unwrap()
        .query_row("SELECT count(*) FROM item", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, n);
    (t_push, t_pull)
}

/// What a concurrent run did: the latency of each successful sync
/// (sorted), how many syncs gave up, and the seconds it lasted.
pub struct Load {
    pub latencies: Vec<Duration>,
    pub failures: usize,
    pub elapsed: f64,
}

impl Load {
    /// The `p` quantile (0..=1) of the latencies, in ms.
    pub fn ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies, p)
    }

    pub fn syncs_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed
    }
}

/// The `p` quantile (0..=1) of `sorted`, in ms.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Each node inserts 3 rows then syncs, again and again, for `run`, all
/// nodes at once. With `own_keys`, node `i` gives its rows keys of its
/// own (`(i + 1) × 10^9 + k`), as an application that picks keys no other
/// node picks would: no two nodes' inserts then name the same row. With
/// `every`, each node starts a sync at most once per `every` (the nodes
/// spread over the first period): a load offered at a set rate, instead
/// of each node syncing again as soon as its last sync ended.
pub async fn sync_load(
    nodes: Vec<Node>,
    run: Duration,
    own_keys: bool,
    every: Option<Duration>,
) -> Load {
    let start = Instant::now();
    let count = nodes.len();
    let mut tasks = Vec::new();
    for (i, node) in nodes.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            let mut k = 0;
            let mut next = every.map(|e| start + e.mul_f64(i as f64 / count as f64));
            while start.elapsed() < run {
                if let (Some(at), Some(e)) = (next, every) {
                    tokio::time::sleep_until(at.into()).await;
                    next = Some((at + e).max(Instant::now()));
                }
                {
                    let db = node.database();
                    let conn = db.lock().unwrap();
                    for _ in 0..3 {
                        k += 1;
                        let id = own_keys.then_some((i as i64 + 1) * 1_000_000_000 + k);
                        conn.execute(
                            "INSERT INTO item (id, name, qty) VALUES (?1, ?2, ?3)",
                            rusqlite::params![id, format!("n{i} {k}"), k],
                        )
                        .unwrap();
                    }
                }
                let t = Instant::now();
                match node.sync().await {
                    Ok(_) => latencies.push(t.elapsed()),
                    Err(e) => {
                        eprintln!("node {i}: {e}");
                        failures += 1;
                    }
                }
            }
            (latencies, failures)
        }));
    }
    let mut load = Load {
        latencies: Vec::new(),
        failures: 0,
        elapsed: 0.0,
    };
    for t in tasks {
        let (l, f) = t.await.unwrap();
        load.latencies.extend(l);
        load.failures += f;
    }
    load.elapsed = start.elapsed().as_secs_f64();
    load.latencies.sort();
    load
}

/// The benches named on the command line (all when none is); `None`
/// when cargo only asks for the list (`--list`).
pub fn selected() -> Option<impl Fn(&str) -> bool> {
    if std::env::args().any(|a| a == "--list") {
        return None;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    Some(move |name: &str| args.is_empty() || args.iter().any(|a| a == name))
}
