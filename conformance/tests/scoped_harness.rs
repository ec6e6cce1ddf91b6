//! The scoped property harness (spec §19): random histories on a real
//! scoped server with real nodes over HTTP, registered for 2–3 users;
//! offline edits inside each node's scope, direct writes on the server
//! (lists given to other users among them), syncs and pulls. See
//! `dbsync_conformance::scoped` for the checks.
//!
//! - `DBSYNC_CASES`: how many cases (default below);
//! - `DBSYNC_SEED`: run only this seed (replaying a failure);
//! - `DBSYNC_SEED_BASE`: the first seed (default 1; `random` draws it
//!   from the clock); case i uses seed base + i;
//! - `DBSYNC_KEEP_GOING=1`: go on after a failure (shrunk and printed
//!   with its replay command, not saved) and fail at the end;
//! - `DBSYNC_SCOPED_KEYS=shared|disjoint`: how writers choose the keys
//!   of new rows (see `DEFAULT_KEYS`).
//!
//! Each case's seed is printed before it runs. A failure is shrunk,
//! its seed saved in `proptest-regressions/scoped_harness.txt` (in the
//! default key mode), and reported with the shrunk case and the command
//! that replays it.
//!
//! The tests at the end replay the reference bugs this harness found,
//! shrunk; each failed before its fix.

use dbsync_conformance::history::seeds::seed_bytes;
use dbsync_conformance::history::Stats;
use dbsync_conformance::scoped::seeds::{self, SeedFailure};
use dbsync_conformance::scoped::{generate, run_case, Case, Keys};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{
    FailurePersistence, FileFailurePersistence, PersistedSeed, TestRunner,
};
use std::str::FromStr;
use std::time::Instant;

/// Cases per run by default: `cargo test --workspace` stays fast on 2
/// cores (a case takes about a tenth of a second).
const DEFAULT_CASES: u64 = 40;

/// Shrinking tries at most this many smaller cases (each a whole run).
const MAX_SHRINK: u32 = 1024;

/// How writers choose keys by default: `Shared`, each writer takes
/// SQLite's next key, as applications do (so a node's new key is often
/// held by a row outside its scope, which the server re-keys, spec
/// §19.7); `random_scoped_histories_with_disjoint_keys` gives each
/// writer a key range of its own.
const DEFAULT_KEYS: Keys = Keys::Shared;

const PERSISTENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/scoped_harness.txt"
);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// How writers choose keys: `DBSYNC_SCOPED_KEYS=shared` (SQLite's next
/// key, as applications do) or `disjoint` (a range per writer).
fn keys_from_env() -> Keys {
    match std::env::var("DBSYNC_SCOPED_KEYS").ok().as_deref() {
        Some("shared") => Keys::Shared,
        Some("disjoint") => Keys::Disjoint,
        _ => DEFAULT_KEYS,
    }
}

fn replay_command(seed: u64, keys: Keys) -> String {
    let env = match keys {
        k if k == DEFAULT_KEYS => "",
        Keys::Shared => "DBSYNC_SCOPED_KEYS=shared ",
        Keys::Disjoint => "DBSYNC_SCOPED_KEYS=disjoint ",
    };
    format!(
        "{env}DBSYNC_SEED={seed} cargo test -p dbsync-conformance --test scoped_harness -- --nocapture"
    )
}

fn persistence() -> FileFailurePersistence {
    FileFailurePersistence::Direct(PERSISTENCE)
}

/// The u64 seeds of the failures saved so far (proptest's file holds
/// ChaCha seeds; the first 8 bytes are the u64, little-endian).
fn saved_seeds() -> Vec<u64> {
    persistence()
        .load_persisted_failures2(None)
        .into_iter()
        .filter_map(|p| {
            let text = p.to_string();
            let hex = text.strip_prefix("cc ")?;
            let bytes: Vec<u8> = (0..16)
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect::<Option<_>>()?;
            Some(u64::from_le_bytes(bytes.try_into().ok()?))
        })
        .collect()
}

