//! `signature::verify_strict` (no decoding of `R`) gives exactly the
//! verdicts of ed25519-dalek's `verify_strict`, over the signatures where
//! the two could differ: small-order and mixed-order `R` and `A`, every
//! non-canonical encoding of a point, unreduced `s`, and equations that
//! hold only thanks to a torsion component (built on purpose, below).

use super::signature::{verify_strict, verify_strict_dalek, SIGNATURE_LEN};
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::{EdwardsPoint, Scalar};
use ed25519_dalek::VerifyingKey;
use rand::{Rng, RngCore, SeedableRng};
use sha2::{Digest, Sha512};

/// Both verdicts for one (key, message, signature); they must agree.
/// Returns the verdict.
fn same_verdict(a: &EdwardsPoint, message: &[u8], sig: &[u8; SIGNATURE_LEN]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&a.compress().to_bytes()) else {
        panic!("a point's canonical encoding decodes");
    };
    let ours = verify_strict(&key, message, sig).is_ok();
    let dalek = verify_strict_dalek(&key, message, sig).is_ok();
    assert_eq!(
        ours,
        dalek,
        "A {:?} R {}",
        a.compress(),
        hex::encode(&sig[..32])
    );
    ours
}

fn challenge(r: &[u8; 32], a: &EdwardsPoint, message: &[u8]) -> Scalar {
    let h = Sha512::new()
        .chain_update(r)
        .chain_update(a.compress().as_bytes())
        .chain_update(message)
        .finalize();
    Scalar::from_bytes_mod_order_wide(&h.into())
}

fn signature(r: &[u8; 32], s: &Scalar) -> [u8; SIGNATURE_LEN] {
    let mut sig = [0u8; SIGNATURE_LEN];
    sig[..32].copy_from_slice(r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

fn random_scalar(rng: &mut impl RngCore) -> Scalar {
    let mut b = [0u8; 64];
    rng.fill_bytes(&mut b);
    Scalar::from_bytes_mod_order_wide(&b)
}

#[test]
fn small_order_encodings_are_the_torsion_subgroup() {
    let mut canonical: Vec<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|t| t.compress().to_bytes())
        .collect();
    canonical.sort();
    let mut ours = super::signature::small_order_r().to_vec();
    ours.sort();
    assert_eq!(canonical, ours);
}

/// Every byte string that decodes to a small-order point, canonical or
/// not: y ∈ {0, 1, p − 1, the order-8 y's} and y + p where y + p < 2^255,
/// with either sign bit.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut all = Vec::new();
    for t in EIGHT_TORSION {
        let c = t.compress().to_bytes();
        for sign in [0u8, 0x80] {
            let mut e = c;
            e[31] = (e[31] & 0x7f) | sign;
            all.push(e);
        }
    }
    // Non-canonical: y + p for y < 19 (2^255 − 19 + y fits in 255 bits).
    for y in 0u8..19 {
        for sign in [0u8, 0x80] {
            let mut e = [0xffu8; 32];
            e[0] = 0xed + y;
            e[31] = 0x7f | sign;
            all.push(e);
        }
    }
    all.retain(|e| {
        CompressedEdwardsY(*e)
            .decompress()
            .is_some_and(|p| p.is_small_order())
    });
    all.sort();
    all.dedup();
    assert!(all.len() >= 12, "{} small-order encodings", all.len());
    all
}

