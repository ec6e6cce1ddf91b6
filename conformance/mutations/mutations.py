#!/usr/bin/env python3
"""The mutations of the table "What the kit catches: flipping each rule"
(conformance/README.md), one entry per row id, as exact text replacements
in the reference's sources.

Apply them only in a scratch copy of the tree, never in the working tree
you commit from:

    python3 conformance/mutations/mutations.py list
    python3 conformance/mutations/mutations.py check        # every old text is there exactly once
    python3 conformance/mutations/mutations.py apply M5     # apply one mutation
    git checkout -- reference/                              # revert it

`apply` refuses (exit 1) when an old text is not found exactly once, so a
row whose code moved since is noticed instead of silently not mutated.
`DBSYNC_MUTATE_ROOT=DIR` mutates the tree DIR instead of the one holding
this file. `run.py` next to this file applies each id in turn in a scratch
tree, builds, runs the history runner (and optionally the vectors and the
harness), records the outcome and reverts.
"""

import os
import pathlib
import sys

CORE = "reference/dbsync-core/src/"
SQLITE = "reference/dbsync-sqlite/src/"
ENGINE = "reference/dbsync-engine/src/"

# id -> (description, [(file, old, new), ...])
MUTATIONS = {
    # --- compression (spec §5) ---
    "C1": ("pending `i u* d` gives `i`", [
        (CORE + "compress.rs",
         "PendingState::Vanished => None,",
         "PendingState::Vanished => Some(Command::Insert),"),
    ]),
    "C2": ("pending `i u*` gives `u`", [
        (CORE + "compress.rs",
         "PendingState::Inserted => Some(Command::Insert),",
         "PendingState::Inserted => Some(Command::Update),"),
    ]),
    "C3": ("pending `u* d` gives `u`", [
        (CORE + "compress.rs",
         "PendingState::Deleted => Some(Command::Delete),",
         "PendingState::Deleted => Some(Command::Update),"),
    ]),
    "C4": ("pending `d i` accepted as `i`", [
        (CORE + "compress.rs",
         "(PendingState::Updated, Command::Delete) => Some(PendingState::Deleted),",
         "(PendingState::Updated, Command::Delete) => Some(PendingState::Deleted),\n"
         "            (PendingState::Deleted, Command::Insert) => Some(PendingState::Inserted),"),
    ]),
    "C5": ("pulled first `i`, last `d` gives `d`", [
        (CORE + "compress.rs", "(I, D) => None,", "(I, D) => Some(D),"),
    ]),
    "C6": ("pulled first `d`, last not `d` gives `i`", [
        (CORE + "compress.rs", "(D, _) => Some(U),", "(D, _) => Some(I),"),
    ]),
    "C7": ("pulled first `u`, last `d` gives `u`", [
        (CORE + "compress.rs", "(U, D) => Some(D),", "(U, D) => Some(U),"),
    ]),
    "C8": ("a pulled op keeps its first version, not its last", [
        (CORE + "compress.rs",
         "                acc.last = op.command;\n                acc.version = op.version;",
         "                acc.last = op.command;"),
    ]),
    "C9": ("largest row ids leave out ops that compressed away (the merge ignores "
           "`remote_max_ids`, merge/state.rs)", [
        (CORE + "merge/state.rs",
         "p.remote_max[t as usize] = p.remote_max[t as usize].max(*max);",
         "let _ = max;"),
    ]),
    # --- merge (spec §12) ---
    "M1": ("`node_wins` u/u takes the remote values (merge/policy.rs)", [
        (CORE + "merge/policy.rs",
         "fn direct(&self, _: &DirectConflict<'_>) -> Winner {\n        Winner::Local",
         "fn direct(&self, c: &DirectConflict<'_>) -> Winner {\n"
         "        if c.remote == Command::Update { return Winner::Remote; }\n"
         "        Winner::Local"),
    ]),
    "M2": ("`node_wins` d/u keeps the pending `u` instead of `i` (merge/identity.rs)", [
        (CORE + "merge/identity.rs",
         "self.slots[i].pending_after = PendingAfter::Set(Command::Insert);\n"
         "                let rule = Rule::LocalUpdateReinsertsRow;",
         "self.slots[i].pending_after = PendingAfter::Set(Command::Update);\n"
         "                let rule = Rule::LocalUpdateReinsertsRow;"),
    ]),
    "M3": ("d/d: the pending `d` is not dropped", [
        (CORE + "merge/identity.rs",
         "self.slots[i].pending_after = PendingAfter::Drop;\n"
         "                if remote == Command::Delete {",
         "if remote != Command::Delete {\n"
         "                    self.slots[i].pending_after = PendingAfter::Drop;\n"
         "                }\n"
         "                if remote == Command::Delete {"),
    ]),
    "M4": ("u/d: the deleted row is not restored (the pending `d` is dropped, "
           "the row stays deleted)", [
        (CORE + "merge/identity.rs",
         "let exists = self.local_exists(i)?;\n"
         "                    self.put_from_message(i, exists);\n"
         "                    self.log(",
         "let _ = self.local_exists(i)?;\n"
         "                    self.log("),
    ]),
    "M5": ("insert conflict without re-key", [
        (CORE + "merge/identity.rs", "self.rekey(i)?;", "let _ = i;"),
    ]),
    "M6": ("the fresh key ignores the ids of the pull", [
        (CORE + "merge/state.rs",
         "let top = local\n"
         "                    .max(self.max_seen[t as usize])\n"
         "                    .max(self.remote_max[t as usize]);",
         "let top = local;"),
    ]),
    "M7": ("a re-key gives an unchanged child no pending `u`", [
        (CORE + "merge/identity.rs",
         "self.slots[c].cascaded = true;",
         "let _ = c;"),
    ]),
    "M8": ("a swap without delete and re-insert (merge/emit.rs)", [
        (CORE + "merge/emit.rs", "                if s.swap {", "                if false && s.swap {"),
        (CORE + "merge/emit.rs", "actions.push(if exists && !swap {", "actions.push(if exists || swap {"),
    ]),
    "M9": ("a holder the message carries without an op does not join the swap "
           "(merge/unique.rs)", [
        (CORE + "merge/unique.rs",
         "let updatable = self.slots[h].fate == Fate::Untouched",
         "let updatable = false\n                        && self.slots[h].fate == Fate::Untouched"),
    ]),
    "M10": ("unique collisions not reported", [
        (CORE + "merge/unique.rs",
         "        if collisions.is_empty() {",
         "        if true || collisions.is_empty() {"),
    ]),
    "M11": ("dependency without keeping the parent (merge/dependency.rs)", [
        (CORE + "merge/dependency.rs",
         "Winner::Local => self.keep_parent(p),",
         "Winner::Local => Ok(()),"),
    ]),
    "M12": ("a kept parent does not keep its own deleted parent", [
        (CORE + "merge/dependency.rs",
         "                        stack.push(gi);",
         "                        let _ = gi;"),
    ]),
    "M13": ("`server_wins` dependency: local children neither deleted nor reverted", [
        (CORE + "merge/dependency.rs",
         "Winner::Remote => self.drop_child(c, queue),",
         "Winner::Remote => Ok(()),"),
    ]),
    "M14": ("reversed dependency without restoring the parent (merge/closure.rs)", [
        (CORE + "merge/closure.rs",
         "        if self.slots[p].pending_now() == Some(Command::Delete) {\n"
         "            // Reversed dependency: restore the parent, drop the local `d`.",
         "        if self.slots[p].pending_now() == Some(Command::Delete) {\n"
         "            if true { return Ok(()); }"),
    ]),
    "M15": ("absent-row rule off: an op whose row the message lacks still takes part", [
        (CORE + "merge/identity.rs",
         "Some(_) => self.message.contains_key(&self.slots[i].key),",
         "Some(_) => true,"),
    ]),
    "M16": ("parents the message carries are not inserted", [
        (CORE + "merge/closure.rs",
         "            // A parent the message carries and the node lacks.\n"
         "            self.put_from_message(p, false);",
         "            // A parent the message carries and the node lacks: not inserted."),
    ]),
    "M17": ("key sequences not raised (no `reserve_keys`, merge/emit.rs)", [
        (CORE + "merge/emit.rs",
         "if up_to > written_max[t as usize] && up_to",
         "if false && up_to > written_max[t as usize] && up_to"),
    ]),
    "M18": ("restores ignored: every pending `i` is a new row again (merge/state.rs)", [
        (CORE + "merge/state.rs",
         "if p.slots[i].pending == Some(Command::Insert) && p.slots[i].restore.is_none() {",
         "if false && p.slots[i].pending == Some(Command::Insert) && p.slots[i].restore.is_none() {"),
    ]),
    "M19": ("a changed restore counts as unchanged", [
        (CORE + "merge/state.rs",
         "p.slots[i].restore = Some(r.changed);\n"
         "                    p.slots[i].pending = r.changed.then_some(Command::Update);",
         "p.slots[i].restore = Some(false);\n"
         "                    p.slots[i].pending = None;"),
    ]),
    "M20": ("a changed restore whose local values win stays `i` instead of becoming `u` "
            "(merge/identity.rs)", [
        (CORE + "merge/identity.rs",
         "self.slots[i].pending_after = PendingAfter::Set(Command::Update);",
         "self.slots[i].pending_after = PendingAfter::Set(Command::Insert);"),
    ]),
    "M21": ("an unchanged restore keeps its pending `i` when a remote op settles the row", [
        (CORE + "merge/identity.rs",
         "// may keep it again.\n            self.slots[i].pending_after = PendingAfter::Drop;",
         "// may keep it again."),
    ]),
    "M22": ("keys whose remote ops compress to nothing are not fed as a remote `d` "
            "(merge/mod.rs, `MergeInput::of_pull`)", [
        (CORE + "merge/mod.rs", "pull.ops.extend(extra);", "let _ = extra;"),
    ]),
    # --- the SQLite node store ---
    "S1": ("the store prunes `i … d` records an outstanding push covers "
           "(dbsync-sqlite/src/node/pending.rs)", [
        (SQLITE + "node/pending.rs",
         "if get_state::<String>(conn, \"push_id\")?.is_some() {",
         "if false && get_state::<String>(conn, \"push_id\")?.is_some() {"),
    ]),
    # --- the server (dbsync-engine) ---
    "E1": ("a push whose `base_version` is behind the latest is accepted "
           "(push/mod.rs, P3, §10.2.2)", [
        (ENGINE + "push/mod.rs",
         "if req.base_version != latest {",
         "if req.base_version > latest {"),
    ]),
    "E2": ("a push id already applied is not recognised (P1, §10.4): a retry goes "
           "through P2–P8 again, `pull_required` on a moved base, else applied a "
           "second time (push/mod.rs)", [
        (ENGINE + "push/mod.rs",
         "if let Some(done) = already_applied(&mut *tx, node_id, req, &digest)? {\n"
         "        return Ok(done);\n"
         "    }",
         "let _ = already_applied(&mut *tx, node_id, req, &digest)?;"),
    ]),
    "E3": ("a push's ops are applied but its version is not recorded: the next push "
           "gets the same version, pulls never see the ops (push/mod.rs, §6, §10.2.4)", [
        (ENGINE + "push/mod.rs",
         "tx.append_version(&info, &req.ops)?;",
         "let _ = info;"),
    ]),
    "E4": ("a pushed update of a row the server lacks is accepted when its table "
           "has no unique constraint (the in-place update path; push/apply.rs, §10.2.4)", [
        (ENGINE + "push/apply.rs",
         "            if !updated {",
         "            if false && !updated {"),
    ]),
    "E5": ("a nonce already used is not refused: no `replayed_nonce` "
           "(authentication.rs, A5, §8.4)", [
        (ENGINE + "authentication.rs",
         "if tx.nonce_used(headers.node_id, &headers.nonce)? {",
         "if false && tx.nonce_used(headers.node_id, &headers.nonce)? {"),
        (ENGINE + "authentication.rs",
         "if !tx.record_nonce(node_id, nonce, now)? {",
         "if false && !tx.record_nonce(node_id, nonce, now)? {"),
    ]),
    "E6": ("a pull's next-page cursor skips the first op of the next page "
           "(pull.rs, §11.4)", [
        (ENGINE + "pull.rs",
         "let after = sent.last().map_or(start.after, |p| p.position);",
         "let after = following.position;\n    let _ = sent;"),
    ]),
    "E7": ("a repair omits the last table of its order (repair.rs, §13.2)", [
        (ENGINE + "repair.rs",
         "    let order = repair_order(store.schema());\n"
         "    let (mut table, mut after)",
         "    let mut order = repair_order(store.schema());\n"
         "    order.pop();\n"
         "    let (mut table, mut after)"),
    ]),
    "E8": ("a pull's first page lacks the server rows of the node's pending ops "
           "(pull.rs, §11.3.2)", [
        (ENGINE + "pull.rs",
         "    if req.cursor.is_none() {\n        for op in &req.pending {",
         "    if false && req.cursor.is_none() {\n        for op in &req.pending {"),
    ]),
    "E9": ("a push applies updates of tables with unique constraints in place, one "
           "by one: a swap of unique values collides (push/apply.rs, §10.2.4)", [
        (ENGINE + "push/apply.rs",
         "        if !synced(schema, &op.table)?.unique.is_empty() {",
         "        if false && !synced(schema, &op.table)?.unique.is_empty() {"),
        (ENGINE + "push/apply.rs",
         "        if t.unique.is_empty() {",
         "        if true || t.unique.is_empty() {"),
    ]),
}


