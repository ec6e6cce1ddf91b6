//! The dbsync conformance kit (spec §18).
//!
//! - [`schemas`]: the JSON Schemas of `schemas/`, embedded, with a
//!   validator per message;
//! - [`spec_examples`]: the executed examples of `spec/` (spec §1.4);
//! - [`typed`]: the bridge from a schema name to the reference's Rust type;
//! - [`vectors`]: the test vectors of `vectors/`: their format, loading and
//!   validation;
//! - [`spec_scenarios`]: the `scenario=` blocks of the spec as vectors;
//! - [`ddl`]: SQLite tables for a schema of spec §2;
//! - [`compare`]: how an actual JSON answer is compared with an expected one;
//! - [`replica`]: SQLite replicas of a schema: create, load, dump;
//! - [`report`]: one verdict per vector, printed for people or as JSON;
//! - [`node`]: driving a node implementation through an adapter process;
//! - [`adapter`]: the reference implementation's adapter;
//! - [`wire`]: playing wire vectors against a server's base URL;
//! - [`history`]: multi-node histories on the reference, in process, with
//!   faults and invariant checks (the property harness's engine);
//! - [`play`]: the same histories through any implementation's adapter
//!   over HTTP, with a fault proxy (`dbsync-conformance history`);
//! - [`scoped`]: histories on a scoped server (spec §19), with real
//!   nodes over HTTP (the scoped property harness's engine).

pub mod adapter;
pub mod compare;
pub mod ddl;
pub mod history;
pub mod node;
pub mod play;
pub mod replica;
pub mod report;
pub mod schemas;
pub mod scoped;
pub mod spec_examples;
pub mod spec_scenarios;
pub mod typed;
pub mod vectors;
pub mod wire;
