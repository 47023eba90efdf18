//! The one signature rule of Accord: Ed25519 with `verify_strict` semantics.
//!
//! Plain RFC 8032 verification leaves room for malleability and for keys that
//! "sign" everything. Accord therefore refuses, everywhere (admission, audit,
//! receipts):
//! - public keys that are not the canonical encoding of a curve point, or
//!   whose point has small order ("weak" keys: their signatures prove nothing);
//! - signatures whose `S` is not reduced mod ℓ, or whose `R` has small order
//!   or a non-canonical encoding;
//! - anything `ed25519_dalek::VerifyingKey::verify_strict` rejects.
//!
//! These checks are deterministic, so every verifier reaches the same verdict.

use super::Error;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, VerifyingKey};

/// Length of an Ed25519 public key and of a signature, in bytes (RFC 8032).
pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// Decodes a public key, refusing non-canonical encodings and weak keys.
/// `field` names the field in the error (e.g. `"public_key"`).
pub fn parse_public_key(bytes: &[u8], field: &'static str) -> Result<VerifyingKey, Error> {
    let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| {
        Error::invalid(
            field,
            format!("must be {PUBLIC_KEY_LEN} bytes, got {}", bytes.len()),
        )
    })?;
    let point = CompressedEdwardsY(arr)
        .decompress()
        .ok_or_else(|| Error::invalid(field, "is not a valid Ed25519 point"))?;
    if point.compress().to_bytes() != arr {
        return Err(Error::invalid(field, "is a non-canonical point encoding"));
    }
    let key = VerifyingKey::from_bytes(&arr)
        .map_err(|_| Error::invalid(field, "is not a valid Ed25519 public key"))?;
    if key.is_weak() {
        return Err(Error::invalid(
            field,
            "is a weak (small-order) Ed25519 key and is refused",
        ));
    }
    Ok(key)
}

/// Parses a 64-byte signature field.
pub fn parse_signature(bytes: &[u8], field: &'static str) -> Result<[u8; SIGNATURE_LEN], Error> {
    bytes.try_into().map_err(|_| {
        Error::invalid(
            field,
            format!("must be {SIGNATURE_LEN} bytes, got {}", bytes.len()),
        )
    })
}

/// Strict verification of `signature` over `message` (see module docs).
pub fn verify_strict(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), Error> {
    let sig = Signature::from_bytes(signature);
    key.verify_strict(message, &sig)
        .map_err(|_| Error::Signature("Ed25519 signature does not verify (strict)".into()))
}
