//! The generator of histories (proptest strategies): a schema of 2–4
//! tables in a foreign-key chain, 2–5 nodes (some merging with
//! `server_wins`), and the steps they take. Weights keep unique
//! collisions and faults reachable but not dominant. The property harness
//! and `dbsync-conformance history` draw their cases from here, so one
//! seed names one case in both.

use super::case::{Case, Change, Edit, PullFault, PushFault, Step, TableGen, UniqueVal, Vals};
use proptest::prelude::*;

fn table_gen(index: u8) -> BoxedStrategy<TableGen> {
    let parents = if index == 0 {
        Just(vec![]).boxed()
    } else {
        // The chain: each table references the one before it; sometimes
        // also an earlier one. Nullable or not.
        (
            any::<bool>(),
            prop::option::weighted(0.3, (0..index, Just(true))),
        )
            .prop_map(move |(nullable, extra)| {
                let mut p = vec![(index - 1, nullable)];
                p.extend(extra);
                p
            })
            .boxed()
    };
    (
        parents,
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.4),
        prop::bool::weighted(0.35),
    )
        .prop_map(|(parents, code, pair, text_key)| TableGen {
            parents,
            code,
            pair,
            text_key,
        })
        .boxed()
}

fn unique_val() -> impl Strategy<Value = UniqueVal> {
    prop_oneof![
        4 => Just(UniqueVal::Fresh),
        1 => (0u8..2).prop_map(UniqueVal::Shared),
    ]
}

fn vals() -> impl Strategy<Value = Vals> {
    (
        0u16..50,
        prop::option::weighted(0.8, unique_val()),
        prop::option::weighted(0.8, unique_val()),
        unique_val(),
    )
        .prop_map(|(label, code, pair, key)| Vals {
            label,
            code,
            pair,
            key: Some(key),
        })
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (0u16..50).prop_map(Change::Label),
        2 => prop::option::weighted(0.9, unique_val()).prop_map(Change::Code),
        1 => prop::option::weighted(0.9, unique_val()).prop_map(Change::Pair),
        2 => (0u8..2, prop::option::weighted(0.8, any::<u16>()))
            .prop_map(|(fk, to)| Change::Reparent { fk, to }),
    ]
}

fn edit(tables: u8) -> impl Strategy<Value = Edit> {
    let t = 0..tables;
    prop_oneof![
        8 => (t.clone(), prop::collection::vec(prop::option::weighted(0.85, any::<u16>()), 2), vals())
            .prop_map(|(table, parents, vals)| Edit::Insert { table, parents, vals }),
        5 => (t.clone(), any::<u16>(), change())
            .prop_map(|(table, row, change)| Edit::Update { table, row, change }),
        2 => (t.clone(), prop::collection::vec(any::<u16>(), 2..=3), any::<bool>())
            .prop_map(|(table, rows, pair)| Edit::Swap { table, rows, pair }),
        2 => (t.clone(), any::<u16>()).prop_map(|(table, row)| Edit::Delete { table, row }),
        2 => (t, any::<u16>()).prop_map(|(table, row)| Edit::DeleteParent { table, row }),
    ]
}

fn push_fault() -> impl Strategy<Value = PushFault> {
    prop_oneof![
        6 => Just(PushFault::None),
        1 => Just(PushFault::RequestLost),
        2 => Just(PushFault::ResponseLost),
        1 => Just(PushFault::Duplicated),
        1 => Just(PushFault::BodyCut),
        1 => Just(PushFault::Delayed),
    ]
}

fn pull_fault() -> impl Strategy<Value = PullFault> {
    prop_oneof![
        7 => Just(PullFault::None),
        2 => (0u16..40).prop_map(|after| PullFault::CrashMidMerge { after }),
        1 => Just(PullFault::CrashAtCommit),
        1 => Just(PullFault::PageLost),
    ]
}

fn step(tables: u8) -> impl Strategy<Value = Step> {
    let node = 0u8..5;
    prop_oneof![
        12 => (node.clone(), edit(tables)).prop_map(|(node, edit)| Step::Write { node, edit }),
        3 => (node.clone(), push_fault()).prop_map(|(node, fault)| Step::Push { node, fault }),
        3 => (node.clone(), pull_fault()).prop_map(|(node, fault)| Step::Pull { node, fault }),
        4 => node.clone().prop_map(|node| Step::Sync { node }),
        1 => prop_oneof![
            Just(Step::RestartServer),
            node.prop_map(|node| Step::RestartNode { node }),
        ],
    ]
}

/// The nodes, page size, `server_wins` nodes and steps of a case over
/// `tables`.
fn case_over(tables: Vec<TableGen>) -> impl Strategy<Value = Case> {
    let n = tables.len() as u8;
    (
        Just(tables),
        2u8..=5,
        prop_oneof![Just(1u16), Just(3), Just(10_000)],
        // Which nodes merge with server_wins: none in two cases of three.
        prop_oneof![2 => Just(0u8), 1 => 0u8..32],
        prop::collection::vec(step(n), 4..48),
        // Keys SQLite reuses (spec §2.2.1) in one case of three; drawn last,
        // so that a seed draws the same tables and steps as before.
        prop_oneof![2 => Just(false), 1 => Just(true)],
    )
        .prop_map(
            |(tables, nodes, page_ops, server_wins, steps, reused_keys)| Case {
                tables,
                nodes,
                page_ops,
                server_wins: (0..nodes).filter(|i| server_wins & (1 << i) != 0).collect(),
                steps,
                reused_keys,
            },
        )
}

/// A whole history over a generated schema.
pub fn case() -> BoxedStrategy<Case> {
    (2u8..=4)
        .prop_flat_map(|n| (0..n).map(table_gen).collect::<Vec<_>>())
        .prop_flat_map(case_over)
        .boxed()
}

/// The fixed tables of histories against a server the runner cannot
/// give a schema to (`dbsync-conformance history --server URL`): every
/// shape the generator makes, in four tables. `t0` has both unique
/// constraints; `t1` references it NOT NULL; `t2` references `t1` and
/// `t0`, both nullable; `t3` references `t2` NOT NULL.
pub fn fixed_tables() -> Vec<TableGen> {
    let t = |parents: Vec<(u8, bool)>, code: bool, pair: bool| TableGen {
        parents,
        code,
        pair,
        text_key: false,
    };
    vec![
        t(vec![], true, true),
        t(vec![(0, false)], true, false),
        t(vec![(1, true), (0, true)], false, true),
        t(vec![(2, false)], true, true),
    ]
}

/// A whole history over [`fixed_tables`].
pub fn case_over_fixed_tables() -> BoxedStrategy<Case> {
    case_over(fixed_tables()).boxed()
}
