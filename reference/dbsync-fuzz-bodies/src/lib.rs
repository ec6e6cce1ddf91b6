//! # dbsync-fuzz-bodies
//!
//! The bodies of dbsync's fuzz targets, in the normal workspace so that
//! the same code runs under libFuzzer (the thin targets of `fuzz/`, see
//! `fuzz/README.md`) and on the stable toolchain: `tests/replay.rs` runs
//! every file of `fuzz/corpus/<target>/` and `fuzz/crashes/<target>/`
//! through its body, so every past crash stays fixed without a nightly
//! compiler.
//!
//! A body takes the raw fuzz input and panics when an invariant breaks.
//!
//! - [`decode`]: every wire type read from arbitrary bytes round-trips;
//! - [`server_request`]: the server answers any request with a status the
//!   spec allows and changes nothing unless it answers 200;
//! - [`merge_plan`]: compression and merge planning on structured inputs;
//!   every plan applies and keeps the store consistent.
//!
//! [`seeds`] builds the seed corpus from the spec's examples and the
//! conformance vectors (the `dbsync-fuzz-seeds` binary writes it).

pub mod decode;
pub mod merge_plan;
pub mod seeds;
pub mod server_request;

/// A target body: panics when the input breaks an invariant.
pub type Body = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs`.
pub const TARGETS: &[(&str, Body)] = &[
    ("decode", decode::run),
    ("server_request", server_request::run),
    ("merge_plan", merge_plan::run),
];

/// The body of the target `name`.
pub fn body(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
