//! Pull (spec §11): the transfer fetched page by page, merged (§12) in
//! steps that each end on a version boundary, so that memory does not
//! grow with the transfer (§11.6).

use crate::error::ClientError;
use crate::node::{page_with_retries, Node};
use crate::progress::Procedure;
use crate::transport::now;
use dbsync_core::merge::{Resolution, UniqueCollision};
use dbsync_core::protocol::{PullRequest, PullResponse};
use dbsync_sqlite::node::{self as store, MergeReport, StagedPull};

/// How many pulled ops a node gathers before it merges the versions
/// complete so far as one step (spec §11.6). A single version with more
/// ops is merged whole.
pub const STEP_OPS: usize = 20_000;

/// How many times one pull settles unique collisions through the policy
/// and pulls again before it leaves the rest to the application.
const COLLISION_ROUNDS: usize = 3;

impl Node {
    /// How many pulled ops gather before the versions complete so far are
    /// merged as one step (spec §11.6); default 20,000. Lower bounds
    /// memory on small devices; a single version is never split.
    pub fn with_pull_step(mut self, ops: usize) -> Node {
        self.pull_step_ops = ops.max(1);
        self
    }

    /// Pulls every version the node lacks, page by page, and merges them:
    /// the versions complete so far each time [`Node::with_pull_step`]
    /// ops have gathered, the rest after the last page, each step in one
    /// transaction (spec §11, §12).
    ///
    #[doc = include_str!("../doc/pull.md")]
    pub async fn pull(&self) -> Result<MergeReport, ClientError> {
        for _ in 0..COLLISION_ROUNDS {
            match self.pull_settled().await {
                Err(ClientError::UniqueCollisions(c)) => {
                    if !self.settle_collisions(&c).await? {
                        return Err(ClientError::UniqueCollisions(c));
                    }
                }
                pulled => return pulled,
            }
        }
        self.pull_settled().await
    }

    async fn pull_settled(&self) -> Result<MergeReport, ClientError> {
        match self.pull_once().await {
            // §11.5: a copy of the unanswered push may yet be applied with
            // its inserts re-keyed; its answer settles it, then the pull
            // runs again.
            Err(ClientError::PushUnsettled) => {
                self.settle_outstanding_push().await?;
                self.pull_once().await
            }
            pulled => pulled,
        }
    }

    /// Asks the policy how to settle each unique collision (spec
    /// §12.2.4). When it settles every one, applies them and says so; the
    /// merge changed nothing, so the pull then runs again. Otherwise
    /// changes nothing: the application decides.
    async fn settle_collisions(&self, collisions: &[UniqueCollision]) -> Result<bool, ClientError> {
        let choices: Option<Vec<Resolution>> = collisions
            .iter()
            .map(|c| self.policy.collision(c))
            .collect();
        let Some(choices) = choices else {
            return Ok(false);
        };
        for (c, choice) in collisions.iter().zip(choices) {
            tracing::debug!(table = %c.table, holder = %c.holder_row_id, ?choice, "policy settles a unique collision");
            self.resolve(&c.table, c.holder_row_id, choice).await?;
        }
        Ok(true)
    }

    async fn pull_once(&self) -> Result<MergeReport, ClientError> {
        let (transport, signer, st) = self.connect().await?;
        // §11.2: pending inserts name rows the transfer brings anyway.
        let pending = self.with_db(|c, _| Ok(store::pending_changes(c)?)).await?;
        let mut staged = StagedPull::default();
        let mut report: Option<MergeReport> = None;
        let mut cursor = None;
        loop {
            let req = PullRequest {
                app_data: self.app_data.clone(),
                ..PullRequest::page(&self.fingerprint, st.last_version, &pending, cursor)
            };
            let page: PullResponse =
                page_with_retries(&transport, "/v1/pull", &req, &signer).await?;
            cursor = page.next_cursor.clone();
            let total = page.target_version.saturating_sub(st.last_version);
            staged.add(page);
            let done = staged
                .versions
                .last()
                .map_or(0, |v| v.version.saturating_sub(st.last_version));
            self.report(Procedure::Pull, done, Some(total));
            if cursor.is_none() {
                break;
            }
            if staged.ops.len() >= self.pull_step_ops {
                if let Some(step) = staged.split_listed() {
                    let merged = self.merge(step).await?;
                    report = Some(joined(report, merged));
                }
            }
        }
        let merged = self.merge(staged.last_step()).await?;
        Ok(joined(report, merged))
    }

    /// Merges one step of a pull in one transaction.
    async fn merge(&self, step: StagedPull) -> Result<MergeReport, ClientError> {
        let policy = self.policy.clone();
        self.with_db(move |c, schema| Ok(store::merge(c, schema, policy.as_ref(), step, now())?))
            .await
    }
}

/// The report of a pull merged in steps: every step's, in order.
fn joined(earlier: Option<MergeReport>, later: MergeReport) -> MergeReport {
    let Some(mut all) = earlier else {
        return later;
    };
    all.own_versions.extend(later.own_versions);
    all.ops_merged += later.ops_merged;
    all.conflicts.extend(later.conflicts);
    all.version = later.version;
    all.steps += later.steps;
    all
}
