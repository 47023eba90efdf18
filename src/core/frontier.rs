//! The right edge of a growing Merkle tree: the roots of its perfect
//! subtrees, largest first. With it the sequencer appends a leaf, learns which
//! new perfect-subtree nodes to store, and computes the new root in O(log n)
//! hashing without reading storage. The auditor uses it to recompute a root
//! from all leaves in O(log n) memory.

use super::merkle::{self, NodeSource, EMPTY_ROOT};
use super::Hash;

/// A node that became complete when a leaf was appended: store it at
/// `(level, index)` so proofs can be served from storage later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewNode {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One hash per set bit of `size`, from the most significant bit down.
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the frontier of a stored tree of `size` leaves: one read per
    /// set bit of `size`.
    pub fn load<S: NodeSource>(size: u64, src: &S) -> Result<Self, S::Error> {
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64).rev() {
            if size & (1u64 << level) != 0 {
                hashes.push(src.node(level, start >> level)?);
                start += 1u64 << level;
            }
        }
        Ok(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, largest first (one per set bit of `size`).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Rebuilds a frontier from [`Frontier::size`] and [`Frontier::hashes`];
    /// `None` if the count does not match the size.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    /// Appends a leaf hash; `emit` receives the leaf node and every interior
    /// node the append completed, bottom-up.
    pub fn push(&mut self, leaf_hash: Hash, mut emit: impl FnMut(NewNode)) {
        let (mut level, mut index, mut hash) = (0u32, self.size, leaf_hash);
        emit(NewNode { level, index, hash });
        while index & 1 == 1 {
            let left = self.hashes.pop().expect("an odd index has a left sibling");
            hash = merkle::node_hash(&left, &hash);
            index >>= 1;
            level += 1;
            emit(NewNode { level, index, hash });
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// RFC 6962 root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        match self.hashes.split_last() {
            None => EMPTY_ROOT,
            Some((last, rest)) => rest
                .iter()
                .rev()
                .fold(*last, |acc, h| merkle::node_hash(h, &acc)),
        }
    }
}