#[test]
fn verdicts_agree_on_adversarial_signatures() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_acc0_4d00);
    let b = |x: &Scalar| EdwardsPoint::mul_base(x);
    let mut accepted = [0u32; 3];
    // Cases where the equation held only through a torsion component (R
    // mixed-order), and where it held with a small-order R: the cases a
    // wrong list or a skipped check would get wrong. Both must occur.
    let (mut through_torsion, mut small_r_equations) = (0u32, 0u32);
    for round in 0..64u32 {
        let x = random_scalar(&mut rng);
        let torsion = EIGHT_TORSION[1 + (round as usize % 7)];
        // A: a plain key, a mixed-order key, and (refused by both) a
        // small-order one.
        let keys = [b(&x), b(&x) + torsion, torsion];
        for (which, a) in keys.iter().enumerate() {
            let message = format!("round {round}").into_bytes();
            // An honest signature (with A's torsion, it verifies only if
            // the torsion part vanishes: both must agree either way).
            let r = random_scalar(&mut rng);
            let r_bytes = b(&r).compress().to_bytes();
            let s = r + challenge(&r_bytes, a, &message) * x;
            if same_verdict(a, &message, &signature(&r_bytes, &s)) {
                accepted[which] += 1;
            }
            // Mixed-order R that makes the equation hold with a
            // mixed-order A: R = rB − kT needs k from R, so try torsion
            // choices until one matches (1 in 8 each).
            for t in EIGHT_TORSION {
                let rr = (b(&r) + t).compress().to_bytes();
                let k = challenge(&rr, a, &message);
                let s = r + k * x;
                let holds = b(&r) - k * (a - b(&x)) == b(&r) + t;
                let verdict = same_verdict(a, &message, &signature(&rr, &s));
                assert_eq!(verdict, holds && which < 2, "A {which}, T {t:?}");
                if verdict && t != EIGHT_TORSION[0] {
                    through_torsion += 1;
                }
            }
            // Small-order R, every encoding, with s making the equation
            // hold where it can ([s]B − [k]A = R needs s = kx and
            // −k·T_A = R: tried for each R) and with random s.
            for r_bytes in small_order_encodings() {
                let k = challenge(&r_bytes, a, &message);
                for s in [k * x, random_scalar(&mut rng), Scalar::ZERO] {
                    if (b(&s) - k * a).compress().to_bytes() == r_bytes {
                        small_r_equations += 1;
                    }
                    assert!(!same_verdict(a, &message, &signature(&r_bytes, &s)));
                }
            }
            // Unreduced s: refused.
            let mut unreduced = signature(&r_bytes, &s);
            add_l(&mut unreduced[32..]);
            assert!(!same_verdict(a, &message, &unreduced));
            // Random garbage and single bit flips.
            let mut garbage = [0u8; SIGNATURE_LEN];
            rng.fill_bytes(&mut garbage);
            garbage[63] &= 0x0f;
            same_verdict(a, &message, &garbage);
            let mut flipped = signature(&r_bytes, &s);
            flipped[rng.gen_range(0..64)] ^= 1 << rng.gen_range(0..8);
            same_verdict(a, &message, &flipped);
        }
    }
    assert_eq!(accepted[0], 64, "honest signatures by plain keys verify");
    assert!(accepted[1] > 0 && accepted[1] < 64, "{accepted:?}");
    assert_eq!(accepted[2], 0, "small-order keys never verify");
    assert!(through_torsion > 0, "no equation held through torsion");
    assert!(
        small_r_equations > 0,
        "no equation held with a small-order R"
    );
}

/// Keys given by a non-canonical encoding (y + p, y < 19, either sign):
/// the hash takes the key's bytes as given, in both (the service refuses
/// such keys before verifying; this pins the verifier alone).
#[test]
fn verdicts_agree_for_non_canonical_key_bytes() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut keys = 0;
    for y in 0u8..19 {
        for sign in [0u8, 0x80] {
            let mut e = [0xffu8; 32];
            e[0] = 0xed + y;
            e[31] = 0x7f | sign;
            let Ok(key) = VerifyingKey::from_bytes(&e) else {
                continue;
            };
            keys += 1;
            for _ in 0..16 {
                let mut sig = [0u8; SIGNATURE_LEN];
                rng.fill_bytes(&mut sig);
                sig[63] &= 0x0f;
                let r = EdwardsPoint::mul_base(&random_scalar(&mut rng)).compress();
                sig[..32].copy_from_slice(r.as_bytes());
                assert_eq!(
                    verify_strict(&key, b"m", &sig).is_ok(),
                    verify_strict_dalek(&key, b"m", &sig).is_ok()
                );
            }
        }
    }
    assert!(keys > 0, "some y + p encodings decode");
}

/// s + ℓ, in place (little-endian); s < ℓ so it fits in 32 bytes.
fn add_l(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (b, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
}
