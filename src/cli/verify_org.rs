//! Identity assurance commands: `verify-org` and `unverify-org` (operator),
//! `check-domain` (anyone) and `domain-proof` (organizations: what to
//! publish at https://DOMAIN/.well-known/accord.txt).

use super::domain::{self, Fetch};
use super::endorse::submit;
use super::{client, exit, keys, read_file, CliError};
use crate::core::entry::Signed;
use crate::core::model::{StakeholderGroup, VerificationMethod};
use crate::core::verification::{Revocation, Verification};
use crate::proto;
use ed25519_dalek::Signer as _;
use std::path::PathBuf;

/// Where the operator's key and admin token are, and the server.
#[derive(clap::Args)]
pub struct Operator {
    #[arg(long)]
    server: String,
    /// The server's data directory (operator.pem, admin.token).
    #[arg(long, default_value = crate::server::DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// The operator key; default DATA/operator.pem.
    #[arg(long)]
    operator_key: Option<PathBuf>,
    /// The admin token file; default DATA/admin.token.
    #[arg(long, value_name = "FILE")]
    admin_token: Option<PathBuf>,
}

/// Test-only ways to reach a domain (hidden: a real check uses HTTPS).
#[derive(clap::Args, Clone)]
pub struct FetchArgs {
    /// Connect to HOST:PORT instead of resolving the domain (tests).
    #[arg(long, hide = true)]
    connect_to: Option<String>,
    /// Fetch over plain HTTP (tests only: a proof must come over HTTPS).
    #[arg(long, hide = true)]
    insecure_http_for_tests: bool,
}

impl FetchArgs {
    fn fetch(&self) -> Fetch {
        Fetch {
            connect_to: self.connect_to.clone(),
            insecure_http: self.insecure_http_for_tests,
        }
    }
}

fn org_id(hex_id: &str) -> Result<[u8; 32], CliError> {
    hex::decode(hex_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CliError::usage("expected an organization id: 64 hex digits"))
}

async fn organization(
    server: &str,
    id: &[u8; 32],
) -> Result<proto::GetOrganizationResponse, CliError> {
    use proto::get_organization_request::Key;
    let mut c = client::connect(server).await?;
    let req = proto::GetOrganizationRequest {
        key: Some(Key::OrganizationId(id.to_vec())),
    };
    Ok(c.get_organization(req)
        .await
        .map_err(client::status)?
        .into_inner())
}

