//! The tiles a [`Tiler`] writes are the stored Merkle nodes, and proofs
//! computed over tiles through [`TileNodes`] are the proofs computed over
//! the nodes themselves.

use super::*;
use crate::core::merkle::{consistency_proof, inclusion_proof, root};

/// Every perfect-subtree node of a tree, as the sequencer stores them.
struct Nodes(HashMap<(u32, u64), Hash>);

impl NodeSource for Nodes {
    type Error = ();
    fn node(&self, level: u32, index: u64) -> Result<Hash, ()> {
        self.0.get(&(level, index)).copied().ok_or(())
    }
}

fn leaf(i: u64) -> Hash {
    merkle::leaf_hash(&i.to_be_bytes())
}

fn nodes(size: u64) -> Nodes {
    let mut f = Frontier::new();
    let mut all = HashMap::new();
    for i in 0..size {
        f.push(leaf(i), |n| {
            all.insert((n.level, n.index), n.hash);
        });
    }
    Nodes(all)
}

/// The tiles of a tree of `size` leaves, by path, built by a Tiler.
fn tiles(size: u64) -> (HashMap<String, Vec<u8>>, Tiler) {
    let mut t = Tiler::new();
    let mut out = HashMap::new();
    for i in 0..size {
        t.push(leaf(i), |tile, bytes| {
            assert!(out.insert(tile.path(), bytes).is_none(), "{tile} twice");
        });
    }
    for (tile, bytes) in t.partial() {
        out.insert(tile.path(), bytes.to_vec());
    }
    (out, t)
}

/// Reads as the server serves: a partial tile of a smaller tree is a
/// prefix of the tile the tree has now.
fn reader(tiles: &HashMap<String, Vec<u8>>) -> impl Fn(Tile) -> Result<Vec<u8>, String> + '_ {
    move |tile: Tile| {
        let want = usize::from(tile.width) * HASH;
        (tile.width..=WIDTH as u16)
            .rev()
            .find_map(|width| tiles.get(&Tile { width, ..tile }.path()))
            .map(|bytes| bytes[..want.min(bytes.len())].to_vec())
            .ok_or("missing".into())
    }
}

#[test]
fn tiles_hold_the_merkle_nodes_and_exactly_the_specs_tiles() {
    for size in [1u64, 2, 255, 256, 257, 511, 65_536, 70_000] {
        let all = nodes(size);
        let (tiles, tiler) = tiles(size);
        assert_eq!(tiler.root(), root(size, &all).unwrap(), "size {size}");
        for (path, bytes) in &tiles {
            let tile = Tile::parse(path).unwrap();
            assert_eq!(
                hash_tile(tile.merkle_level() as u8 / 8, tile.index, size),
                Some(tile)
            );
            let (start, end) = tile.range();
            let want: Vec<u8> = (start..end)
                .flat_map(|i| all.node(tile.merkle_level(), i).unwrap())
                .collect();
            assert_eq!(bytes, &want, "{path} at size {size}");
        }
        // Exactly the tiles the tree has: every full and every partial one.
        let mut count = 0;
        for level in 0..8u8 {
            let mut n = 0;
            while let Some(tile) = hash_tile(level, n, size) {
                assert!(tiles.contains_key(&tile.path()), "{tile} missing at {size}");
                count += 1;
                n += 1;
            }
        }
        assert_eq!(count, tiles.len(), "size {size}");
    }
    // The spec's example: 70,000 leaves have tile/0/273.p/112,
    // tile/1/001.p/17 and tile/2/000.p/1.
    let (tiles, _) = tiles(70_000);
    for p in [
        "tile/0/272",
        "tile/0/273.p/112",
        "tile/1/000",
        "tile/1/001.p/17",
        "tile/2/000.p/1",
    ] {
        assert!(tiles.contains_key(p), "{p}");
    }
    assert_eq!(
        entry_bundle(273, 70_000).unwrap().path(),
        "tile/entries/273.p/112"
    );
    assert_eq!(entry_bundle(274, 70_000), None);
}

#[test]
fn proofs_over_tiles_equal_proofs_over_nodes() {
    let size = 70_000;
    let all = nodes(size);
    let (tiles, _) = tiles(size);
    let over_tiles = TileNodes::new(size, reader(&tiles));
    assert_eq!(root(size, &over_tiles).unwrap(), root(size, &all).unwrap());
    for (old, new) in [
        (1, 70_000),
        (256, 70_000),
        (69_999, 70_000),
        (1000, 65_537),
        (65_536, 70_000),
    ] {
        let src = TileNodes::new(new, reader(&tiles));
        assert_eq!(
            consistency_proof(old, new, &src).unwrap(),
            consistency_proof(old, new, &all).unwrap(),
            "{old} -> {new}"
        );
    }
    for i in [0, 255, 256, 65_535, 69_999] {
        assert_eq!(
            inclusion_proof(i, size, &over_tiles).unwrap(),
            inclusion_proof(i, size, &all).unwrap()
        );
    }
    // A short tile, and a node the tree does not have, are errors.
    let mut short = tiles.clone();
    short.get_mut("tile/0/000").unwrap().pop();
    let src = TileNodes::new(size, reader(&short));
    assert!(matches!(src.node(0, 3), Err(TileReadError::Length { .. })));
    assert!(matches!(
        over_tiles.node(0, 70_000),
        Err(TileReadError::Outside { .. })
    ));
}

#[test]
fn a_resumed_tiler_writes_what_one_tiler_writes() {
    let total = 70_000;
    let (want, whole) = tiles(total);
    for size in [1u64, 255, 256, 300, 65_536, 69_999] {
        let (old, _) = tiles(size);
        let mut t = Tiler::resume(size, &TileNodes::new(size, reader(&old))).unwrap();
        let mut got = HashMap::new();
        for i in size..total {
            t.push(leaf(i), |tile, bytes| {
                got.insert(tile.path(), bytes);
            });
        }
        for (tile, bytes) in t.partial() {
            got.insert(tile.path(), bytes.to_vec());
        }
        assert_eq!(t.root(), whole.root());
        for (path, bytes) in &got {
            assert_eq!(want.get(path), Some(bytes), "{path} resumed at {size}");
        }
    }
}
