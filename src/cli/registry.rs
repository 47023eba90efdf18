//! Registry commands: registering commitments (operator), withdrawing,
//! rotating keys, and querying signatories and organizations.

use super::endorse::submit;
use super::{client, keys, read_file, CliError};
use crate::core::entry::Signed;
use crate::core::model::{Region, StakeholderGroup};
use crate::core::statements::{CommitmentRegistration, KeyRotation, Withdrawal};
use crate::proto;
use ed25519_dalek::{Signer as _, SigningKey};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(clap::Subcommand)]
pub enum CommitmentCommand {
    /// Register a version of a commitment's text (log operator only).
    Register {
        #[arg(long)]
        server: String,
        /// The operator key; default: DATA/operator.pem of the server's data directory.
        #[arg(long)]
        operator_key: Option<PathBuf>,
        #[arg(long, default_value = crate::server::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// The server's admin token file; default: DATA/admin.token.
        #[arg(long, value_name = "FILE")]
        admin_token: Option<PathBuf>,
        /// Commitment id (slug), e.g. global-commitment-dts.
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "1")]
        version: String,
        #[arg(long)]
        title: String,
        /// File holding the exact text; its SHA-256 is what endorsements name.
        #[arg(long)]
        text: PathBuf,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn commitment(cmd: CommitmentCommand) -> Result<(), CliError> {
    let CommitmentCommand::Register {
        server,
        operator_key,
        data,
        admin_token,
        id,
        version,
        title,
        text,
        url,
        out,
    } = cmd;
    let key_path =
        operator_key.unwrap_or_else(|| data.join(crate::server::datadir::OPERATOR_KEY_FILE));
    let key = keys::read_key(&key_path)?;
    let token = client::admin_token(
        &admin_token.unwrap_or_else(|| data.join(crate::server::datadir::ADMIN_TOKEN_FILE)),
    )?;
    let registration = CommitmentRegistration {
        commitment_id: id,
        version,
        title,
        text_sha256: crate::core::sha256(&read_file(&text)?),
        url,
        signed_at: now(),
        public_key: key.verifying_key().to_bytes(),
    };
    let signature = key.sign(&registration.signed_message()).to_bytes();
    submit(
        &server,
        Signed::Commitment {
            registration,
            signature,
        },
        out.as_deref(),
        Some(&token),
    )
    .await
}

/// The organization that `key` acts for, and the `signed_at` to use for its
/// next statement: now, or one second after its latest statement if that is
/// not in the past (statements of one organization must be strictly ordered).
pub async fn organization_of(
    server: &str,
    key: &SigningKey,
) -> Result<Option<([u8; 32], u64)>, CliError> {
    use proto::get_organization_request::Key;
    let mut c = client::connect(server).await?;
    let public = key.verifying_key().to_bytes().to_vec();
    let req = proto::GetOrganizationRequest {
        key: Some(Key::PublicKey(public)),
    };
    let org = match c.get_organization(req).await {
        Ok(org) => org.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
        Err(s) => return Err(client::status(s)),
    };
    let id = org.organization_id.try_into().map_err(|_| {
        CliError::new(
            super::exit::SERVER,
            "server sent a malformed organization id",
        )
    })?;
    Ok(Some((id, now().max(org.last_signed_at + 1))))
}

async fn existing_org(server: &str, key: &SigningKey) -> Result<([u8; 32], u64), CliError> {
    organization_of(server, key).await?.ok_or_else(|| {
        CliError::new(
            super::exit::SERVER,
            "no organization uses this key (endorse something first)",
        )
    })
}

pub async fn withdraw(
    server: String,
    key: PathBuf,
    commitment: String,
    out: Option<PathBuf>,
) -> Result<(), CliError> {
    let key = keys::read_key(&key)?;
    let (organization_id, signed_at) = existing_org(&server, &key).await?;
    let withdrawal = Withdrawal {
        organization_id,
        commitment_id: commitment,
        signed_at,
        public_key: key.verifying_key().to_bytes(),
    };
    let signature = key.sign(&withdrawal.signed_message()).to_bytes();
    submit(
        &server,
        Signed::Withdrawal {
            withdrawal,
            signature,
        },
        out.as_deref(),
        None,
    )
    .await
}

