#!/usr/bin/env python3
"""Measures a push and a pull of N inserts through `dbsync sync` (not a test).

    large_work.py DBSYNC_BIN [N]     # N defaults to 1,000,000

A server with the default body limit (16 MiB) serves a five-column table
(short text, as in issue 12). Node A inserts N rows (after `track`
and `register`, so capture records N pending inserts) and runs
`dbsync sync`: it pushes them in parts (spec §10.1.2). Node B, registered
before, runs `dbsync sync`: it pulls N ops and merges them in steps
(§11.6). Prints each command's wall time and peak RSS (wait4's
ru_maxrss), the server's peak RSS (VmHWM) after each, and the versions
the push became.
"""
import json, os, sqlite3, subprocess, sys, tempfile, time

SCHEMA = ("CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
          "kind TEXT, qty INTEGER, price REAL, note TEXT)")


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run(args):
    started = time.time()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, DBSYNC_LOG="warn"))
    _, status, usage = os.wait4(p.pid, 0)
    out, err = p.stdout.read(), p.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(args)} exited {code}: {err}")
    return {"seconds": round(time.time() - started, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "said": out.strip().splitlines()[-1] if out.strip() else ""}


def make_db(path):
    c = sqlite3.connect(path)
    c.execute(SCHEMA)
    c.commit()
    c.close()


def main():
    bin_ = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    d = tempfile.mkdtemp()
    server_db, a_db, b_db = (os.path.join(d, f) for f in ("server.db", "a.db", "b.db"))
    for db in (server_db, a_db, b_db):
        make_db(db)
    server = subprocess.Popen([bin_, "serve", "--db", server_db, "--listen", "127.0.0.1:0",
                               "--registration-token", "t"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, DBSYNC_LOG="warn"))
    url = server.stdout.readline().strip().split()[-1]
    for db in (a_db, b_db):
        run([bin_, "track", "--db", db])
        run([bin_, "register", "--db", db, "--server", url, "--token", "t"])
    c = sqlite3.connect(a_db)
    c.executemany("INSERT INTO item (name, kind, qty, price, note) VALUES (?, ?, ?, ?, ?)",
                  ((f"item {i}", "kind", i, i * 0.5, "short note") for i in range(n)))
    c.commit()
    c.close()
    result = {"n": n, "server_rss_before_mib": vm_hwm_mib(server.pid)}
    result["push"] = run([bin_, "sync", "--db", a_db, "--timeout", "600"])
    result["server_peak_after_push_mib"] = vm_hwm_mib(server.pid)
    result["pull"] = run([bin_, "sync", "--db", b_db, "--timeout", "600"])
    result["server_peak_after_pull_mib"] = vm_hwm_mib(server.pid)
    s = sqlite3.connect(server_db)
    result["versions"] = s.execute("SELECT count(*) FROM dbsync_versions").fetchone()[0]
    result["server_rows"] = s.execute("SELECT count(*) FROM item").fetchone()[0]
    result["b_rows"] = sqlite3.connect(b_db).execute("SELECT count(*) FROM item").fetchone()[0]
    server.kill()
    server.wait()
    print(json.dumps(result))
    if not (result["server_rows"] == result["b_rows"] == n):
        sys.exit("rows are missing")


if __name__ == "__main__":
    main()
