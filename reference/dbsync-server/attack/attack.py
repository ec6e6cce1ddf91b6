#!/usr/bin/env python3
"""Measures `dbsync serve` under the two attacks of issue 12 (not a test).

    attack.py DBSYNC_BIN repair   # 150 nodes ask for a ~10 MB repair page, never read
    attack.py DBSYNC_BIN bodies   # 80 unauthenticated 16 MiB bodies that stall

Prints the server's RSS before, its peak during 25 s of attack, and how
long a legitimate register + pull took in the middle of the attack.
"""
import base64, hashlib, hmac, json, os, socket, sqlite3, subprocess, sys, tempfile, threading, time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def http(addr, path, body, headers=None, read=True):
    s = socket.create_connection(addr)
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    s.sendall(head.encode() + b"\r\n" + body)
    if not read:
        return s
    out = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        out += chunk
    s.close()
    status = int(out.split(b" ", 2)[1])
    return status, out.split(b"\r\n\r\n", 1)[1]


def signed(node, secret, path, body):
    key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    ts, nonce = str(int(time.time())), base64.urlsafe_b64encode(os.urandom(18)).decode()
    text = "\n".join(["dbsync-v1", "POST", path, str(node), ts, nonce, hashlib.sha256(body).hexdigest()])
    sig = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return {"dbsync-node": str(node), "dbsync-timestamp": ts, "dbsync-nonce": nonce, "dbsync-signature": sig}


def register(addr, fp):
    status, body = http(addr, "/v1/register", json.dumps({"protocol": "1.0", "schema": fp}).encode())
    assert status == 200, body
    r = json.loads(body)
    return r["node_id"], r["secret"]


def legit(addr, fp):
    started = time.time()
    node, secret = register(addr, fp)
    body = json.dumps({"protocol": "1.0", "schema": fp, "base_version": 0, "pending": [], "cursor": None}).encode()
    status, _ = http(addr, "/v1/pull", body, signed(node, secret, "/v1/pull", body))
    return status, time.time() - started


def repair_attack(addr, fp, socks):
    for _ in range(150):
        node, secret = register(addr, fp)
        body = json.dumps({"protocol": "1.0", "schema": fp, "cursor": None}).encode()
        s = http(addr, "/v1/repair", body, signed(node, secret, "/v1/repair", body), read=False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        socks.append(s)


def body_attack(addr, fp, socks):
    size = 16 * 1024 * 1024
    def one(path):
        s = socket.create_connection(addr)
        socks.append(s)
        s.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n".encode())
        chunk = b" " * (1 << 20)
        try:
            for _ in range(15):
                s.sendall(chunk)
        except OSError:
            pass  # the server closed the connection: it stopped reading
    threads = [threading.Thread(target=one, args=("/v1/push" if i % 2 else "/v1/register",)) for i in range(80)]
    for t in threads:
        t.start()


def main():
    bin_, mode = sys.argv[1], sys.argv[2]
    d = tempfile.mkdtemp()
    db = os.path.join(d, "server.db")
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE note (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
    c.executemany("INSERT INTO note (body) VALUES (?)", [(f"{i}-" + "x" * 1000,) for i in range(10000)])
    c.commit()
    c.close()
    p = subprocess.Popen([bin_, "serve", "--db", db, "--listen", "127.0.0.1:0", "--open-registration", "--register-rate", "none"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, DBSYNC_LOG="error"))
    url = p.stdout.readline().strip().split()[-1]
    fp = p.stderr.readline().split("fingerprint ")[1].split(")")[0]
    host, port = url.split("//")[1].split(":")
    addr = (host, int(port))
    before = rss_kib(p.pid)
    socks = []
    attacker = threading.Thread(target=(repair_attack if mode == "repair" else body_attack), args=(addr, fp, socks))
    attacker.start()
    peak, t0, legit_result = before, time.time(), None
    while time.time() - t0 < 25:
        peak = max(peak, rss_kib(p.pid))
        if legit_result is None and time.time() - t0 > 8:
            legit_result = legit(addr, fp)
        time.sleep(0.2)
    print(json.dumps({"mode": mode, "bin": bin_, "rss_before_mib": round(before / 1024, 1),
                      "rss_peak_mib": round(peak / 1024, 1), "legit_status": legit_result[0],
                      "legit_seconds": round(legit_result[1], 3)}))
    p.kill()
    p.wait()


if __name__ == "__main__":
    main()
