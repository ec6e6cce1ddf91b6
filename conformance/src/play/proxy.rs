//! The fault proxy: an HTTP server on 127.0.0.1:0 between the nodes and
//! the server under test. It forwards every request, and the one a fault
//! is armed for it delivers the way the fault says: dropped, answered but
//! the answer dropped, delivered twice, cut short, or late. It logs every
//! exchange (the pushes with their bodies and answers), so the runner
//! knows which pushes the server applied even when a node never heard.
//!
//! A dropped request or answer is a connection closed without a
//! response. Faults are armed by the runner for the next request to one
//! path, so the same case replays the same faults.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never forwarded.
    DropRequest,
    /// Forwarded; the answer is not passed on.
    DropResponse,
    /// Forwarded twice, byte for byte; the first answer is passed on.
    Duplicate,
    /// The head and half of the body are forwarded, then the connection
    /// closes; nothing is passed on.
    CutBody,
    /// Forwarded after a pause.
    Delay(Duration),
}

/// One request through the proxy.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request's path (and query).
    pub path: String,
    /// The `Dbsync-Node` header, when it is a node id.
    pub node: Option<u64>,
    /// The request body (kept for pushes only).
    pub body: Bytes,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// The server's answers, one per delivery: status and body (the body
    /// kept for pushes only). Empty when nothing reached the server whole.
    pub answers: Vec<(u16, Bytes)>,
}

struct Shared {
    upstream: Mutex<String>,
    armed: Mutex<Option<(String, Fault)>>,
    log: Mutex<Vec<Exchange>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

/// Headers that belong to one connection, not to the request.
const HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "host",
];

/// Why the proxy closes a connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    /// Starts a proxy in front of the server at `upstream` (a base URL
    /// `http://host:port`); requests keep their path.
    pub async fn start(upstream: &str) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream.trim_end_matches('/').to_string()),
            armed: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            client: Client::builder(TokioExecutor::new()).build({
                let mut c = HttpConnector::new();
                c.set_nodelay(true);
                c
            }),
        });
        let (stop, mut stopped) = oneshot::channel();
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        let s = s.clone();
                        let service = hyper::service::service_fn(move |req| serve(s.clone(), req));
                        tokio::spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    _ = &mut stopped => break,
                }
            }
        });
        Ok(Proxy {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// The base URL nodes use.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points the proxy at another server address (a restarted server).
    pub fn set_upstream(&self, upstream: &str) {
        *lock(&self.shared.upstream) = upstream.trim_end_matches('/').to_string();
    }

    /// The next request whose path ends with `path` gets `fault`.
    pub fn arm(&self, path: &str, fault: Fault) {
        *lock(&self.shared.armed) = Some((path.to_string(), fault));
    }

    /// Forgets a fault no request took.
    pub fn disarm(&self) {
        *lock(&self.shared.armed) = None;
    }

    /// The exchanges since the last call, in order.
    pub fn take_log(&self) -> Vec<Exchange> {
        std::mem::take(&mut *lock(&self.shared.log))
    }

    /// Stops accepting connections.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The answer forwarded to the node.
type Answer = (hyper::http::response::Parts, Bytes);

async fn serve(s: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let fault = {
        let mut armed = lock(&s.armed);
        match armed.as_ref() {
            Some((p, f)) if parts.uri.path().ends_with(p.as_str()) => {
                let f = *f;
                *armed = None;
                Some(f)
            }
            _ => None,
        }
    };
    let keep = parts.uri.path().ends_with("/push");
    let mut ex = Exchange {
        node: parts
            .headers
            .get("dbsync-node")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
        path: path.clone(),
        body: if keep { body.clone() } else { Bytes::new() },
        fault,
        answers: Vec::new(),
    };
    let upstream = lock(&s.upstream).clone();
    let outcome = match fault {
        Some(Fault::DropRequest) => Err(Dropped),
        Some(Fault::CutBody) => {
            cut_short(&upstream, &parts, &body).await;
            Err(Dropped)
        }
        _ => {
            if let Some(Fault::Delay(d)) = fault {
                tokio::time::sleep(d).await;
            }
            let log = |ex: &mut Exchange, got: &Option<Answer>| {
                if let Some((head, b)) = got {
                    let logged = if keep { b.clone() } else { Bytes::new() };
                    ex.answers.push((head.status.as_u16(), logged));
                }
            };
            let answer = forward(&s, &upstream, &parts, body.clone()).await;
            log(&mut ex, &answer);
            if fault == Some(Fault::Duplicate) {
                let second = forward(&s, &upstream, &parts, body.clone()).await;
                log(&mut ex, &second);
            }
            match (fault, answer) {
                (Some(Fault::DropResponse), _) | (_, None) => Err(Dropped),
                (_, Some((head, b))) => Ok(Response::from_parts(head, Full::new(b))),
            }
        }
    };
    lock(&s.log).push(ex);
    outcome
}

/// Sends the request to the server and reads its whole answer; `None`
/// when the server cannot be reached or the answer breaks off.
async fn forward(
    s: &Shared,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Option<Answer> {
    let uri = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut req = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in &parts.headers {
        if !HOP.contains(&k.as_str()) && k.as_str() != "content-length" {
            req = req.header(k, v);
        }
    }
    let req = req.body(Full::new(body)).ok()?;
    let resp = tokio::time::timeout(Duration::from_secs(60), s.client.request(req))
        .await
        .ok()?
        .ok()?;
    let (mut head, body) = resp.into_parts();
    let bytes = body.collect().await.ok()?.to_bytes();
    for h in HOP {
        head.headers.remove(h);
    }
    head.headers.remove("content-length");
    Some((head, bytes))
}

/// Sends the head with the whole body's length and half of the body,
/// then closes the sending side and waits (a little) for the server to
/// give up on it.
async fn cut_short(upstream: &str, parts: &hyper::http::request::Parts, body: &Bytes) {
    let authority = upstream
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let Ok(mut stream) = TcpStream::connect(&authority).await else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {authority}\r\n",
        parts.method,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    for (k, v) in &parts.headers {
        if !HOP.contains(&k.as_str()) && k.as_str() != "content-length" {
            head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap_or("")));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let sent = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body[..body.len() / 2]).await?;
        stream.shutdown().await?;
        let mut sink = Vec::new();
        stream.read_to_end(&mut sink).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), sent).await;
}
