//! Tree nodes kept in memory. A node `(level, index)` is written once, in
//! the commit that completes its subtree, and never changes, so a copy is
//! right forever and needs no invalidation, even with other servers
//! writing the same database. Each commit adds the nodes it wrote; reads
//! add what they fetch. Proofs for recent entries (what every submitter
//! gets back) then need no round trip at all.

use crate::core::Hash;
use std::collections::HashMap;
use std::sync::RwLock;

/// Nodes kept before the cache starts over: ≈ 64 B each with the map's
/// overhead, so ≈ 32 MiB; a tree of 2^19 leaves has all its nodes in it,
/// and a bigger one keeps its recent ones (refilled as they are read).
const MAX_NODES: usize = 1 << 19;

#[derive(Default)]
pub(super) struct NodeCache {
    nodes: RwLock<HashMap<(u32, u64), Hash>>,
}

impl NodeCache {
    pub fn get(&self, at: (u32, u64)) -> Option<Hash> {
        self.nodes.read().ok()?.get(&at).copied()
    }

    pub fn insert(&self, nodes: impl IntoIterator<Item = ((u32, u64), Hash)>) {
        let Ok(mut map) = self.nodes.write() else {
            return;
        };
        for (at, hash) in nodes {
            if map.len() >= MAX_NODES {
                map.clear(); // bounded memory; the hot nodes come back at once
            }
            map.insert(at, hash);
        }
    }
}
