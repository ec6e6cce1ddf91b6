//! Spec §16.4 H0: a request head that hyper cannot parse, or that does
//! not arrive in time, still gets the protocol's error form.
//!
//! Hyper answers a head it cannot parse with a bare `400`, `414` or `431`
//! (no body, no `Dbsync-Protocol`), and closes a connection whose head is
//! late without a word. Both happen inside hyper, so they are handled
//! beneath it, on the connection's bytes:
//!
//! - [`Answers`] is what the connection's service tells its stream: how
//!   many answers it owes whose head has not been written yet, and
//!   whether a request is being served (from its head to the end of its
//!   answer's body).
//! - [`HeadGuard`] is the stream hyper reads and writes. When hyper
//!   writes its bare answer while no answer is owed, the guard writes the
//!   protocol's `malformed_request` instead. It keeps the header read
//!   time itself (hyper's is turned off), from the head's first byte: when
//!   it runs out, it writes `request_timeout` (408, `phase` `"headers"`)
//!   and ends the stream. A connection idle for as long (no byte of a
//!   next head) is closed silently, as before.
//!
//!   It tells a bare refusal from an application's own bodiless `400`
//!   by the answers owed: hyper writes its refusal in place of an answer,
//!   never while one is owed. Heads are counted where a write begins with
//!   `HTTP/1.`. That count can be wrong only when a client pipelines
//!   requests (a refusal may then stay bare), or when a write of an
//!   answer's body happens to begin with `HTTP/1.`; the protocol's own
//!   answers carry `content-type`, so they are never taken for a bare
//!   refusal whatever the count says.
//! - [`watch`] wraps the connection's service so that it keeps the
//!   [`Answers`] up to date.

use crate::http;
use dbsync_core::ErrorCode;
use dbsync_engine::Rejection;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response};
use prometheus_client::metrics::counter::Counter;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// What a connection's service tells its stream.
#[derive(Debug, Default)]
pub struct Answers {
    /// Answers the service produced (or is producing) whose head the
    /// stream has not seen written yet.
    owed: AtomicUsize,
    /// A request is being served: its head was parsed and its answer's
    /// body has not ended.
    serving: AtomicBool,
    /// Requests begun on the connection: a head awaited after the n-th
    /// has its own time.
    begun: AtomicUsize,
}

impl Answers {
    fn started(&self) {
        self.begun.fetch_add(1, Ordering::SeqCst);
        self.owed.fetch_add(1, Ordering::SeqCst);
        self.serving.store(true, Ordering::SeqCst);
    }

    fn answer_written(&self) {
        let _ = self
            .owed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    fn owes_an_answer(&self) -> bool {
        self.owed.load(Ordering::SeqCst) > 0
    }

    fn serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }

    fn begun(&self) -> usize {
        self.begun.load(Ordering::SeqCst)
    }
}

/// Sets [`Answers::serving`] back when an answer's body is dropped
/// (hyper drops it once it has taken its last frame).
struct AnswerEnded(Arc<Answers>);

impl Drop for AnswerEnded {
    fn drop(&mut self) {
        self.0.serving.store(false, Ordering::SeqCst);
    }
}

/// An answer's body, unchanged, that ends the request in its
/// [`Answers`] when it is dropped.
pub struct WatchedBody<B> {
    inner: Pin<Box<B>>,
    _ended: AnswerEnded,
}

impl<B: Body> Body for WatchedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `service`, telling `answers` when a request starts and its answer
/// ends.
pub fn watch<S, B>(
    service: S,
    answers: Arc<Answers>,
) -> impl hyper::service::Service<
    Request<hyper::body::Incoming>,
    Response = Response<WatchedBody<B>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<WatchedBody<B>>, Infallible>> + Send,
>
where
    S: hyper::service::Service<
        Request<hyper::body::Incoming>,
        Response = Response<B>,
        Error = Infallible,
    >,
    S::Future: Send + 'static,
    B: Body,
{
    hyper::service::service_fn(move |req| {
        answers.started();
        let answered = service.call(req);
        let answers = answers.clone();
        async move {
            let resp = answered.await?;
            Ok(resp.map(|body| WatchedBody {
                inner: Box::pin(body),
                _ended: AnswerEnded(answers),
            }))
        }
    })
}

/// Whether `bytes` are hyper's own answer to a head it could not parse:
/// a `400`, `414` or `431` status line and nothing but `content-length:
/// 0`, `date` and `connection` headers. The protocol's own answers always
/// carry `content-type`.
fn is_bare_refusal(bytes: &[u8]) -> Option<Rejection> {
    if !bytes.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.trim_end().split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" if value.trim() == "0" => {}
            "date" | "connection" => {}
            _ => return None,
        }
    }
    let message = match status {
        "400" => "the request head is not valid HTTP/1.1",
        "414" => "the request target is too long",
        "431" => "the request head is larger than this server reads",
        _ => return None,
    };
    Some(Rejection::new(ErrorCode::MalformedRequest, message))
}

