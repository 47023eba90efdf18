//! Operator verification (SPEC.md §5.5–§5.6): the log operator's signed
//! statement that it checked who stands behind an organization's key — the
//! name and attributes it confirms, how, and a digest of the evidence it
//! keeps off the log — and the revocation that undoes it. The log stays
//! append-only: trust is added and withdrawn with new entries.

use super::encoding::{Reader, Writer};
use super::endorsement::{validate_country, validate_domain, validate_name, validate_text};
use super::model::{StakeholderGroup, VerificationMethod};
use super::statements::check_time;
use super::{Error, Hash};

pub const VERIFICATION_DOMAIN: &[u8] = b"accord/v1/verification\0";
pub const REVOCATION_DOMAIN: &[u8] = b"accord/v1/verification-revocation\0";
/// Reasons are a sentence or two ("impersonation reported by the
/// organization on 2026-11-02"); 500 characters leave room.
pub const REASON_MAX_CHARS: usize = 500;

/// The operator vouches for an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub organization_id: Hash,
    /// The name the operator confirms (it may correct the self-declared one).
    pub name: String,
    pub stakeholder_group: StakeholderGroup,
    pub country: Option<String>,
    /// The domain checked (required for the `domain` method).
    pub domain: Option<String>,
    pub method: VerificationMethod,
    /// SHA-256 of the evidence kept off the log (letter scan, DNS record…).
    pub evidence_sha256: Hash,
    pub signed_at: u64,
    /// The operator key, which signs.
    pub public_key: [u8; 32],
}

impl Verification {
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&self.organization_id)
            .str(&self.name)
            .u8(self.stakeholder_group.code())
            .str(self.country.as_deref().unwrap_or(""))
            .str(self.domain.as_deref().unwrap_or(""))
            .u8(self.method.code())
            .raw(&self.evidence_sha256)
            .u64(self.signed_at)
            .raw(&self.public_key);
        w.finish()
    }

    pub fn parse_body(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let optional = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        let v = Verification {
            organization_id: r.array("organization_id")?,
            name: r.str("name")?.to_owned(),
            stakeholder_group: StakeholderGroup::from_code(r.u8("stakeholder_group")?)?,
            country: optional(r.str("country")?),
            domain: optional(r.str("domain")?),
            method: VerificationMethod::from_code(r.u8("method")?)?,
            evidence_sha256: r.array("evidence_sha256")?,
            signed_at: r.u64("signed_at")?,
            public_key: r.array("public_key")?,
        };
        r.finish("verification")?;
        Ok(v)
    }

    pub fn signed_message(&self) -> Vec<u8> {
        [VERIFICATION_DOMAIN, &self.body()].concat()
    }

    pub fn validate(&self, now: u64) -> Result<(), Error> {
        validate_name("name", &self.name)?;
        if let Some(cc) = &self.country {
            validate_country(cc)?;
        }
        match (&self.domain, self.method) {
            (Some(d), _) => validate_domain(d)?,
            (None, VerificationMethod::Domain) => {
                return Err(Error::invalid(
                    "domain",
                    "the domain method needs the domain it checked",
                ))
            }
            (None, _) => {}
        }
        check_time(self.signed_at, now)
    }
}

/// The operator withdraws its verification of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub organization_id: Hash,
    pub reason: String,
    pub signed_at: u64,
    /// The operator key, which signs.
    pub public_key: [u8; 32],
}

impl Revocation {
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&self.organization_id)
            .str(&self.reason)
            .u64(self.signed_at)
            .raw(&self.public_key);
        w.finish()
    }

    pub fn parse_body(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let v = Revocation {
            organization_id: r.array("organization_id")?,
            reason: r.str("reason")?.to_owned(),
            signed_at: r.u64("signed_at")?,
            public_key: r.array("public_key")?,
        };
        r.finish("verification revocation")?;
        Ok(v)
    }

    pub fn signed_message(&self) -> Vec<u8> {
        [REVOCATION_DOMAIN, &self.body()].concat()
    }

    pub fn validate(&self, now: u64) -> Result<(), Error> {
        validate_text("reason", &self.reason, REASON_MAX_CHARS, false)?;
        check_time(self.signed_at, now)
    }
}
