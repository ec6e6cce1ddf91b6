//! A step's request as it goes on the wire: the body (templated JSON, or
//! exact text), the headers, and the authentication headers with the faults
//! the step asks for (spec §8.2, §8.3).

use super::session::{now, Session};
use super::sign::{key, signature, signed_string};
use super::steps::Step;

pub struct Outgoing {
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Builds the request of `step` to `path`.
pub fn build(s: &mut Session, step: &Step, path: &str) -> Result<Outgoing, String> {
    let method = step.method.clone().unwrap_or_else(|| "POST".into());
    let body: Vec<u8> = match (&step.raw, &step.body) {
        (Some(raw), _) => s.vars.text(raw)?.into_bytes(),
        (None, Some(b)) => s.vars.fill(b)?.to_string().into_bytes(),
        (None, None) => Vec::new(),
    };
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    for (k, v) in &step.headers {
        headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        if let Some(v) = v {
            headers.push((k.clone(), s.vars.text(v)?));
        }
    }
    if let Some(name) = &step.signer {
        headers.extend(auth_headers(s, step, name, &method, path, &body)?);
    }
    Ok(Outgoing {
        method,
        headers,
        body,
    })
}

/// The four `Dbsync-*` headers of node `name`, with the step's faults.
fn auth_headers(
    s: &mut Session,
    step: &Step,
    name: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    let a = &step.auth;
    let me = s.node(name)?.clone();
    let key = if a.random_secret {
        vec![0x5a; 32]
    } else {
        let secret = match &a.secret_of {
            Some(other) => s.node(other)?.secret.clone(),
            None => me.secret.clone(),
        };
        key(&secret).ok_or("a secret that is not 32 bytes of base64url")?
    };
    let node = match &a.node {
        Some(n) => s.vars.text(n)?,
        None => me.id.to_string(),
    };
    let ts = match &a.timestamp {
        Some(t) => s.vars.text(t)?,
        None => (now().as_secs() as i64 + a.timestamp_offset.unwrap_or(0)).to_string(),
    };
    let nonce = match &a.nonce {
        Some(n) => s.vars.text(n)?,
        None => s.nonce(),
    };
    let sign_path = match &a.sign_path {
        Some(p) => s.vars.text(p)?,
        None => path.to_string(),
    };
    let signed_body = match &a.sign_body {
        Some(b) => s.vars.fill(b)?.to_string().into_bytes(),
        None => body.to_vec(),
    };
    let sig = match &a.signature {
        Some(x) => s.vars.text(x)?,
        None => signature(
            &key,
            &signed_string(method, &sign_path, &node, &ts, &nonce, &signed_body),
        ),
    };
    let mut out = Vec::new();
    for (h, v) in [
        ("Dbsync-Node", node),
        ("Dbsync-Timestamp", ts),
        ("Dbsync-Nonce", nonce),
        ("Dbsync-Signature", sig),
    ] {
        if a.omit.iter().any(|o| o == h) {
            continue;
        }
        let times = if a.repeat.iter().any(|r| r == h) {
            2
        } else {
            1
        };
        for _ in 0..times {
            out.push((h.to_string(), v.clone()));
        }
    }
    Ok(out)
}
