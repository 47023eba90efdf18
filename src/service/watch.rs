//! WatchEntries: replay from an index, then follow the log live.
//!
//! Memory per watcher is bounded: entries go through a channel of
//! [`BUFFER`] entries. When a consumer leaves it full for [`GRACE`], the
//! stream ends with `RESOURCE_EXHAUSTED` telling it where to resume, rather
//! than buffering without limit or stalling the server.

use super::reader::Reader;
use crate::proto;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tonic::Status;

/// Entries buffered per watcher (≈ 0.5 MiB of leaves).
pub const BUFFER: usize = 1024;
/// How long a full buffer may stay full before the watcher is dropped.
pub const GRACE: Duration = Duration::from_secs(5);
/// Entries read from storage per step.
const STEP: u64 = 256;

pub type EntryStream =
    tokio_stream::wrappers::ReceiverStream<Result<proto::WatchEntriesResponse, Status>>;

/// Starts the feeding task and returns the stream to hand to tonic.
pub fn watch(reader: Reader, start: u64, stopping: watch::Receiver<bool>) -> EntryStream {
    // One extra slot so the final status always fits.
    let (tx, rx) = mpsc::channel(BUFFER + 1);
    tokio::spawn(feed(reader, start, tx, stopping));
    EntryStream::new(rx)
}

/// Counts an open stream in the metrics for as long as it lives.
struct Subscribed;

impl Subscribed {
    fn new() -> Subscribed {
        crate::metrics::METRICS.subscribers.inc();
        Subscribed
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        crate::metrics::METRICS.subscribers.dec();
    }
}

async fn feed(
    reader: Reader,
    mut next: u64,
    tx: mpsc::Sender<Result<proto::WatchEntriesResponse, Status>>,
    mut stopping: watch::Receiver<bool>,
) {
    let _subscribed = Subscribed::new();
    let mut published = reader.sequencer.subscribe();
    loop {
        let size = published.borrow_and_update().head.size;
        while next < size {
            let (r, start, end) = (reader.clone(), next, (next + STEP).min(size));
            let page = match tokio::task::spawn_blocking(move || r.entries(start, end)).await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                    return;
                }
            };
            for (index, leaf, hash) in page {
                if !wait_for_room(&tx).await {
                    if !tx.is_closed() {
                        let msg = format!("consumer too slow: the stream buffered {BUFFER} entries for {GRACE:?}; resume with WatchEntries(start = {index})");
                        let _ = tx.send(Err(Status::resource_exhausted(msg))).await;
                    }
                    return;
                }
                if tx
                    .send(Ok(proto::WatchEntriesResponse {
                        index,
                        leaf,
                        leaf_hash: hash.to_vec(),
                    }))
                    .await
                    .is_err()
                {
                    return; // the client went away
                }
                next = index + 1;
            }
        }
        // Caught up: wait for the next checkpoint, the client leaving, or
        // the server shutting down (then tell the client where to resume).
        tokio::select! {
            changed = published.changed() => if changed.is_err() { return },
            _ = tx.closed() => return,
            stopped = stopping.changed() => if stopped.is_err() { return },
        }
        if *stopping.borrow() {
            let msg =
                format!("the server is shutting down; resume with WatchEntries(start = {next})");
            let _ = tx.send(Err(Status::unavailable(msg))).await;
            return;
        }
    }
}

/// Waits until the channel has room for an entry while keeping the last slot
/// for the final status; false if it stayed full for [`GRACE`] or closed.
async fn wait_for_room(tx: &mpsc::Sender<Result<proto::WatchEntriesResponse, Status>>) -> bool {
    let deadline = tokio::time::Instant::now() + GRACE;
    while tx.capacity() <= 1 {
        if tx.is_closed() || tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
