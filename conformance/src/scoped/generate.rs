//! The generator of scoped histories (proptest strategies). Edits,
//! syncs and server writes are weighted so that lists move while nodes
//! hold pending work on them, and every node syncs a few times.

use super::case::{Case, Edit, SeedList, ServerWrite, Step};
use proptest::prelude::*;

fn seed_list() -> impl Strategy<Value = SeedList> {
    (
        0u8..3,
        prop::option::weighted(0.5, 0u8..3),
        prop::collection::vec(0u8..3, 0..4),
    )
        .prop_map(|(owner, tag, items)| SeedList { owner, tag, items })
}

fn edit() -> impl Strategy<Value = Edit> {
    let row = any::<u16>();
    prop_oneof![
        2 => prop::option::weighted(0.6, row).prop_map(|tag| Edit::InsertList { tag }),
        4 => row.prop_map(|list| Edit::InsertItem { list }),
        3 => row.prop_map(|item| Edit::InsertNote { item }),
        2 => row.prop_map(|list| Edit::UpdateList { list }),
        4 => row.prop_map(|item| Edit::UpdateItem { item }),
        2 => row.prop_map(|note| Edit::UpdateNote { note }),
        2 => row.prop_map(|item| Edit::DeleteItem { item }),
    ]
}

fn server_write() -> impl Strategy<Value = ServerWrite> {
    let row = any::<u16>();
    prop_oneof![
        4 => (row, 0u8..3).prop_map(|(list, to)| ServerWrite::MoveList { list, to }),
        2 => (0u8..3, prop::collection::vec(0u8..3, 0..3))
            .prop_map(|(owner, items)| ServerWrite::InsertList { owner, items }),
        2 => row.prop_map(|item| ServerWrite::UpdateItem { item }),
        1 => row.prop_map(|item| ServerWrite::DeleteItem { item }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let node = 0u8..4;
    prop_oneof![
        10 => (node.clone(), edit()).prop_map(|(node, edit)| Step::Edit { node, edit }),
        4 => server_write().prop_map(Step::Server),
        5 => node.clone().prop_map(|node| Step::Sync { node }),
        2 => node.prop_map(|node| Step::Pull { node }),
    ]
}

/// 10–40 steps. Each is drawn as an option that is almost always
/// present: shrinking takes a step away by making it absent, so that a
/// shrunk history may have fewer than 10 steps.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(prop::option::weighted(0.999, step()), 10..=40)
        .prop_map(|steps| steps.into_iter().flatten().collect())
}

/// A whole scoped history: 2–3 users, 2–4 nodes, 1–3 tags, 0–5 lists on
/// the server at start, 10–40 steps.
pub fn case() -> BoxedStrategy<Case> {
    (
        2u8..=3,
        prop::collection::vec(0u8..3, 2..=4),
        1u8..=3,
        prop::collection::vec(seed_list(), 0..=5),
        steps(),
    )
        .prop_map(|(users, nodes, tags, lists, steps)| Case {
            users,
            nodes,
            tags,
            lists,
            steps,
        })
        .boxed()
}
