//! The HTTP server under the routes of [`crate::http`]: accept loops on hyper's
//! HTTP/1 connection builder, with the limits an exporter reachable by anything
//! on the network needs, and a graceful shutdown.
//!
//! `axum::serve` has no header-read timeout, so connections are served here
//! directly with `hyper::server::conn::http1` and hyper-util's Tokio timer:
//!
//! - a client has `--web.read-header-timeout` to send its request headers; the
//!   same timeout closes a keep-alive connection that stays idle (hyper starts it
//!   whenever the connection waits for a request);
//! - a response whose client stops reading for `--web.write-timeout` is dropped
//!   with its connection ([`StallGuard`]);
//! - at most `--web.max-requests` scrapes are served at once; more get a 503
//!   (probes and other paths are not limited);
//! - when the process runs out of file descriptors, accepting pauses briefly
//!   (the kernel keeps the waiting connections) instead of spinning;
//! - on shutdown the listeners close, in-flight requests finish and idle
//!   connections close, for at most `--web.shutdown-timeout`;
//! - with a `tls_server_config` in `--web.config.file`, each connection is a
//!   TLS one (rustls, the configuration current at accept time, so a rotated
//!   certificate is served without a restart); the handshake gets
//!   `--web.read-header-timeout` too.

use crate::config::WebLimits;
use crate::web_config::WebConfig;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::Sleep;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

/// How long accepting pauses when the process has no file descriptor left.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Serves `app` on every listener until `shutdown` is cancelled, then drains
/// the connections for at most `limits.shutdown_timeout`.
pub async fn serve(
    listeners: Vec<TcpListener>,
    app: Router,
    web: Arc<WebConfig>,
    limits: &WebLimits,
    shutdown: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_header_timeout)
        .keep_alive(true);
    let graceful = Arc::new(GracefulShutdown::new());
    let mut accepting = tokio::task::JoinSet::new();
    for listener in listeners {
        accepting.spawn(accept_loop(
            listener,
            app.clone(),
            builder.clone(),
            web.clone(),
            limits.clone(),
            graceful.clone(),
            shutdown.clone(),
        ));
    }
    while accepting.join_next().await.is_some() {}
    // The accept loops are gone, and with them every other handle.
    let Ok(graceful) = Arc::try_unwrap(graceful) else {
        return;
    };
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("every connection closed"),
        _ = tokio::time::sleep(limits.shutdown_timeout) => {
            tracing::warn!(timeout = ?limits.shutdown_timeout, "connections still open at the end of the shutdown timeout: closing them");
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    builder: http1::Builder,
    web: Arc<WebConfig>,
    limits: WebLimits,
    graceful: Arc<GracefulShutdown>,
    shutdown: CancellationToken,
) {
    let mut out_of_fds_logged = false;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_out_of_fds(&e) => {
                if !std::mem::replace(&mut out_of_fds_logged, true) {
                    tracing::warn!(error = %e, "out of file descriptors: accepting pauses until connections close");
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
            // A connection that failed before it was accepted (reset): nothing to do.
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        out_of_fds_logged = false;
        let _ = stream.set_nodelay(true);
        let tls = web.current().tls.clone();
        let watcher = graceful.watcher();
        let (app, builder) = (app.clone(), builder.clone());
        let (handshake_timeout, write_timeout) = (limits.read_header_timeout, limits.write_timeout);
        tokio::spawn(async move {
            let stream = match tls {
                None => Either::Left(stream),
                Some(tls) => {
                    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                    match tokio::time::timeout(handshake_timeout, handshake).await {
                        Ok(Ok(stream)) => Either::Right(stream),
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let io = TokioIo::new(StallGuard::new(stream, write_timeout));
            let conn = builder.serve_connection(io, TowerToHyperService::new(app));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// An I/O stream whose writes fail once they have been blocked for longer than
/// the timeout: a client that stops reading its response loses its connection
/// instead of holding it (and the response) for ever. The timer is polled with
/// the blocked write, so it wakes the connection's task by itself.
pub struct StallGuard<S> {
    inner: S,
    timeout: Duration,
    blocked: Option<Pin<Box<Sleep>>>,
}

impl<S> StallGuard<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        StallGuard {
            inner,
            timeout,
            blocked: None,
        }
    }

    /// Keeps the stall timer going while `poll` is pending; clears it when done.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>>
    where
        S: Unpin,
    {
        match poll(Pin::new(&mut self.inner), cx) {
            Poll::Ready(r) => {
                self.blocked = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self
                    .blocked
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client read nothing for the write timeout",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.guard(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.guard(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guard(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guard(cx, |s, cx| s.poll_shutdown(cx))
    }
}

/// Binds a listener with a backlog large enough to hold a burst of clients
/// while accepting pauses (Rust's default is 128).
pub fn bind(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_blocked_past_the_timeout_fails() {
        // A peer that never reads: the pipe fills and the write blocks.
        let (client, _server_end_never_read) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(client, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = guarded.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_write_that_progresses_never_times_out() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(client, Duration::from_millis(300));
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 16];
            // Slow, but never stopped for the whole timeout.
            while got < 1024 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                got += tokio::io::AsyncReadExt::read(&mut server, &mut buf)
                    .await
                    .unwrap();
            }
            got
        });
        guarded.write_all(&[1u8; 1024]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 1024);
    }
}
