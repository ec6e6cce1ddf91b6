//! The proptest strategies of a history: a schema of 2–4 tables in a
//! foreign-key chain, 2–5 nodes (some merging with `server_wins`), and the
//! steps they take. Weights keep unique collisions and faults reachable
//! but not dominant.

use dbsync_conformance::history::{
    Case, Change, Edit, PullFault, PushFault, Step, TableGen, UniqueVal, Vals,
};
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
    )
        .prop_map(|(parents, code, pair)| TableGen {
            parents,
            code,
            pair,
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
    )
        .prop_map(|(label, code, pair)| Vals { label, code, pair })
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

fn step(tables: u8) -> impl Strategy<Value = Step> {
    let node = 0u8..5;
    let push_fault = prop_oneof![
        6 => Just(PushFault::None),
        1 => Just(PushFault::RequestLost),
        2 => Just(PushFault::ResponseLost),
    ];
    let pull_fault = prop_oneof![
        7 => Just(PullFault::None),
        2 => (0u16..40).prop_map(|after| PullFault::CrashMidMerge { after }),
        1 => Just(PullFault::CrashAtCommit),
    ];
    prop_oneof![
        12 => (node.clone(), edit(tables)).prop_map(|(node, edit)| Step::Write { node, edit }),
        3 => (node.clone(), push_fault).prop_map(|(node, fault)| Step::Push { node, fault }),
        3 => (node.clone(), pull_fault).prop_map(|(node, fault)| Step::Pull { node, fault }),
        4 => node.clone().prop_map(|node| Step::Sync { node }),
        1 => prop_oneof![
            Just(Step::RestartServer),
            node.prop_map(|node| Step::RestartNode { node }),
        ],
    ]
}

/// A whole history.
pub fn case() -> impl Strategy<Value = Case> {
    (2u8..=4)
        .prop_flat_map(|n| {
            let tables: Vec<BoxedStrategy<TableGen>> = (0..n).map(table_gen).collect();
            (
                tables,
                2u8..=5,
                prop_oneof![Just(1u16), Just(3), Just(10_000)],
                // Which nodes merge with server_wins: none in two cases
                // of three.
                prop_oneof![2 => Just(0u8), 1 => 0u8..32],
                prop::collection::vec(step(n), 4..48),
            )
        })
        .prop_map(|(tables, nodes, page_ops, server_wins, steps)| Case {
            tables,
            nodes,
            page_ops,
            server_wins: (0..nodes).filter(|i| server_wins & (1 << i) != 0).collect(),
            steps,
        })
}
