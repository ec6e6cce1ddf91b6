//! The `dbsync` binary run from a test: its output, or its stdout when it
//! must succeed.

#![allow(dead_code, reason = "each test file uses some of these")]

use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dbsync");

/// Runs `dbsync ARGS` to the end.
pub fn dbsync(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("dbsync runs")
}

/// Runs `dbsync ARGS`, which must succeed, and returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = dbsync(args);
    assert!(
        out.status.success(),
        "dbsync {args:?} failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
