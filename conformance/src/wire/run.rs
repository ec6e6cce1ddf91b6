//! Playing wire vectors against a server's base URL, as any node would
//! drive it: the runner registers the vector's nodes, signs requests itself
//! (spec §8), and checks each answer (`answer`); where a step says so, it
//! observes the server before and after the request (`client`) to check
//! that nothing changed.
//!
//! A runner may drive two servers: the one under test, and a *scoped* one
//! (spec §19: the same application run with the kit's scopes file,
//! `conformance/scopes/example.json`), on which it plays the vectors that
//! require `scopes`.

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
use std::sync::Arc;
use std::time::Duration;

/// Writes to a server's database directly, as a program beside the server
/// would (spec §6.1): the control `sql` of a wire vector.
pub type DirectWrites = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The server under test.
#[derive(Clone)]
pub struct Target {
    /// The base URL, without a trailing `/`.
    pub base: String,
    /// The registration token, unless the server has open registration.
    pub token: Option<String>,
    /// The capabilities vectors may require (`hooks`, `trim`,
    /// `token_registration`, `scopes`; `direct_writes` comes with
    /// [`WireRunner::with_direct_writes`]).
    pub capabilities: BTreeSet<String>,
    /// The server itself, when the runner started it (for `trim`).
    pub control: Option<dbsync_server::Server>,
}

/// One server the runner plays vectors on.
struct Lane {
    target: Target,
    client: Client,
    sql: Option<DirectWrites>,
}

impl Lane {
    fn new(mut target: Target, sql: Option<DirectWrites>) -> Lane {
        if sql.is_some() {
            target.capabilities.insert("direct_writes".into());
        }
        Lane {
            client: Client {
                http: Http::new(Duration::from_secs(30)),
                base: target.base.clone(),
                token: target.token.clone(),
            },
            target,
            sql,
        }
    }
}

/// Runs wire vectors against a server, and those requiring `scopes`
/// against a scoped server when it has one.
pub struct WireRunner {
    plain: Lane,
    scoped: Option<Lane>,
    /// Why there is no scoped server, when the runner knows better than
    /// "none was given".
    no_scoped: Option<String>,
    schemas: SchemaSet,
    last_ms: u128,
}

impl WireRunner {
    pub fn new(target: Target) -> Result<WireRunner, String> {
        Ok(WireRunner {
            plain: Lane::new(target, None),
            scoped: None,
            no_scoped: None,
            schemas: SchemaSet::load()?,
            last_ms: 0,
        })
    }

    /// The runner writes the server's database directly with `sql` (the
    /// capability `direct_writes`).
    pub fn with_direct_writes(mut self, sql: DirectWrites) -> WireRunner {
        self.plain = Lane::new(self.plain.target, Some(sql));
        self
    }

    /// Plays the vectors requiring `scopes` against `target`, a server run
    /// with the kit's scopes file and registration by token without a
    /// register hook; `sql` writes its database directly, if the runner
    /// can.
    pub fn with_scoped(mut self, mut target: Target, sql: Option<DirectWrites>) -> WireRunner {
        target.capabilities.insert("scopes".into());
        self.scoped = Some(Lane::new(target, sql));
        self
    }

    /// There is no scoped server, for this reason: the vectors requiring
    /// `scopes` are skipped with it.
    pub fn without_scoped(mut self, why: impl Into<String>) -> WireRunner {
        self.scoped = None;
        self.no_scoped = Some(why.into());
        self
    }

    /// A runner for the reference servers the kit starts in process: every
    /// vector runs, the scoped ones on `scoped`.
    pub fn for_reference(
        plain: &super::Reference,
        scoped: &super::Reference,
    ) -> Result<WireRunner, String> {
        Ok(WireRunner::new(plain.target.clone())?
            .with_direct_writes(plain.direct_writes())
            .with_scoped(scoped.target.clone(), Some(scoped.direct_writes())))
    }

