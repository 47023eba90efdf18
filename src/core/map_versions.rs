//! How a store keeps the registry map so that readers at the published tree
//! size see one consistent map while the single writer commits the next.
//!
//! Map nodes are stored per [`Position`] and overwritten in place (O(depth)
//! writes per update, no garbage). A reader walking a path while the writer
//! commits could otherwise mix nodes of two versions. So each position keeps
//! its latest node and the one it replaced, each with the tree size of the
//! commit that wrote it: a reader at size `n` takes the latest if it was
//! written at or before `n`, else the previous one. The writer is at most one
//! commit ahead of what is published, so a reader at the published size
//! always finds its version; a reader that fell two commits behind gets
//! [`Stale`] and starts again at the newer published size.

use super::encoding::{Reader, Writer};
use super::map::{MapSource, MapUpdate, Node, Position};
use super::Error;

/// A position's record: the node written at `version` (a tree size) and,
/// if it replaced one, that node and its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRecord {
    pub version: u64,
    pub node: Node,
    pub previous: Option<(u64, Node)>,
}

/// A read at a tree size older than the position's previous version: the
/// reader must start again at a newer size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the map changed twice since tree size {0}: read again at the latest size")]
pub struct Stale(pub u64);

impl MapRecord {
    /// The node as of tree size `size`.
    pub fn at(&self, size: u64) -> Result<Node, Stale> {
        if self.version <= size {
            return Ok(self.node);
        }
        match self.previous {
            // Written for the first time after `size`: empty then (the map
            // never empties a position once written).
            None => Ok(Node::Empty),
            Some((v, node)) if v <= size => Ok(node),
            Some(_) => Err(Stale(size)),
        }
    }

    /// The record after writing `node` at `version` over `existing`.
    pub fn write(existing: Option<&MapRecord>, version: u64, node: Node) -> MapRecord {
        let previous = existing.map(|r| {
            if r.version < version {
                (r.version, r.node)
            } else {
                // Written twice in one commit: keep what readers may need.
                r.previous.unwrap_or((r.version, Node::Empty))
            }
        });
        MapRecord {
            version,
            node,
            previous,
        }
    }

    /// `u64 version ‖ node ‖ u8 has_previous [‖ u64 version ‖ node]`, each
    /// node as [`Node::to_bytes`] behind a `u8` length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(150);
        let node = |w: &mut Writer, n: &Node| {
            let b = n.to_bytes();
            w.u8(b.len() as u8).raw(&b);
        };
        w.u64(self.version);
        node(&mut w, &self.node);
        match &self.previous {
            None => {
                w.u8(0);
            }
            Some((v, n)) => {
                w.u8(1).u64(*v);
                node(&mut w, n);
            }
        }
        w.finish()
    }

    pub fn from_bytes(b: &[u8]) -> Result<MapRecord, Error> {
        let mut r = Reader::new(b);
        let node = |r: &mut Reader| -> Result<Node, Error> {
            let len = r.u8("map node length")? as usize;
            Node::from_bytes(r.take(len, "map node")?)
                .ok_or_else(|| Error::malformed("map node", "unknown form"))
        };
        let version = r.u64("map record version")?;
        let latest = node(&mut r)?;
        let previous = match r.u8("map record previous")? {
            0 => None,
            1 => Some((r.u64("map record previous version")?, node(&mut r)?)),
            _ => return Err(Error::malformed("map record", "bad flag")),
        };
        r.finish("map record")?;
        Ok(MapRecord {
            version,
            node: latest,
            previous,
        })
    }
}

/// Read access to stored map records.
pub trait RecordSource {
    type Error: From<Stale>;
    fn map_record(&self, at: &Position) -> Result<Option<MapRecord>, Self::Error>;
}

/// The map as of one tree size, for walks, proofs and updates.
pub struct MapAt<'a, S> {
    pub source: &'a S,
    pub size: u64,
}

impl<S: RecordSource> MapSource for MapAt<'_, S> {
    type Error = S::Error;
    fn map_node(&self, at: &Position) -> Result<Node, S::Error> {
        match self.source.map_record(at)? {
            None => Ok(Node::Empty),
            Some(r) => Ok(r.at(self.size)?),
        }
    }
}

/// The records a commit at tree size `version` writes for `update` (an
/// update read at the latest version).
pub fn records<S: RecordSource>(
    source: &S,
    version: u64,
    update: MapUpdate<'_, MapAt<'_, S>>,
) -> Result<Vec<(Position, MapRecord)>, S::Error> {
    records_for(source, version, update.writes())
}

/// The records a commit at tree size `version` writes for the nodes
/// `writes` (e.g. from `map_batch::set_batch`), each replacing the record
/// stored at its position.
pub fn records_for<S: RecordSource>(
    source: &S,
    version: u64,
    writes: Vec<(Position, Node)>,
) -> Result<Vec<(Position, MapRecord)>, S::Error> {
    writes
        .into_iter()
        .map(|(pos, node)| {
            let existing = source.map_record(&pos)?;
            Ok((pos, MapRecord::write(existing.as_ref(), version, node)))
        })
        .collect()
}
