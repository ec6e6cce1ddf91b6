//! The TCP connections requests travel on, which keep reading after their
//! write side broke.
//!
//! A server may answer before it has read the whole body and close the
//! connection: `body_too_large` (413) comes as soon as the server sees a
//! `Content-Length` above its limit (spec §16.2). The client, still
//! sending the body, then gets "broken pipe" or "connection reset" on its
//! next write, while the answer waits in its receive buffer. hyper would
//! report the write error and drop the answer, and the node would report
//! a network failure to retry — a retry that can never succeed. Here a
//! write that fails that way is taken as done (the rest of the body is
//! dropped), so hyper goes on to read the answer the server sent. When
//! there is none, the read fails and the request is a network failure as
//! before.

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// A connection that keeps reading after its write side broke.
pub struct KeepReading<T> {
    inner: T,
    write_broken: bool,
}

/// Whether a write error means the server closed the connection (and may
/// have answered before it did).
fn closed_by_peer(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

impl<T: Write + Unpin> KeepReading<T> {
    /// A write result as hyper should see it.
    fn written(&mut self, result: Poll<io::Result<usize>>, len: usize) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(Err(e)) if closed_by_peer(&e) => {
                tracing::debug!(error = %e, "the server closed the connection while the request was sent; reading its answer");
                self.write_broken = true;
                Poll::Ready(Ok(len))
            }
            other => other,
        }
    }
}

impl<T: Read + Unpin> Read for KeepReading<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for KeepReading<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.write_broken {
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.written(result, buf.len())
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        if self.write_broken {
            return Poll::Ready(Ok(len));
        }
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(result, len)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_broken {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Err(e)) if closed_by_peer(&e) => {
                self.write_broken = true;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_broken {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: Connection> Connection for KeepReading<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

/// hyper's TCP connector, its connections wrapped in [`KeepReading`].
#[derive(Clone)]
pub struct Connector(pub HttpConnector);

type Connecting = Pin<
    Box<
        dyn Future<
                Output = Result<
                    KeepReading<TokioIo<TcpStream>>,
                    Box<dyn std::error::Error + Send + Sync>,
                >,
            > + Send,
    >,
>;

impl tower_service::Service<Uri> for Connector {
    type Response = KeepReading<TokioIo<TcpStream>>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<Uri>::poll_ready(&mut self.0, cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        let connecting = tower_service::Service::<Uri>::call(&mut self.0, dst);
        Box::pin(async move {
            let inner = connecting.await?;
            Ok(KeepReading {
                inner,
                write_broken: false,
            })
        })
    }
}
