//! An endorsement: what an organization signs to say "we endorse this
//! commitment". SPEC.md §"Endorsement" is the normative description of the
//! canonical bytes built here.

use super::encoding::{Reader, Writer};
use super::model::{Region, StakeholderGroup};
use super::{country, Error, Hash};

/// Domain separation: the signed message starts with this tag, so a signature
/// over an endorsement can never be replayed as any other kind of message
/// (each kind has its own NUL-terminated tag; none is a prefix of another).
pub const DOMAIN: &[u8] = b"accord/v1/endorsement\0";

/// How far ahead of the server's clock `signed_at` may be: 5 minutes absorbs
/// ordinary clock skew without letting anyone pre-date the future.
pub const MAX_FUTURE_SKEW_SECS: u64 = 5 * 60;
/// Field limits, in Unicode scalar values (characters) unless noted.
pub const NAME_MAX_CHARS: usize = 200;
pub const STATEMENT_MAX_CHARS: usize = 2000;
/// Commitment ids are short slugs; 64 bytes is ample for `global-commitment-dts`.
pub const COMMITMENT_ID_MAX_BYTES: usize = 64;
/// RFC 1035: a domain name is at most 253 characters in text form.
pub const DOMAIN_MAX_BYTES: usize = 253;

/// The fields an organization signs. Optional fields are `None` when absent;
/// `Some("")` is invalid (it would be a second encoding of "absent").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorsement {
    pub commitment_id: String,
    pub commitment_sha256: Hash,
    pub organization_name: String,
    pub stakeholder_group: StakeholderGroup,
    pub region: Region,
    pub country: Option<String>,
    pub domain: Option<String>,
    pub statement: Option<String>,
    /// Unix time in seconds, UTC.
    pub signed_at: u64,
    pub public_key: [u8; 32],
}

impl Endorsement {
    /// The body: every field, in SPEC order, without the domain tag.
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(160 + self.statement.as_deref().map_or(0, str::len));
        w.str(&self.commitment_id)
            .raw(&self.commitment_sha256)
            .str(&self.organization_name)
            .u8(self.stakeholder_group.code())
            .u8(self.region.code())
            .str(self.country.as_deref().unwrap_or(""))
            .str(self.domain.as_deref().unwrap_or(""))
            .str(self.statement.as_deref().unwrap_or(""))
            .u64(self.signed_at)
            .raw(&self.public_key);
        w.finish()
    }

    /// Parses a body produced by [`Endorsement::body`]. Structure only: call
    /// [`Endorsement::validate`] for the field rules.
    pub fn parse_body(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let e = Endorsement {
            commitment_id: r.str("commitment_id")?.to_owned(),
            commitment_sha256: r.array("commitment_sha256")?,
            organization_name: r.str("organization_name")?.to_owned(),
            stakeholder_group: StakeholderGroup::from_code(r.u8("stakeholder_group")?)?,
            region: Region::from_code(r.u8("region")?)?,
            country: opt(r.str("country")?),
            domain: opt(r.str("domain")?),
            statement: opt(r.str("statement")?),
            signed_at: r.u64("signed_at")?,
            public_key: r.array("public_key")?,
        };
        r.finish("endorsement")?;
        Ok(e)
    }

    /// The exact bytes the organization signs: `DOMAIN ‖ body`.
    pub fn signed_message(&self) -> Vec<u8> {
        [DOMAIN, &self.body()].concat()
    }

    /// Checks every field rule of SPEC.md §3.1 except the public key's, which
    /// is checked when the signature is (`Signed::verify`). `now` is the
    /// verifier's clock in Unix seconds (the core never reads a clock itself).
    pub fn validate(&self, now: u64) -> Result<(), Error> {
        validate_commitment_id(&self.commitment_id)?;
        validate_name("organization_name", &self.organization_name)?;
        if let Some(cc) = &self.country {
            validate_country(cc)?;
        }
        if let Some(d) = &self.domain {
            validate_domain(d)?;
        }
        if let Some(s) = &self.statement {
            validate_text("statement", s, STATEMENT_MAX_CHARS, true)?;
        }
        if self.signed_at > now.saturating_add(MAX_FUTURE_SKEW_SECS) {
            return Err(Error::invalid(
                "signed_at",
                format!(
                    "{} is more than {MAX_FUTURE_SKEW_SECS} s ahead of the log's clock ({now})",
                    self.signed_at
                ),
            ));
        }
        // The public key is checked with the signature (see Signed::verify),
        // so it is decoded once per verification.
        Ok(())
    }
}

/// An organization's name: 1–200 characters, no control characters, no
/// surrounding whitespace (shared by endorsements and verifications).
pub(crate) fn validate_name(field: &'static str, name: &str) -> Result<(), Error> {
    validate_text(field, name, NAME_MAX_CHARS, false)?;
    if name.trim() != name {
        return Err(Error::invalid(
            field,
            "must not start or end with whitespace",
        ));
    }
    Ok(())
}

pub(crate) fn validate_country(cc: &str) -> Result<(), Error> {
    if country::is_assigned(cc) {
        return Ok(());
    }
    Err(Error::invalid(
        "country",
        format!("{cc:?} is not an ISO 3166-1 alpha-2 code (two uppercase letters, e.g. \"EE\")"),
    ))
}

/// Slug: 1–64 bytes of `a-z`, `0-9` and `-`, not starting or ending with `-`.
pub fn validate_commitment_id(id: &str) -> Result<(), Error> {
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if id.is_empty() || id.len() > COMMITMENT_ID_MAX_BYTES {
        return Err(Error::invalid(
            "commitment_id",
            format!("must be 1-{COMMITMENT_ID_MAX_BYTES} characters"),
        ));
    }
    if !ok_chars || id.starts_with('-') || id.ends_with('-') {
        return Err(Error::invalid(
            "commitment_id",
            "must be a slug of a-z, 0-9 and '-' (not at either end), e.g. \"global-commitment-dts\"",
        ));
    }
    Ok(())
}

/// Non-empty text of at most `max` characters without control characters
/// (line feeds allowed only where `allow_newline`).
pub(crate) fn validate_text(
    field: &'static str,
    s: &str,
    max: usize,
    allow_newline: bool,
) -> Result<(), Error> {
    let chars = s.chars().count();
    if chars == 0 || chars > max {
        return Err(Error::invalid(
            field,
            format!("must be 1-{max} characters, got {chars}"),
        ));
    }
    if s.chars()
        .any(|c| c.is_control() && !(allow_newline && c == '\n'))
    {
        let allowed = if allow_newline {
            " other than line feed"
        } else {
            ""
        };
        return Err(Error::invalid(
            field,
            format!("must not contain control characters{allowed}"),
        ));
    }
    Ok(())
}

/// A lowercase DNS name: 2+ labels of `a-z0-9-` (1–63 bytes, no leading or
/// trailing `-`), at most 253 bytes, no trailing dot, no scheme or path.
pub fn validate_domain(d: &str) -> Result<(), Error> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if d.len() > DOMAIN_MAX_BYTES || d.split('.').count() < 2 || !d.split('.').all(label_ok) {
        return Err(Error::invalid(
            "domain",
            format!("{d:?} is not a lowercase domain name such as \"example.org\" (no scheme, path or trailing dot)"),
        ));
    }
    Ok(())
}