    /// The server a vector plays on, or why none.
    fn lane_for(&self, v: &Vector) -> Result<&Lane, String> {
        if !v.header.requires.iter().any(|c| c == "scopes") {
            return Ok(&self.plain);
        }
        match &self.scoped {
            Some(lane) => Ok(lane),
            None if self.plain.target.capabilities.contains("scopes") => Ok(&self.plain),
            None if self.no_scoped.is_some() => Err(format!(
                "needs the capability \"scopes\": {}",
                self.no_scoped.as_deref().unwrap_or_default()
            )),
            None => Err("needs the capability \"scopes\": a server run with \
                         conformance/scopes/example.json and a registration token \
                         (pass --scoped-url, see conformance/README.md)"
                .into()),
        }
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
        // A millisecond tag unique to this vector: fresh row ids and names.
        let ms = now().as_millis().max(self.last_ms + 1);
        self.last_ms = ms;
        let lane = match self.lane_for(v) {
            Ok(lane) => lane,
            Err(why) => return Verdict::skipped(v, why),
        };
        if let Some(missing) = v
            .header
            .requires
            .iter()
            .find(|c| !lane.target.capabilities.contains(*c))
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
        let mut session = Session::new(ms, lane.target.token.clone().unwrap_or_default());
        for node in &wire.nodes {
            let name = node.name();
            let user = match node.user().map(|u| session.vars.text(u)).transpose() {
                Ok(u) => u,
                Err(e) => return Verdict::failed(v, format!("node {name}: {e}"), None, None),
            };
            match lane.client.register(&mut session, user.as_deref()).await {
                Ok(c) => {
                    session.add_node(name, c);
                    if user.is_some() {
                        session.users.insert(name.to_string());
                    }
                }
                Err(e) => {
                    let why = format!("setup: registering node {name}: {e}");
                    return Verdict::failed(v, why, None, None);
                }
            }
        }
        for (i, step) in wire.steps.iter().enumerate() {
            if let Err(f) = self.step(lane, &mut session, step).await {
                let title = step.title.as_deref().unwrap_or("");
                let why = format!("step {} {title}: {}", i + 1, f.reason);
                return Verdict::failed(v, why, f.expected, f.actual);
            }
        }
        Verdict::passed(v)
    }

    async fn control(&self, lane: &Lane, s: &Session, step: &Step) -> Result<(), StepFailure> {
        if let Some(sql) = step.control.as_ref().and_then(|c| c.sql.as_ref()) {
            let run = lane
                .sql
                .clone()
                .ok_or("the runner cannot write this server's database".to_string())?;
            let sql = s.vars.text(sql)?;
            return tokio::task::spawn_blocking(move || run(&sql))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("the direct write failed: {e}").into());
        }
        let Some(trim) = step.control.as_ref().and_then(|c| c.trim) else {
            return Err("an unknown control".to_string().into());
        };
        let server = lane
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

    async fn step(&self, lane: &Lane, s: &mut Session, step: &Step) -> Result<(), StepFailure> {
        if step.control.is_some() {
            return self.control(lane, s, step).await;
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
            select: expect
                .select
                .iter()
                .map(|(p, v)| Ok((p.clone(), s.vars.fill(v)?)))
                .collect::<Result<_, String>>()?,
        };
        let client = &lane.client;
        let before = match expect.unchanged {
            true => Some(client.observe(s).await.map_err(observing)?),
            false => None,
        };
        let out = build(s, step, &path)?;
        let reply = client
            .http
            .send(&out.method, &client.url(&path), &out.headers, out.body)
            .await?;
        let json = check(&self.schemas, &path, &want, &reply)?;
        if reply.status == 200 {
            if let Some(v) = learned_version(&path, &json) {
                s.learn_latest(v);
            }
        }
        if let Some(before) = before {
            let after = client.observe(s).await.map_err(observing)?;
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
