//! Batch signature verification with exactly the verdicts of strict
//! single verification (SPEC.md §4).
//!
//! Why this is sound: ed25519-dalek's batch equation is *cofactored* (it
//! multiplies by 8 before comparing), while `verify_strict` is cofactorless.
//! The two differ only when `[S]B − R − [k]A` is a non-zero small-order point,
//! which is impossible when `R` and `A` both lie in the prime-order subgroup
//! (B does by construction). So items whose `R` and `A` are torsion-free, with
//! canonical `R` and `S`, go to the batch; every other item, and every item of
//! a batch that fails, is decided by `verify_strict` alone.

use super::signature::{parse_public_key, verify_strict, SIGNATURE_LEN};
use super::Error;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};

/// Items per batch equation. Batching gains little past a few hundred
/// signatures, and a failed batch costs one strict check per item, so small
/// batches keep the price of one forged signature low.
const BATCH: usize = 256;

/// One signature to check: the signer's key, the signed bytes, the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigItem {
    pub public_key: [u8; 32],
    pub message: Vec<u8>,
    pub signature: [u8; SIGNATURE_LEN],
}

impl SigItem {
    /// Strict single verification of this item.
    pub fn verify(&self) -> Result<(), Error> {
        let key = parse_public_key(&self.public_key, "public_key")?;
        verify_strict(&key, &self.message, &self.signature)
    }
}

/// True if the batch (cofactored) verdict for this item equals the strict one.
fn batchable(key: &VerifyingKey, sig: &[u8; SIGNATURE_LEN]) -> bool {
    let r_bytes: [u8; 32] = sig[..32].try_into().expect("32 bytes");
    let s_bytes: [u8; 32] = sig[32..].try_into().expect("32 bytes");
    let r_ok = CompressedEdwardsY(r_bytes)
        .decompress()
        .is_some_and(|r| r.is_torsion_free() && r.compress().to_bytes() == r_bytes);
    let s_ok = bool::from(Scalar::from_canonical_bytes(s_bytes).is_some());
    r_ok && s_ok && key.to_edwards().is_torsion_free()
}

/// Verifies every item; the result for each is what [`SigItem::verify`]
/// would return.
pub fn verify_all(items: &[SigItem]) -> Vec<Result<(), Error>> {
    let mut results: Vec<Option<Result<(), Error>>> = vec![None; items.len()];
    let mut pending: Vec<(usize, VerifyingKey)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match parse_public_key(&item.public_key, "public_key") {
            Err(e) => results[i] = Some(Err(e)),
            Ok(key) if batchable(&key, &item.signature) => pending.push((i, key)),
            Ok(key) => results[i] = Some(verify_strict(&key, &item.message, &item.signature)),
        }
    }
    for chunk in pending.chunks(BATCH) {
        let messages: Vec<&[u8]> = chunk
            .iter()
            .map(|(i, _)| items[*i].message.as_slice())
            .collect();
        let signatures: Vec<Signature> = chunk
            .iter()
            .map(|(i, _)| Signature::from_bytes(&items[*i].signature))
            .collect();
        let keys: Vec<VerifyingKey> = chunk.iter().map(|(_, k)| *k).collect();
        let batch_ok = ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
        for (i, key) in chunk {
            results[*i] = Some(if batch_ok {
                Ok(())
            } else {
                verify_strict(key, &items[*i].message, &items[*i].signature)
            });
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every item decided"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn item(seed: u8, msg: &[u8]) -> SigItem {
        let k = SigningKey::from_bytes(&[seed; 32]);
        SigItem {
            public_key: k.verifying_key().to_bytes(),
            message: msg.to_vec(),
            signature: k.sign(msg).to_bytes(),
        }
    }

    #[test]
    fn batch_verdicts_equal_strict_verdicts() {
        let mut items: Vec<SigItem> = (0..520u32)
            .map(|i| item((i % 250) as u8 + 1, &i.to_be_bytes()))
            .collect();
        items[7].signature[3] ^= 1; // bad R
        items[300].message.push(0); // wrong message
        items[519].signature[40] ^= 1; // bad S
                                       // R with a small-order (torsion) component: cofactored batch math
                                       // would accept a crafted signature here; strict must decide.
        let order2: [u8; 32] = {
            let mut b = [0xff; 32];
            b[0] = 0xec;
            b[31] = 0x7f;
            b
        };
        let r = CompressedEdwardsY(items[9].signature[..32].try_into().unwrap())
            .decompress()
            .unwrap();
        let t = CompressedEdwardsY(order2).decompress().unwrap();
        items[9].signature[..32].copy_from_slice(&(r + t).compress().to_bytes());
        let got = verify_all(&items);
        for (i, (item, result)) in items.iter().zip(&got).enumerate() {
            assert_eq!(result.is_ok(), item.verify().is_ok(), "item {i}");
        }
        assert_eq!(got.iter().filter(|r| r.is_err()).count(), 4);
    }
}
