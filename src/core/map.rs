//! The registry's authenticated map: a compressed sparse Merkle tree over
//! 256-bit key hashes, with proofs of membership and of absence.
//!
//! Definition (the tree is a pure function of its set of (key, value)
//! pairs, whatever the order of insertion). For a set `S` of pairs whose
//! key hashes share their first `d` bits:
//!
//! ```text
//! T(S, d) = EMPTY                                  if S = {}
//!         = leaf_hash(k, SHA-256(v))               if S = {(k, v)}
//!         = node_hash(T(S₀, d+1), T(S₁, d+1))      otherwise,
//! ```
//!
//! where `Sᵦ` holds the pairs whose key hash has bit `d` (most significant
//! first) equal to `b`; the root is `T(S, 0)`. A subtree holding one pair is
//! that pair's leaf, wherever it sits, so a path is as long as the keys'
//! common prefixes (≈ log₂ n), not 256. The three hashes carry their own
//! ASCII tags, so none can be taken for another, nor for a log hash.
//!
//! Storage model: every non-empty subtree is stored at its [`Position`]
//! (depth and path bits) as an [`Node`]; an update reads and writes the
//! nodes along one path, O(depth).

use super::Hash;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Maps keyed by positions: foldhash (hashbrown's hasher, already in the
/// build) instead of SipHash. Like SipHash it is seeded at random per map;
/// it is not a cryptographic PRF, but positions are SHA-256 outputs that an
/// attacker could shape only by grinding keys, blind to the seed. When the
/// auditor recomputed the map over `MemoryMap`, it spent a fifth of its time
/// in SipHash and table probes.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

const LEAF_TAG: &[u8] = b"accord/v1/map-leaf\0";
const NODE_TAG: &[u8] = b"accord/v1/map-node\0";
const EMPTY_TAG: &[u8] = b"accord/v1/map-empty\0";
/// A proof cannot be longer than the key hash has bits.
pub const MAX_DEPTH: usize = 256;

/// Hash of the empty subtree: `SHA-256("accord/v1/map-empty" ‖ 0x00)`.
pub fn empty_hash() -> Hash {
    Sha256::digest(EMPTY_TAG).into()
}

/// `SHA-256("accord/v1/map-leaf" ‖ 0x00 ‖ key_hash ‖ value_hash)`.
pub fn leaf_hash(key: &Hash, value_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(LEAF_TAG);
    h.update(key);
    h.update(value_hash);
    h.finalize().into()
}

/// `SHA-256("accord/v1/map-node" ‖ 0x00 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(NODE_TAG);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Bit `i` of a key hash, most significant bit of byte 0 first.
pub fn bit(key: &Hash, i: usize) -> bool {
    key[i / 8] & (0x80 >> (i % 8)) != 0
}

/// Where a subtree sits: its depth and the first `depth` bits of every key
/// below it (the other bits zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub depth: u16,
    pub bits: Hash,
}

impl Position {
    pub const ROOT: Position = Position {
        depth: 0,
        bits: [0; 32],
    };

    /// The position at `depth` on `key`'s path.
    pub fn of(key: &Hash, depth: usize) -> Position {
        let mut bits = [0u8; 32];
        let full = depth / 8;
        bits[..full].copy_from_slice(&key[..full]);
        if !depth.is_multiple_of(8) {
            bits[full] = key[full] & !(0xffu8 >> (depth % 8));
        }
        Position {
            depth: depth as u16,
            bits,
        }
    }

    /// The other child of this position's parent.
    pub fn sibling(&self) -> Position {
        let d = self.depth as usize - 1;
        let mut bits = self.bits;
        bits[d / 8] ^= 0x80 >> (d % 8);
        Position {
            depth: self.depth,
            bits,
        }
    }

    /// A compact storage key: depth (2 bytes, big-endian) then the
    /// ⌈depth/8⌉ bytes that hold its bits, so keys sort by depth then path.
    pub fn to_key(&self) -> Vec<u8> {
        let n = (self.depth as usize).div_ceil(8);
        let mut k = Vec::with_capacity(2 + n);
        k.extend_from_slice(&self.depth.to_be_bytes());
        k.extend_from_slice(&self.bits[..n]);
        k
    }

    /// Parses [`Position::to_key`]'s bytes: `None` unless they are its
    /// exact form (the length its depth gives, no bits set below it).
    pub fn from_key(key: &[u8]) -> Option<Position> {
        let (depth, bytes) = key.split_first_chunk::<2>()?;
        let depth = u16::from_be_bytes(*depth) as usize;
        if depth > MAX_DEPTH || bytes.len() != depth.div_ceil(8) {
            return None;
        }
        let mut bits = [0u8; 32];
        bits[..bytes.len()].copy_from_slice(bytes);
        let p = Position::of(&bits, depth);
        (p.bits == bits).then_some(p)
    }
}

