//! Every TCP listener of the process — gRPC, metrics, and every listener to
//! come (HTTP pages, witness) — accepts through [`Incoming`], so that one
//! implementation keeps a flood of connections from taking the server off
//! the air:
//!
//! - a connection must finish its handshake (TLS, the HTTP/2 preface) and
//!   send its first request within [`Limits::first_request_timeout`], and
//!   one with no request in progress is closed after
//!   [`Limits::idle_timeout`] ([`conn`]);
//! - at most [`Limits::per_address`] connections per client address (IPv6:
//!   per /64) and [`Limits::max_connections`] in all, a budget shared by
//!   every listener of the process because descriptors are a process-wide
//!   resource ([`budget`]). A connection over a cap is accepted and closed
//!   at once, so it never waits in the kernel's backlog;
//! - accept errors (EMFILE, ENFILE, ENOMEM, ECONNABORTED…) back off from
//!   10 ms, doubling to 1 s, instead of spinning, with at most one warning
//!   per second and a counter in /metrics.

pub mod budget;
pub mod conn;
pub mod track;

pub use budget::{descriptor_limit, Budget, Limits};
pub use conn::{Conn, ConnInfo};
pub use track::TrackRequests;

use crate::metrics::{Listener, METRICS};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// First pause after a failed accept: long enough that a process out of
/// descriptors makes ≈ 100 calls a second at most instead of ≈ 40,000
/// (measured: 78,000 failed calls in 2 s without a pause).
const BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// Longest pause: a listener whose descriptors come back starts accepting
/// again within a second.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// At most one log line per second per kind of event, with the count of
/// events since the last line (so a flood is visible but cannot flood the log).
struct Throttle {
    last: Option<Instant>,
    count: u64,
}

impl Throttle {
    fn new() -> Throttle {
        Throttle {
            last: None,
            count: 0,
        }
    }

    /// Counts one event; returns the count to report when a line is due.
    fn note(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

/// A listener that accepts within the [`Budget`]; it never returns an
/// error (it logs, counts and retries).
pub struct Incoming {
    listener: TcpListener,
    kind: Listener,
    budget: Budget,
    backoff: Duration,
    accept_errors: Throttle,
    refusals: Throttle,
}

impl Incoming {
    pub fn new(listener: TcpListener, kind: Listener, budget: Budget) -> Incoming {
        Incoming {
            listener,
            kind,
            budget,
            backoff: BACKOFF_FIRST,
            accept_errors: Throttle::new(),
            refusals: Throttle::new(),
        }
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection within the caps.
    pub async fn accept(&mut self) -> (Conn, ConnInfo) {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    METRICS.connections.accept_error(self.kind);
                    if let Some(n) = self.accept_errors.note() {
                        tracing::warn!(
                            listener = self.kind.name(),
                            "accept failed {n} time(s) since the last warning: {e}; retrying in {} ms",
                            self.backoff.as_millis()
                        );
                    }
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            self.backoff = BACKOFF_FIRST;
            let limits = self.budget.limits();
            let privileged = self.kind == Listener::Metrics
                || (budget::is_loopback(peer.ip()) && !limits.limit_loopback);
            match self.budget.admit(peer.ip(), privileged) {
                Ok(slot) => {
                    // Answers must leave at once, not wait for Nagle's
                    // algorithm and the client's delayed ACK (≈ 40 ms).
                    let _ = stream.set_nodelay(true);
                    return Conn::new(stream, peer, slot, self.kind, self.budget.limits());
                }
                Err(refusal) => {
                    // Dropping the stream closes it now: the client learns
                    // at once, and the kernel's backlog keeps moving.
                    drop(stream);
                    METRICS.connections.refused(self.kind, refusal);
                    if let Some(n) = self.refusals.note() {
                        tracing::warn!(
                            listener = self.kind.name(),
                            "closed {n} connection(s) over a cap since the last warning, the last from {}: {}",
                            peer.ip(),
                            self.budget.describe(refusal)
                        );
                    }
                }
            }
        }
    }

    /// The connections as a stream, for tonic's `serve_with_incoming`. The
    /// listening socket closes as soon as the server stops taking them.
    pub fn into_stream(
        mut self,
    ) -> tokio_stream::wrappers::ReceiverStream<Result<Conn, std::io::Error>> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    (conn, _) = self.accept() => {
                        if tx.send(Ok(conn)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Conn, ConnInfo) {
        Incoming::accept(self).await
    }

    fn local_addr(&self) -> std::io::Result<ConnInfo> {
        Ok(ConnInfo::local(self.listener.local_addr()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_reports_once_per_second_with_the_count() {
        let mut t = Throttle::new();
        assert_eq!(t.note(), Some(1), "the first event is reported at once");
        for _ in 0..1000 {
            assert_eq!(t.note(), None);
        }
        t.last = Some(Instant::now() - Duration::from_secs(2));
        assert_eq!(t.note(), Some(1001));
    }
}
