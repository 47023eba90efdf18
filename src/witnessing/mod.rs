//! The log's side of witnessing (`accord serve --witness-policy FILE`):
//! after each new checkpoint — and once at start — it sends the checkpoint
//! with a consistency proof to every witness of the policy (C2SP
//! tlog-witness), and publishes the latest checkpoint whose cosignatures
//! meet the policy's quorum. At most one round is in flight; checkpoints
//! published meanwhile are coalesced into the next round (the latest one).
//! Uses the same storage and core math as the gRPC service.
//!
//! Servers sharing a database (PostgreSQL) run rounds one at a time: the
//! one holding the lease (`shared.rs`) runs them and stores each cosigned
//! checkpoint; the others read the stored one every [`POLL`] and serve it.
//! A server with a log of its own always holds the lease, and serves the
//! cosigned checkpoint it stored before a restart at once.

mod round;
mod shared;

use crate::core::policy::Policy;
use crate::http_client::HttpClient;
use crate::metrics::METRICS;
use crate::sequencer::Sequencer;
use crate::storage::Storage;
use round::WitnessState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long one witness may take to answer one request: a witness that is
/// down or slow must not hold up the round (nor the next checkpoint).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How soon a round that missed the quorum is tried again when no new
/// checkpoint comes first: witnesses that were down get the checkpoint once
/// they are back, even on a quiet log.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How often a server without the lease reads the stored cosigned
/// checkpoint: as often as readers see the log's commits (within 100 ms).
const POLL: Duration = Duration::from_millis(100);

/// A checkpoint with the cosignatures that meet the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub size: u64,
    pub root: crate::core::Hash,
    /// The log's signed note with the witnesses' cosignature lines appended.
    pub note: String,
}

/// Where the latest cosigned checkpoint is published (`None` until one is).
pub type CosignedView = watch::Receiver<Option<Arc<Cosigned>>>;

/// Refuses a policy the log cannot use: its own key must be listed, and
/// every witness needs an `http://` or `https://` submission URL.
pub fn check_policy(policy: &Policy, log: &crate::core::note::Verifier) -> Result<(), String> {
    if !policy.logs.iter().any(|l| l.key == *log) {
        return Err(format!("the policy does not list this log's key ({log})"));
    }
    for w in &policy.witnesses {
        match &w.url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {}
            Some(url) => {
                return Err(format!(
                "witness {}: the submission URL must start with http:// or https://, got {url:?}",
                w.name
            ))
            }
            None => {
                return Err(format!(
                    "witness {}: the log needs its submission URL",
                    w.name
                ))
            }
        }
    }
    Ok(())
}

/// Starts the witnessing task; returns where its cosigned checkpoints
/// appear, and the task, which ends (releasing the lease) once `stopping`
/// turns true or the writer is gone. It holds no `Sequencer` handle (only a
/// subscription), so it never keeps the writer alive.
pub fn start(
    policy: Policy,
    storage: Arc<dyn Storage>,
    sequencer: &Sequencer,
    stopping: watch::Receiver<bool>,
) -> (CosignedView, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(run(policy, storage, sequencer.subscribe(), tx, stopping));
    (rx, task)
}

async fn run(
    policy: Policy,
    storage: Arc<dyn Storage>,
    mut published: watch::Receiver<Arc<crate::sequencer::Published>>,
    tx: watch::Sender<Option<Arc<Cosigned>>>,
    mut stopping: watch::Receiver<bool>,
) {
    let client = match HttpClient::new(REQUEST_TIMEOUT) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("witnessing is off: {e}");
            return;
        }
    };
    let mut witnesses: Vec<WitnessState> = (policy.witnesses.iter())
        .map(|w| WitnessState {
            name: w.name.clone(),
            key: w.key.clone(),
            url: w.url.clone().unwrap_or_default(),
            size: 0,
        })
        .collect();
    let names: Vec<String> = witnesses.iter().map(|w| w.name.clone()).collect();
    METRICS.witnessing.register(&names);
    let shared = storage.shared();
    let mut lease = shared::Lease::new(storage.clone());
    let (mut seen, mut first) = (None, true);
    // A cosigned checkpoint this server could not store yet.
    let mut unstored: Option<(Arc<Cosigned>, u64)> = None;
    let cosigned_size =
        |tx: &watch::Sender<Option<Arc<Cosigned>>>| tx.borrow().as_ref().map_or(0, |c| c.size);
    while !*stopping.borrow() {
        let latest = published.borrow_and_update().clone();
        let size = latest.head.size;
        let held = lease.ensure().await;
        // What another server (or this one before a restart) cosigned.
        if first || (shared && held.is_none()) {
            first = false;
            let have = tx.borrow().clone();
            let adopted =
                shared::adopt(&policy, &storage, &latest, have.as_deref(), &mut seen).await;
            if let Some((cosigned, at)) = adopted {
                METRICS.witnessing.cosigned(cosigned.size, at);
                tx.send_replace(Some(Arc::new(cosigned)));
            }
        }
        if let (Some(_), Some((c, at))) = (held, &unstored) {
            if shared::store(&storage, c, *at).await {
                unstored = None;
            }
        }
        if let (Some(until), true) = (held, size > cosigned_size(&tx)) {
            let budget =
                (until.saturating_duration_since(Instant::now())).min(shared::ROUND_BUDGET);
            let note = &latest.checkpoint;
            let round = round::round(&client, &storage, &mut witnesses, size, note);
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(budget, round) => outcome,
                _ = stopping.changed() => break,
            };
            match outcome {
                Ok((lines, cosigned)) if policy.satisfied(&cosigned) => {
                    tracing::info!(
                        size,
                        witnesses = cosigned.len(),
                        "checkpoint cosigned by a quorum"
                    );
                    let now = crate::metrics_witness::unix_now();
                    METRICS.witnessing.cosigned(size, now);
                    let cosigned = Cosigned {
                        size,
                        root: latest.head.root,
                        note: format!("{note}{lines}"),
                    };
                    // Stored first, then served: the other servers serve
                    // it within POLL of this one.
                    let cosigned = Arc::new(cosigned);
                    let stored = shared::store(&storage, &cosigned, now).await;
                    unstored = (!stored).then(|| (cosigned.clone(), now));
                    tx.send_replace(Some(cosigned));
                }
                Ok((_, cosigned)) => tracing::warn!(
                    size,
                    witnesses = cosigned.len(),
                    "checkpoint not cosigned by a quorum of witnesses"
                ),
                Err(_) => tracing::warn!(size, "witness round cut after {budget:?}"),
            }
        }
        let behind = size > cosigned_size(&tx);
        // Without the lease: watch the stored checkpoint (and the lease).
        // With it: retry a round that missed the quorum, and keep the
        // lease renewed when several servers share it.
        let wait = match (held.is_some(), behind) {
            (false, _) if shared => Some(POLL),
            (true, true) => Some(RETRY_AFTER),
            (true, false) if unstored.is_some() => Some(RETRY_AFTER),
            (true, false) if shared => Some(shared::RENEW_EVERY),
            _ => None,
        };
        tokio::select! {
            changed = published.changed() => {
                if changed.is_err() {
                    break; // the sequencer is gone: shutting down
                }
            }
            stop = stopping.changed() => {
                if stop.is_err() {
                    break; // the server is gone
                }
            }
            () = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
        }
    }
    lease.release().await;
}
