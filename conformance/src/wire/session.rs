//! The state of one wire vector's run: its placeholders' values, the
//! credentials of its nodes and of the observer, and fresh nonces.

use super::template::Vars;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time since the Unix epoch.
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A registered node's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: u64,
    pub secret: String,
}

pub struct Session {
    pub vars: Vars,
    pub nodes: BTreeMap<String, Credentials>,
    /// The runner's own node, registered on first use, that observes the
    /// server before and after a request that must change nothing.
    pub observer: Option<Credentials>,
    /// The nodes registered with a user (spec §19.1): on a scoped server
    /// they observe too, each reading its own rows.
    pub users: BTreeSet<String>,
    nonces: u64,
}

impl Session {
    /// A session whose row ids and tags come from `ms` (unique per vector).
    pub fn new(ms: u128, token: String) -> Session {
        Session {
            vars: Vars {
                latest: 0,
                id_base: (ms as i64) * 1000,
                run: ms.to_string(),
                token,
                nodes: BTreeMap::new(),
            },
            nodes: BTreeMap::new(),
            observer: None,
            users: BTreeSet::new(),
            nonces: 0,
        }
    }

    /// A nonce never used before (spec §8.2): 16 to 64 characters.
    pub fn nonce(&mut self) -> String {
        self.nonces += 1;
        format!("k{}x{:06}", self.vars.run, self.nonces)
    }

    pub fn node(&self, name: &str) -> Result<&Credentials, String> {
        self.nodes.get(name).ok_or_else(|| {
            format!("the vector names node {name:?} but does not list it in `nodes`")
        })
    }

    pub fn add_node(&mut self, name: &str, c: Credentials) {
        self.vars.nodes.insert(name.to_string(), c.id);
        self.nodes.insert(name.to_string(), c);
    }

    /// Learns the server's latest version from an answer.
    pub fn learn_latest(&mut self, version: u64) {
        self.vars.latest = self.vars.latest.max(version);
    }
}
