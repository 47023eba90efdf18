//! How a store keeps the registry map so that readers at the published tree
//! size see one consistent map while the single writer commits the next.
//!
//! Map nodes are stored by tile (`core::map_tiles`: the nodes of 4 levels
//! under one prefix, keyed by the tile's root position) and overwritten in
//! place (O(depth / 4) writes per update, no garbage). A reader walking a
//! path while the writer commits could otherwise mix nodes of two versions.
//! So each tile keeps its latest content and the one it replaced, each with
//! the tree size of the commit that wrote it: a reader at size `n` takes
//! the latest if it was written at or before `n`, else the previous one.
//! The writer is at most one commit ahead of what is published, so a reader
//! at the published size always finds its version; a reader that fell two
//! commits behind gets [`Stale`] and starts again at the newer size.
//!
//! Only a store that other servers write while this one reads (PostgreSQL)
//! needs the previous content. With one writer, readers hold off its
//! commits (`Reader::at_one_size`) and always read the latest, so records
//! are written without it (`keep_previous` false): half the bytes per
//! rewritten tile, measured as a third of what a batch writes to sled.

use super::encoding::{Reader, Writer};
use super::map::{MapSource, MapUpdate, Node, Position};
use super::map_tiles::{tile_of, Tile};
use super::Error;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// A tile's record: the content written at `version` (a tree size) and, if
/// it replaced one, that content and its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRecord {
    pub version: u64,
    pub tile: Tile,
    pub previous: Option<(u64, Tile)>,
}

/// A read at a tree size older than the position's previous version: the
/// reader must start again at a newer size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the map changed twice since tree size {0}: read again at the latest size")]
pub struct Stale(pub u64);

impl MapRecord {
    /// The tile as of tree size `size` (`None`: not written yet then; the
    /// map never empties a tile once written).
    pub fn at(&self, size: u64) -> Result<Option<&Tile>, Stale> {
        if self.version <= size {
            return Ok(Some(&self.tile));
        }
        match &self.previous {
            None => Ok(None),
            Some((v, tile)) if *v <= size => Ok(Some(tile)),
            Some(_) => Err(Stale(size)),
        }
    }

    /// The record after writing `tile` at `version` over `existing`,
    /// keeping what it replaces if `keep_previous` (see the module doc).
    pub fn write(
        existing: Option<&MapRecord>,
        version: u64,
        tile: Tile,
        keep_previous: bool,
    ) -> MapRecord {
        let previous = existing.filter(|_| keep_previous).and_then(|r| {
            if r.version < version {
                Some((r.version, r.tile.clone()))
            } else {
                // Written twice in one commit: keep what readers may need.
                r.previous.clone()
            }
        });
        MapRecord {
            version,
            tile,
            previous,
        }
    }

    /// `u64 version ‖ tile ‖ u8 has_previous [‖ u64 version ‖ tile]`, each
    /// tile as [`Tile::write`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64 + 80 * self.tile.len());
        w.u64(self.version);
        self.tile.write(&mut w);
        match &self.previous {
            None => {
                w.u8(0);
            }
            Some((v, tile)) => {
                w.u8(1).u64(*v);
                tile.write(&mut w);
            }
        }
        w.finish()
    }

    /// Parses the record stored for the tile rooted at `root`.
    pub fn from_bytes(root: &Position, b: &[u8]) -> Result<MapRecord, Error> {
        let mut r = Reader::new(b);
        let version = r.u64("map record version")?;
        let tile = Tile::read(&mut r, root)?;
        let previous = match r.u8("map record previous")? {
            0 => None,
            1 => Some((
                r.u64("map record previous version")?,
                Tile::read(&mut r, root)?,
            )),
            _ => return Err(Error::malformed("map record", "bad flag")),
        };
        r.finish("map record")?;
        Ok(MapRecord {
            version,
            tile,
            previous,
        })
    }
}

/// Read access to stored map records, by tile root position.
pub trait RecordSource {
    type Error: From<Stale>;
    fn map_record(&self, tile: &Position) -> Result<Option<MapRecord>, Self::Error>;
}

