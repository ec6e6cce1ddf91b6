//! End-to-end figures over loopback, each against a baseline measured in
//! the same run (docs/benchmarks.md):
//!
//! `cargo bench -p dbsync-cli --bench sync [-- push_pull|repair_rss|concurrent]`
//!
//! - `push_pull`: one node pushes 100k inserts, a second node pulls them;
//!   ratio of end-to-end throughput to a raw rusqlite insert of the same
//!   rows (target >= 0.25).
//! - `repair_rss`: a node repairs from a server holding 1M rows; the peak
//!   RSS (VmHWM) of the server process and of the client process (target
//!   <= 256 MB each). Both are `dbsync` subprocesses.
//! - `concurrent`: 32 nodes each insert a few rows and sync, again and
//!   again, against one server process; syncs/s and p50/p99 latency
//!   (target p99 <= 50 ms).
//!
//! The server runs as a separate `dbsync serve` process in every case.

use dbsync_client::Node;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dbsync");
const SCHEMA: &str = "CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, qty INTEGER, price REAL);";

#[path = "../tests/support/serving.rs"]
mod serving;
use serving::Serving;

fn serve(db: &Path) -> Serving {
    let log = std::fs::File::create(db.with_extension("log")).unwrap();
    serving::serve(
        BIN,
        db.to_str().unwrap(),
        &["--open-registration"],
        Stdio::from(log),
    )
}

/// The peak resident set (VmHWM) of a running process, in MB.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn make_db(path: &Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
}

fn fill(conn: &mut rusqlite::Connection, n: i64) -> Duration {
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

async fn push_pull() {
    const N: i64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("server.db"));
    let server = serve(&dir.path().join("server.db"));
    for name in ["a.db", "b.db"] {
        make_db(&dir.path().join(name));
    }
    let a = Node::open(&dir.path().join("a.db"), &[]).unwrap();
    let b = Node::open(&dir.path().join("b.db"), &[]).unwrap();
    a.register(&server.url, None).await.unwrap();
    b.register(&server.url, None).await.unwrap();
    fill(&mut a.database().lock().unwrap(), N);

    // The baseline, in the same run: a raw insert of the same rows.
    let raw_path = dir.path().join("raw.db");
    make_db(&raw_path);
    let mut raw = dbsync_sqlite::open(&raw_path).unwrap();
    let t_raw = fill(&mut raw, N).as_secs_f64();

    let start = Instant::now();
    a.push().await.unwrap();
    let t_push = start.elapsed().as_secs_f64();
    let start = Instant::now();
    b.pull().await.unwrap();
    let t_pull = start.elapsed().as_secs_f64();
    let n: i64 = b
        .database()
        .lock()
        .unwrap()
        .query_row("SELECT count(*) FROM item", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, N);
    let rate = |t: f64| N as f64 / t;
    println!("push_pull: {N} inserts over loopback (server in its own process)");
    println!("  raw rusqlite insert     {:>9.0} rows/s", rate(t_raw));
    println!(
        "  push (node a -> server) {:>9.0} ops/s   ratio {:.2}",
        rate(t_push),
        t_raw / t_push
    );
    println!(
        "  pull (server -> node b) {:>9.0} ops/s   ratio {:.2}",
        rate(t_pull),
        t_raw / t_pull
    );
    println!(
        "  push then pull          {:>9.0} ops/s   ratio {:.2} (target >= 0.25)",
        rate(t_push + t_pull),
        t_raw / (t_push + t_pull)
    );
}

fn repair_rss() {
    const N: i64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let server_db = dir.path().join("server.db");
    make_db(&server_db);
    fill(&mut rusqlite::Connection::open(&server_db).unwrap(), N);
    let server = serve(&server_db);
    let node_db = dir.path().join("node.db");
    make_db(&node_db);
    let db = node_db.to_str().unwrap();
    let status = Command::new(BIN)
        .args(["track", "--db", db])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new(BIN)
        .args(["register", "--db", db, "--server", &server.url])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let server_before = peak_rss_mb(server.child.id()).unwrap_or(0.0);
    let start = Instant::now();
    let mut client = Command::new(BIN)
        .args(["repair", "--db", db])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut client_peak: f64 = 0.0;
    loop {
        if let Some(mb) = peak_rss_mb(client.id()) {
            client_peak = client_peak.max(mb);
        }
        if let Some(status) = client.try_wait().unwrap() {
            assert!(status.success(), "repair failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let server_peak = peak_rss_mb(server.child.id()).unwrap_or(0.0);
    let n: i64 = rusqlite::Connection::open(&node_db)
        .unwrap()
        .query_row("SELECT count(*) FROM item", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, N);
    println!(
        "repair_rss: a {N}-row repair in {:.1} s",
        elapsed.as_secs_f64()
    );
    println!("  server peak RSS {server_peak:.0} MB (before the repair {server_before:.0} MB)  (target <= 256 MB)");
    println!("  client peak RSS {client_peak:.0} MB (sampled every 20 ms)  (target <= 256 MB)");
}

async fn concurrent() {
    const NODES: usize = 32;
    const RUN: Duration = Duration::from_secs(10);
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("server.db"));
    let server = serve(&dir.path().join("server.db"));
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let path = dir.path().join(format!("n{i}.db"));
        make_db(&path);
        let node = Node::open(&path, &[]).unwrap();
        node.register(&server.url, None).await.unwrap();
        nodes.push(node);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, node) in nodes.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            let mut k = 0;
            while start.elapsed() < RUN {
                {
                    let db = node.database();
                    let conn = db.lock().unwrap();
                    for _ in 0..3 {
                        k += 1;
                        conn.execute(
                            "INSERT INTO item (name, qty) VALUES (?1, ?2)",
                            rusqlite::params![format!("n{i} {k}"), k],
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
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await.unwrap();
        all.extend(l);
        failed += f;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "concurrent: {NODES} nodes, 3 inserts then a sync, for {:.0} s (server in its own process)",
        RUN.as_secs_f64()
    );
    println!(
        "  {} syncs, {:.0} syncs/s, {failed} sync(s) gave up",
        all.len(),
        all.len() as f64 / elapsed
    );
    println!(
        "  latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 <= 50 ms)",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if want("push_pull") {
        rt.block_on(push_pull());
    }
    if want("repair_rss") {
        repair_rss();
    }
    if want("concurrent") {
        rt.block_on(concurrent());
    }
}
