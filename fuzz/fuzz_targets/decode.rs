//! The `decode` target: its body is `dbsync_fuzz_bodies::decode::run`, which
//! `reference/dbsync-fuzz-bodies/tests/replay.rs` also runs on every
//! committed input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dbsync_fuzz_bodies::decode::run(data));