fn save(seed: u64, case: &Case, reason: &str) {
    if saved_seeds().contains(&seed) {
        return;
    }
    let hex: String = seed_bytes(seed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let persisted = PersistedSeed::from_str(&format!("cc {hex}")).expect("a ChaCha seed");
    let first_line = reason.lines().next().unwrap_or("");
    let shrunk = serde_json::to_string(case).unwrap_or_default();
    persistence().save_persisted_failure2(
        None,
        persisted,
        &format!("seed {seed}: {first_line}; shrinks to {shrunk}"),
    );
}

/// Totals over a run.
#[derive(Default)]
struct Totals {
    stats: Stats,
    cases: u64,
}

impl Totals {
    fn get(&self, event: &str) -> u64 {
        self.stats.events.get(event).copied().unwrap_or(0)
    }

    fn summary(&self, failed: usize, started: Instant) -> String {
        format!(
            "dbsync-scoped-harness: {} cases, {failed} failed, in {:.1?}: {} syncs, {} pulls, \
             {} edits, {} server writes, {} moves, {} moved_out drops, {} lost in conflicts, \
             {} conflicts",
            self.cases,
            started.elapsed(),
            self.get("sync"),
            self.get("pull"),
            self.get("edit"),
            self.get("server_write"),
            self.get("move"),
            self.get("moved_out_drops"),
            self.get("lost_in_conflict"),
            self.get("conflicts"),
        )
    }
}

/// Runs one seed's case; on failure shrinks it (when `shrink`), saves
/// its seed (when `save`) and returns the report with the shrunk case
/// and the replay command.
fn run_seed(
    seed: u64,
    keys: Keys,
    totals: &mut Totals,
    shrink: bool,
    save_it: bool,
) -> Result<(), String> {
    eprintln!("dbsync-scoped-harness: seed {seed} ({keys:?} keys)");
    match seeds::run_seed(seed, shrink, MAX_SHRINK, |case| run_case(case, keys)) {
        Ok(stats) => {
            totals.stats.add(&stats);
            totals.cases += 1;
            Ok(())
        }
        Err(SeedFailure { reason, case, runs }) => {
            totals.cases += 1;
            if save_it && keys == DEFAULT_KEYS {
                save(seed, &case, &reason);
            }
            Err(format!(
                "seed {seed} failed ({runs} runs shrinking): {reason}\nshrunk case: {}\nreplay: {}",
                serde_json::to_string(&case).unwrap_or_default(),
                replay_command(seed, keys)
            ))
        }
    }
}

fn seed_base() -> u64 {
    match std::env::var("DBSYNC_SEED_BASE").ok().as_deref() {
        Some("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
            .wrapping_mul(1_000_003),
        _ => env_u64("DBSYNC_SEED_BASE").unwrap_or(1),
    }
}

/// Runs `DBSYNC_CASES` seeds (or `DBSYNC_SEED` alone) with `keys`, and
/// panics with every failure's report.
fn run_seeds(keys: Keys) {
    let started = Instant::now();
    let mut totals = Totals::default();
    if let Some(seed) = env_u64("DBSYNC_SEED") {
        if let Err(report) = run_seed(seed, keys, &mut totals, true, true) {
            panic!("{report}");
        }
        eprintln!("{}", totals.summary(0, started));
        return;
    }
    let cases = env_u64("DBSYNC_CASES").unwrap_or(DEFAULT_CASES);
    let base = seed_base();
    let keep_going = std::env::var("DBSYNC_KEEP_GOING").is_ok_and(|v| v == "1");
    eprintln!(
        "dbsync-scoped-harness: {cases} cases, seeds {base}..={}, {keys:?} keys",
        base.wrapping_add(cases.saturating_sub(1))
    );
    let mut failures = Vec::new();
    for i in 0..cases {
        let seed = base.wrapping_add(i);
        if let Err(report) = run_seed(seed, keys, &mut totals, true, !keep_going) {
            if !keep_going {
                eprintln!("{}", totals.summary(1, started));
                panic!("{report}");
            }
            eprintln!("dbsync-scoped-harness: FAILED {report}");
            failures.push(report);
        }
    }
    eprintln!("{}", totals.summary(failures.len(), started));
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if cases >= DEFAULT_CASES {
        // The generator reaches what the harness is for.
        for event in ["move", "moved_out_drops", "sync", "pull", "conflicts"] {
            assert!(
                totals.get(event) > 0,
                "no case reached {event}: {:?}",
                totals.stats.events
            );
        }
    }
}

#[test]
fn random_scoped_histories() {
    run_seeds(keys_from_env());
}

#[test]
fn random_scoped_histories_with_disjoint_keys() {
    run_seeds(Keys::Disjoint);
}

#[test]
fn the_seeds_of_saved_failures_now_pass() {
    let mut totals = Totals::default();
    let failures: Vec<String> = saved_seeds()
        .into_iter()
        .filter_map(|seed| run_seed(seed, DEFAULT_KEYS, &mut totals, false, false).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_generated_scoped_case_survives_a_trip_through_json() {
    let mut runner = TestRunner::deterministic();
    for _ in 0..20 {
        let case = generate::case().new_tree(&mut runner).unwrap().current();
        let back: Case = serde_json::from_str(&serde_json::to_string(&case).unwrap()).unwrap();
        assert_eq!(back, case);
    }
}

/// Plays a case given as JSON, the writers choosing keys as `keys`
/// says, and panics with its failure.
fn replay(case: &str, keys: Keys) {
    let case: Case = serde_json::from_str(case).expect("a case");
    if let Err(f) = run_case(&case, keys) {
        panic!("{f}");
    }
}

/// Seed 39 (`DBSYNC_SCOPED_KEYS=shared`), shrunk. Bob's list 1 is on
/// the server; alice's node never saw it, so her first list takes key 1
/// too (§2.2: above every key it has seen). Her push is at the latest
/// version, so nothing re-keys it (§10.2.2.2 re-keys only against later
/// versions), and P8 refuses it: `integrity_violation`, "list row 1 to
/// insert is already on the server", at every sync, for ever.
#[test]
fn a_list_a_node_inserts_under_a_key_held_outside_its_scope_reaches_the_server() {
    replay(
        r#"{"users":2,"nodes":[0,0],"tags":1,"lists":[{"owner":1,"tag":null,"items":[]}],
            "steps":[{"edit":{"node":0,"edit":{"insert_list":{"tag":null}}}}]}"#,
        Keys::Shared,
    );
}

/// Seed 37 (`DBSYNC_SCOPED_KEYS=shared`), shrunk and simplified. Alice
/// inserts list 2 offline; the server then inserts bob's list 2; alice
/// pulls (nothing of hers) and so pushes at the latest version: the same
/// refusal, though her key was fresh when she chose it.
#[test]
fn a_list_whose_key_the_server_gives_another_user_meanwhile_reaches_the_server() {
    replay(
        r#"{"users":2,"nodes":[0,0],"tags":1,"lists":[{"owner":0,"tag":null,"items":[]}],
            "steps":[{"edit":{"node":0,"edit":{"insert_list":{"tag":null}}}},
                     {"server":{"insert_list":{"owner":1,"items":[]}}},
                     {"pull":{"node":0}},{"sync":{"node":0}}]}"#,
        Keys::Shared,
    );
}

/// Seed 19 (`DBSYNC_SCOPED_KEYS=shared`), shrunk and simplified. Two
/// nodes of alice insert item 1 into her list 1 (an ordinary insert
/// collision); node 0 syncs; the server gives list 1 to bob. Node 1's
/// pull brings `i item 1`, then `d out` for list 1 and item 1. Compressed
/// (§19.6 step 1), item 1 is nothing (an `i` then a move-out), so node
/// 1's own item 1 should leave with list 1. The reference
/// (`dbsync-sqlite/src/node/moved_out.rs`, `moved_out`, which takes each
/// row's last raw op) counts item 1 as moving out itself: it logs
/// `moved_out` for item 1 and keeps the row (not deleted in step 4, and
/// no remote `d` deletes it), so the merge keeps list 1 for that local
/// child (`parent_kept_for_local_child`): a restore of a moved-out row
/// (§19.9 says none happens), pushed as `i list 1` and refused for ever.
#[test]
fn an_own_item_colliding_with_one_that_moved_in_and_out_leaves_with_its_list() {
    replay(
        r#"{"users":2,"nodes":[0,0],"tags":1,"lists":[{"owner":0,"tag":null,"items":[]}],
            "steps":[{"edit":{"node":0,"edit":{"insert_item":{"list":0}}}},{"sync":{"node":0}},
                     {"server":{"move_list":{"list":0,"to":1}}},
                     {"edit":{"node":1,"edit":{"insert_item":{"list":0}}}},{"sync":{"node":1}}]}"#,
        Keys::Shared,
    );
}

/// Seed 12358 (default keys), shrunk and simplified: the bug above
/// without any key collision. Carol's node 1 deletes item 3; nodes 0
/// and 2 updated it offline, and both keep it (node wins:
/// `local_update_reinserts_row`, a pending `i`). Node 0 pulls (its
/// pending op is now that `i`); node 2 syncs first, pushing its `i`;
/// the server gives list 2 to alice. Node 0's next pull brings `i item
/// 3` (node 2's restore) then `d out` for list 2 and item 3: compressed,
/// item 3 is nothing, so node 0's own item 3 should leave with list 2
/// (§19.6 step 2). The reference logs `moved_out` for item 3, keeps the
/// row and restores list 2 for it (`parent_kept_for_local_child`): the
/// node holds alice's list and item, and its push of `i list 2` is
/// refused for ever (`integrity_violation`). Same place as above:
/// `dbsync-sqlite/src/node/moved_out.rs`, `moved_out`.
#[test]
fn a_row_two_nodes_restored_leaves_with_its_list_when_the_list_moves_out() {
    replay(
        r#"{"users":3,"nodes":[2,2,2],"tags":1,"lists":[{"owner":2,"tag":null,"items":[0]}],
            "steps":[{"edit":{"node":1,"edit":{"delete_item":{"item":0}}}},{"sync":{"node":1}},
                     {"edit":{"node":2,"edit":{"update_item":{"item":0}}}},
                     {"edit":{"node":0,"edit":{"update_item":{"item":0}}}},
                     {"pull":{"node":0}},{"sync":{"node":2}},
                     {"server":{"move_list":{"list":0,"to":0}}},{"sync":{"node":0}}]}"#,
        Keys::Disjoint,
    );
}

/// Seed 16006754 of the first 10k run, shrunk. A node deletes an item
/// that another node updated offline (that node will restore it: node
/// wins); a node of the other user, which never saw the item, inserts a
/// new item under the next key it knows: the deleted item's. Unless the
/// server re-keys every new key that is not above the greatest the
/// table held (§19.7), the restore's `i` finds its key taken and is
/// refused for ever (`integrity_violation`).
#[test]
fn a_restored_row_keeps_its_key_when_another_scope_inserts_after_its_delete() {
    replay(
        r#"{"users":2,"nodes":[1,0,0],"tags":1,"lists":[{"owner":1,"tag":null,"items":[0]},{"owner":1,"tag":null,"items":[0,0,0]},{"owner":2,"tag":null,"items":[0,0,0]},{"owner":2,"tag":null,"items":[0]}],"steps":[{"server":{"insert_list":{"owner":0,"items":[0,0]}}},{"edit":{"node":1,"edit":{"update_item":{"item":3192}}}},{"edit":{"node":2,"edit":{"delete_item":{"item":0}}}},{"edit":{"node":0,"edit":{"insert_item":{"list":0}}}},{"sync":{"node":2}}]}"#,
        Keys::Shared,
    );
}
