//! `accord verify`: offline receipt verification.

use super::{exit, read_file, CliError};
use crate::core::note::Verifier;
use crate::core::policy::Policy;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The log's verifier key (`name+keyid+key`), or a file containing it.
    #[arg(long)]
    vkey: String,
    /// The entry's leaf bytes (PREFIX.entry).
    #[arg(long, required_unless_present = "registry_proof", requires = "proof")]
    entry: Option<PathBuf>,
    /// The c2sp.org/tlog-proof@v1 receipt (PREFIX.tlog-proof).
    #[arg(long, requires = "entry")]
    proof: Option<PathBuf>,
    /// An accord-registry-proof/v1 file (`accord prove`): a mode of its own.
    #[arg(long, conflicts_with_all = ["entry", "proof"])]
    registry_proof: Option<PathBuf>,
    /// A witness policy (C2SP tlog-policy): the checkpoint in the receipt
    /// (or registry proof) must carry cosignatures meeting its quorum, and
    /// the policy must list --vkey.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

/// Reads a witness policy that must list `vkey` (`--policy` of `verify`
/// and `audit`).
pub fn load_policy(path: &Path, vkey: &Verifier) -> Result<Policy, CliError> {
    let bad = |e: String| CliError::usage(format!("--policy {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let policy = Policy::parse(&text).map_err(|e| bad(e.to_string()))?;
    if !policy.logs.iter().any(|l| l.key == *vkey) {
        return Err(bad(format!("does not list the log key {vkey}")));
    }
    Ok(policy)
}

/// Exit 1 unless `note`'s cosignatures meet `policy`'s quorum.
pub fn require_quorum(policy: Option<&Policy>, note: &str) -> Result<(), CliError> {
    match policy.map(|p| p.verify(note)) {
        Some(Err(e)) => Err(CliError::new(
            exit::VERIFY_FAILED,
            format!("the checkpoint does not meet the witness policy: {e}"),
        )),
        _ => Ok(()),
    }
}

/// Parses a vkey given inline or as a file path.
pub fn parse_vkey(arg: &str) -> Result<Verifier, CliError> {
    let text = if Path::new(arg).is_file() {
        String::from_utf8(read_file(Path::new(arg))?)
            .map_err(|_| CliError::usage("vkey file is not UTF-8"))?
    } else {
        arg.to_owned()
    };
    Verifier::parse(text.trim()).map_err(|e| CliError::usage(format!("--vkey: {e}")))
}

pub fn run(args: VerifyArgs) -> Result<(), CliError> {
    let log_key = parse_vkey(&args.vkey)?;
    let policy = (args.policy.as_deref())
        .map(|p| load_policy(p, &log_key))
        .transpose()?;
    let (entry, proof) = match (args.registry_proof, args.entry, args.proof) {
        (Some(file), ..) => return super::prove::verify(&log_key, &file, policy.as_ref()),
        (None, Some(entry), Some(proof)) => (entry, proof),
        _ => {
            return Err(CliError::usage(
                "give --entry and --proof, or --registry-proof",
            ))
        }
    };
    let leaf = read_file(&entry)?;
    let proof = String::from_utf8(read_file(&proof)?)
        .map_err(|_| CliError::new(exit::VERIFY_FAILED, "proof is not UTF-8 text"))?;
    let ok = crate::verifier::verify_receipt(&leaf, &proof, &log_key)
        .map_err(|e| CliError::new(exit::VERIFY_FAILED, format!("receipt does NOT verify: {e}")))?;
    if let Some(policy) = &policy {
        let receipt = crate::core::receipt::TlogProof::parse(&proof)
            .map_err(|e| CliError::new(exit::VERIFY_FAILED, e.to_string()))?;
        require_quorum(Some(policy), &receipt.checkpoint)?;
    }
    out!(
        "OK: entry {} in {} at tree size {}: {} (signed by {})",
        ok.entry.index,
        ok.checkpoint.origin,
        ok.checkpoint.head.size,
        ok.entry.signed.describe(),
        (ok.entry.signed.signers().first()).map_or("the log itself".into(), hex::encode)
    );
    if policy.is_some() {
        out!("OK: the checkpoint carries cosignatures meeting the witness policy's quorum");
    }
    Ok(())
}

/// `accord check-evidence`: exit 0 if the file proves misbehaviour by the log.
pub fn check_evidence(vkey: &str, path: &Path) -> Result<(), CliError> {
    let log_key = parse_vkey(vkey)?;
    let text = String::from_utf8(read_file(path)?)
        .map_err(|_| CliError::usage("evidence is not UTF-8"))?;
    let evidence = crate::verifier::evidence::Evidence::parse(&text)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let proven = evidence
        .check(&log_key)
        .map_err(|e| CliError::new(exit::VERIFY_FAILED, format!("evidence does not hold: {e}")))?;
    out!("CONFIRMED: {proven}");
    Ok(())
}
