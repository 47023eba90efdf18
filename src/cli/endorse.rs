//! `accord endorse`: build the canonical endorsement, sign it (or take an
//! externally made signature), submit it, and save the receipt.

use super::{client, keys, read_file, write_file, CliError};
use crate::core::endorsement::Endorsement;
use crate::core::entry::Signed;
use crate::core::model::{Region, StakeholderGroup};
use crate::core::receipt::TlogProof;
use crate::core::Hash;
use ed25519_dalek::Signer as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct EndorseArgs {
    #[arg(long)]
    server: Option<String>,
    /// The organization's PKCS#8 PEM private key (from `accord keygen` or OpenSSL).
    #[arg(long, required_unless_present = "public_key")]
    key: Option<PathBuf>,
    /// Instead of --key: the public key in hex, for signing elsewhere (e.g.
    /// OpenSSL); then give --message-out, or --signature to submit.
    #[arg(long, conflicts_with = "key")]
    public_key: Option<String>,
    /// A raw 64-byte Ed25519 signature over the message written by --message-out.
    #[arg(long)]
    signature: Option<PathBuf>,
    /// Commitment id, e.g. global-commitment-dts.
    #[arg(long)]
    commitment: String,
    /// SHA-256 of the exact commitment text, 64 hex digits.
    #[arg(long)]
    commitment_sha256: String,
    /// Organization name.
    #[arg(long)]
    org: String,
    /// government, private-sector, civil-society, technical-community, academia, intergovernmental.
    #[arg(long)]
    group: String,
    /// african, asia-pacific, eastern-european, grulac, weog, global.
    #[arg(long)]
    region: String,
    /// ISO 3166-1 alpha-2 country code, e.g. EE.
    #[arg(long)]
    country: Option<String>,
    /// Website domain, e.g. example.org.
    #[arg(long)]
    domain: Option<String>,
    #[arg(long)]
    statement: Option<String>,
    /// Signing time, Unix seconds (default: now). Needed to re-create the
    /// exact message after --message-out.
    #[arg(long)]
    signed_at: Option<u64>,
    /// Write the canonical message to sign to this file and stop (no submission).
    #[arg(long)]
    message_out: Option<PathBuf>,
    /// Receipt prefix: writes PREFIX.entry and PREFIX.tlog-proof.
    #[arg(long, required_unless_present = "message_out")]
    out: Option<PathBuf>,
    /// Make the receipt with the first checkpoint that includes the entry and
    /// carries the witnesses' cosignatures (the log must run with
    /// --witness-policy); waits at most --witnessed-timeout.
    #[arg(long)]
    witnessed: bool,
    /// With --witnessed: the cosignatures must meet this witness policy's
    /// quorum (otherwise one cosignature line is enough to stop waiting).
    #[arg(long, value_name = "FILE", requires = "witnessed")]
    policy: Option<PathBuf>,
    /// With --witnessed: seconds to wait before saving the receipt signed by
    /// the log alone and exiting 3.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30,
        requires = "witnessed"
    )]
    witnessed_timeout: u64,
}

fn parse_hex32(s: &str, flag: &str) -> Result<Hash, CliError> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CliError::usage(format!("{flag}: expected 64 hex digits")))
}

fn endorsement(args: &EndorseArgs, public_key: [u8; 32]) -> Result<Endorsement, CliError> {
    let usage = |e: crate::core::Error| CliError::usage(e.to_string());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(Endorsement {
        commitment_id: args.commitment.clone(),
        commitment_sha256: parse_hex32(&args.commitment_sha256, "--commitment-sha256")?,
        organization_name: args.org.clone(),
        stakeholder_group: StakeholderGroup::from_slug(&args.group).map_err(usage)?,
        region: Region::from_slug(&args.region).map_err(usage)?,
        country: args.country.clone(),
        domain: args.domain.clone(),
        statement: args.statement.clone(),
        signed_at: args.signed_at.unwrap_or(now),
        public_key,
    })
}

