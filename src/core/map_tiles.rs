//! How stored map nodes are grouped: by tiles of [`TILE_HEIGHT`] levels.
//!
//! Why: storing each node of the compressed tree under its own key made
//! every update write ≈ 20 records per key (one per level of its path) and
//! read twice as many, and sled's random inserts then took most of the
//! writer's time (a profile of SubmitBatch load: 51 % in `apply_batch`, 26 %
//! in map reads; 2,100 entries/s against 12,000 without the map). A tile
//! holds the nodes of 4 consecutive levels under one prefix, so a path
//! touches ≈ depth / 4 records. Four levels, not eight: a tile then holds at
//! most 15 internal nodes (≈ 0.5 KiB), so the top tiles, which nearly
//! every batch changes, stay small.
//!
//! This is storage layout only: the tree, its hashes and its proofs are
//! those of `core::map`, whatever the grouping.

use super::encoding::{Reader, Writer};
use super::map::{Node, Position};
use super::Error;

/// Levels per tile.
pub const TILE_HEIGHT: usize = 4;

/// Tiles whose root is at this depth or above are "near the root": the
/// 1 + 16 + 256 + 4,096 = 4,369 tiles of the top 16 levels, a few MiB in
/// all. Nearly every batch crosses them (a unary commit of ≈ 64 entries
/// rewrote ≈ 338 of them, BENCHMARKS.md), so the writer keeps them from
/// one batch to the next (`sequencer/prefetch.rs`) and the local store
/// holds them in memory, storing per commit only the pairs it set in the
/// map unless writing the tiles pays (`storage/map_near_root.rs`). Deeper tiles (65,536 at depth 16) are
/// mostly crossed once per batch.
pub const NEAR_ROOT: usize = 3 * TILE_HEIGHT;

/// The nodes stored in one tile, by position (sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tile {
    nodes: Vec<(Position, Node)>,
}

/// The root position of the tile that holds `p`: `p`'s ancestor at the
/// largest multiple of [`TILE_HEIGHT`] not above `p`'s depth.
pub fn tile_of(p: &Position) -> Position {
    let depth = p.depth as usize / TILE_HEIGHT * TILE_HEIGHT;
    Position::of(&p.bits, depth)
}

fn bit(bits: &[u8; 32], i: usize) -> bool {
    bits[i / 8] & (0x80 >> (i % 8)) != 0
}

impl Tile {
    /// The node at `p` (a position of this tile), `Empty` if none is stored.
    pub fn get(&self, p: &Position) -> Node {
        match self.nodes.binary_search_by(|(q, _)| q.cmp(p)) {
            Ok(i) => self.nodes[i].1,
            Err(_) => Node::Empty,
        }
    }

    /// Stores `node` at `p` (a position of this tile).
    pub fn set(&mut self, p: Position, node: Node) {
        match self.nodes.binary_search_by(|(q, _)| q.cmp(&p)) {
            Ok(i) => self.nodes[i].1 = node,
            Err(i) => self.nodes.insert(i, (p, node)),
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The length of [`Tile::write`]'s bytes, without writing them.
    pub fn encoded_len(&self) -> usize {
        let node = |n: &Node| match n {
            Node::Empty => 1,
            Node::Leaf { .. } => 65,
            Node::Internal(_) => 33,
        };
        2 + self.nodes.iter().map(|(_, n)| 3 + node(n)).sum::<usize>()
    }

    /// `u16 count`, then per node: `u8` its depth below the tile root, `u8`
    /// its path bits below the root (right-aligned), `u8` length and
    /// [`Node::to_bytes`].
    pub fn write(&self, w: &mut Writer) {
        w.u16(self.nodes.len() as u16);
        for (p, node) in &self.nodes {
            let root = tile_of(p).depth as usize;
            let below = p.depth as usize - root;
            let path = (0..below).fold(0u8, |acc, i| acc << 1 | bit(&p.bits, root + i) as u8);
            let bytes = node.to_bytes();
            w.u8(below as u8).u8(path).u8(bytes.len() as u8).raw(&bytes);
        }
    }

    /// Reads what [`Tile::write`] wrote for the tile rooted at `root`.
    pub fn read(r: &mut Reader, root: &Position) -> Result<Tile, Error> {
        let bad = |why: &str| Error::malformed("map tile", why.to_owned());
        let count = r.u16("map tile count")? as usize;
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            let below = r.u8("map tile depth")? as usize;
            let path = r.u8("map tile path")?;
            let len = r.u8("map node length")? as usize;
            let node = Node::from_bytes(r.take(len, "map node")?)
                .ok_or_else(|| bad("unknown node form"))?;
            if below >= TILE_HEIGHT || (path as usize) >> below != 0 {
                return Err(bad("a node outside its tile"));
            }
            let mut bits = root.bits;
            let depth = root.depth as usize;
            for i in 0..below {
                if path >> (below - 1 - i) & 1 == 1 {
                    bits[(depth + i) / 8] |= 0x80 >> ((depth + i) % 8);
                }
            }
            let p = Position {
                depth: (depth + below) as u16,
                bits,
            };
            if nodes
                .last()
                .is_some_and(|(q, _): &(Position, Node)| *q >= p)
            {
                return Err(bad("nodes out of order"));
            }
            nodes.push((p, node));
        }
        Ok(Tile { nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::encoding::Writer;

    #[test]
    fn tiles_round_trip_and_hold_their_levels() {
        let key = crate::core::sha256(b"k");
        let root = Position::of(&key, 8);
        let mut tile = Tile::default();
        for d in 8..12 {
            let p = Position::of(&key, d);
            assert_eq!(tile_of(&p), root);
            tile.set(p, Node::Internal([d as u8; 32]));
            if d > 8 {
                // The sibling of the root itself lies in another tile.
                tile.set(
                    p.sibling(),
                    Node::Leaf {
                        key,
                        value_hash: [1; 32],
                    },
                );
            }
        }
        assert_eq!(tile_of(&Position::of(&key, 12)), Position::of(&key, 12));
        let mut w = Writer::default();
        tile.write(&mut w);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(Tile::read(&mut r, &root).unwrap(), tile);
        assert_eq!(tile.get(&Position::of(&key, 9)), Node::Internal([9; 32]));
        assert_eq!(tile.len(), 7);
        assert_eq!(tile.encoded_len(), bytes.len());
    }

    /// Storage keys of positions parse back; other bytes do not.
    #[test]
    fn positions_parse_from_their_keys() {
        let key = crate::core::sha256(b"k");
        for d in [0, 1, 7, 8, 12, 13, 255, 256] {
            let p = Position::of(&key, d);
            assert_eq!(Position::from_key(&p.to_key()), Some(p), "depth {d}");
        }
        let p = Position::of(&key, 13);
        let mut bad = p.to_key();
        *bad.last_mut().unwrap() |= 1; // a bit below depth 13
        assert_eq!(Position::from_key(&bad), None);
        assert_eq!(Position::from_key(&p.to_key()[..3]), None, "too short");
        assert_eq!(Position::from_key(&[0]), None);
        assert_eq!(Position::from_key(&[1, 1]), None, "depth 257");
    }
}
