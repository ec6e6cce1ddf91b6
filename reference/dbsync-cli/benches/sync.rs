//! End-to-end figures over loopback, each against a baseline measured in
//! the same run (docs/benchmarks.md):
//!
//! `cargo bench -p dbsync-cli --bench sync [-- push_pull|repair_rss|concurrent|growth]`
//!
//! - `push_pull`: one node pushes 100k inserts, a second node pulls them;
//!   ratio of end-to-end throughput to a raw rusqlite insert of the same
//!   rows (target >= 0.25).
//! - `repair_rss`: a node repairs from a server holding 1M rows; the peak
//!   RSS (VmHWM) of the server process and of the client process (target
//!   <= 256 MB each). Both are `dbsync` subprocesses.
//! - `concurrent`: 32 nodes each insert a few rows and sync, again and
//!   again, against one server process; syncs/s and p50/p99 latency
//!   (target p99 <= 50 ms); three times: inserts taking the next key,
//!   then keys of each node's own, each node syncing again as soon as its
//!   last sync ended; then keys of its own with each node syncing every
//!   250 ms (a load the server keeps up with).
//!
//! - `growth`: push then pull of 10k, 100k and 1M inserts through
//!   `dbsync push` and `dbsync pull` processes, each size against a raw
//!   insert of the same rows; the time of 1M against 100k (target <= 11x)
//!   and the peak RSS of the server and of each node process (target
//!   <= 256 MB).
//!
//! The server runs as a separate `dbsync serve` process in every case.

mod support;
use support::{fill, make_db, push_pull_through, serve, sync_load, BIN};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn serve_file(db: &Path) -> support::Serving {
    serve(db.to_str().unwrap(), &db.with_extension("log"))
}

/// The peak resident set (VmHWM) of a running process, in MB.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn push_pull() {
    const N: i64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("server.db"));
    let server = serve_file(&dir.path().join("server.db"));

    // The baseline, in the same run: a raw insert of the same rows.
    let raw_path = dir.path().join("raw.db");
    make_db(&raw_path);
    let mut raw = dbsync_sqlite::open(&raw_path).unwrap();
    let t_raw = fill(&mut raw, N).as_secs_f64();

    let (t_push, t_pull) = push_pull_through(dir.path(), &server.url, N).await;
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
    let server = serve_file(&server_db);
    let node_db = dir.path().join("node.db");
    make_db(&node_db);
    let db = node_db.to_str().unwrap();
    run_cli(&["track", "--db", db]);
    run_cli(&["register", "--db", db, "--server", &server.url]);
    let server_before = peak_rss_mb(server.child.id()).unwrap_or(0.0);
    let repair = run_cli(&["repair", "--db", db]);
    let server_peak = peak_rss_mb(server.child.id()).unwrap_or(0.0);
    let n: i64 = rusqlite::Connection::open(&node_db)
        .unwrap()
        .query_row("SELECT count(*) FROM item", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, N);
    println!("repair_rss: a {N}-row repair in {:.1} s", repair.secs);
    println!("  server peak RSS {server_peak:.0} MB (before the repair {server_before:.0} MB)  (target <= 256 MB)");
    println!(
        "  client peak RSS {:.0} MB (sampled every 10 ms)  (target <= 256 MB)",
        repair.peak_mb
    );
}

/// One `dbsync` process run to its end: its seconds and its peak RSS.
struct CliRun {
    secs: f64,
    peak_mb: f64,
}

