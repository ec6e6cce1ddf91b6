//! Push (spec §10): the stored push sent until an answer settles it
//! (§10.4), in parts when the pending ops need more than one request
//! (§10.1.2).

use crate::error::ClientError;
use crate::node::Node;
use crate::progress::Procedure;
use crate::report::PushOutcome;
use crate::transport::{Signer, Transport};
use dbsync_core::protocol::PushResponse;
use dbsync_core::ErrorCode;
use dbsync_sqlite::node::{self as store, OutboundPush};
use std::sync::atomic::Ordering;

/// The smallest push budget a `body_too_large` answer can lower it to.
const MIN_PUSH_BUDGET: usize = 4 << 10;

impl Node {
    /// The most bytes one push may take (spec §10.1.2): pending ops that
    /// need more go in parts, each an ordinary push. Default 8 MiB, half
    /// the default body limit; a `body_too_large` answer lowers it to half
    /// the server's limit.
    pub fn with_push_budget(self, bytes: usize) -> Node {
        self.push_budget
            .store(bytes.max(MIN_PUSH_BUDGET), Ordering::Relaxed);
        self
    }

    /// Pushes the pending ops (spec §10): in parts when they need more
    /// than the push budget (§10.1.2), each part its own version. A push
    /// whose answer was lost is sent again with the same push id and body.
    ///
    #[doc = include_str!("../doc/push.md")]
    pub async fn push(&self) -> Result<PushOutcome, ClientError> {
        let (transport, signer, _) = self.connect().await?;
        let mut outcome = PushOutcome::NothingToPush;
        loop {
            let Some(push) = self.next_push().await? else {
                return Ok(outcome);
            };
            let (ops, part) = (push.ops, push.part);
            let (version, duplicate) = match self.send(&transport, &signer, push).await {
                Err(e) if self.lowers_budget(&e) => continue,
                sent => sent?,
            };
            let before = match outcome {
                PushOutcome::Pushed { ops, .. } => ops,
                PushOutcome::NothingToPush => 0,
            };
            outcome = PushOutcome::Pushed {
                version,
                ops: before + ops,
                duplicate,
            };
            if !part {
                return Ok(outcome);
            }
        }
    }

    /// Sends the outstanding push again, once (spec §10.4.3): its answer
    /// settles it, applied or not; `pull_required` settles it as not
    /// applied. Other failures are returned.
    pub(crate) async fn settle_outstanding_push(&self) -> Result<(), ClientError> {
        let (transport, signer, _) = self.connect().await?;
        let Some(push) = self.next_push().await? else {
            return Ok(());
        };
        match self.send(&transport, &signer, push).await {
            Ok(_)
            | Err(ClientError::Rejected {
                code: ErrorCode::PullRequired,
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The stored push, or a new one (or part) of the pending ops.
    async fn next_push(&self) -> Result<Option<OutboundPush>, ClientError> {
        let fingerprint = self.fingerprint.clone();
        let app_data = self.app_data.clone();
        let budget = self.push_budget.load(Ordering::Relaxed);
        self.with_db(move |c, schema| {
            Ok(store::begin_push_within(
                c,
                schema,
                &fingerprint,
                new_push_id,
                app_data,
                budget,
            )?)
        })
        .await
    }

    /// Sends `push` and settles it by the answer (spec §10.4.3): the
    /// version it became and whether it was a duplicate.
    async fn send(
        &self,
        transport: &Transport,
        signer: &Signer,
        push: OutboundPush,
    ) -> Result<(u64, bool), ClientError> {
        let ops = push.ops as u64;
        self.report(Procedure::Push, 0, Some(ops));
        match transport
            .post::<PushResponse>("/v1/push", push.body.clone(), Some(signer))
            .await
        {
            Ok(resp) => {
                if resp.push_id != push.push_id {
                    return Err(ClientError::Protocol(
                        "the push response names another push id".into(),
                    ));
                }
                let version = resp.version;
                self.with_db(move |c, schema| {
                    Ok(store::finish_push(
                        c,
                        schema,
                        &push,
                        version,
                        &resp.rekeyed,
                    )?)
                })
                .await?;
                self.report(Procedure::Push, ops, Some(ops));
                Ok((version, resp.duplicate))
            }
            Err(e) if settles_as_not_applied(&e) => {
                self.with_db(|c, _| Ok(store::abandon_push(c)?)).await?;
                Err(e)
            }
            // Unknown whether an earlier copy was applied: keep the push and
            // retry it unchanged later (spec §10.4.3).
            Err(e) => Err(e),
        }
    }

    /// After `body_too_large` (the push was not applied, and is
    /// forgotten), lowers the budget to half the server's limit; false
    /// when it cannot go lower.
    fn lowers_budget(&self, e: &ClientError) -> bool {
        let ClientError::Rejected {
            code: ErrorCode::BodyTooLarge,
            details,
            ..
        } = e
        else {
            return false;
        };
        let budget = self.push_budget.load(Ordering::Relaxed);
        let limit = details
            .as_ref()
            .and_then(|d| d.get("limit"))
            .and_then(|l| l.as_u64())
            .map_or(budget, |l| l as usize);
        let lower = (budget / 2).min(limit / 2).max(MIN_PUSH_BUDGET);
        if lower >= budget {
            return false;
        }
        tracing::info!(
            budget,
            lower,
            "the server's body limit is lower: pushing in smaller parts"
        );
        self.push_budget.store(lower, Ordering::Relaxed);
        true
    }
}

/// Whether an answer to a push settles it as not applied (spec §10.4.3):
/// any error answer but authentication failures, timeouts and server
/// failures, whose push may have been applied by an earlier copy.
fn settles_as_not_applied(e: &ClientError) -> bool {
    match e {
        ClientError::Rejected { code, status, .. } => {
            *status < 500
                && *status != 401
                && !matches!(code, ErrorCode::RequestTimeout | ErrorCode::InternalError)
        }
        ClientError::SchemaMismatch { .. } => true,
        _ => false,
    }
}

/// A fresh push id: `p-` and 16 random bytes in hex.
fn new_push_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("randomness");
    format!("p-{}", dbsync_core::auth::hex(&b))
}
