//! Conversions between protobuf messages and core types. Protobuf is only a
//! transport: these functions rebuild the canonical structures and report
//! the exact field that is missing or malformed.

use super::error::{invalid, ApiError};
use crate::core::endorsement::Endorsement;
use crate::core::entry::Signed;
use crate::core::model::{Region, StakeholderGroup};
use crate::core::signature;
use crate::proto;

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn fixed<const N: usize>(
    bytes: &[u8],
    field: &'static str,
    what: &str,
) -> Result<[u8; N], ApiError> {
    bytes.try_into().map_err(|_| {
        invalid(
            field,
            format!("must be {N} bytes ({what}), got {}", bytes.len()),
        )
    })
}

pub fn endorsement_from_proto(e: proto::Endorsement) -> Result<Endorsement, ApiError> {
    let group = match e.stakeholder_group {
        0 => return Err(invalid("stakeholder_group", "is required")),
        g => StakeholderGroup::from_code(u8::try_from(g).unwrap_or(u8::MAX))?,
    };
    let region = match e.region {
        0 => return Err(invalid("region", "is required")),
        r => Region::from_code(u8::try_from(r).unwrap_or(u8::MAX))?,
    };
    let signed_at = u64::try_from(e.signed_at).map_err(|_| {
        invalid(
            "signed_at",
            "must not be before 1970-01-01 (negative Unix time)",
        )
    })?;
    Ok(Endorsement {
        commitment_id: e.commitment_id,
        commitment_sha256: fixed(
            &e.commitment_sha256,
            "commitment_sha256",
            "a SHA-256 digest",
        )?,
        organization_name: e.organization_name,
        stakeholder_group: group,
        region,
        country: non_empty(e.country),
        domain: non_empty(e.domain),
        statement: non_empty(e.statement),
        signed_at,
        public_key: fixed(&e.public_key, "public_key", "an Ed25519 public key")?,
    })
}

pub fn endorsement_to_proto(e: &Endorsement) -> proto::Endorsement {
    proto::Endorsement {
        commitment_id: e.commitment_id.clone(),
        commitment_sha256: e.commitment_sha256.to_vec(),
        organization_name: e.organization_name.clone(),
        stakeholder_group: i32::from(e.stakeholder_group.code()),
        region: i32::from(e.region.code()),
        country: e.country.clone().unwrap_or_default(),
        domain: e.domain.clone().unwrap_or_default(),
        statement: e.statement.clone().unwrap_or_default(),
        signed_at: e.signed_at as i64,
        public_key: e.public_key.to_vec(),
    }
}

pub fn signed_from_proto(req: proto::SubmitRequest) -> Result<Signed, ApiError> {
    match req.statement {
        Some(proto::submit_request::Statement::Endorsement(s)) => {
            let e = s
                .endorsement
                .ok_or_else(|| invalid("endorsement", "is required"))?;
            Ok(Signed::Endorsement {
                endorsement: endorsement_from_proto(e)?,
                signature: signature::parse_signature(&s.signature, "signature")?,
            })
        }
        None => Err(invalid("statement", "is required (set endorsement)")),
    }
}

pub fn signed_to_proto(s: &Signed) -> proto::SubmitRequest {
    match s {
        Signed::Endorsement {
            endorsement,
            signature,
        } => proto::SubmitRequest {
            statement: Some(proto::submit_request::Statement::Endorsement(
                proto::SignedEndorsement {
                    endorsement: Some(endorsement_to_proto(endorsement)),
                    signature: signature.to_vec(),
                },
            )),
        },
    }
}
