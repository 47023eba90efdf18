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
use ed25519_dalek::{Signature, VerifyingKey};

/// Length of an Ed25519 public key and of a signature, in bytes (RFC 8032).
pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// True if `bytes` is the canonical encoding of its y coordinate, i.e.
/// y < p = 2^255 − 19 (the sign bit aside). Checked on the bytes, because
/// re-encoding a decoded point costs a field inversion. (The other
/// non-canonical form, x = 0 with the sign bit set, only exists for the two
/// small-order points y = ±1, which are refused as weak anyway.)
fn canonical_y(bytes: &[u8; 32]) -> bool {
    let top_ones = bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff);
    !(top_ones && bytes[0] >= 0xed)
}

/// Decodes a public key, refusing non-canonical encodings and weak keys.
/// `field` names the field in the error (e.g. `"public_key"`).
pub fn parse_public_key(bytes: &[u8], field: &'static str) -> Result<VerifyingKey, Error> {
    let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| {
        Error::invalid(
            field,
            format!("must be {PUBLIC_KEY_LEN} bytes, got {}", bytes.len()),
        )
    })?;
    if !canonical_y(&arr) {
        return Err(Error::invalid(field, "is a non-canonical point encoding"));
    }
    let key = VerifyingKey::from_bytes(&arr)
        .map_err(|_| Error::invalid(field, "is not a valid Ed25519 point"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn weak_and_non_canonical_keys_are_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = parse_public_key(&identity, "public_key").unwrap_err();
        assert!(err.to_string().contains("weak"), "{err}");
        // y = p + 1 ≡ 1: a non-canonical encoding of the identity.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert!(parse_public_key(&non_canonical, "public_key").is_err());
        assert!(parse_public_key(&[1; 31], "public_key").is_err());
        // Every y in [p, 2^255) is refused, point or not, and canonical_y
        // agrees with decode-then-re-encode on both sides of the boundary.
        for low in 0xe0..=0xffu8 {
            let mut b = [0xffu8; 32];
            b[0] = low;
            b[31] = 0x7f;
            let reencodes = curve25519_dalek::edwards::CompressedEdwardsY(b)
                .decompress()
                .is_some_and(|p| p.compress().to_bytes() == b);
            assert_eq!(canonical_y(&b), low < 0xed);
            assert!(!reencodes || canonical_y(&b), "{low:#x}");
        }
    }

    #[test]
    fn strict_verification_rejects_malleated_s() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let msg = b"accord";
        let sig = key.sign(msg).to_bytes();
        let vk = parse_public_key(key.verifying_key().as_bytes(), "k").unwrap();
        verify_strict(&vk, msg, &sig).unwrap();
        // S + ℓ is the same scalar but a non-canonical encoding: must fail.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut malleated = sig;
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(malleated[32 + i]) + u16::from(L[i]) + carry;
            malleated[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert!(verify_strict(&vk, msg, &malleated).is_err());
        assert!(verify_strict(&vk, b"other", &sig).is_err());
    }
}
