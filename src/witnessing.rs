//! The log's side of witnessing (`accord serve --witness-policy FILE`):
//! after each new checkpoint — and once at start — it sends the checkpoint
//! with a consistency proof to every witness of the policy (C2SP
//! tlog-witness), and publishes the latest checkpoint whose cosignatures
//! meet the policy's quorum. At most one round is in flight; checkpoints
//! published meanwhile are coalesced into the next round (the latest one).
//! Uses the same storage and core math as the gRPC service.

use crate::core::cosignature::CosignatureVerifier;
use crate::core::merkle;
use crate::core::policy::Policy;
use crate::http_client::HttpClient;
use crate::metrics::METRICS;
use crate::metrics_witness::WitnessResult;
use crate::sequencer::Sequencer;
use crate::storage::{Nodes, Storage};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long one witness may take to answer one request: a witness that is
/// down or slow must not hold up the round (nor the next checkpoint).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How soon a round that missed the quorum is tried again when no new
/// checkpoint comes first: witnesses that were down get the checkpoint once
/// they are back, even on a quiet log.
const RETRY_AFTER: Duration = Duration::from_secs(2);

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

/// What the log knows of one witness: the size it last cosigned.
struct WitnessState {
    name: String,
    key: CosignatureVerifier,
    url: String,
    size: u64,
}

/// Starts the witnessing task; returns where its cosigned checkpoints appear.
/// It holds no `Sequencer` handle (only a subscription), so it never keeps
/// the writer alive: it ends when the writer does.
pub fn start(policy: Policy, storage: Arc<dyn Storage>, sequencer: &Sequencer) -> CosignedView {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(run(policy, storage, sequencer.subscribe(), tx));
    rx
}

async fn run(
    policy: Policy,
    storage: Arc<dyn Storage>,
    mut published: watch::Receiver<Arc<crate::sequencer::Published>>,
    tx: watch::Sender<Option<Arc<Cosigned>>>,
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
    loop {
        let latest = published.borrow_and_update().clone();
        let (size, note) = (latest.head.size, latest.checkpoint.clone());
        let done = tx.borrow().as_ref().is_some_and(|c| c.size >= size);
        if size > 0 && !done {
            let text = note
                .split_once("\n\n")
                .map(|(t, _)| format!("{t}\n"))
                .unwrap_or_default();
            let rounds = witnesses
                .iter_mut()
                .map(|w| cosign(&client, storage.as_ref(), w, size, &note, &text));
            let answers = futures_util::future::join_all(rounds).await;
            let mut lines = String::new();
            let mut cosigned = BTreeSet::new();
            for (i, line) in answers.into_iter().enumerate() {
                if let Some(line) = line {
                    lines += &line;
                    cosigned.insert(i);
                }
            }
            if policy.satisfied(&cosigned) {
                tracing::info!(
                    size,
                    witnesses = cosigned.len(),
                    "checkpoint cosigned by a quorum"
                );
                let now = crate::metrics_witness::unix_now();
                METRICS.witnessing.cosigned(size, now);
                tx.send_replace(Some(Arc::new(Cosigned {
                    size,
                    root: latest.head.root,
                    note: format!("{note}{lines}"),
                })));
            } else {
                tracing::warn!(
                    size,
                    witnesses = cosigned.len(),
                    "checkpoint not cosigned by a quorum of witnesses"
                );
            }
        }
        let behind = tx.borrow().as_ref().is_none_or(|c| c.size < size) && size > 0;
        tokio::select! {
            changed = published.changed() => {
                if changed.is_err() {
                    return; // the sequencer is gone: shutting down
                }
            }
            () = tokio::time::sleep(RETRY_AFTER), if behind => {}
        }
    }
}

/// Asks one witness to cosign the checkpoint of `size`: from the size it
/// last cosigned, with a consistency proof; on 409, once more from the size
/// it reports. Returns its valid cosignature line, if it gave one.
async fn cosign(
    client: &HttpClient,
    storage: &dyn Storage,
    w: &mut WitnessState,
    size: u64,
    note: &str,
    text: &str,
) -> Option<String> {
    for _attempt in 0..2 {
        let old = w.size.min(size);
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            match merkle::consistency_proof(old, size, &Nodes(storage)) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(
                        "consistency proof {old} → {size} for witness {}: {e}",
                        w.url
                    );
                    return None;
                }
            }
        };
        let mut body = format!("old {old}\n");
        for h in &proof {
            body += &format!("{}\n", B64.encode(h));
        }
        body += &format!("\n{note}");
        let started = std::time::Instant::now();
        let answer = post(client, &format!("{}/add-checkpoint", w.url), body).await;
        let took = started.elapsed().as_secs_f64();
        let record = |result| METRICS.witnessing.request(&w.name, result, took);
        let (status, reply) = match answer {
            Ok(r) => r,
            Err(e) => {
                record(WitnessResult::Failed);
                tracing::warn!("witness {}: {e}", w.url);
                return None;
            }
        };
        if status != 200 {
            record(WitnessResult::Refused);
        }
        match status {
            200 => {
                let valid = reply
                    .lines()
                    .find(|l| matches!(w.key.verify_line(text, l), Ok(Some(_))));
                w.size = size;
                record(if valid.is_some() {
                    WitnessResult::Cosigned
                } else {
                    tracing::warn!("witness {} answered 200 without a valid cosignature", w.url);
                    WitnessResult::Refused
                });
                return valid.map(|l| format!("{l}\n"));
            }
            409 => match reply.trim_end().parse::<u64>() {
                // The witness is at another size: resend from it (a size
                // above ours is a witness ahead of this log, e.g. a fork).
                Ok(s) if s <= size => w.size = s,
                _ => {
                    tracing::warn!(
                        "witness {} is at size {:?}, beyond this log's {size}",
                        w.url,
                        reply.trim_end()
                    );
                    return None;
                }
            },
            other => {
                tracing::warn!(
                    "witness {} refused checkpoint {size}: {other} {}",
                    w.url,
                    reply.trim_end()
                );
                return None;
            }
        }
    }
    None
}

/// Witness answers are a few lines; anything longer is not a witness.
const MAX_REPLY: usize = 64 * 1024;

async fn post(client: &HttpClient, url: &str, body: String) -> Result<(u16, String), String> {
    let reply = (client.post_text(url, body, MAX_REPLY).await).map_err(|e| e.to_string())?;
    Ok((
        reply.status,
        String::from_utf8_lossy(&reply.body).into_owned(),
    ))
}
