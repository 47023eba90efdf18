//! `accord verify`: offline receipt verification.

use super::{exit, read_file, CliError};
use crate::core::note::Verifier;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The log's verifier key (`name+keyid+key`), or a file containing it.
    #[arg(long)]
    vkey: String,
    /// The entry's leaf bytes (PREFIX.entry).
    #[arg(long)]
    entry: PathBuf,
    /// The c2sp.org/tlog-proof@v1 receipt (PREFIX.tlog-proof).
    #[arg(long)]
    proof: PathBuf,
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
    let leaf = read_file(&args.entry)?;
    let proof = String::from_utf8(read_file(&args.proof)?)
        .map_err(|_| CliError::new(exit::VERIFY_FAILED, "proof is not UTF-8 text"))?;
    let ok = crate::verifier::verify_receipt(&leaf, &proof, &log_key)
        .map_err(|e| CliError::new(exit::VERIFY_FAILED, format!("receipt does NOT verify: {e}")))?;
    out!(
        "OK: entry {} in {} at tree size {}: {} (signed by {})",
        ok.entry.index,
        ok.checkpoint.origin,
        ok.checkpoint.head.size,
        ok.entry.signed.describe(),
        hex::encode(ok.entry.signed.signers()[0])
    );
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