/// What a stored position holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Empty,
    Leaf {
        key: Hash,
        value_hash: Hash,
    },
    /// A subtree of two or more pairs, by its hash.
    Internal(Hash),
}

impl Node {
    pub fn hash(&self) -> Hash {
        match self {
            Node::Empty => empty_hash(),
            Node::Leaf { key, value_hash } => leaf_hash(key, value_hash),
            Node::Internal(h) => *h,
        }
    }

    /// Storage bytes: `0x01 ‖ key ‖ value_hash` for a leaf, `0x02 ‖ hash`
    /// for an internal node (empty positions are not stored).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Node::Empty => vec![0],
            Node::Leaf { key, value_hash } => [&[1u8][..], key, value_hash].concat(),
            Node::Internal(h) => [&[2u8][..], h].concat(),
        }
    }

    pub fn from_bytes(b: &[u8]) -> Option<Node> {
        match (b.first()?, b.len()) {
            (0, 1) => Some(Node::Empty),
            (1, 65) => Some(Node::Leaf {
                key: b[1..33].try_into().ok()?,
                value_hash: b[33..65].try_into().ok()?,
            }),
            (2, 33) => Some(Node::Internal(b[1..33].try_into().ok()?)),
            _ => None,
        }
    }
}

/// Read access to stored map nodes (a position never written is empty).
pub trait MapSource {
    type Error;
    fn map_node(&self, at: &Position) -> Result<Node, Self::Error>;
}

/// A map's proof about one key: the sibling hashes along the key's path,
/// deepest first, and what the path ends in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapProof {
    pub siblings: Vec<Hash>,
    /// `Empty`, the key's own leaf (membership) or another key's leaf whose
    /// hash shares the path (absence).
    pub terminal: Node,
}

/// Walks `key`'s path from the root: the siblings met (root side first)
/// and the node the path ends in.
fn walk<S: MapSource>(src: &S, key: &Hash) -> Result<(Vec<Hash>, Node), S::Error> {
    let mut siblings = Vec::new();
    let mut depth = 0;
    loop {
        let at = Position::of(key, depth);
        match src.map_node(&at)? {
            Node::Internal(_) if depth < MAX_DEPTH => {
                let next = Position::of(key, depth + 1);
                siblings.push(src.map_node(&next.sibling())?.hash());
                depth += 1;
            }
            terminal => return Ok((siblings, terminal)),
        }
    }
}

/// The proof for `key` in the map stored in `src`.
pub fn prove<S: MapSource>(src: &S, key: &Hash) -> Result<MapProof, S::Error> {
    let (mut siblings, terminal) = walk(src, key)?;
    siblings.reverse();
    Ok(MapProof { siblings, terminal })
}

/// Checks `proof` for `key` against `root`: `Some(value_hash)` when the key
/// is in the map, `None` when it is provably absent.
pub fn verify(root: &Hash, key: &Hash, proof: &MapProof) -> Result<Option<Hash>, super::Error> {
    let depth = proof.siblings.len();
    if depth > MAX_DEPTH {
        return Err(super::Error::proof("map proof: longer than 256 levels"));
    }
    let found = match proof.terminal {
        Node::Empty => None,
        Node::Leaf { key: k, value_hash } => {
            if (0..depth).any(|i| bit(&k, i) != bit(key, i)) {
                return Err(super::Error::proof(
                    "map proof: the leaf found is not on the key's path",
                ));
            }
            (k == *key).then_some(value_hash)
        }
        Node::Internal(_) => {
            return Err(super::Error::proof(
                "map proof: a path must end in a leaf or an empty subtree",
            ))
        }
    };
    let mut h = proof.terminal.hash();
    for (i, sibling) in proof.siblings.iter().enumerate() {
        let d = depth - 1 - i;
        h = if bit(key, d) {
            node_hash(sibling, &h)
        } else {
            node_hash(&h, sibling)
        };
    }
    if h != *root {
        return Err(super::Error::proof(
            "map proof: does not lead to the map root",
        ));
    }
    Ok(found)
}

/// Changes to a map, kept in memory over a [`MapSource`] until they are
/// written in one commit: the nodes to store ([`MapUpdate::writes`]) and
/// the new root.
pub struct MapUpdate<'a, S> {
    src: &'a S,
    written: FastMap<Position, Node>,
}

impl<'a, S: MapSource> MapUpdate<'a, S> {
    pub fn new(src: &'a S) -> Self {
        MapUpdate {
            src,
            written: FastMap::default(),
        }
    }

