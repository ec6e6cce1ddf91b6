//! Wire vectors: HTTP exchanges with a server given its base URL
//! (spec §8–§16), and the in-process reference server to run them on.
//!
//! - `steps`: the vector's JSON; `template`: its placeholders;
//! - `session`: one vector's run; `request`: a step's bytes and headers;
//! - `sign`: the MAC of spec §8.3; `http`: the transport;
//! - `client`: the runner as a node (register, sign, observe);
//! - `answer`: judging an answer; `run`: the runner;
//! - `reference`: the reference server in process, plain or scoped
//!   (spec §19, the kit's `scopes/example.json`).

mod answer;
mod client;
pub mod http;
pub mod reference;
mod request;
pub mod run;
mod session;
pub mod sign;
pub mod steps;
pub mod template;

pub use client::EXAMPLE_FINGERPRINT;
pub use reference::{example_scopes_path, Reference, StoreKind, EXAMPLE_SCOPES};
pub use run::{DirectWrites, Target, WireRunner};
