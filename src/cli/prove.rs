//! `accord prove`: fetch a registry proof (SPEC.md §8.2) and save it, and
//! `accord verify --registry-proof`: check one offline.

use super::{client, exit, read_file, CliError};
use crate::core::note::Verifier;
use crate::core::registry_proof::{Answer, RegistryProof};
use crate::proto;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["org", "public_key"])))]
pub struct ProveArgs {
    #[arg(long)]
    server: String,
    /// The commitment whose standing to prove.
    #[arg(long)]
    commitment: String,
    /// The organization id (64 hex digits).
    #[arg(long)]
    org: Option<String>,
    /// A public key (64 hex digits), current or former.
    #[arg(long)]
    public_key: Option<String>,
    /// Where to write the accord-registry-proof/v1 file.
    #[arg(long)]
    out: PathBuf,
}

fn hex32(flag: &str, s: &str) -> Result<Vec<u8>, CliError> {
    (hex::decode(s).ok())
        .filter(|b| b.len() == 32)
        .ok_or_else(|| CliError::usage(format!("{flag}: expected 64 hex digits, got {s:?}")))
}

pub async fn prove(args: ProveArgs) -> Result<(), CliError> {
    use proto::get_registry_proof_request::Subject;
    let subject = match (&args.org, &args.public_key) {
        (Some(org), None) => Subject::OrganizationId(hex32("--org", org)?),
        (None, Some(key)) => Subject::PublicKey(hex32("--public-key", key)?),
        _ => return Err(CliError::usage("give one of --org or --public-key")),
    };
    let mut c = client::connect(&args.server).await?;
    let resp = c
        .get_registry_proof(proto::GetRegistryProofRequest {
            subject: Some(subject),
            commitment_id: args.commitment.clone(),
        })
        .await
        .map_err(client::status)?
        .into_inner();
    // Refuse to save what does not even parse; verifying needs the log key.
    RegistryProof::parse(&resp.proof).map_err(|e| {
        CliError::new(
            exit::VERIFY_FAILED,
            format!("the server's proof is malformed: {e}"),
        )
    })?;
    std::fs::write(&args.out, &resp.proof)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", args.out.display())))?;
    out!(
        "wrote {} ({} bytes, tree size {}); check it with: accord verify --vkey VKEY --registry-proof {}",
        args.out.display(),
        resp.proof.len(),
        resp.tree_size,
        args.out.display()
    );
    Ok(())
}

/// Verifies a registry proof file; the first line of output states what it
/// proves (`current`, `withdrawn` or `absent` …), nothing before it.
pub fn verify(
    log_key: &Verifier,
    path: &Path,
    policy: Option<&crate::core::policy::Policy>,
) -> Result<(), CliError> {
    let failed = |why: String| {
        CliError::new(
            exit::VERIFY_FAILED,
            format!("registry proof does NOT verify: {why}"),
        )
    };
    let text = String::from_utf8(read_file(path)?)
        .map_err(|_| failed("the file is not UTF-8 text".into()))?;
    let proof = RegistryProof::parse(&text).map_err(|e| failed(e.to_string()))?;
    let verdict = proof.verify(log_key).map_err(|e| failed(e.to_string()))?;
    super::verify::require_quorum(policy, &proof.checkpoint)?;
    out!("{}", verdict.describe());
    let answer = match verdict.answer() {
        Answer::Current => "current",
        Answer::Withdrawn => "withdrawn",
        Answer::Absent => "absent",
    };
    out!(
        "OK: checkpoint signed by {}, map head at entry {} with root {}, {} map path(s) verified: {answer}",
        verdict.origin,
        proof.index,
        hex::encode(verdict.map_root),
        proof.items.len()
    );
    if policy.is_some() {
        out!("OK: the checkpoint carries cosignatures meeting the witness policy's quorum");
    }
    Ok(())
}
