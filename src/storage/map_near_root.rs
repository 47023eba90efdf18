//! The registry map's tiles near the root, held in memory by the local
//! store and written to its records store less often.
//!
//! Why (issue 18): every commit crosses the tiles whose roots are at depth
//! ≤ 12 (`core::map_tiles::NEAR_ROOT`, 4,369 tiles). A unary commit of ≈ 64
//! entries rewrote ≈ 338 of them whole, ≈ 0.5 KiB each: more than half of
//! its map records and most of their bytes, each a random insert into the
//! `map` table, then in redb (BENCHMARKS.md, "What a unary commit writes to
//! the map").
//!
//! Now a commit stores instead what it set in the map: its (key hash,
//! value hash) pairs ([`Batch::map_set`](super::Batch), ≈ 12 KB for such a
//! commit), as one record (a *delta*) under the next number of the
//! `map_near_root` keyspace, in the same write batch as the rest of its
//! batch: as atomic and as durable as before. The tiles themselves go
//! back to the `map` keyspace (a *checkpoint*, which removes the deltas):
//! - in the commit whose delta would bring the deltas to
//!   [`CHECKPOINT_BYTES`];
//! - in a commit whose delta would be at least half the size of the tiles
//!   changed since the last checkpoint written whole (a batch that crosses
//!   most of them: a delta would only add bytes), or that gives no pairs;
//! - when the store is dropped (a clean stop: the server drops it once
//!   every task holding it has ended), so the next open replays nothing;
//!   not after a commit that failed but may have been stored, nor after
//!   a panic while memory was being updated (the deltas then stay).
//!
//! Everything rests on `map_set` being exactly the pairs that gave the
//! batch's map records (the sequencer takes both from one
//! `sequencer::map::update`); the start-up's root check catches a store
//! that replays anything else.
//!
//! At open the tiles are read from the `map` keyspace, and the pairs of every
//! stored delta set over them again (`core::map_batch::set_batch`), deeper
//! tiles read from the `map` keyspace as the last commit left them. That
//! gives the tiles near the root with the content the last commit left
//! them (each labelled with the last delta's version: the tree size that
//! commit published, at which every reader of a local store reads): a
//! node off the replayed paths did not change since the checkpoint; on
//! them, a deeper subtree already holds its pairs (setting them again
//! changes nothing) and a subtree near the root is rebuilt from the
//! checkpoint's content and the pairs, which are every pair set under it
//! since (the map never removes a key). The start-up then checks the map's
//! root against the log's last map head, as for any stored map.
//!
//! The store answers reads of these tiles from memory only (a tile not
//! there was never written). The memory copy changes after the write batch
//! commits, while the sequencer holds readers off (the storage contract).
//!
//! Delta bytes: `u64` the commit's version (tree size) ‖ `u32` count ‖
//! count × (`key hash` 32 bytes ‖ `value hash` 32 bytes). Internal to the
//! local store, like its other records.

use super::records_db::{db_error, RecordsDb};
use super::StorageError;
use crate::core::encoding::{Reader, Writer};
use crate::core::map::{FastMap, Position};
use crate::core::map_batch::set_batch;
use crate::core::map_tiles::{tile_of, Tile, NEAR_ROOT};
use crate::core::map_versions::{MapAt, MapRecord, RecordSource};
use crate::core::Hash;
use fjall::OwnedWriteBatch;
use std::collections::BTreeSet;

/// Delta bytes stored before a checkpoint: ≈ 170 unary commits of ≈ 190
/// pairs (64 bytes each), ≈ 3 s of a saturating unary load. A
/// checkpoint then writes the ≈ 2.4 MB of tiles those commits changed
/// (nearly all 4,369), once; an open after a crash sets at most ≈ 32,000
/// pairs again.
pub const CHECKPOINT_BYTES: u64 = 2 << 20;

/// Bytes of a delta of `pairs` pairs.
fn delta_len(pairs: usize) -> u64 {
    12 + 64 * pairs as u64
}

/// True for the positions of tiles this module keeps.
pub fn near_root(tile: &Position) -> bool {
    usize::from(tile.depth) <= NEAR_ROOT
}

/// The tiles near the root as the last commit left them.
pub(super) struct NearRoot {
    tiles: FastMap<Position, MapRecord>,
    /// Tiles changed since the last checkpoint (in the `map` keyspace, older),
    /// each with what its record weighs written whole ([`whole_len`]), so
    /// a commit sizes what it replaces without walking the old tiles.
    dirty: FastMap<Position, u64>,
    /// Bytes of the deltas stored since the last checkpoint.
    pending: u64,
    /// What the dirty tiles' records weigh written whole ([`whole_len`]),
    /// kept up to date: summing it per commit took 9 % of the writer.
    dirty_len: u64,
    /// The number of the next delta (= deltas stored since the checkpoint).
    next: u64,
    checkpoint_bytes: u64,
    /// A commit writing these tiles is under way, or failed in a way that
    /// may have stored it (its commit failed): memory may be behind
    /// the store, so neither the drop nor another commit may write it.
    unsure: bool,
}

