//! `accord endorse --witnessed`: a receipt whose checkpoint carries the
//! witnesses' cosignatures, so whoever checks it with the witness policy
//! (`accord verify --policy`) knows the log showed this history to the
//! witnesses too, not only to the submitter. The log publishes cosigned
//! checkpoints a little after it signs them (one witness round), so the
//! receipt waits for the first cosigned checkpoint that includes the entry.

use super::client::{self, Client};
use super::endorse::{save_receipt, submit_only};
use super::{exit, CliError};
use crate::core::entry::Signed;
use crate::core::policy::Policy;
use crate::proto;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often the checkpoint is asked for while waiting: a witness round on
/// a local network takes milliseconds, over the Internet a fraction of a
/// second.
const POLL: Duration = Duration::from_millis(200);

/// What to wait for.
pub struct Wait {
    /// The quorum to meet; without one, a single cosignature line (a
    /// signature line besides the log's own) is enough.
    pub policy: Option<Policy>,
    pub timeout: Duration,
}

/// True if `note` carries what `wait` asks for.
fn cosigned(note: &str, wait: &Wait) -> bool {
    match &wait.policy {
        Some(policy) => policy.verify(note).is_ok(),
        None => note.split_once("\n\n").is_some_and(|(_, signatures)| {
            signatures
                .lines()
                .filter(|l| l.starts_with('\u{2014}'))
                .count()
                > 1
        }),
    }
}

/// Submits `signed` and saves the receipt at `out`: with the first cosigned
/// checkpoint that includes it, or — after `wait.timeout` — with the
/// checkpoint signed by the log alone, exiting 3.
pub async fn submit(server: &str, signed: Signed, out: &Path, wait: &Wait) -> Result<(), CliError> {
    let (mut c, mut resp) = submit_only(server, signed, None).await?;
    let deadline = Instant::now() + wait.timeout;
    loop {
        let cp = (c.get_checkpoint(proto::GetCheckpointRequest {}).await)
            .map_err(client::status)?
            .into_inner();
        if cp.size > resp.index && cosigned(&cp.signed_note, wait) {
            resp.inclusion_proof = inclusion(&mut c, resp.index, cp.size).await?;
            resp.checkpoint = cp.signed_note;
            eprintln!(
                "receipt made with the checkpoint of size {} cosigned by the witnesses",
                cp.size
            );
            return save_receipt(&resp, Some(out));
        }
        if Instant::now() >= deadline {
            save_receipt(&resp, Some(out))?;
            return Err(CliError::new(
                exit::SERVER,
                format!(
                    "entry {} is logged, but no checkpoint including it was cosigned by the witnesses within {} s; the receipt saved carries the log's signature alone",
                    resp.index,
                    wait.timeout.as_secs()
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn inclusion(c: &mut Client, index: u64, size: u64) -> Result<Vec<Vec<u8>>, CliError> {
    let req = proto::GetInclusionProofRequest {
        leaf: Some(proto::get_inclusion_proof_request::Leaf::Index(index)),
        tree_size: size,
    };
    Ok((c.get_inclusion_proof(req).await)
        .map_err(client::status)?
        .into_inner()
        .hashes)
}