/// The log's origin: the first line of its checkpoint.
async fn origin(server: &str) -> Result<String, CliError> {
    let mut c = client::connect(server).await?;
    let cp = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .map_err(client::status)?;
    Ok(cp
        .into_inner()
        .signed_note
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Checks the organization's domain proof; `Ok(domain)` if it vouches.
pub async fn check_domain(
    server: &str,
    id: &str,
    domain: Option<String>,
    how: &FetchArgs,
) -> Result<String, CliError> {
    let id = org_id(id)?;
    let org = organization(server, &id).await?;
    let domain = domain
        .or(Some(org.domain).filter(|d| !d.is_empty()))
        .ok_or_else(|| CliError::usage("the organization names no domain; give --domain"))?;
    let key: [u8; 32] = org
        .current_public_key
        .try_into()
        .map_err(|_| CliError::usage("server sent a malformed key"))?;
    let origin = origin(server).await?;
    match domain::check(&domain, &origin, &id, &key, &how.fetch()).await? {
        Ok(()) => {
            out!(
                "{domain} vouches for organization {} with its current key on {origin:?}",
                hex::encode(id)
            );
            Ok(domain)
        }
        Err(why) => Err(CliError::new(
            exit::VERIFY_FAILED,
            format!("domain proof refused: {why}"),
        )),
    }
}

/// Prints the proof file an organization publishes on its domain.
pub async fn domain_proof(server: &str, key: &std::path::Path) -> Result<(), CliError> {
    let key = keys::read_key(key)?;
    let (id, _) = super::registry::organization_of(server, &key)
        .await?
        .ok_or_else(|| {
            CliError::usage("this key has no organization in the log yet: endorse first")
        })?;
    print!(
        "{}",
        domain::proof_file(&origin(server).await?, &id, &key.verifying_key().to_bytes())
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    operator: Operator,
    /// The organization id (hex).
    #[arg(long)]
    org: String,
    /// domain, official-letter or in-person.
    #[arg(long)]
    method: String,
    /// The evidence kept off the log; its SHA-256 goes in the entry.
    #[arg(long)]
    evidence: PathBuf,
    /// The confirmed name; default: the organization's own.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    group: Option<String>,
    #[arg(long)]
    country: Option<String>,
    /// The confirmed domain; default with --method domain: the organization's own (checked).
    #[arg(long)]
    domain: Option<String>,
    #[command(flatten)]
    fetch: FetchArgs,
}

/// Signs and submits a verification (after the domain check for `domain`).
pub async fn verify(a: VerifyArgs) -> Result<(), CliError> {
    let usage = |e: crate::core::Error| CliError::usage(e.to_string());
    let method = VerificationMethod::from_slug(&a.method).map_err(usage)?;
    let id = org_id(&a.org)?;
    let org = organization(&a.operator.server, &id).await?;
    // The domain is confirmed only if checked (method domain, defaulting to
    // the declared one) or given explicitly by the operator.
    let domain = match method {
        VerificationMethod::Domain => a
            .domain
            .or(Some(org.domain.clone()).filter(|d| !d.is_empty())),
        _ => a.domain,
    };
    if method == VerificationMethod::Domain {
        check_domain(&a.operator.server, &a.org, domain.clone(), &a.fetch).await?;
    }
    let group = match a.group {
        Some(g) => StakeholderGroup::from_slug(&g).map_err(usage)?,
        None => StakeholderGroup::from_code(u8::try_from(org.stakeholder_group).unwrap_or(0))
            .map_err(usage)?,
    };
    let (key, token) = a.operator.credentials()?;
    let verification = Verification {
        organization_id: id,
        name: a.name.unwrap_or(org.name),
        stakeholder_group: group,
        country: a.country.or(Some(org.country).filter(|c| !c.is_empty())),
        domain,
        method,
        evidence_sha256: crate::core::sha256(&read_file(&a.evidence)?),
        signed_at: super::registry::now().max(org.operator_signed_at + 1),
        public_key: key.verifying_key().to_bytes(),
    };
    let signature = key.sign(&verification.signed_message()).to_bytes();
    let signed = Signed::Verification {
        verification,
        signature,
    };
    submit(&a.operator.server, signed, None, Some(&token)).await
}

/// Signs and submits a revocation of an organization's verification.
pub async fn unverify(operator: Operator, org: String, reason: String) -> Result<(), CliError> {
    let id = org_id(&org)?;
    let record = organization(&operator.server, &id).await?;
    let (key, token) = operator.credentials()?;
    let revocation = Revocation {
        organization_id: id,
        reason,
        signed_at: super::registry::now().max(record.operator_signed_at + 1),
        public_key: key.verifying_key().to_bytes(),
    };
    let signature = key.sign(&revocation.signed_message()).to_bytes();
    submit(
        &operator.server,
        Signed::Revocation {
            revocation,
            signature,
        },
        None,
        Some(&token),
    )
    .await
}

impl Operator {
    fn credentials(&self) -> Result<(ed25519_dalek::SigningKey, String), CliError> {
        use crate::server::datadir::{ADMIN_TOKEN_FILE, OPERATOR_KEY_FILE};
        let key_path = self
            .operator_key
            .clone()
            .unwrap_or_else(|| self.data.join(OPERATOR_KEY_FILE));
        let token_path = self
            .admin_token
            .clone()
            .unwrap_or_else(|| self.data.join(ADMIN_TOKEN_FILE));
        Ok((
            keys::read_key(&key_path)?,
            client::admin_token(&token_path)?,
        ))
    }
}
