//! Conversions between protobuf messages and core types. Protobuf is only a
//! transport: these functions rebuild the canonical structures and report
//! the exact field that is missing or malformed.

use super::convert_operator::{
    revocation_from_proto, revocation_to_proto, verification_from_proto, verification_to_proto,
};
use super::error::{invalid, ApiError};
use crate::core::endorsement::Endorsement;
use crate::core::entry::Signed;
use crate::core::model::{Region, StakeholderGroup};
use crate::core::signature;
use crate::core::statements::{CommitmentRegistration, KeyRotation, Withdrawal};
use crate::proto;

pub(super) fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

pub(super) fn fixed<const N: usize>(
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

pub(super) fn time(t: i64) -> Result<u64, ApiError> {
    u64::try_from(t).map_err(|_| {
        invalid(
            "signed_at",
            "must not be before 1970-01-01 (negative Unix time)",
        )
    })
}

fn sig(bytes: &[u8], field: &'static str) -> Result<[u8; 64], ApiError> {
    Ok(signature::parse_signature(bytes, field)?)
}

pub fn signed_from_proto(req: proto::SubmitRequest) -> Result<Signed, ApiError> {
    use proto::submit_request::Statement as S;
    let key = |b: &[u8], field| fixed::<32>(b, field, "an Ed25519 public key");
    match req.statement {
        Some(S::Endorsement(s)) => {
            let e = s
                .endorsement
                .ok_or_else(|| invalid("endorsement", "is required"))?;
            Ok(Signed::Endorsement {
                endorsement: endorsement_from_proto(e)?,
                signature: sig(&s.signature, "signature")?,
            })
        }
        Some(S::Withdrawal(s)) => {
            let w = s
                .withdrawal
                .ok_or_else(|| invalid("withdrawal", "is required"))?;
            Ok(Signed::Withdrawal {
                withdrawal: Withdrawal {
                    organization_id: fixed(
                        &w.organization_id,
                        "organization_id",
                        "an organization id",
                    )?,
                    commitment_id: w.commitment_id,
                    signed_at: time(w.signed_at)?,
                    public_key: key(&w.public_key, "public_key")?,
                },
                signature: sig(&s.signature, "signature")?,
            })
        }
        Some(S::KeyRotation(s)) => {
            let r = s
                .rotation
                .ok_or_else(|| invalid("rotation", "is required"))?;
            Ok(Signed::KeyRotation {
                rotation: KeyRotation {
                    organization_id: fixed(
                        &r.organization_id,
                        "organization_id",
                        "an organization id",
                    )?,
                    old_public_key: key(&r.old_public_key, "old_public_key")?,
                    new_public_key: key(&r.new_public_key, "new_public_key")?,
                    signed_at: time(r.signed_at)?,
                },
                old_signature: sig(&s.old_signature, "old_signature")?,
                new_signature: sig(&s.new_signature, "new_signature")?,
            })
        }
        Some(S::Commitment(s)) => {
            let c = s
                .registration
                .ok_or_else(|| invalid("registration", "is required"))?;
            Ok(Signed::Commitment {
                registration: CommitmentRegistration {
                    commitment_id: c.commitment_id,
                    version: c.version,
                    title: c.title,
                    text_sha256: fixed(&c.text_sha256, "text_sha256", "a SHA-256 digest")?,
                    url: non_empty(c.url),
                    signed_at: time(c.signed_at)?,
                    public_key: key(&c.public_key, "public_key")?,
                },
                signature: sig(&s.signature, "signature")?,
            })
        }
        Some(S::Verification(s)) => Ok(Signed::Verification {
            verification: verification_from_proto(
                s.verification
                    .ok_or_else(|| invalid("verification", "is required"))?,
            )?,
            signature: sig(&s.signature, "signature")?,
        }),
        Some(S::Revocation(s)) => Ok(Signed::Revocation {
            revocation: revocation_from_proto(
                s.revocation
                    .ok_or_else(|| invalid("revocation", "is required"))?,
            )?,
            signature: sig(&s.signature, "signature")?,
        }),
        None => Err(invalid(
            "statement",
            "is required (set endorsement, withdrawal, key_rotation, commitment, verification or revocation)",
        )),
    }
}

/// The request that submits `s`. A map head has no submission form (the
/// log writes it itself): it gives a request without a statement, which
/// servers refuse as INVALID_ARGUMENT.
pub fn signed_to_proto(s: &Signed) -> proto::SubmitRequest {
    use proto::submit_request::Statement as S;
    let statement = match s {
        Signed::MapHead(_) => return proto::SubmitRequest { statement: None },
        Signed::Endorsement {
            endorsement,
            signature,
        } => S::Endorsement(proto::SignedEndorsement {
            endorsement: Some(endorsement_to_proto(endorsement)),
            signature: signature.to_vec(),
        }),
        Signed::Withdrawal {
            withdrawal: w,
            signature,
        } => S::Withdrawal(proto::SignedWithdrawal {
            withdrawal: Some(proto::Withdrawal {
                organization_id: w.organization_id.to_vec(),
                commitment_id: w.commitment_id.clone(),
                signed_at: w.signed_at as i64,
                public_key: w.public_key.to_vec(),
            }),
            signature: signature.to_vec(),
        }),
        Signed::KeyRotation {
            rotation: r,
            old_signature,
            new_signature,
        } => S::KeyRotation(proto::SignedKeyRotation {
            rotation: Some(proto::KeyRotation {
                organization_id: r.organization_id.to_vec(),
                old_public_key: r.old_public_key.to_vec(),
                new_public_key: r.new_public_key.to_vec(),
                signed_at: r.signed_at as i64,
            }),
            old_signature: old_signature.to_vec(),
            new_signature: new_signature.to_vec(),
        }),
        Signed::Commitment {
            registration: c,
            signature,
        } => S::Commitment(proto::SignedCommitment {
            registration: Some(proto::CommitmentRegistration {
                commitment_id: c.commitment_id.clone(),
                version: c.version.clone(),
                title: c.title.clone(),
                text_sha256: c.text_sha256.to_vec(),
                url: c.url.clone().unwrap_or_default(),
                signed_at: c.signed_at as i64,
                public_key: c.public_key.to_vec(),
            }),
            signature: signature.to_vec(),
        }),
        Signed::Verification {
            verification,
            signature,
        } => S::Verification(proto::SignedVerification {
            verification: Some(verification_to_proto(verification)),
            signature: signature.to_vec(),
        }),
        Signed::Revocation {
            revocation,
            signature,
        } => S::Revocation(proto::SignedRevocation {
            revocation: Some(revocation_to_proto(revocation)),
            signature: signature.to_vec(),
        }),
    };
    proto::SubmitRequest {
        statement: Some(statement),
    }
}