pub async fn run(args: EndorseArgs) -> Result<(), CliError> {
    let key = args.key.as_deref().map(keys::read_key).transpose()?;
    let public_key = match (&key, &args.public_key) {
        (Some(k), _) => k.verifying_key().to_bytes(),
        (None, Some(hex)) => parse_hex32(hex, "--public-key")?,
        (None, None) => {
            return Err(CliError::usage(
                "give --key, or --public-key with --signature",
            ))
        }
    };
    let mut e = endorsement(&args, public_key)?;
    // An organization's statements must be strictly ordered in time: if its
    // latest is not in the past, sign one second after it.
    if let (None, Some(server), Some(key)) = (args.signed_at, &args.server, &key) {
        if let Some((_, next)) = super::registry::organization_of(server, key).await? {
            e.signed_at = e.signed_at.max(next);
        }
    }
    if let Some(path) = &args.message_out {
        write_file(path, &e.signed_message())?;
        eprintln!(
            "wrote the message to sign to {} (signed_at {})",
            path.display(),
            e.signed_at
        );
        return Ok(());
    }
    let signature: [u8; 64] = match (&key, &args.signature) {
        (_, Some(path)) => read_file(path)?.try_into().map_err(|_| {
            CliError::usage("--signature: expected a raw 64-byte Ed25519 signature")
        })?,
        (Some(k), None) => k.sign(&e.signed_message()).to_bytes(),
        (None, None) => {
            return Err(CliError::usage(
                "--public-key needs --signature (or --message-out)",
            ))
        }
    };
    let signed = Signed::Endorsement {
        endorsement: e,
        signature,
    };
    let server = args
        .server
        .as_deref()
        .ok_or_else(|| CliError::usage("--server is required to submit"))?;
    let out = args.out.expect("clap requires --out without --message-out");
    if !args.witnessed {
        return submit(server, signed, Some(&out), None).await;
    }
    let policy = match &args.policy {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("--policy {}: {e}", path.display())))?;
            Some(
                crate::core::policy::Policy::parse(&text)
                    .map_err(|e| CliError::usage(format!("--policy {}: {e}", path.display())))?,
            )
        }
    };
    let wait = super::witnessed::Wait {
        policy,
        timeout: std::time::Duration::from_secs(args.witnessed_timeout),
    };
    super::witnessed::submit(server, signed, &out, &wait).await
}

/// Verifies a statement locally (friendly errors before any network),
/// submits it, and saves the receipt: the common end of every signing command.
pub async fn submit(
    server: &str,
    signed: Signed,
    out: Option<&std::path::Path>,
    admin_token: Option<&str>,
) -> Result<(), CliError> {
    let (_, resp) = submit_only(server, signed, admin_token).await?;
    save_receipt(&resp, out)
}

/// Writes `PREFIX.entry` and `PREFIX.tlog-proof` (if `out` is given) and
/// prints the entry's index.
/// Checks the admission rules locally (nothing is sent that the log would
/// refuse), then submits.
pub async fn submit_only(
    server: &str,
    signed: Signed,
    admin_token: Option<&str>,
) -> Result<(client::Client, crate::proto::SubmitResponse), CliError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    signed
        .verify_admission(now)
        .map_err(|e| CliError::usage(format!("not submitted: {e}")))?;
    let mut c = client::connect(server).await?;
    let resp = c
        .submit(client::with_token(
            crate::service::convert::signed_to_proto(&signed),
            admin_token,
        )?)
        .await
        .map_err(client::status)?
        .into_inner();
    Ok((c, resp))
}

pub fn save_receipt(
    resp: &crate::proto::SubmitResponse,
    out: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let proof = resp
        .inclusion_proof
        .iter()
        .map(|h| h.as_slice().try_into())
        .collect::<Result<Vec<Hash>, _>>()
        .map_err(|_| CliError::new(super::exit::SERVER, "server sent a malformed proof"))?;
    let receipt = TlogProof {
        extra: None,
        index: resp.index,
        proof,
        checkpoint: resp.checkpoint.clone(),
    };
    if let Some(out) = out {
        let with_ext = |ext: &str| PathBuf::from(format!("{}.{ext}", out.display()));
        write_file(&with_ext("entry"), &resp.leaf)?;
        write_file(&with_ext("tlog-proof"), receipt.format().as_bytes())?;
    }
    out!("{}", resp.index);
    if resp.duplicate {
        eprintln!("already logged: this statement is entry {}", resp.index);
    }
    Ok(())
}
