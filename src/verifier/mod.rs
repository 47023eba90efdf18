//! Independent verification: everything a party who trusts nothing the
//! server says needs to check receipts and checkpoints. Uses only `core`
//! (no network, no files, no clock), so it can be embedded anywhere.

pub mod audit;
pub mod evidence;
pub mod parallel;

use crate::core::checkpoint::Checkpoint;
use crate::core::entry::Entry;
use crate::core::note::Verifier;
use crate::core::receipt::TlogProof;
use crate::core::{merkle, proof, Error};

/// What a verified receipt proves.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    pub entry: Entry,
    pub checkpoint: Checkpoint,
}

/// Verifies a receipt offline: the checkpoint is signed by the log key, the
/// entry's leaf is included in it at the stated index, the entry names that
/// same index, and the organization's signature inside it verifies strictly
/// (with the future-time rule judged at the entry's integration time).
pub fn verify_receipt(
    leaf: &[u8],
    tlog_proof: &str,
    log_key: &Verifier,
) -> Result<VerifiedReceipt, Error> {
    let receipt = TlogProof::parse(tlog_proof)?;
    let checkpoint = Checkpoint::open(&receipt.checkpoint, log_key)?;
    let entry = Entry::from_leaf(leaf)?;
    if entry.index != receipt.index {
        return Err(Error::proof(format!(
            "the entry says it is index {}, the proof is for index {}",
            entry.index, receipt.index
        )));
    }
    let hashes: Vec<&[u8]> = receipt.proof.iter().map(|h| &h[..]).collect();
    proof::verify_inclusion(
        receipt.index,
        checkpoint.head.size,
        &merkle::leaf_hash(leaf),
        &hashes,
        &checkpoint.head.root,
    )?;
    entry.signed.verify(entry.integrated_at_ms / 1000)?;
    Ok(VerifiedReceipt { entry, checkpoint })
}

/// Verifies that `new` (signed) extends `old` (signed), given the proof.
pub fn verify_checkpoint_consistency(
    old: &str,
    new: &str,
    consistency: &[&[u8]],
    log_key: &Verifier,
) -> Result<(Checkpoint, Checkpoint), Error> {
    let old = Checkpoint::open(old, log_key)?;
    let new = Checkpoint::open(new, log_key)?;
    if old.head.size == 0 {
        // Everything extends the empty tree; RFC 9162 defines no proof for it.
        return Ok((old, new));
    }
    proof::verify_consistency(
        old.head.size,
        new.head.size,
        consistency,
        &old.head.root,
        &new.head.root,
    )?;
    Ok((old, new))
}
