//! Playing wire vectors against a server's base URL, as any node would
//! drive it: the runner registers the vector's nodes, signs requests itself
//! (spec §8), and checks each answer (`answer`); where a step says so, it
//! observes the server before and after the request (`client`) to check
//! that nothing changed.

use super::answer::{check, learned_version, Filled, StepFailure};
use super::client::Client;
use super::http::Http;
use super::request::build;
use super::session::{now, Session};
use super::steps::{Step, WireVector};
use crate::report::Verdict;
use crate::schemas::SchemaSet;
use crate::vectors::{Kind, Vector};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// The server under test.
#[derive(Clone)]
pub struct Target {
    /// The base URL, without a trailing `/`.
    pub base: String,
    /// The registration token, unless the server has open registration.
    pub token: Option<String>,
    /// The capabilities vectors may require (`hooks`, `trim`,
    /// `token_registration`).
    pub capabilities: BTreeSet<String>,
    /// The server itself, when the runner started it (for `trim`).
    pub control: Option<dbsync_server::Server>,
}

/// Runs wire vectors against one server.
pub struct WireRunner {
    target: Target,
    client: Client,
    schemas: SchemaSet,
    last_ms: u128,
}

impl WireRunner {
    pub fn new(target: Target) -> Result<WireRunner, String> {
        Ok(WireRunner {
            client: Client {
                http: Http::new(Duration::from_secs(30)),
                base: target.base.clone(),
                token: target.token.clone(),
            },
            target,
            schemas: SchemaSet::load()?,
            last_ms: 0,
        })
    }

    /// Runs every wire vector of `vectors` (others are left out), in order.
    pub async fn run(&mut self, vectors: &[Vector]) -> Vec<Verdict> {
        let mut out = Vec::new();
        for v in vectors.iter().filter(|v| v.kind() == Kind::Wire) {
            out.push(self.run_one(v).await);
        }
        out
    }

    /// Runs one wire vector.
    pub async fn run_one(&mut self, v: &Vector) -> Verdict {
        if let Some(missing) = v
            .header
            .requires
            .iter()
            .find(|c| !self.target.capabilities.contains(*c))
        {
            return Verdict::skipped(v, format!("needs the capability {missing:?}"));
        }
        let steps = json!({
            "nodes": v.json.get("nodes").cloned().unwrap_or(json!([])),
            "steps": v.json.get("steps").cloned().unwrap_or(json!([])),
        });
        let wire: WireVector = match serde_json::from_value(steps) {
            Ok(w) => w,
            Err(e) => return Verdict::failed(v, format!("not a wire vector: {e}"), None, None),
        };
        // A millisecond tag unique to this vector: fresh row ids and names.
        let ms = now().as_millis().max(self.last_ms + 1);
        self.last_ms = ms;
        let mut session = Session::new(ms, self.target.token.clone().unwrap_or_default());
        for name in &wire.nodes {
            match self.client.register(&mut session).await {
                Ok(c) => session.add_node(name, c),
                Err(e) => {
                    let why = format!("setup: registering node {name}: {e}");
                    return Verdict::failed(v, why, None, None);
                }
            }
        }
        for (i, step) in wire.steps.iter().enumerate() {
            if let Err(f) = self.step(&mut session, step).await {
                let title = step.title.as_deref().unwrap_or("");
                let why = format!("step {} {title}: {}", i + 1, f.reason);
                return Verdict::failed(v, why, f.expected, f.actual);
            }
        }
        Verdict::passed(v)
    }

    async fn control(&self, step: &Step) -> Result<(), StepFailure> {
        let Some(trim) = step.control.as_ref().and_then(|c| c.trim) else {
            return Err("an unknown control".to_string().into());
        };
        let server = self
            .target
            .control
            .as_ref()
            .ok_or("the runner has no control over this server".to_string())?;
        let at = (now().as_secs() as i64 + trim.now_offset).max(0) as u64;
        server
            .trim(at, trim.stale_after)
            .await
            .map_err(|r| format!("trim failed: {}: {}", r.code, r.message))?;
        Ok(())
    }

    async fn step(&mut self, s: &mut Session, step: &Step) -> Result<(), StepFailure> {
        if step.control.is_some() {
            return self.control(step).await;
        }
        let path = s.vars.text(step.path.as_deref().unwrap_or("/"))?;
        let expect = step
            .expect
            .as_ref()
            .ok_or("a step without `expect`".to_string())?;
        // Expectations are filled before the request: `$latest` is the
        // latest version as it stands when the request is sent.
        let want = Filled {
            expect,
            details: expect
                .details
                .as_ref()
                .map(|d| s.vars.fill(d))
                .transpose()?,
            body: expect.body.as_ref().map(|b| s.vars.fill(b)).transpose()?,
        };
        let before = match expect.unchanged {
            true => Some(self.client.observe(s).await.map_err(observing)?),
            false => None,
        };
        let out = build(s, step, &path)?;
        let reply = self
            .client
            .http
            .send(&out.method, &self.client.url(&path), &out.headers, out.body)
            .await?;
        let json = check(&self.schemas, &path, &want, &reply)?;
        if reply.status == 200 {
            if let Some(v) = learned_version(&path, &json) {
                s.learn_latest(v);
            }
        }
        if let Some(before) = before {
            let after = self.client.observe(s).await.map_err(observing)?;
            if after != before {
                return Err(StepFailure {
                    reason: "the request was rejected but the server's state changed".into(),
                    expected: Some(before),
                    actual: Some(after),
                });
            }
        }
        Ok(())
    }
}

fn observing(e: String) -> String {
    format!("observing the server: {e}")
}
