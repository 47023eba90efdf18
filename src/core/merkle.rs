//! RFC 6962 / RFC 9162 Merkle tree math: hashing, roots, proof generation
//! from stored subtree hashes, and proof verification.
//!
//! Storage model: the log stores the hash of every *perfect* subtree, addressed
//! by `(level, index)`: the node covering leaves `[index·2^level,
//! (index+1)·2^level)`. Every range that RFC 6962's recursion visits splits
//! greedily into at most 64 such aligned subtrees, so a root or a proof costs
//! O(log n) reads and never rehashes leaves.

use super::Hash;
use sha2::{Digest, Sha256};

/// Root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// `SHA-256(0x00 ‖ leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &[u8], right: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Read access to stored perfect-subtree hashes.
pub trait NodeSource {
    type Error;
    /// Hash of the perfect subtree at `(level, index)`; level 0 is leaf hashes.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Hash of leaves `[lo, hi)`, where `lo` is aligned to a power of two at
/// least `hi - lo` (true of every range RFC 6962's recursion visits).
fn range_hash<S: NodeSource>(lo: u64, hi: u64, src: &S) -> Result<Hash, S::Error> {
    let mut parts = Vec::new();
    let mut start = lo;
    while start < hi {
        // Largest aligned perfect subtree starting at `start` that fits.
        let mut level = if start == 0 {
            63
        } else {
            start.trailing_zeros()
        };
        while level > 0 && start + (1u64 << level) > hi {
            level -= 1;
        }
        parts.push(src.node(level, start >> level)?);
        start += 1u64 << level;
    }
    Ok(fold_right(&parts))
}

/// RFC 6962 combines perfect subtrees right to left: H(a, H(b, c)).
fn fold_right(parts: &[Hash]) -> Hash {
    match parts.split_last() {
        None => EMPTY_ROOT,
        Some((last, rest)) => rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)),
    }
}

/// Largest power of two strictly less than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Merkle tree hash of the first `size` leaves.
pub fn root<S: NodeSource>(size: u64, src: &S) -> Result<Hash, S::Error> {
    range_hash(0, size, src)
}

/// RFC 6962 §2.1.1 audit path for leaf `index` in a tree of `size` leaves.
/// Panics if `index >= size`: callers check ranges and answer with a status.
pub fn inclusion_proof<S: NodeSource>(
    index: u64,
    size: u64,
    src: &S,
) -> Result<Vec<Hash>, S::Error> {
    assert!(
        index < size,
        "inclusion_proof: index {index} >= size {size}"
    );
    let mut out = Vec::with_capacity(64);
    let (mut lo, mut hi) = (0, size);
    // Iterative form of PATH(m, D[lo:hi]); siblings are collected top-down and
    // reversed at the end, since the proof lists them leaf-first.
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            out.push(range_hash(lo + k, hi, src)?);
            hi = lo + k;
        } else {
            out.push(range_hash(lo, lo + k, src)?);
            lo += k;
        }
    }
    out.reverse();
    Ok(out)
}

/// RFC 6962 §2.1.2 consistency proof from `old` to `new` leaves.
/// Panics unless `0 < old <= new`.
pub fn consistency_proof<S: NodeSource>(
    old: u64,
    new: u64,
    src: &S,
) -> Result<Vec<Hash>, S::Error> {
    assert!(
        0 < old && old <= new,
        "consistency_proof: bad sizes {old} -> {new}"
    );
    let mut out = Vec::with_capacity(64);
    // Iterative SUBPROOF(m, D[lo:hi], b).
    let (mut m, mut lo, mut hi, mut complete) = (old, 0u64, new, true);
    while m != hi - lo {
        let k = split_point(hi - lo);
        if m <= k {
            out.push(range_hash(lo + k, hi, src)?);
            hi = lo + k;
        } else {
            out.push(range_hash(lo, lo + k, src)?);
            m -= k;
            lo += k;
            complete = false;
        }
    }
    if !complete {
        out.push(range_hash(lo, hi, src)?);
    }
    out.reverse();
    Ok(out)
}