pub async fn rotate(
    server: String,
    key: PathBuf,
    new_key: PathBuf,
    out: Option<PathBuf>,
) -> Result<(), CliError> {
    let (old, new) = (keys::read_key(&key)?, keys::read_key(&new_key)?);
    let (organization_id, signed_at) = existing_org(&server, &old).await?;
    let rotation = KeyRotation {
        organization_id,
        old_public_key: old.verifying_key().to_bytes(),
        new_public_key: new.verifying_key().to_bytes(),
        signed_at,
    };
    let message = rotation.signed_message();
    let (old_signature, new_signature) =
        (old.sign(&message).to_bytes(), new.sign(&message).to_bytes());
    submit(
        &server,
        Signed::KeyRotation {
            rotation,
            old_signature,
            new_signature,
        },
        out.as_deref(),
        None,
    )
    .await
}

#[derive(clap::Args)]
pub struct SignatoriesArgs {
    #[arg(long)]
    server: String,
    #[arg(long)]
    commitment: String,
    #[arg(long)]
    group: Option<String>,
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    country: Option<String>,
    /// current (default), withdrawn or all.
    #[arg(long, default_value = "current")]
    status: String,
    /// Case-insensitive substring of the organization's name.
    #[arg(long)]
    name: Option<String>,
    /// Only organizations the operator verified.
    #[arg(long)]
    verified_only: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            c if (c as u32) < 0x20 => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out + "\""
}

fn label<T>(
    code: i32,
    f: fn(u8) -> Result<T, crate::core::Error>,
    name: fn(T) -> &'static str,
) -> &'static str {
    u8::try_from(code)
        .ok()
        .and_then(|c| f(c).ok())
        .map_or("?", name)
}

