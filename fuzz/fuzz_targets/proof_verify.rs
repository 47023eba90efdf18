//! RFC 6962 proof verification, two ways: (1) arbitrary index, sizes, hashes
//! and proofs must be refused cleanly (no panic, no overflow); (2) proofs
//! generated for a random small tree must verify, and flipping any one bit
//! of any proof hash must make them fail.
#![no_main]

use accord::core::merkle::{self, NodeSource};
use accord::core::proof::{verify_consistency, verify_inclusion};
use accord::core::Hash;
use libfuzzer_sys::fuzz_target;

struct Leaves(Vec<Hash>);

impl NodeSource for Leaves {
    type Error = ();
    fn node(&self, level: u32, index: u64) -> Result<Hash, ()> {
        if level == 0 {
            return self.0.get(index as usize).copied().ok_or(());
        }
        let left = self.node(level - 1, index * 2)?;
        let right = self.node(level - 1, index * 2 + 1)?;
        Ok(merkle::node_hash(&left, &right))
    }
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in data.iter().skip(at).take(8).enumerate() {
        b[i] = *x;
    }
    u64::from_le_bytes(b)
}

fn refs(p: &[Vec<u8>]) -> Vec<&[u8]> {
    p.iter().map(Vec::as_slice).collect()
}

fuzz_target!(|data: &[u8]| {
    // (1) Arbitrary input.
    let (index, size, old) = (u64_at(data, 0), u64_at(data, 8), u64_at(data, 16));
    let rest = data.get(24..).unwrap_or_default();
    let chunks: Vec<&[u8]> = rest.chunks(32).collect();
    let (a, b) = (
        chunks.first().copied().unwrap_or(&[]),
        chunks.get(1).copied().unwrap_or(&[]),
    );
    let proof = chunks.get(2..).unwrap_or_default();
    let _ = verify_inclusion(index, size, a, proof, b);
    let _ = verify_consistency(old, size, proof, a, b);

    // (2) A real tree of 1..=64 leaves.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = u64::from(n % 64) + 1;
    let leaves = Leaves(
        (0..n)
            .map(|i| merkle::leaf_hash(&[i.to_le_bytes().as_slice(), rest].concat()))
            .collect(),
    );
    let i = index % n;
    let m = old % n + 1;
    let root = merkle::root(n, &leaves).unwrap();
    let old_root = merkle::root(m, &leaves).unwrap();
    let inclusion = merkle::inclusion_proof(i, n, &leaves).unwrap();
    let consistency = merkle::consistency_proof(m, n, &leaves).unwrap();
    let as_refs = |p: &[Hash]| p.iter().map(|h| h.to_vec()).collect::<Vec<_>>();
    let (inc, con) = (as_refs(&inclusion), as_refs(&consistency));
    verify_inclusion(i, n, &leaves.0[i as usize], &refs(&inc), &root).expect("inclusion");
    verify_consistency(m, n, &refs(&con), &old_root, &root).expect("consistency");

    let bit = (size as usize) % 256;
    if !inc.is_empty() {
        let mut bad = inc.clone();
        let h = (size as usize / 256) % bad.len();
        bad[h][bit / 8] ^= 1 << (bit % 8);
        assert!(verify_inclusion(i, n, &leaves.0[i as usize], &refs(&bad), &root).is_err());
    }
    if !con.is_empty() {
        let mut bad = con.clone();
        let h = (size as usize / 256) % bad.len();
        bad[h][bit / 8] ^= 1 << (bit % 8);
        assert!(verify_consistency(m, n, &refs(&bad), &old_root, &root).is_err());
    }
});