/// What one commit writes for the tiles near the root.
pub(super) enum Write {
    Delta {
        number: u64,
        bytes: Vec<u8>,
    },
    /// Every tile changed since the last checkpoint, with its new content;
    /// the deltas stored since (numbered from 0) are removed.
    Checkpoint {
        records: Vec<(Position, MapRecord)>,
        deltas: u64,
    },
}

fn corrupt(why: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("the registry map's tiles near the root: {why}"))
}

/// The bytes of `tile`'s record written whole (key, version, flag).
fn whole_len(tile: &Tile) -> u64 {
    16 + tile.encoded_len() as u64
}

/// The map as the open finds it: the tiles near the root from memory (as
/// of the checkpoint), the others from the `map` keyspace (the latest).
struct Checkpointed<'a> {
    tiles: &'a FastMap<Position, MapRecord>,
    db: &'a RecordsDb,
}

impl RecordSource for Checkpointed<'_> {
    type Error = StorageError;
    fn map_record(&self, tile: &Position) -> Result<Option<MapRecord>, StorageError> {
        if near_root(tile) {
            return Ok(self.tiles.get(tile).cloned());
        }
        match self.db.get(&self.db.map, &tile.to_key())? {
            None => Ok(None),
            Some(v) => Ok(Some(MapRecord::from_bytes(tile, &v).map_err(corrupt)?)),
        }
    }
}

impl NearRoot {
    /// Reads the tiles from the `map` keyspace and sets the stored deltas'
    /// pairs over them (see the module doc).
    pub fn load(db: &RecordsDb) -> Result<Self, StorageError> {
        let mut tiles = FastMap::default();
        // Keys sort by depth first (2 bytes, big-endian): these come first.
        let end = [0u8, NEAR_ROOT as u8 + 1];
        for kv in db.map.range(..&end[..]) {
            let (k, v) = kv.into_inner().map_err(db_error)?;
            let p = Position::from_key(&k).ok_or_else(|| corrupt("a bad key"))?;
            tiles.insert(p, MapRecord::from_bytes(&p, &v).map_err(corrupt)?);
        }
        let mut near = NearRoot {
            tiles,
            dirty: FastMap::default(),
            pending: 0,
            dirty_len: 0,
            next: 0,
            checkpoint_bytes: CHECKPOINT_BYTES,
            unsure: false,
        };
        let (mut pairs, mut version) = (Vec::new(), 0);
        for kv in db.deltas.iter() {
            let (number, bytes) = kv.into_inner().map_err(db_error)?;
            let number: [u8; 8] = (*number)
                .try_into()
                .map_err(|_| corrupt("a bad delta number"))?;
            let number = u64::from_be_bytes(number);
            let bad = |e| corrupt(format!("delta {number}: {e}"));
            version = read_delta(&bytes, &mut pairs).map_err(bad)?;
            near.pending += bytes.len() as u64;
            near.next = number + 1;
        }
        if pairs.is_empty() {
            return Ok(near);
        }
        let started = std::time::Instant::now();
        let source = Checkpointed {
            tiles: &near.tiles,
            db,
        };
        // Every version is readable: nothing commits during the open.
        let at = MapAt::new(&source, u64::MAX);
        let (_, writes) = set_batch(&at, &pairs)?;
        // Only these tiles are stale; the deeper writes are what is stored.
        let writes = (writes.into_iter())
            .filter(|(p, _)| near_root(&tile_of(p)))
            .collect();
        let records = at.records_for(version, writes, false)?;
        (near.dirty).extend(records.iter().map(|(p, r)| (*p, whole_len(&r.tile))));
        near.tiles.extend(records);
        near.dirty_len = near.dirty.values().sum();
        tracing::info!(
            "the registry map's tiles near the root: {} pairs of {} commits set again in {:.2} s",
            pairs.len(),
            near.next,
            started.elapsed().as_secs_f64()
        );
        Ok(near)
    }

    /// The record of the tile rooted at `p` (a position [`near_root`]).
    pub fn get(&self, p: &Position) -> Option<MapRecord> {
        self.tiles.get(p).cloned()
    }

    /// Checkpoints after `bytes` of deltas instead of [`CHECKPOINT_BYTES`].
    pub fn set_checkpoint_bytes(&mut self, bytes: u64) {
        self.checkpoint_bytes = bytes;
    }

    /// Deltas stored since the last checkpoint: `(count, bytes)`.
    pub fn pending(&self) -> (u64, u64) {
        (self.next, self.pending)
    }

