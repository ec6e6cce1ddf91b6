#!/usr/bin/env python3
"""32 `dbsync sync` processes updating one shared row (not a test).

    shared_row.py DBSYNC_BIN [NODES] [SECONDS]    # 32 nodes, 60 s

A server serves one table; NODES nodes are tracked and registered and
hold the one shared row. Each node, in its own worker, repeats for
SECONDS: it updates the shared row (and inserts a row of its own, so
that every round has work that must not be lost), then runs `dbsync
sync` as a process. Prints how many syncs ran, how many exited other
than 0 (by exit code), and the syncs' latency; then every node syncs
once more, and the script checks that nothing was lost: every node and
the server hold the same rows, and the server holds every row a node
inserted.
"""
import collections, json, os, sqlite3, subprocess, sys, tempfile, threading, time

SCHEMA = "CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, qty INTEGER)"
ENV = dict(os.environ, DBSYNC_LOG="warn")


def run(args):
    return subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)


def must(args):
    p = run(args)
    if p.returncode != 0:
        sys.exit(f"{' '.join(args)} exited {p.returncode}: {p.stderr}")


def make_db(path):
    c = sqlite3.connect(path)
    c.execute(SCHEMA)
    c.commit()
    c.close()


def rows(path):
    c = sqlite3.connect(path)
    out = c.execute("SELECT id, name, qty FROM item ORDER BY id").fetchall()
    c.close()
    return out


def worker(bin_, db, i, until, results, inserted):
    k = 0
    while time.time() < until:
        k += 1
        c = sqlite3.connect(db, timeout=60)
        c.execute("UPDATE item SET qty = ?, name = ? WHERE id = 1", (k, f"node {i} round {k}"))
        c.execute("INSERT INTO item (name, qty) VALUES (?, ?)", (f"n{i}-{k}", k))
        c.commit()
        c.close()
        inserted.append(f"n{i}-{k}")
        started = time.time()
        p = run([bin_, "sync", "--db", db])
        results.append((time.time() - started, p.returncode, p.stderr.strip()[-200:]))


def main():
    bin_ = sys.argv[1]
    nodes = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    d = tempfile.mkdtemp()
    server_db = os.path.join(d, "server.db")
    make_db(server_db)
    server = subprocess.Popen([bin_, "serve", "--db", server_db, "--listen", "127.0.0.1:0",
                               "--open-registration"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=ENV)
    url = server.stdout.readline().strip().split()[-1]
    dbs = [os.path.join(d, f"n{i}.db") for i in range(nodes)]
    for i, db in enumerate(dbs):
        make_db(db)
        must([bin_, "track", "--db", db])
        must([bin_, "register", "--db", db, "--server", url])
        if i == 0:
            c = sqlite3.connect(db)
            c.execute("INSERT INTO item (name, qty) VALUES ('shared', 0)")
            c.commit()
            c.close()
        must([bin_, "sync", "--db", db])
    for db in dbs:
        must([bin_, "sync", "--db", db])
    results, threads, inserted = [], [], []
    until = time.time() + seconds
    for i, db in enumerate(dbs):
        t = threading.Thread(target=worker, args=(bin_, db, i, until, results, inserted))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    for _ in range(2):
        for db in dbs:
            must([bin_, "sync", "--db", db])
    server_rows = rows(server_db)
    converged = all(rows(db) == server_rows for db in dbs)
    names = {r[1] for r in server_rows}
    lost = [n for n in inserted if n not in names]
    server.kill()
    server.wait()
    codes = collections.Counter(code for _, code, _ in results)
    latencies = sorted(s for s, code, _ in results if code == 0)
    pct = lambda p: round(1000 * latencies[min(len(latencies) - 1, int(len(latencies) * p))], 1)
    failures = [err for _, code, err in results if code != 0][:3]
    print(json.dumps({
        "nodes": nodes, "seconds": seconds, "syncs": len(results),
        "exit_codes": dict(codes), "failed_share": round(1 - codes[0] / max(1, len(results)), 4),
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)} if latencies else None,
        "converged": converged, "server_rows": len(server_rows), "inserted": len(inserted),
        "lost": len(lost),
        "first_failures": failures,
    }))
    if not converged or lost:
        sys.exit("the nodes did not converge, or rows were lost")


if __name__ == "__main__":
    main()
