//! The node's choices about conflicts: the resolution policy it stores
//! (spec §12.4) and the settling of a unique collision (spec §12.2.4).

use crate::error::ClientError;
use crate::node::Node;
use dbsync_core::merge::{NodeWins, Policy, Resolution, ServerWins};
use dbsync_core::RowId;
use dbsync_sqlite::node::{self as store, Resolved};
use rusqlite::Connection;
use std::sync::Arc;

/// One of the two policies the spec defines, by its name in the conflict
/// log (`node_wins`, `server_wins`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecPolicy {
    /// The node's work wins (spec §12.4.1), the default.
    NodeWins,
    /// The server's state wins (spec §12.4.2).
    ServerWins,
}

impl SpecPolicy {
    /// The policy of `name`, if the spec defines one of that name.
    pub fn named(name: &str) -> Option<SpecPolicy> {
        match name {
            "node_wins" => Some(SpecPolicy::NodeWins),
            "server_wins" => Some(SpecPolicy::ServerWins),
            _ => None,
        }
    }

    /// The policy's name, as the conflict log writes it.
    pub fn name(self) -> &'static str {
        match self {
            SpecPolicy::NodeWins => "node_wins",
            SpecPolicy::ServerWins => "server_wins",
        }
    }

    /// The policy, for [`Node::with_policy`].
    pub fn policy(self) -> Arc<dyn Policy + Send + Sync> {
        match self {
            SpecPolicy::NodeWins => Arc::new(NodeWins),
            SpecPolicy::ServerWins => Arc::new(ServerWins),
        }
    }
}

/// The policy stored in the node's database, or node wins when none is.
pub(crate) fn stored_policy(conn: &Connection) -> Result<SpecPolicy, ClientError> {
    Ok(store::stored_policy(conn)?
        .as_deref()
        .and_then(SpecPolicy::named)
        .unwrap_or(SpecPolicy::NodeWins))
}

impl Node {
    /// Stores `policy` in the node's database: every later
    /// [`Node::open_tracked`] of it merges under it (until another is
    /// stored), and so does this node from now on.
    pub async fn store_policy(self, policy: SpecPolicy) -> Result<Node, ClientError> {
        self.with_db(move |c, _| Ok(store::store_policy(c, policy.name())?))
            .await?;
        Ok(self.with_policy(policy.policy()))
    }

    /// Settles a unique collision (spec §12.2.4) by changing the holder,
    /// `table` row `holder` (the `holder_row_id` of
    /// [`ClientError::UniqueCollisions`]): [`Resolution::Rename`] gives it
    /// other values, [`Resolution::KeepRemote`] deletes it when the server
    /// never had it. The change is local work like any other; the next
    /// pull merges. A resolution that cannot apply changes nothing and
    /// fails with [`ClientError::ResolutionRefused`].
    ///
    #[doc = include_str!("../doc/resolve.md")]
    pub async fn resolve(
        &self,
        table: &str,
        holder: RowId,
        resolution: Resolution,
    ) -> Result<Resolved, ClientError> {
        let table = table.to_owned();
        self.with_db(move |c, schema| Ok(store::resolve(c, schema, &table, holder, &resolution)?))
            .await
    }
}