    /// What a commit writing `new` (tiles near the root, each at most
    /// once) after setting `pairs` stores for them: its delta, or a
    /// checkpoint (see the module doc).
    pub fn plan(&self, new: &[(Position, MapRecord)], pairs: &[(Hash, Hash)]) -> Write {
        let len = delta_len(pairs.len());
        let whole = self.dirty_len_after(new);
        let version = new.first().map_or(0, |(_, r)| r.version);
        let one_version = new
            .iter()
            .all(|(_, r)| r.version == version && r.previous.is_none());
        if !pairs.is_empty()
            && one_version
            && self.pending + len < self.checkpoint_bytes
            && 2 * len < whole
        {
            let mut w = Writer::with_capacity(len as usize);
            w.u64(version).u32(pairs.len() as u32);
            for (key, value) in pairs {
                w.raw(key).raw(value);
            }
            return Write::Delta {
                number: self.next,
                bytes: w.finish(),
            };
        }
        let changed: BTreeSet<Position> = new.iter().map(|(p, _)| *p).collect();
        let mut all: Vec<(Position, MapRecord)> = (self.dirty.keys())
            .filter(|p| !changed.contains(p))
            .map(|p| (*p, self.tiles[p].clone()))
            .collect();
        all.extend(new.iter().cloned());
        // In key order, as they are stored.
        all.sort_unstable_by_key(|a| a.0);
        Write::Checkpoint {
            records: all,
            deltas: self.next,
        }
    }

    /// `dirty_len` once `new` (one record per tile, as `records_for`
    /// gives) is in.
    fn dirty_len_after(&self, new: &[(Position, MapRecord)]) -> u64 {
        let (mut gone, mut added) = (0, 0);
        for (p, record) in new {
            gone += self.dirty.get(p).copied().unwrap_or(0);
            added += whole_len(&record.tile);
        }
        self.dirty_len - gone + added
    }

    /// Every tile changed since the last checkpoint, written whole: what
    /// the store's drop commits, so the next open replays nothing.
    pub fn checkpoint(&self) -> Option<Write> {
        (self.next > 0 && !self.unsure).then(|| self.plan(&[], &[]))
    }

    /// Marks a commit writing these tiles as under way, until
    /// [`NearRoot::committed`] or [`NearRoot::aborted`]; refused after one
    /// that failed but may have been stored (see `unsure`): only a restart,
    /// which reads the store, knows the tiles then.
    pub fn begin(&mut self) -> Result<(), StorageError> {
        if self.unsure {
            return Err(StorageError::Database(
                "an earlier commit failed and may have been stored: restart the server to read the registry map's tiles near the root again".into(),
            ));
        }
        self.unsure = true;
        Ok(())
    }

    /// The commit begun failed before its write batch committed: nothing
    /// of it is stored, and memory still matches the store.
    pub fn aborted(&mut self) {
        self.unsure = false;
    }

    /// Puts `write` into `batch`, the commit's write batch.
    pub fn store(write: &Write, db: &RecordsDb, batch: &mut OwnedWriteBatch) {
        match write {
            Write::Delta { number, bytes } => {
                batch.insert(&db.deltas, number.to_be_bytes(), bytes.as_slice());
            }
            Write::Checkpoint { records, deltas } => {
                for (p, record) in records {
                    batch.insert(&db.map, p.to_key(), record.to_bytes());
                }
                for number in 0..*deltas {
                    batch.remove(&db.deltas, number.to_be_bytes());
                }
            }
        }
    }

    /// Takes in `new` once `write` (planned for it) is committed.
    pub fn committed(&mut self, new: Vec<(Position, MapRecord)>, write: Write) {
        self.unsure = false;
        match write {
            Write::Delta { number, bytes } => {
                self.dirty_len = self.dirty_len_after(&new);
                (self.dirty).extend(new.iter().map(|(p, r)| (*p, whole_len(&r.tile))));
                self.pending += bytes.len() as u64;
                self.next = number + 1;
            }
            Write::Checkpoint { records, .. } => {
                tracing::debug!(
                    "map tiles near the root: {} written whole, after {} deltas of {} bytes",
                    records.len(),
                    self.next,
                    self.pending
                );
                self.dirty.clear();
                self.dirty_len = 0;
                self.pending = 0;
                self.next = 0;
            }
        }
        self.tiles.extend(new);
    }

    /// Forgets every tile (the `map` and delta keyspaces are being emptied).
    pub fn clear(&mut self) {
        self.tiles.clear();
        self.dirty.clear();
        self.dirty_len = 0;
        self.pending = 0;
        self.next = 0;
    }
}

/// Appends a delta's pairs to `pairs`; returns its version.
fn read_delta(bytes: &[u8], pairs: &mut Vec<(Hash, Hash)>) -> Result<u64, crate::core::Error> {
    let mut r = Reader::new(bytes);
    let version = r.u64("version")?;
    for _ in 0..r.u32("pair count")? {
        let key = r.take(32, "key hash")?.try_into().expect("32 bytes");
        let value = r.take(32, "value hash")?.try_into().expect("32 bytes");
        pairs.push((key, value));
    }
    r.finish("delta")?;
    Ok(version)
}

#[cfg(test)]
#[path = "map_near_root_tests.rs"]
mod tests;