/// The map as of one tree size, for walks, proofs and updates. Each tile is
/// read from the source at most once (a path crosses a tile on up to 4
/// levels, and an update reads it again to rewrite it).
pub struct MapAt<'a, S> {
    source: &'a S,
    size: u64,
    read: RefCell<HashMap<Position, Option<Rc<MapRecord>>>>,
}

impl<'a, S: RecordSource> MapAt<'a, S> {
    pub fn new(source: &'a S, size: u64) -> Self {
        MapAt {
            source,
            size,
            read: RefCell::new(HashMap::new()),
        }
    }

    fn record(&self, tile: &Position) -> Result<Option<Rc<MapRecord>>, S::Error> {
        if let Some(r) = self.read.borrow().get(tile) {
            return Ok(r.clone());
        }
        let r = self.source.map_record(tile)?.map(Rc::new);
        self.read.borrow_mut().insert(*tile, r.clone());
        Ok(r)
    }

    /// The records a commit at tree size `version` writes for the nodes
    /// `writes` (from `map_batch::set_batch` or [`MapUpdate::writes`]), read
    /// at the latest version: each touched tile, rewritten once, with the
    /// content it replaces if `keep_previous`.
    pub fn records_for(
        &self,
        version: u64,
        writes: Vec<(Position, Node)>,
        keep_previous: bool,
    ) -> Result<Vec<(Position, MapRecord)>, S::Error> {
        let mut tiles: BTreeMap<Position, Vec<(Position, Node)>> = BTreeMap::new();
        for (p, node) in writes {
            tiles.entry(tile_of(&p)).or_default().push((p, node));
        }
        tiles
            .into_iter()
            .map(|(root, nodes)| {
                let existing = self.record(&root)?;
                let mut tile = match &existing {
                    Some(r) => r.at(self.size)?.cloned().unwrap_or_default(),
                    None => Tile::default(),
                };
                for (p, node) in nodes {
                    tile.set(p, node);
                }
                let record = MapRecord::write(existing.as_deref(), version, tile, keep_previous);
                Ok((root, record))
            })
            .collect()
    }
}

impl<S: RecordSource> MapSource for MapAt<'_, S> {
    type Error = S::Error;
    fn map_node(&self, at: &Position) -> Result<Node, S::Error> {
        match self.record(&tile_of(at))? {
            None => Ok(Node::Empty),
            Some(r) => Ok(r.at(self.size)?.map_or(Node::Empty, |t| t.get(at))),
        }
    }
}

/// The records a commit at tree size `version` writes for `update` (an
/// update read at the latest version).
pub fn records<S: RecordSource>(
    version: u64,
    update: MapUpdate<'_, MapAt<'_, S>>,
) -> Result<Vec<(Position, MapRecord)>, S::Error> {
    let map = update.source();
    map.records_for(version, update.writes(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(byte: u8) -> Tile {
        let mut t = Tile::default();
        t.set(Position::ROOT, Node::Internal([byte; 32]));
        t
    }

    /// Shared stores keep the content a record replaced (readers on other
    /// servers may still be at its size); a single writer's store keeps
    /// only the latest (its readers hold off commits).
    #[test]
    fn the_previous_content_is_kept_only_when_asked() {
        let first = MapRecord::write(None, 5, tile(1), false);
        assert_eq!(first.previous, None);
        let kept = MapRecord::write(Some(&first), 7, tile(2), true);
        assert_eq!(kept.previous, Some((5, tile(1))));
        assert_eq!(kept.at(6), Ok(Some(&tile(1))), "a reader at 6 reads 5's");
        assert_eq!(kept.at(7), Ok(Some(&tile(2))));
        let dropped = MapRecord::write(Some(&first), 7, tile(2), false);
        assert_eq!(dropped.previous, None);
        assert_eq!(dropped.at(7), Ok(Some(&tile(2))));
        for r in [&first, &kept, &dropped] {
            let back = MapRecord::from_bytes(&Position::ROOT, &r.to_bytes()).unwrap();
            assert_eq!(&back, r, "round trip");
        }
        // Written twice in one commit: what readers may need is kept.
        let twice = MapRecord::write(Some(&kept), 7, tile(3), true);
        assert_eq!(twice.previous, Some((5, tile(1))));
    }
}