def root() -> pathlib.Path:
    """The tree to mutate: `$DBSYNC_MUTATE_ROOT`, else the one holding this file."""
    env = os.environ.get("DBSYNC_MUTATE_ROOT")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[2]


def problems(mid: str) -> list:
    out = []
    for path, old, _new in MUTATIONS[mid][1]:
        n = (root() / path).read_text().count(old)
        if n != 1:
            out.append(f"{mid}: {path}: old text found {n} times: {old!r}")
    return out


def apply(mid: str) -> None:
    bad = problems(mid)
    if bad:
        sys.exit("\n".join(bad))
    for path, old, new in MUTATIONS[mid][1]:
        p = root() / path
        p.write_text(p.read_text().replace(old, new, 1))
    print(f"applied {mid}: {MUTATIONS[mid][0]}")


def main(argv: list) -> None:
    if len(argv) >= 1 and argv[0] == "list":
        for mid, (desc, edits) in MUTATIONS.items():
            files = sorted({e[0] for e in edits})
            print(f"{mid}\t{', '.join(files)}\t{desc}")
    elif len(argv) >= 1 and argv[0] == "check":
        bad = [p for mid in MUTATIONS for p in problems(mid)]
        print("\n".join(bad) or f"all {len(MUTATIONS)} mutations apply")
        sys.exit(1 if bad else 0)
    elif len(argv) == 2 and argv[0] == "apply" and argv[1] in MUTATIONS:
        apply(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
