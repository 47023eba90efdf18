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

/// The canonical encodings of the eight points of small order (the
/// torsion subgroup: y = 1, y = −1, y = 0 with either sign, and four of
/// order 8), checked against the curve by
/// `core::signature_equivalence::small_order_encodings_are_the_torsion_subgroup`.
const SMALL_ORDER_R: [[u8; 32]; 8] = [
    hex32("0100000000000000000000000000000000000000000000000000000000000000"),
    hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    hex32("0000000000000000000000000000000000000000000000000000000000000000"),
    hex32("0000000000000000000000000000000000000000000000000000000000000080"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
];

const fn hex32(s: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("lowercase hex only"),
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(b[2 * i]) << 4 | digit(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Strict verification of `signature` over `message` (see module docs):
/// exactly the verdicts of `ed25519_dalek::VerifyingKey::verify_strict`,
/// one field square root cheaper.
///
/// dalek decodes `R` to refuse small-order points, then compares the
/// canonical encoding of R' = [s]B − [k]A with `R`'s bytes. Equal bytes
/// mean `R` *is* that canonical encoding, so it decodes (to R'); and R'
/// has small order only if those bytes are one of [`SMALL_ORDER_R`]. So
/// refusing those eight byte strings and comparing bytes accepts exactly
/// what dalek accepts, without decoding `R` (a square root, ≈ 8 % of a
/// verification). `core::signature_equivalence` compares both verdicts over adversarial
/// signatures: small-order and mixed-order `R` and `A`, non-canonical
/// encodings, unreduced `s`.
pub fn verify_strict(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), Error> {
    use curve25519_dalek::{EdwardsPoint, Scalar};
    use sha2::{Digest, Sha512};
    let fail = || Error::Signature("Ed25519 signature does not verify (strict)".into());
    let (r, s) = signature.split_at(32);
    let r: &[u8; 32] = r.try_into().expect("32 bytes");
    let s: Option<Scalar> = Scalar::from_canonical_bytes(s.try_into().expect("32 bytes")).into();
    let s = s.ok_or_else(fail)?;
    if SMALL_ORDER_R.contains(r) || key.is_weak() {
        return Err(fail());
    }
    let k = Sha512::new()
        .chain_update(r)
        .chain_update(key.as_bytes())
        .chain_update(message)
        .finalize();
    let k = Scalar::from_bytes_mod_order_wide(&k.into());
    let minus_a = -key.to_edwards();
    let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &minus_a, &s);
    match expected.compress().as_bytes() == r {
        true => Ok(()),
        false => Err(fail()),
    }
}

/// The encodings [`verify_strict`] refuses as `R` (for its tests).
#[cfg(test)]
pub(crate) fn small_order_r() -> [[u8; 32]; 8] {
    SMALL_ORDER_R
}

/// [`verify_strict`] as ed25519-dalek implements it: the reference the
/// faster one is tested against, and V's yardstick (`examples/sigrate`).
pub fn verify_strict_dalek(
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