/// Whether `bufs` begin as a 4xx answer's status line: the cheap test
/// before a write is looked at whole.
fn starts_a_refusal(bufs: &[io::IoSlice<'_>]) -> bool {
    bufs.iter()
        .find(|b| !b.is_empty())
        .is_some_and(|b| b.starts_with(b"HTTP/1.1 4"))
}

/// The bytes of `bufs` in one piece when they are few enough to be a
/// bare refusal; nothing otherwise.
fn joined_if_short(bufs: &[io::IoSlice<'_>]) -> Vec<u8> {
    const LONGEST: usize = 256;
    let len: usize = bufs.iter().map(|b| b.len()).sum();
    if len > LONGEST {
        return Vec::new();
    }
    bufs.iter().flat_map(|b| b.iter().copied()).collect()
}

/// `request_timeout` for a head that did not arrive in time.
fn late_head(timeout: Duration) -> Rejection {
    Rejection::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request head did not arrive within {} s",
            timeout.as_secs_f64()
        ),
    )
    .with(serde_json::json!({ "phase": "headers" }))
}

/// Bytes the guard writes in hyper's place, and how many of hyper's
/// bytes they stand for.
struct Substitute {
    bytes: Vec<u8>,
    written: usize,
    stands_for: usize,
}

/// The stream hyper serves a connection on: see the module's text.
pub struct HeadGuard<S> {
    inner: S,
    answers: Arc<Answers>,
    header_timeout: Duration,
    /// Armed while a head is awaited: the idle time until its first
    /// byte, then the header read time.
    head_deadline: Option<Pin<Box<Sleep>>>,
    /// The requests begun when the awaited head's time started.
    awaited_after: usize,
    /// Bytes arrived since the head began to be awaited.
    head_started: bool,
    /// Hyper's writes are not all flushed: the 408 would interleave.
    writing: bool,
    substitute: Option<Substitute>,
    /// The 408 was written: reads end.
    ended: bool,
    /// Counts the 408s.
    late_heads: Option<Counter>,
}

impl<S> HeadGuard<S> {
    /// Guards `inner`, a connection on which a head must arrive within
    /// `header_timeout`.
    pub fn new(inner: S, answers: Arc<Answers>, header_timeout: Duration) -> HeadGuard<S> {
        HeadGuard {
            inner,
            answers,
            header_timeout,
            head_deadline: None,
            awaited_after: 0,
            head_started: false,
            writing: false,
            substitute: None,
            ended: false,
            late_heads: None,
        }
    }

    /// Counts in `late_heads` each head answered 408.
    pub fn counting(mut self, late_heads: Counter) -> HeadGuard<S> {
        self.late_heads = Some(late_heads);
        self
    }
}

impl<S: AsyncWrite + Unpin> HeadGuard<S> {
    /// Writes the rest of the substitute; ready with the count of hyper's
    /// bytes it stands for once all of it is written.
    fn poll_substitute(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(sub) = self.substitute.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while sub.written < sub.bytes.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &sub.bytes[sub.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            sub.written += n;
        }
        std::task::ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        Poll::Ready(Ok(sub.stands_for))
    }

    /// The head's time ran out: a 408 if part of it came (and hyper is
    /// not in the middle of writing), then the end of the stream.
    fn poll_late_head(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.substitute.is_none() {
            if !self.head_started || self.writing {
                self.ended = true;
                return Poll::Ready(Ok(()));
            }
            if let Some(late_heads) = &self.late_heads {
                late_heads.inc();
            }
            self.substitute = Some(Substitute {
                bytes: http::error_bytes(&late_head(self.header_timeout)),
                written: 0,
                stands_for: 0,
            });
        }
        std::task::ready!(self.poll_substitute(cx))?;
        self.ended = true;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(Ok(()));
        }
        if this.answers.serving() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let begun = this.answers.begun();
        if begun != this.awaited_after {
            // A request came and went since the last head: a new one is
            // awaited from now.
            this.awaited_after = begun;
            this.head_deadline = None;
            this.head_started = false;
        }
        let timeout = this.header_timeout;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if !this.head_started && buf.filled().len() > before {
                    // The head's time counts from its first byte (§16.2);
                    // until then the connection's idle time ran.
                    this.head_started = true;
                    this.head_deadline = Some(Box::pin(tokio::time::sleep(timeout)));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let deadline = this
                    .head_deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_pending() && this.substitute.is_none() {
                    return Poll::Pending;
                }
                this.poll_late_head(cx)
            }
            failed => failed,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.substitute.is_none() && !this.answers.owes_an_answer() && starts_a_refusal(bufs) {
            if let Some(rejection) = is_bare_refusal(&joined_if_short(bufs)) {
                this.substitute = Some(Substitute {
                    bytes: http::error_bytes(&rejection),
                    written: 0,
                    stands_for: bufs.iter().map(|b| b.len()).sum(),
                });
            }
        }
        if this.substitute.is_some() {
            return this.poll_substitute(cx);
        }
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        match &polled {
            Poll::Ready(Ok(n)) if *n > 0 => {
                this.writing = true;
                // Hyper starts each answer's head at the start of a write.
                let first = bufs.iter().find(|b| !b.is_empty());
                if first.is_some_and(|b| b.starts_with(b"HTTP/1.")) {
                    this.answers.answer_written();
                }
            }
            Poll::Pending => this.writing = true,
            _ => {}
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = polled {
            self.writing = false;
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_refusals_are_recognised_and_the_protocols_answers_are_not() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 03:00:00 GMT\r\n\r\n";
        assert_eq!(
            is_bare_refusal(bare).map(|r| r.code),
            Some(ErrorCode::MalformedRequest)
        );
        let long = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(is_bare_refusal(long).is_some());
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(is_bare_refusal(ours).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n";
        assert!(is_bare_refusal(with_body).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(is_bare_refusal(ok).is_none());
        assert!(is_bare_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none());
    }
}