/// Runs `dbsync ARGS` to success, sampling its peak RSS (VmHWM) every
/// 10 ms while it runs.
fn run_cli(args: &[&str]) -> CliRun {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak_mb: f64 = 0.0;
    loop {
        if let Some(mb) = peak_rss_mb(child.id()) {
            peak_mb = peak_mb.max(mb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "dbsync {args:?} failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    CliRun {
        secs: start.elapsed().as_secs_f64(),
        peak_mb,
    }
}

/// A push then pull of `n` inserts through a fresh server, and the raw
/// insert of the same rows measured just before.
struct Grown {
    raw: f64,
    push: CliRun,
    pull: CliRun,
    server_mb: f64,
}

fn grow(n: i64) -> Grown {
    let dir = tempfile::tempdir().unwrap();
    let server_db = dir.path().join("server.db");
    make_db(&server_db);
    let server = serve_file(&server_db);
    let raw_db = dir.path().join("raw.db");
    make_db(&raw_db);
    let raw = fill(&mut rusqlite::Connection::open(&raw_db).unwrap(), n).as_secs_f64();
    let node = |name: &str| {
        let path = dir.path().join(name);
        make_db(&path);
        let db = path.to_str().unwrap().to_owned();
        run_cli(&["track", "--db", &db]);
        run_cli(&["register", "--db", &db, "--server", &server.url]);
        db
    };
    let (a, b) = (node("a.db"), node("b.db"));
    fill(&mut rusqlite::Connection::open(&a).unwrap(), n);
    let push = run_cli(&["push", "--db", &a]);
    let pull = run_cli(&["pull", "--db", &b]);
    let count: i64 = rusqlite::Connection::open(&b)
        .unwrap()
        .query_row("SELECT count(*) FROM item", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, n, "the pulling node holds every row");
    let server_mb = peak_rss_mb(server.child.id()).unwrap_or(0.0);
    Grown {
        raw,
        push,
        pull,
        server_mb,
    }
}

fn growth() {
    println!("growth: push then pull through dbsync processes, a fresh server per size");
    println!(
        "  {:>9} {:>7} {:>7} {:>7} {:>8} {:>10} {:>8} {:>8}",
        "ops", "raw s", "push s", "pull s", "ratio", "server MB", "push MB", "pull MB"
    );
    let mut took = Vec::new();
    for n in [10_000, 100_000, 1_000_000] {
        let g = grow(n);
        let both = g.push.secs + g.pull.secs;
        println!(
            "  {n:>9} {:>7.2} {:>7.2} {:>7.2} {:>8.3} {:>10.0} {:>8.0} {:>8.0}",
            g.raw,
            g.push.secs,
            g.pull.secs,
            g.raw / both,
            g.server_mb,
            g.push.peak_mb,
            g.pull.peak_mb
        );
        took.push(both);
    }
    println!(
        "  time of 1M / time of 100k: {:.1} (target <= 11); 100k / 10k: {:.1}",
        took[2] / took[1],
        took[1] / took[0]
    );
    println!("  peak RSS target <= 256 MB for each process at 1M");
}

/// `concurrent` three times in one run: the nodes' inserts taking the
/// next key (they collide, and the server re-keys the later ones, spec
/// §10.2.2.2), then keys of each node's own (no collision: a push behind
/// the latest version is accepted as it is, §10.2.2.1), then the same
/// with each node syncing every 250 ms.
async fn concurrent() {
    concurrent_with(false, None).await;
    concurrent_with(true, None).await;
    concurrent_with(true, Some(Duration::from_millis(250))).await;
}

/// 32 nodes syncing for 10 s: each as soon as its last sync ended, or,
/// with `every`, at most once per `every` (a load below the server's
/// capacity, whose latency is not the queue's length).
async fn concurrent_with(own_keys: bool, every: Option<Duration>) {
    const NODES: usize = 32;
    const RUN: Duration = Duration::from_secs(10);
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("server.db"));
    let server = serve_file(&dir.path().join("server.db"));
    let mut nodes = Vec::new();
    for i in 0..NODES {
        nodes.push(support::node(dir.path(), &format!("n{i}.db"), &server.url).await);
    }
    let load = sync_load(nodes, RUN, own_keys, every).await;
    let keys = if own_keys {
        "keys of its own"
    } else {
        "the next key"
    };
    let pace = match every {
        None => "again as soon as the last one ended".to_string(),
        Some(e) => format!("each node every {} ms", e.as_millis()),
    };
    println!(
        "concurrent: {NODES} nodes, 3 inserts ({keys}) then a sync, {pace}, for {:.0} s (server in its own process)",
        RUN.as_secs_f64()
    );
    println!(
        "  {} syncs, {:.0} syncs/s, {} sync(s) gave up",
        load.latencies.len(),
        load.syncs_per_s(),
        load.failures
    );
    println!(
        "  latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 <= 50 ms)",
        load.ms(0.50),
        load.ms(0.99),
        load.ms(1.0)
    );
}

fn main() {
    let Some(want) = support::selected() else {
        return;
    };
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
    if want("growth") {
        growth();
    }
}
