//! Scopes (spec §19): which rows each node may read and write.
//!
//! - [`rules`]: the operator's rules and their validation (§19.2, §19.3);
//! - [`keys`]: the key of a row and the keys of a node (§19.1, §19.4);
//! - [`record`]: the scope index, kept in the transaction of each
//!   version, and scope moves (§19.4);
//! - [`backfill`]: the index made whole when a scoped server starts;
//! - [`claims`]: a node's claims changed, its rows moved (§19.11);
//! - [`view`]: what a pull, a repair or a query shows a node (§19.5,
//!   §19.8);
//! - [`write`](mod@write): check P6a, a push inside the write scope (§19.7).
//!
//! Architecture invariant: a scoped server sends a node only rows whose
//! current key is one of the node's keys; every read path (pull, repair,
//! query) goes through [`view`].

pub mod backfill;
pub mod claims;
pub mod keys;
pub mod record;
pub mod rules;
pub mod view;
pub mod write;

#[cfg(test)]
mod tests;

pub use keys::node_keys;
pub use rules::{ReadRule, Scopes, ScopesError, TableScope};
