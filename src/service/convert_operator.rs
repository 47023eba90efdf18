//! Protobuf ↔ core for the operator's verification statements (SPEC.md
//! §5.5–§5.6) and the verification state shown in registry answers.

use super::convert::{fixed, non_empty, time};
use super::error::{invalid, ApiError};
use crate::core::model::{StakeholderGroup, VerificationMethod};
use crate::core::registry::Verified;
use crate::core::verification::{Revocation, Verification};
use crate::proto;

fn org_id(b: &[u8]) -> Result<[u8; 32], ApiError> {
    fixed(b, "organization_id", "an organization id")
}

fn operator_key(b: &[u8]) -> Result<[u8; 32], ApiError> {
    fixed(b, "public_key", "an Ed25519 public key")
}

fn code(v: i32, field: &'static str) -> Result<u8, ApiError> {
    u8::try_from(v).map_err(|_| invalid(field, format!("unknown value {v}")))
}

pub fn verification_from_proto(v: proto::Verification) -> Result<Verification, ApiError> {
    Ok(Verification {
        organization_id: org_id(&v.organization_id)?,
        name: v.name,
        stakeholder_group: StakeholderGroup::from_code(code(
            v.stakeholder_group,
            "stakeholder_group",
        )?)?,
        country: non_empty(v.country),
        domain: non_empty(v.domain),
        method: VerificationMethod::from_code(code(v.method, "method")?)?,
        evidence_sha256: fixed(&v.evidence_sha256, "evidence_sha256", "a SHA-256 digest")?,
        signed_at: time(v.signed_at)?,
        public_key: operator_key(&v.public_key)?,
    })
}

pub fn verification_to_proto(v: &Verification) -> proto::Verification {
    proto::Verification {
        organization_id: v.organization_id.to_vec(),
        name: v.name.clone(),
        stakeholder_group: i32::from(v.stakeholder_group.code()),
        country: v.country.clone().unwrap_or_default(),
        domain: v.domain.clone().unwrap_or_default(),
        method: i32::from(v.method.code()),
        evidence_sha256: v.evidence_sha256.to_vec(),
        signed_at: v.signed_at as i64,
        public_key: v.public_key.to_vec(),
    }
}

pub fn revocation_from_proto(r: proto::VerificationRevocation) -> Result<Revocation, ApiError> {
    Ok(Revocation {
        organization_id: org_id(&r.organization_id)?,
        reason: r.reason,
        signed_at: time(r.signed_at)?,
        public_key: operator_key(&r.public_key)?,
    })
}

pub fn revocation_to_proto(r: &Revocation) -> proto::VerificationRevocation {
    proto::VerificationRevocation {
        organization_id: r.organization_id.to_vec(),
        reason: r.reason.clone(),
        signed_at: r.signed_at as i64,
        public_key: r.public_key.to_vec(),
    }
}

/// The verification state shown in ListSignatories and GetOrganization.
pub fn state_to_proto(v: &Verified) -> proto::VerificationState {
    proto::VerificationState {
        index: v.index,
        name: v.name.clone(),
        stakeholder_group: i32::from(v.group.code()),
        country: v.country.clone().unwrap_or_default(),
        domain: v.domain.clone().unwrap_or_default(),
        method: i32::from(v.method.code()),
        evidence_sha256: v.evidence_sha256.to_vec(),
    }
}
