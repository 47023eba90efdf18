//! One witness round: the checkpoint, with a consistency proof from the
//! size each witness last cosigned, sent to every witness of the policy at
//! once (C2SP tlog-witness `add-checkpoint`).

use crate::core::cosignature::CosignatureVerifier;
use crate::core::merkle;
use crate::http_client::HttpClient;
use crate::metrics::METRICS;
use crate::metrics_witness::WitnessResult;
use crate::storage::{Nodes, Storage};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the log knows of one witness: the size it last cosigned.
pub(super) struct WitnessState {
    pub name: String,
    pub key: CosignatureVerifier,
    pub url: String,
    pub size: u64,
}

/// Sends the checkpoint `note` of `size` to every witness; returns the
/// cosignature lines gathered (in the policy's order) and which witnesses
/// gave them.
pub(super) async fn round(
    client: &HttpClient,
    storage: &Arc<dyn Storage>,
    witnesses: &mut [WitnessState],
    size: u64,
    note: &str,
) -> (String, BTreeSet<usize>) {
    let text = note
        .split_once("\n\n")
        .map(|(t, _)| format!("{t}\n"))
        .unwrap_or_default();
    let rounds = witnesses
        .iter_mut()
        .map(|w| cosign(client, storage, w, size, note, &text));
    let answers = futures_util::future::join_all(rounds).await;
    let mut lines = String::new();
    let mut cosigned = BTreeSet::new();
    for (i, line) in answers.into_iter().enumerate() {
        if let Some(line) = line {
            lines += &line;
            cosigned.insert(i);
        }
    }
    (lines, cosigned)
}

/// Asks one witness to cosign the checkpoint of `size`: from the size it
/// last cosigned, with a consistency proof; on 409, once more from the size
/// it reports. Returns its valid cosignature line, if it gave one.
async fn cosign(
    client: &HttpClient,
    storage: &Arc<dyn Storage>,
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
            // On a blocking thread (the storage contract): the round's
            // timeout can cut it, and async workers never wait on a read.
            let storage = storage.clone();
            let proof = super::shared::blocking(move || {
                merkle::consistency_proof(old, size, &Nodes(storage.as_ref()))
            });
            match proof.await {
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
