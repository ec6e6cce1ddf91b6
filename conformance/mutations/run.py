#!/usr/bin/env python3
"""Runs the kit against each mutation of mutations.py, in a scratch tree.

    git worktree add --detach /tmp/scratch            # never the tree you commit from
    python3 conformance/mutations/run.py --tree /tmp/scratch \\
        [--target DIR] [--history] [--vectors] [--harness] [--out results.jsonl] ID...

For each id: revert the scratch tree's reference/ and conformance/, apply
the mutation, `cargo build -p dbsync-conformance --bins` (under nice -n 19),
then

- `--history`: `dbsync-conformance history --node <adapter> --reference
  --cases 100 --seed 100` (the first failing seed and its reason, or
  "passes 100");
- `--vectors`: `dbsync-conformance server --reference` and `node --adapter
  <adapter>` (the names of the vectors that fail);
- `--harness`: `cargo test -p dbsync-conformance --test harness
  random_divergent_histories_converge_and_lose_nothing` with
  `DBSYNC_SEED_BASE=100` (300 cases, seeds 100–399; the first failing seed;
  not exercised yet: the 2026-12-01 run used `--history` and `--vectors`);

and revert. One JSON line per id goes to `--out` (and stdout).
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
NICE = ["nice", "-n", "19"]


def sh(cmd, cwd, env=None, timeout=None):
    started = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=timeout)
        code, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        code = "timeout"
        out = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
    return code, out, round(time.monotonic() - started, 1)


def revert(tree):
    subprocess.run(["git", "checkout", "-q", "--", "reference", "conformance"], cwd=tree, check=True)
    subprocess.run(["git", "clean", "-fdq", "--", "conformance/vectors/regressions",
                    "conformance/proptest-regressions"], cwd=tree, check=True)


def history(tree, env, bins):
    code, out, secs = sh(NICE + [f"{bins}/dbsync-conformance", "history", "--node",
                                 f"{bins}/dbsync-conformance-adapter", "--reference",
                                 "--cases", "100", "--seed", "100"], tree, env, timeout=1800)
    fail = next((l for l in out.splitlines() if l.startswith("FAIL seed")), None)
    summary = next((l for l in out.splitlines() if re.match(r"\d+ passed, \d+ failed", l)), None)
    if fail:
        result = fail[:400]
    elif code == 0 and summary and summary.startswith("100 passed"):
        result = "passes 100"
    else:
        result = f"exit {code}: " + (summary or out[-400:])
    return {"history": result, "history_secs": secs, "history_summary": summary}


def vectors(tree, env, bins):
    failed = []
    secs = 0.0
    for args in (["server", "--reference"],
                 ["node", "--adapter", f"{bins}/dbsync-conformance-adapter"]):
        code, out, s = sh(NICE + [f"{bins}/dbsync-conformance"] + args, tree, env, timeout=1800)
        secs += s
        failed += [l.split()[1] for l in out.splitlines() if l.startswith("FAIL ")]
        summary = next((l for l in out.splitlines() if re.match(r"\d+ passed, \d+ failed", l)), "")
        failed.append(f"[{args[0]}: {summary or 'exit ' + str(code)}]")
    return {"vectors": failed, "vectors_secs": round(secs, 1)}


def harness(tree, env):
    env = dict(env, DBSYNC_SEED_BASE="100")
    code, out, secs = sh(NICE + ["cargo", "test", "-p", "dbsync-conformance", "--test", "harness",
                                 "random_divergent_histories_converge_and_lose_nothing", "--",
                                 "--nocapture"], tree, env, timeout=3600)
    if code == 0:
        result = "passes (300 cases, seeds 100–399)"
    else:
        lines = out.splitlines()
        seed = next((l for l in lines if "dbsync-harness: seed" in l and "fail" in l.lower()), None)
        panic = next((i for i, l in enumerate(lines) if "panicked at" in l), None)
        why = " / ".join(lines[panic + 1:panic + 4]) if panic is not None else out[-400:]
        result = f"fails: {seed or ''} {why}"[:600]
    return {"harness": result, "harness_secs": secs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", required=True)
    ap.add_argument("--target", default=os.environ.get("CARGO_TARGET_DIR"))
    ap.add_argument("--history", action="store_true")
    ap.add_argument("--vectors", action="store_true")
    ap.add_argument("--harness", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("ids", nargs="+")
    a = ap.parse_args()
    tree = pathlib.Path(a.tree).resolve()
    env = dict(os.environ, DBSYNC_MUTATE_ROOT=str(tree))
    if a.target:
        env["CARGO_TARGET_DIR"] = a.target
    bins = f"{a.target or tree / 'target'}/debug"
    for mid in a.ids:
        revert(tree)
        rec = {"id": mid}
        if mid != "none":
            code, out, _ = sh([sys.executable, str(HERE / "mutations.py"), "apply", mid], tree, env)
            if code != 0:
                rec["error"] = out.strip()
                print(json.dumps(rec, ensure_ascii=False), flush=True)
                continue
        code, out, secs = sh(NICE + ["cargo", "build", "-p", "dbsync-conformance", "--bins"],
                             tree, env, timeout=3600)
        rec["build_secs"] = secs
        if code != 0:
            rec["error"] = "build failed: " + out[-1500:]
        else:
            if a.history:
                rec.update(history(tree, env, bins))
            if a.vectors:
                rec.update(vectors(tree, env, bins))
            if a.harness:
                rec.update(harness(tree, env))
        revert(tree)
        line = json.dumps(rec, ensure_ascii=False)
        print(line, flush=True)
        if a.out:
            with open(a.out, "a") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
