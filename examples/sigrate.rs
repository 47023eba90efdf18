//! Measures this machine's raw single-core Ed25519 rates (strict single
//! verification and batch verification), the yardstick BENCHMARKS.md quotes:
//! V is ed25519-dalek's `verify_strict`; Accord's own (same verdicts,
//! `core::signature`) is printed beside it.
use accord::core::batch::{verify_all, SigItem};
use ed25519_dalek::{Signer, SigningKey};
use std::time::Instant;

fn main() {
    let n = 20_000;
    let items: Vec<SigItem> = (0..n)
        .map(|i: u32| {
            let mut seed = [7u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            let k = SigningKey::from_bytes(&seed);
            let message = format!("accord benchmark message {i}").into_bytes();
            SigItem {
                public_key: k.verifying_key().to_bytes(),
                signature: k.sign(&message).to_bytes(),
                message,
            }
        })
        .collect();
    // V, the yardstick: ed25519-dalek's own strict verification (with the
    // key's decoding and checks), as every earlier figure measured it.
    use accord::core::signature::{parse_public_key, verify_strict_dalek};
    let t = Instant::now();
    assert!(items.iter().all(|i| {
        let key = parse_public_key(&i.public_key, "k").unwrap();
        verify_strict_dalek(&key, &i.message, &i.signature).is_ok()
    }));
    let single = n as f64 / t.elapsed().as_secs_f64();
    // Accord's strict verification (same verdicts, `R` not decoded).
    let t = Instant::now();
    assert!(items.iter().all(|i| i.verify().is_ok()));
    let ours = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    assert!(verify_all(&items).iter().all(|r| r.is_ok()));
    let batch = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "single-core strict verify: {single:.0}/s (V, dalek); Accord's strict verify: {ours:.0}/s; single-core batch verify: {batch:.0}/s; raw dalek batch: {:.0}/s",
        raw_batch(&items)
    );
}

#[allow(dead_code)]
fn raw_batch(items: &[SigItem]) -> f64 {
    use ed25519_dalek::{Signature, VerifyingKey};
    let t = Instant::now();
    for chunk in items.chunks(256) {
        let m: Vec<&[u8]> = chunk.iter().map(|i| i.message.as_slice()).collect();
        let s: Vec<Signature> = chunk
            .iter()
            .map(|i| Signature::from_bytes(&i.signature))
            .collect();
        let k: Vec<VerifyingKey> = chunk
            .iter()
            .map(|i| VerifyingKey::from_bytes(&i.public_key).unwrap())
            .collect();
        ed25519_dalek::verify_batch(&m, &s, &k).unwrap();
    }
    items.len() as f64 / t.elapsed().as_secs_f64()
}
