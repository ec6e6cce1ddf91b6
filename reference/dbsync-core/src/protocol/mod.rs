//! Wire types: every message of spec §9–§14 as a serde type.
//!
//! Each type serializes to exactly the JSON its schema in `schemas/`
//! describes; `conformance/tests/spec_examples.rs` checks that every valid
//! example of the spec parses into its type and serializes back unchanged.

pub mod integer;
pub mod json;
pub mod messages;
pub mod op;
pub mod row_id;
pub mod unique;
pub mod value;

pub use messages::*;