    fn node(&self, at: &Position) -> Result<Node, S::Error> {
        match self.written.get(at) {
            Some(n) => Ok(*n),
            None => self.src.map_node(at),
        }
    }

    /// Sets `key`'s value (by its hash); O(depth) reads and writes.
    pub fn set(&mut self, key: &Hash, value_hash: &Hash) -> Result<(), S::Error> {
        let (siblings, terminal) = walk(&Overlay(self), key)?;
        let mut depth = siblings.len();
        let leaf = Node::Leaf {
            key: *key,
            value_hash: *value_hash,
        };
        // Below the path's end: a new leaf, or two leaves split apart.
        let mut h = match terminal {
            Node::Leaf { key: other, .. } if other != *key => {
                let split = (depth..MAX_DEPTH)
                    .find(|&i| bit(key, i) != bit(&other, i))
                    .unwrap_or(MAX_DEPTH - 1);
                self.written
                    .insert(Position::of(&other, split + 1), terminal);
                self.written.insert(Position::of(key, split + 1), leaf);
                let (mine, theirs) = (leaf.hash(), terminal.hash());
                let mut h = if bit(key, split) {
                    node_hash(&theirs, &mine)
                } else {
                    node_hash(&mine, &theirs)
                };
                // The shared stretch between the path's end and the split.
                for d in (depth..=split).rev() {
                    self.written.insert(Position::of(key, d), Node::Internal(h));
                    if d > depth {
                        let empty = empty_hash();
                        h = if bit(key, d - 1) {
                            node_hash(&empty, &h)
                        } else {
                            node_hash(&h, &empty)
                        };
                    }
                }
                h
            }
            _ => {
                self.written.insert(Position::of(key, depth), leaf);
                leaf.hash()
            }
        };
        // Back up to the root.
        while depth > 0 {
            depth -= 1;
            let sibling = &siblings[depth];
            h = if bit(key, depth) {
                node_hash(sibling, &h)
            } else {
                node_hash(&h, sibling)
            };
            self.written
                .insert(Position::of(key, depth), Node::Internal(h));
        }
        Ok(())
    }

    /// The map this update reads.
    pub fn source(&self) -> &'a S {
        self.src
    }

    /// The root with the changes so far.
    pub fn root(&self) -> Result<Hash, S::Error> {
        Ok(self.node(&Position::ROOT)?.hash())
    }

    /// The nodes to store, in position order.
    pub fn writes(self) -> Vec<(Position, Node)> {
        let mut w: Vec<_> = self.written.into_iter().collect();
        w.sort_by_key(|(p, _)| *p);
        w
    }
}

/// An update seen as a source, so that walks see its own writes.
struct Overlay<'u, 'a, S>(&'u MapUpdate<'a, S>);

impl<S: MapSource> MapSource for Overlay<'_, '_, S> {
    type Error = S::Error;
    fn map_node(&self, at: &Position) -> Result<Node, S::Error> {
        self.0.node(at)
    }
}

/// A map held in memory, positions and all (tests, benchmarks; the
/// auditor, which needs roots only, uses `core::map_arena`).
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct MemoryMap {
    nodes: FastMap<Position, Node>,
}

impl MapSource for MemoryMap {
    type Error = std::convert::Infallible;
    fn map_node(&self, at: &Position) -> Result<Node, Self::Error> {
        Ok(self.nodes.get(at).copied().unwrap_or(Node::Empty))
    }
}

impl MemoryMap {
    /// Sets several keys at once (bottom-up, `core::map_batch`) and
    /// returns the new root.
    pub fn set_all<'k>(&mut self, pairs: impl IntoIterator<Item = (&'k Hash, &'k Hash)>) -> Hash {
        let pairs: Vec<(Hash, Hash)> = pairs.into_iter().map(|(k, v)| (*k, *v)).collect();
        let Ok((root, writes)) = super::map_batch::set_batch(&*self, &pairs);
        self.nodes.extend(writes);
        root
    }

    /// Sets several keys one by one ([`MapUpdate::set`]) and returns the
    /// new root: the same tree as [`MemoryMap::set_all`], more hashing.
    pub fn set_each<'k>(&mut self, pairs: impl IntoIterator<Item = (&'k Hash, &'k Hash)>) -> Hash {
        let mut update = MapUpdate::new(&*self);
        for (k, v) in pairs {
            let Ok(()) = update.set(k, v);
        }
        let writes = update.writes();
        self.nodes.extend(writes);
        self.root()
    }

    pub fn root(&self) -> Hash {
        let Ok(node) = self.map_node(&Position::ROOT);
        node.hash()
    }

    pub fn prove(&self, key: &Hash) -> MapProof {
        let Ok(proof) = prove(self, key);
        proof
    }

    /// Stored positions (each non-empty subtree once).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