pub async fn signatories(a: SignatoriesArgs) -> Result<(), CliError> {
    let usage = |e: crate::core::Error| CliError::usage(e.to_string());
    let status = match a.status.as_str() {
        "current" => proto::SignatoryStatus::Current,
        "withdrawn" => proto::SignatoryStatus::Withdrawn,
        "all" => proto::SignatoryStatus::All,
        other => {
            return Err(CliError::usage(format!(
                "--status {other:?}: expected current, withdrawn or all"
            )))
        }
    };
    let mut req = proto::ListSignatoriesRequest {
        commitment_id: a.commitment.clone(),
        stakeholder_group: a
            .group
            .as_deref()
            .map(StakeholderGroup::from_slug)
            .transpose()
            .map_err(usage)?
            .map_or(0, |g| g.code().into()),
        region: a
            .region
            .as_deref()
            .map(Region::from_slug)
            .transpose()
            .map_err(usage)?
            .map_or(0, |r| r.code().into()),
        country: a.country.unwrap_or_default(),
        status: status as i32,
        name_contains: a.name.unwrap_or_default(),
        page_size: 1000,
        page_token: String::new(),
        verified_only: a.verified_only,
    };
    let mut c = client::connect(&a.server).await?;
    let mut rows = Vec::new();
    let mut tree_size = 0;
    loop {
        let page = c
            .list_signatories(req.clone())
            .await
            .map_err(client::status)?
            .into_inner();
        tree_size = tree_size.max(page.tree_size);
        rows.extend(page.signatories);
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    // The human form: a table with a header row, each column as wide as its
    // longest cell (names may be 200 characters), no borders, so each row
    // is one line that starts with the name (grep-friendly).
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header([
        "Name", "Group", "Region", "Country", "Status", "Trust", "Entry",
    ]);
    for s in &rows {
        let group = label(
            s.stakeholder_group,
            StakeholderGroup::from_code,
            StakeholderGroup::slug,
        );
        let region = label(s.region, Region::from_code, Region::slug);
        let status = if s.status == proto::SignatoryStatus::Withdrawn as i32 {
            "withdrawn"
        } else {
            "current"
        };
        let flags: Vec<String> = s.flags.iter().map(|f| json_str(f)).collect();
        if a.json {
            // A contract (README, "Stable output"; tests/cli.rs): these keys
            // in this order; new keys are only appended, after `tree_size`.
            out!(
                "{{\"organization_id\":\"{}\",\"name\":{},\"group\":\"{group}\",\"region\":\"{region}\",\"country\":{},\"status\":\"{status}\",\"first_index\":{},\"endorsed_index\":{},\"withdrawn_index\":{},\"verified\":{},\"verification_index\":{},\"flags\":[{}],\"tree_size\":{tree_size}}}",
                hex::encode(&s.organization_id),
                json_str(&s.name),
                json_str(&s.country),
                s.first_index,
                s.endorsed_index,
                s.withdrawn_index.map_or("null".into(), |i| i.to_string()),
                s.verification.is_some(),
                s.verification.as_ref().map_or("null".into(), |v| v.index.to_string()),
                flags.join(","),
            );
        } else {
            // Unverified organizations are marked in capitals: the name is
            // only what they say about themselves.
            // Warnings are capitals too: the name looks like a verified
            // one, or a word of it mixes scripts (SPEC.md §5.4 "Flags").
            let mut trust = vec![if s.verification.is_some() {
                "verified"
            } else {
                "UNVERIFIED"
            }];
            for (flag, shown) in [
                ("name-conflict", "NAME-CONFLICT"),
                ("mixed-script", "MIXED-SCRIPT"),
            ] {
                if s.flags.iter().any(|f| f == flag) {
                    trust.push(shown);
                }
            }
            table.add_row([
                s.name.clone(),
                group.to_string(),
                region.to_string(),
                s.country.clone(),
                status.to_owned(),
                trust.join(" "),
                s.endorsed_index.to_string(),
            ]);
        }
    }
    if !a.json {
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        if let Some(last) = table.column_mut(6) {
            // Numbers right-aligned, and no trailing spaces.
            last.set_padding((0, 0));
            last.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
        if !rows.is_empty() {
            out!("{table}");
        }
        eprintln!(
            "{} signatories of {} at tree size {tree_size}",
            rows.len(),
            a.commitment
        );
    }
    Ok(())
}

pub async fn org(server: String, id: String) -> Result<(), CliError> {
    use proto::get_organization_request::Key;
    let bytes = hex::decode(&id)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            CliError::usage("expected an organization id or public key: 64 hex digits")
        })?;
    let mut c = client::connect(&server).await?;
    let by_id = c
        .get_organization(proto::GetOrganizationRequest {
            key: Some(Key::OrganizationId(bytes.clone())),
        })
        .await;
    let o = match by_id {
        Ok(o) => o.into_inner(),
        Err(_) => c
            .get_organization(proto::GetOrganizationRequest {
                key: Some(Key::PublicKey(bytes)),
            })
            .await
            .map_err(client::status)?
            .into_inner(),
    };
    out!("organization {}", hex::encode(&o.organization_id));
    out!("name         {}", o.name);
    out!(
        "group        {}",
        label(
            o.stakeholder_group,
            StakeholderGroup::from_code,
            StakeholderGroup::label
        )
    );
    out!(
        "region       {}",
        label(o.region, Region::from_code, Region::label)
    );
    out!("country      {}", o.country);
    out!("domain       {}", o.domain);
    out!("current key  {}", hex::encode(&o.current_public_key));
    match &o.verification {
        Some(v) => out!(
            "verified     as {:?} by {} at entry {} (evidence sha256 {})",
            v.name,
            label(
                v.method,
                crate::core::model::VerificationMethod::from_code,
                crate::core::model::VerificationMethod::slug
            ),
            v.index,
            hex::encode(&v.evidence_sha256)
        ),
        None => out!("verified     NO: the name above is only what the organization says"),
    }
    if !o.flags.is_empty() {
        out!("flags        {}", o.flags.join(", "));
    }
    for s in &o.commitments {
        let status = if s.status == proto::SignatoryStatus::Withdrawn as i32 {
            "withdrawn"
        } else {
            "current"
        };
        out!(
            "commitment   {} ({status}, endorsed at entry {})",
            s.commitment_id,
            s.endorsed_index
        );
    }
    out!(
        "history      entries {:?} (tree size {})",
        o.history,
        o.tree_size
    );
    Ok(())
}
