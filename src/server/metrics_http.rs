//! The Prometheus endpoint: `GET /metrics` over plain HTTP/1.1 on its own
//! port, so scrapers need no gRPC and metrics never share the API's limits.
//! Deliberately tiny (one request per connection, bounded read, no
//! keep-alive): it serves one scraper every few seconds, not the public.

use crate::metrics::METRICS;
use crate::sequencer::Sequencer;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest request head read (a scraper's is ≈ 200 bytes).
const MAX_HEAD: usize = 8 * 1024;
/// A connection that has not sent its request head by then is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves until `stopping` turns true.
pub async fn serve(
    listener: TcpListener,
    sequencer: Sequencer,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    tokio::spawn(answer(stream, sequencer.clone()));
                }
            }
        }
    }
}

async fn answer(mut stream: TcpStream, sequencer: Sequencer) {
    let mut head = vec![0u8; MAX_HEAD];
    let mut len = 0;
    while !head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        if len == MAX_HEAD {
            return respond(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
        match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut head[len..])).await {
            Ok(Ok(n)) if n > 0 => len += n,
            _ => return,
        }
    }
    let line = head[..len]
        .split(|b| *b == b'\r')
        .next()
        .unwrap_or_default();
    let path = line.split(|b| *b == b' ').nth(1).unwrap_or_default();
    let path = path.split(|b| *b == b'?').next().unwrap_or_default();
    match (line.starts_with(b"GET "), path) {
        (true, b"/metrics") => {
            let body = METRICS.render(sequencer.queue_len());
            respond(&mut stream, "200 OK", &body).await
        }
        (true, _) => {
            respond(
                &mut stream,
                "404 Not Found",
                "only /metrics is served here\n",
            )
            .await
        }
        (false, _) => respond(&mut stream, "405 Method Not Allowed", "").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}
