//! A Merkle tree read from, or written as, C2SP tlog-tiles
//! (https://c2sp.org/tlog-tiles). [`TileNodes`] answers the perfect-subtree
//! hashes that proofs and roots need from hash tiles, so the same
//! `core::merkle` code computes proofs over a static mirror; [`Tiler`]
//! turns leaf hashes, in order, into the hash tiles of the growing tree,
//! so a mirror computes every tile it writes from entries it verified
//! instead of trusting the server's. Pure: reading a tile is a closure.

use super::frontier::Frontier;
use super::merkle::{self, NodeSource};
use super::tiles::{Kind, Tile, HEIGHT, WIDTH};
use super::Hash;
use std::cell::RefCell;
use std::collections::HashMap;

/// Bytes per hash in a tile.
const HASH: usize = 32;

/// The hash tile at tile level `level`, index `index`, as a tree of `size`
/// leaves has it (full, or partial with the width it reached); `None` if
/// that tree has none of it.
pub fn hash_tile(level: u8, index: u64, size: u64) -> Option<Tile> {
    let shift = u32::from(level) * HEIGHT;
    let complete = if shift >= 64 { 0 } else { size >> shift };
    let width = complete.checked_sub(index.checked_mul(WIDTH)?)?.min(WIDTH);
    (width > 0).then_some(Tile {
        kind: Kind::Hashes(level),
        index,
        width: width as u16,
    })
}

/// The entry bundle `index` as a tree of `size` leaves has it.
pub fn entry_bundle(index: u64, size: u64) -> Option<Tile> {
    hash_tile(0, index, size).map(|t| Tile {
        kind: Kind::Entries,
        ..t
    })
}

/// Why a node could not be read from tiles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileReadError {
    #[error("{tile}: {why}")]
    Read { tile: String, why: String },
    #[error("{tile}: {got} bytes, want {want}")]
    Length {
        tile: String,
        got: usize,
        want: usize,
    },
    #[error("node ({level}, {index}) is not in a tree of size {size}")]
    Outside { level: u32, index: u64, size: u64 },
}

/// The perfect-subtree hashes of a tree of `size` leaves, read from its
/// hash tiles through `read` (each tile read once, then cached). A node at
/// Merkle level `8·L + r` is the root of `2^r` consecutive hashes of one
/// level-`L` tile, so any node costs one tile read and < 256 hashes.
pub struct TileNodes<F> {
    size: u64,
    read: F,
    cache: RefCell<HashMap<(u8, u64), Vec<u8>>>,
}

impl<F: Fn(Tile) -> Result<Vec<u8>, String>> TileNodes<F> {
    pub fn new(size: u64, read: F) -> Self {
        TileNodes {
            size,
            read,
            cache: RefCell::new(HashMap::new()),
        }
    }
}

impl<F: Fn(Tile) -> Result<Vec<u8>, String>> NodeSource for TileNodes<F> {
    type Error = TileReadError;

    fn node(&self, level: u32, index: u64) -> Result<Hash, TileReadError> {
        let outside = TileReadError::Outside {
            level,
            index,
            size: self.size,
        };
        let (tile_level, r) = ((level / HEIGHT) as u8, level % HEIGHT);
        let first = index.checked_shl(r).ok_or(outside.clone())?;
        let count = 1usize << r;
        let tile = hash_tile(tile_level, first / WIDTH, self.size).ok_or(outside.clone())?;
        let offset = (first % WIDTH) as usize;
        if offset + count > usize::from(tile.width) {
            return Err(outside);
        }
        let mut cache = self.cache.borrow_mut();
        let bytes = match cache.entry((tile_level, tile.index)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let bytes = (self.read)(tile).map_err(|why| TileReadError::Read {
                    tile: tile.path(),
                    why,
                })?;
                let want = usize::from(tile.width) * HASH;
                if bytes.len() != want {
                    return Err(TileReadError::Length {
                        tile: tile.path(),
                        got: bytes.len(),
                        want,
                    });
                }
                e.insert(bytes)
            }
        };
        let bytes = &bytes[offset * HASH..(offset + count) * HASH];
        let mut hashes: Vec<Hash> = bytes
            .chunks_exact(HASH)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        while hashes.len() > 1 {
            hashes = hashes
                .chunks_exact(2)
                .map(|p| merkle::node_hash(&p[0], &p[1]))
                .collect();
        }
        Ok(hashes[0])
    }
}

/// Builds the hash tiles of a growing tree from its leaf hashes.
#[derive(Debug, Clone, Default)]
pub struct Tiler {
    frontier: Frontier,
    /// Per tile level, the hashes of its incomplete tile so far.
    open: Vec<Vec<u8>>,
}

impl Tiler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues a tree of `size` leaves: reads its frontier and the hashes
    /// of its incomplete tiles (one tile per level) from `src`.
    pub fn resume<S: NodeSource>(size: u64, src: &S) -> Result<Self, S::Error> {
        let frontier = Frontier::load(size, src)?;
        let mut open = Vec::new();
        for level in (0..64).step_by(HEIGHT as usize) {
            let complete = size >> level;
            if complete == 0 {
                break;
            }
            let mut hashes = Vec::with_capacity(WIDTH as usize * HASH);
            for i in complete - complete % WIDTH..complete {
                hashes.extend_from_slice(&src.node(level, i)?);
            }
            open.push(hashes);
        }
        Ok(Tiler { frontier, open })
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Appends a leaf hash; `full` receives every tile it completes, lowest
    /// level first, with its 256 hashes.
    pub fn push(&mut self, leaf_hash: Hash, mut full: impl FnMut(Tile, Vec<u8>)) {
        let open = &mut self.open;
        self.frontier.push(leaf_hash, |node| {
            if node.level % HEIGHT != 0 {
                return;
            }
            let level = (node.level / HEIGHT) as usize;
            if open.len() <= level {
                open.resize_with(level + 1, Vec::new);
            }
            open[level].extend_from_slice(&node.hash);
            if open[level].len() == WIDTH as usize * HASH {
                let tile = Tile {
                    kind: Kind::Hashes(level as u8),
                    index: node.index / WIDTH,
                    width: WIDTH as u16,
                };
                full(tile, std::mem::take(&mut open[level]));
            }
        });
    }

    /// The tree's partial hash tiles (those of width 1–255), lowest level first.
    pub fn partial(&self) -> Vec<(Tile, &[u8])> {
        let size = self.size();
        (self.open.iter().enumerate())
            .filter(|(_, hashes)| !hashes.is_empty())
            .map(|(level, hashes)| {
                let shift = level as u32 * HEIGHT;
                let tile = Tile {
                    kind: Kind::Hashes(level as u8),
                    index: (size >> shift) / WIDTH,
                    width: (hashes.len() / HASH) as u16,
                };
                (tile, hashes.as_slice())
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "tile_tree_tests.rs"]
mod tests;
