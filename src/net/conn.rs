//! One accepted connection: the socket, its place in the budget, and the
//! deadlines that close it when it sends no first request or sits idle.
//!
//! The deadlines live in the connection's read side because the HTTP
//! servers (hyper, under tonic and axum) always wait on a read while a
//! connection is quiet: when the deadline passes, that read fails with
//! `TimedOut` and the server drops the connection. Requests are counted by
//! the [`super::TrackRequests`] layer through the [`ConnInfo`] every request
//! carries in its extensions.

use super::budget::{Limits, Slot};
use crate::metrics::{Closed, Listener, METRICS};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// What the request layer and the deadlines share about one connection.
#[derive(Debug)]
pub struct ConnState {
    opened: Instant,
    started: AtomicU64,
    in_flight: AtomicUsize,
    /// When the last request finished, in ms after `opened`.
    idle_since_ms: AtomicU64,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            opened: Instant::now(),
            started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    /// A request began; it ends when the guard (held by the response body)
    /// is dropped.
    pub fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
        RequestGuard(self.clone())
    }

    /// When the connection must close unless something changes, and why;
    /// `None` while a request is in progress.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Closed)> {
        if self.started.load(Ordering::Relaxed) == 0 {
            return Some((
                self.opened + limits.first_request_timeout,
                Closed::NoRequest,
            ));
        }
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let idle_since = Duration::from_millis(self.idle_since_ms.load(Ordering::Relaxed));
        Some((self.opened + idle_since + limits.idle_timeout, Closed::Idle))
    }
}

pub struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let s = &self.0;
        let ms = s.opened.elapsed().as_millis() as u64;
        s.idle_since_ms.fetch_max(ms, Ordering::Relaxed);
        s.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection's address and shared state, in every request's
/// extensions (through tonic's `Connected` and axum's `ConnectInfo`).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub state: Arc<ConnState>,
}

impl ConnInfo {
    /// For a listener's own address (axum asks for one).
    pub fn local(addr: SocketAddr) -> ConnInfo {
        ConnInfo {
            remote: addr,
            state: Arc::new(ConnState::new()),
        }
    }

    /// The connection a request came on, whichever server and transport
    /// put it there (plain or TLS gRPC, axum).
    pub fn of(ext: &http::Extensions) -> Option<&ConnInfo> {
        ext.get::<ConnInfo>()
            .or_else(|| {
                ext.get::<tonic::transport::server::TlsConnectInfo<ConnInfo>>()
                    .map(|t| t.get_ref())
            })
            .or_else(|| {
                ext.get::<axum::extract::ConnectInfo<ConnInfo>>()
                    .map(|c| &c.0)
            })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, super::Incoming>>
    for ConnInfo
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, super::Incoming>) -> ConnInfo {
        stream.remote_addr().clone()
    }
}

pub struct Conn {
    io: TcpStream,
    info: ConnInfo,
    limits: Limits,
    kind: Listener,
    timer: Pin<Box<Sleep>>,
    /// When bytes last arrived (see [`READ_GRACE`]).
    last_bytes: Option<Instant>,
    _slot: Slot,
}

/// Bytes that arrived just before a deadline may be a request the server
/// has not dispatched yet (read, parsed, its handler not yet called): the
/// deadline waits this much longer for it, once — never more than this past
/// the deadline, so a client trickling bytes cannot hold a connection open.
const READ_GRACE: Duration = Duration::from_secs(1);

impl Conn {
    pub(super) fn new(
        io: TcpStream,
        remote: SocketAddr,
        slot: Slot,
        kind: Listener,
        limits: Limits,
    ) -> (Conn, ConnInfo) {
        let info = ConnInfo {
            remote,
            state: Arc::new(ConnState::new()),
        };
        let timer = Box::pin(tokio::time::sleep(limits.first_request_timeout));
        METRICS.connections.opened(kind);
        let conn = Conn {
            io,
            info: info.clone(),
            limits,
            kind,
            timer,
            last_bytes: None,
            _slot: slot,
        };
        (conn, info)
    }

    /// Whether a deadline has passed; otherwise the timer is set to wake
    /// this task at the next one.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<Closed> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return None;
            }
            let now = Instant::now();
            let last_bytes = self.last_bytes;
            let grace = |at: Instant| match last_bytes {
                Some(t) => (t + READ_GRACE).clamp(at, at + READ_GRACE),
                None => at,
            };
            match self.info.state.deadline(&self.limits) {
                Some((at, why)) if grace(at) <= now => return Some(why),
                Some((at, _)) if at <= now => {
                    let later = grace(at);
                    self.timer.as_mut().reset(later.into())
                }
                Some((at, _)) => self.timer.as_mut().reset(at.into()),
                // A request is in progress: look again an idle period later.
                None => (self.timer.as_mut()).reset((now + self.limits.idle_timeout).into()),
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        METRICS.connections.closed(self.kind);
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Bytes already here are read before any deadline is looked at: a
        // request that arrived in time is never cut off.
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.last_bytes = Some(Instant::now());
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        if let Some(why) = self.expired(cx) {
            METRICS.connections.timed_out(self.kind, why);
            let what = match why {
                Closed::NoRequest => "no first request in time",
                Closed::Idle => "idle for too long",
            };
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
        }
        Poll::Pending
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}
