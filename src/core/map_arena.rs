//! The registry map held as a tree of nodes in two arrays, for the auditor,
//! which recomputes the map of the whole log and needs only its roots.
//!
//! [`super::map::MemoryMap`] stores every subtree at its [`Position`] in a
//! hash map, the model of the stored map the server keeps (positions are
//! its storage keys). Updating it costs, per changed node, a hashed lookup
//! of the node and of its sibling, a write, and a sort of the writes: an
//! audit of 100k entries spent a quarter of its CPU there
//! (BENCHMARKS.md, "Write and audit paths"). Here a node names its
//! children by index, so a batch walks down from the root by following
//! indices, updates nodes in place and rehashes each changed node once.
//! A node keeps its two children's hashes, so the unchanged side of a
//! changed path is neither rehashed nor even visited (at 1M organizations
//! the nodes do not fit the CPU's caches, and each visit is a miss).
//!
//! The tree is the one `core::map` defines (the same roots for the same
//! pairs, whatever the batches: `tests/map_conformance.rs` checks it
//! against the naive recomputation and against `MemoryMap`'s root). Keys are only
//! ever set, never removed, as in the registry, so nodes are never freed.
//!
//! [`Position`]: super::map::Position

use super::map::{bit, empty_hash, leaf_hash, node_hash};
use super::Hash;

/// A reference to a subtree: [`EMPTY`], an index into `internals`, or an
/// index into `leaves` with [`LEAF`] set: 2³¹ − 1 leaves and 2³¹ internal
/// nodes fit; a registry that large would need terabytes of memory first.
type Ref = u32;
const EMPTY: Ref = u32::MAX;
const LEAF: Ref = 1 << 31;

/// A subtree of two or more pairs: its children and their hashes (its own
/// hash is kept by its parent, or as the map's root).
#[derive(Clone, Debug)]
struct Internal {
    children: [Ref; 2],
    hashes: [Hash; 2],
}

/// A subtree of one pair: its key (its hash is kept by its parent).
#[derive(Clone, Debug)]
struct Leaf {
    key: Hash,
}

/// A pair to place while building a subtree: a new one (key, value hash)
/// or a leaf already in the arena (key, reference, hash), moved down by a
/// split.
#[derive(Clone, Copy)]
enum Item {
    New(Hash, Hash),
    Existing(Hash, Ref, Hash),
}

impl Item {
    fn key(&self) -> &Hash {
        match self {
            Item::New(k, _) | Item::Existing(k, _, _) => k,
        }
    }
}

/// The registry map in memory, as a tree of indices: roots only, no proofs.
#[derive(Clone, Debug)]
pub struct ArenaMap {
    root: Ref,
    root_hash: Hash,
    internals: Vec<Internal>,
    leaves: Vec<Leaf>,
    /// `empty_hash()`, computed once.
    empty: Hash,
}

impl Default for ArenaMap {
    fn default() -> Self {
        ArenaMap {
            root: EMPTY,
            root_hash: empty_hash(),
            internals: Vec::new(),
            leaves: Vec::new(),
            empty: empty_hash(),
        }
    }
}

/// Two maps are equal when their roots are: the root commits to the set of
/// pairs, whereas the arrays' order depends on the batches that built them.
impl PartialEq for ArenaMap {
    fn eq(&self, other: &Self) -> bool {
        self.root() == other.root()
    }
}

impl Eq for ArenaMap {}

impl ArenaMap {
    /// The map's root hash.
    pub fn root(&self) -> Hash {
        self.root_hash
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// Sets every `(key hash, value hash)` pair (a key given twice keeps
    /// its last value) and returns the new root.
    pub fn set_all<'k>(&mut self, pairs: impl IntoIterator<Item = (&'k Hash, &'k Hash)>) -> Hash {
        let mut sorted: Vec<(Hash, Hash)> = pairs.into_iter().map(|(k, v)| (*k, *v)).collect();
        sorted.reverse();
        // A stable sort of the reversed list, then the first of each key: the last given.
        sorted.sort_by_key(|(k, _)| *k);
        sorted.dedup_by(|later, first| later.0 == first.0);
        if !sorted.is_empty() {
            (self.root, self.root_hash) = self.update(self.root, self.root_hash, 0, &sorted);
        }
        self.root_hash
    }

    /// Applies `pairs` (non-empty, sorted, unique, sharing their first
    /// `depth` bits) to the subtree `r` (whose hash is `hash`) at `depth`;
    /// returns the subtree's new reference and hash.
    fn update(&mut self, r: Ref, hash: Hash, depth: usize, pairs: &[(Hash, Hash)]) -> (Ref, Hash) {
        if r == EMPTY {
            let items: Vec<Item> = pairs.iter().map(|(k, v)| Item::New(*k, *v)).collect();
            return self.build(depth, &items);
        }
        if r & LEAF != 0 {
            let key = self.leaves[(r & !LEAF) as usize].key;
            if let [(k, v)] = pairs {
                if *k == key {
                    return (r, leaf_hash(k, v));
                }
            }
            // The leaf joins the new pairs (keeping its slot), with its new
            // value if one of them replaces it.
            let mut items: Vec<Item> = pairs.iter().map(|(k, v)| Item::New(*k, *v)).collect();
            match pairs.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => items[i] = Item::Existing(key, r, leaf_hash(&key, &pairs[i].1)),
                Err(i) => items.insert(i, Item::Existing(key, r, hash)),
            }
            return self.build(depth, &items);
        }
        let split = pairs.partition_point(|(k, _)| !bit(k, depth));
        let Internal {
            mut children,
            mut hashes,
        } = self.internals[r as usize];
        for (side, part) in [(0, &pairs[..split]), (1, &pairs[split..])] {
            if !part.is_empty() {
                (children[side], hashes[side]) =
                    self.update(children[side], hashes[side], depth + 1, part);
            }
        }
        self.internals[r as usize] = Internal { children, hashes };
        (r, node_hash(&hashes[0], &hashes[1]))
    }

    /// The subtree of exactly `items` (non-empty, sorted, unique, sharing
    /// their first `depth` bits) at `depth`, by the definition: its
    /// reference and hash.
    fn build(&mut self, depth: usize, items: &[Item]) -> (Ref, Hash) {
        if let [item] = items {
            return match *item {
                Item::Existing(_, r, hash) => (r, hash),
                Item::New(key, value_hash) => {
                    // The last index, 2³¹ − 1, would read as EMPTY.
                    assert!(self.leaves.len() < (LEAF - 1) as usize, "map arena full");
                    self.leaves.push(Leaf { key });
                    let r = LEAF | (self.leaves.len() - 1) as Ref;
                    (r, leaf_hash(&key, &value_hash))
                }
            };
        }
        let split = items.partition_point(|i| !bit(i.key(), depth));
        let empty = self.empty;
        let mut side = |s: &[Item]| match s.is_empty() {
            true => (EMPTY, empty),
            false => self.build(depth + 1, s),
        };
        let (left, left_hash) = side(&items[..split]);
        let (right, right_hash) = side(&items[split..]);
        assert!(self.internals.len() < LEAF as usize, "map arena full");
        self.internals.push(Internal {
            children: [left, right],
            hashes: [left_hash, right_hash],
        });
        let r = (self.internals.len() - 1) as Ref;
        (r, node_hash(&left_hash, &right_hash))
    }
}
