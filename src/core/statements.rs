//! The statements besides endorsements (SPEC.md §5.1–§5.3): withdrawal, key
//! rotation and commitment registration. Each has its own domain tag, a
//! length-prefixed body and field rules; the registry rules that relate them
//! to earlier entries live in `registry`.

use super::encoding::{Reader, Writer};
use super::endorsement::{validate_commitment_id, MAX_FUTURE_SKEW_SECS};
use super::{sha256, Error, Hash};

pub const WITHDRAWAL_DOMAIN: &[u8] = b"accord/v1/withdrawal\0";
pub const ROTATION_DOMAIN: &[u8] = b"accord/v1/key-rotation\0";
pub const COMMITMENT_DOMAIN: &[u8] = b"accord/v1/commitment\0";
/// Organization ids: SHA-256 of this tag and the key of the first endorsement.
pub const ORG_ID_DOMAIN: &[u8] = b"accord/v1/organization-id\0";

/// The stable id of an organization whose first endorsement used `first_key`.
pub fn organization_id(first_key: &[u8; 32]) -> Hash {
    sha256(&[ORG_ID_DOMAIN, first_key].concat())
}

pub(crate) fn check_time(signed_at: u64, now: u64) -> Result<(), Error> {
    if signed_at > now.saturating_add(MAX_FUTURE_SKEW_SECS) {
        return Err(Error::invalid(
            "signed_at",
            format!("{signed_at} is more than {MAX_FUTURE_SKEW_SECS} s ahead of the log's clock ({now})"),
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), Error> {
    let n = s.chars().count();
    if n == 0 || n > max || s.chars().any(char::is_control) || s.trim() != s {
        return Err(Error::invalid(
            field,
            format!("must be 1-{max} characters without control characters or surrounding spaces"),
        ));
    }
    Ok(())
}

/// An organization withdraws its endorsement of a commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub organization_id: Hash,
    pub commitment_id: String,
    pub signed_at: u64,
    /// The organization's current key, which signs.
    pub public_key: [u8; 32],
}

impl Withdrawal {
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&self.organization_id)
            .str(&self.commitment_id)
            .u64(self.signed_at)
            .raw(&self.public_key);
        w.finish()
    }
    pub fn parse_body(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let w = Withdrawal {
            organization_id: r.array("organization_id")?,
            commitment_id: r.str("commitment_id")?.to_owned(),
            signed_at: r.u64("signed_at")?,
            public_key: r.array("public_key")?,
        };
        r.finish("withdrawal")?;
        Ok(w)
    }
    pub fn signed_message(&self) -> Vec<u8> {
        [WITHDRAWAL_DOMAIN, &self.body()].concat()
    }
    pub fn validate(&self, now: u64) -> Result<(), Error> {
        validate_commitment_id(&self.commitment_id)?;
        check_time(self.signed_at, now)
    }
}

/// An organization replaces its key. Both keys sign the same message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    pub organization_id: Hash,
    pub old_public_key: [u8; 32],
    pub new_public_key: [u8; 32],
    pub signed_at: u64,
}

impl KeyRotation {
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&self.organization_id)
            .raw(&self.old_public_key)
            .raw(&self.new_public_key)
            .u64(self.signed_at);
        w.finish()
    }
    pub fn parse_body(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let k = KeyRotation {
            organization_id: r.array("organization_id")?,
            old_public_key: r.array("old_public_key")?,
            new_public_key: r.array("new_public_key")?,
            signed_at: r.u64("signed_at")?,
        };
        r.finish("key rotation")?;
        Ok(k)
    }
    pub fn signed_message(&self) -> Vec<u8> {
        [ROTATION_DOMAIN, &self.body()].concat()
    }
    pub fn validate(&self, now: u64) -> Result<(), Error> {
        if self.old_public_key == self.new_public_key {
            return Err(Error::invalid(
                "new_public_key",
                "must differ from old_public_key",
            ));
        }
        check_time(self.signed_at, now)
    }
}

/// The log operator registers (a version of) a commitment's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentRegistration {
    pub commitment_id: String,
    pub version: String,
    pub title: String,
    pub text_sha256: Hash,
    pub url: Option<String>,
    pub signed_at: u64,
    /// The operator key, which signs.
    pub public_key: [u8; 32],
}

/// Limits: titles like "Paris Call for Trust and Security in Cyberspace"
/// need ~50 characters; 200 leaves room. Versions are short labels ("2020-1").
pub const TITLE_MAX_CHARS: usize = 200;
pub const VERSION_MAX_CHARS: usize = 32;
pub const URL_MAX_BYTES: usize = 2000;

impl CommitmentRegistration {
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.str(&self.commitment_id)
            .str(&self.version)
            .str(&self.title)
            .raw(&self.text_sha256)
            .str(self.url.as_deref().unwrap_or(""))
            .u64(self.signed_at)
            .raw(&self.public_key);
        w.finish()
    }
    pub fn parse_body(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let c = CommitmentRegistration {
            commitment_id: r.str("commitment_id")?.to_owned(),
            version: r.str("version")?.to_owned(),
            title: r.str("title")?.to_owned(),
            text_sha256: r.array("text_sha256")?,
            url: Some(r.str("url")?.to_owned()).filter(|u| !u.is_empty()),
            signed_at: r.u64("signed_at")?,
            public_key: r.array("public_key")?,
        };
        r.finish("commitment registration")?;
        Ok(c)
    }
    pub fn signed_message(&self) -> Vec<u8> {
        [COMMITMENT_DOMAIN, &self.body()].concat()
    }
    pub fn validate(&self, now: u64) -> Result<(), Error> {
        validate_commitment_id(&self.commitment_id)?;
        check_text("version", &self.version, VERSION_MAX_CHARS)?;
        check_text("title", &self.title, TITLE_MAX_CHARS)?;
        if let Some(url) = &self.url {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= URL_MAX_BYTES
                && !url.chars().any(|c| c.is_control() || c.is_whitespace());
            if !ok {
                return Err(Error::invalid(
                    "url",
                    "must be an http(s) URL without spaces, at most 2000 bytes",
                ));
            }
        }
        check_time(self.signed_at, now)
    }
}
