//! Setting many keys of the registry map at once, as a batch of statements
//! does: the changed subtrees are rebuilt bottom-up, so every changed node
//! is read and hashed once, however many of the batch's keys lie below it
//! (keys set one by one with [`super::map::MapUpdate::set`] rehash their
//! whole path each time). The result is the same tree, by the definition
//! in `core::map`; `tests/map_conformance.rs` checks both against a naive
//! recomputation.

use super::map::{bit, empty_hash, node_hash, MapSource, Node, Position};
use super::Hash;

/// The nodes an update writes, each at its position.
pub type Writes = Vec<(Position, Node)>;

/// Sets every `(key hash, value hash)` pair (a key given twice keeps its
/// last value) over the map in `src`: returns the new root and the nodes
/// to write, in position order.
pub fn set_batch<S: MapSource>(
    src: &S,
    pairs: &[(Hash, Hash)],
) -> Result<(Hash, Writes), S::Error> {
    let mut sorted: Vec<(Hash, Hash)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs.iter().rev() {
        sorted.push((*k, *v));
    }
    // Stable sort of the reversed list, then the first of each key: the last given.
    sorted.sort_by_key(|(k, _)| *k);
    sorted.dedup_by(|later, first| later.0 == first.0);
    let mut writes = Vec::new();
    let root = match sorted.is_empty() {
        true => src.map_node(&Position::ROOT)?.hash(),
        false => descend(src, 0, &sorted, &mut writes)?,
    };
    writes.sort_by_key(|(p, _)| *p);
    Ok((root, writes))
}

/// The new hash of the stored subtree at depth `depth` on the path of
/// `pairs` (non-empty, sorted, sharing their first `depth` bits).
fn descend<S: MapSource>(
    src: &S,
    depth: usize,
    pairs: &[(Hash, Hash)],
    writes: &mut Writes,
) -> Result<Hash, S::Error> {
    let at = Position::of(&pairs[0].0, depth);
    match src.map_node(&at)? {
        Node::Internal(_) => {
            let (left, right) = pairs.split_at(pairs.partition_point(|(k, _)| !bit(k, depth)));
            // A side without changes keeps its stored hash.
            let unchanged = |side_of: &Hash| -> Result<Hash, S::Error> {
                Ok(src
                    .map_node(&Position::of(side_of, depth + 1).sibling())?
                    .hash())
            };
            let l = match left.is_empty() {
                true => unchanged(&right[0].0)?,
                false => descend(src, depth + 1, left, writes)?,
            };
            let r = match right.is_empty() {
                true => unchanged(&left[0].0)?,
                false => descend(src, depth + 1, right, writes)?,
            };
            let h = node_hash(&l, &r);
            writes.push((at, Node::Internal(h)));
            Ok(h)
        }
        Node::Empty => Ok(build(depth, pairs, writes)),
        Node::Leaf { key, value_hash } => {
            // The leaf here joins the new pairs, unless one of them replaces it.
            if pairs.iter().any(|(k, _)| *k == key) {
                return Ok(build(depth, pairs, writes));
            }
            let mut all = pairs.to_vec();
            let i = all.partition_point(|(k, _)| *k < key);
            all.insert(i, (key, value_hash));
            Ok(build(depth, &all, writes))
        }
    }
}

/// The subtree of exactly `pairs` (sorted, sharing their first `depth`
/// bits) at depth `depth`, built by the definition; every node written.
fn build(depth: usize, pairs: &[(Hash, Hash)], writes: &mut Writes) -> Hash {
    let at = Position::of(&pairs[0].0, depth);
    if let [(key, value_hash)] = pairs {
        let leaf = Node::Leaf {
            key: *key,
            value_hash: *value_hash,
        };
        writes.push((at, leaf));
        return leaf.hash();
    }
    let (left, right) = pairs.split_at(pairs.partition_point(|(k, _)| !bit(k, depth)));
    let side = |s: &[(Hash, Hash)], writes: &mut Writes| match s.is_empty() {
        true => empty_hash(),
        false => build(depth + 1, s, writes),
    };
    let l = side(left, writes);
    let r = side(right, writes);
    let h = node_hash(&l, &r);
    writes.push((at, Node::Internal(h)));
    h
}
