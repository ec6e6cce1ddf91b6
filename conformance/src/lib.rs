//! The dbsync conformance kit (spec §18).
//!
//! - [`schemas`]: the JSON Schemas of `schemas/`, embedded, with a
//!   validator per message;
//! - [`spec_examples`]: the executed examples of `spec/` (spec §1.4);
//! - [`typed`]: the bridge from a schema name to the reference's Rust type.

pub mod schemas;
pub mod spec_examples;
pub mod typed;
