//! The writer's reads of one batch, fetched in a few round trips.
//!
//! Deciding a batch reads, per statement, a handful of registry records and
//! the map tiles on the paths of the keys it changes. Against the local store each
//! read costs microseconds; against a database across a socket each is a
//! round trip, and one round trip per read made PostgreSQL eight times
//! slower than the local store (BENCHMARKS.md). So on a shared database the writer
//! first learns which records the batch reads — by absorbing every job into
//! a throwaway projection that records what it misses — fetches them with
//! one query per round, and then decides against the cache. The tiles of
//! the changed keys' paths are fetched the same way, all levels at once.
//!
//! The cache lives for one batch, under the log's write lock, so nothing
//! else can change what it holds; a miss still reads the database. Only
//! the tiles near the map's root (the largest, crossed by every batch)
//! are kept for the next batch, updated with what the batch wrote, until
//! the writer's view is loaded again (another server committed).
//! With the local store, only that and the per-batch cache apply: local reads need
//! no fetching ahead.

use crate::core::entry::Signed;
use crate::core::map::Position;
use crate::core::map_tiles::{NEAR_ROOT, TILE_HEIGHT};
use crate::core::map_versions::{MapRecord, RecordSource};
use crate::core::registry::{MapKey, RecordStore, Registry, Rows, StoredRegistry};
use crate::core::Hash;
use crate::storage::{Storage, StorageError};
use std::cell::RefCell;
use std::collections::HashMap;

/// Rounds of registry reads: a statement's reads depend on at most two
/// earlier ones (its key names its organization, whose record names its
/// standings), so the third round finds nothing new.
const ROUNDS: usize = 4;
/// The deepest tile root a key's path can have (map keys are 256 bits).
const MAX_DEPTH: usize = 256 - TILE_HEIGHT;
/// Tiles at this depth or above are kept from one batch to the next
/// (`core::map_tiles::NEAR_ROOT`: a few MiB). A batch of 1,000 entries
/// changes ≈ 3,000 keys, so it crosses nearly all of them; deeper tiles
/// (65,536 at depth 16) are mostly crossed once per batch and read from
/// storage. Depth 12 instead of 8 took a third of the map's reads out of
/// each local batch (issue 18's profile).
pub(super) const SHALLOW: usize = NEAR_ROOT;

/// Map records by tile root (`None`: no such tile).
pub(super) type Tiles = HashMap<Position, Option<MapRecord>>;

pub(super) struct Prefetched<'a> {
    storage: &'a dyn Storage,
    records: RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    tiles: RefCell<Tiles>,
}

impl<'a> Prefetched<'a> {
    /// A cache over `storage`, holding `tiles` already (see `into_shallow`).
    pub fn new(storage: &'a dyn Storage, tiles: Tiles) -> Self {
        Prefetched {
            storage,
            records: RefCell::default(),
            tiles: RefCell::new(tiles),
        }
    }

    /// Fetches the registry records deciding `jobs` will read.
    pub fn registry_for<'s>(
        &self,
        size: u64,
        jobs: impl Iterator<Item = &'s Signed> + Clone,
    ) -> Result<(), StorageError> {
        for _ in 0..ROUNDS {
            let stored = StoredRegistry(Probe {
                cache: self,
                missed: RefCell::default(),
            });
            let mut scratch = Registry::projection(size, &stored)?;
            for signed in jobs.clone() {
                scratch.absorb(&stored, signed)?;
            }
            let mut missed = stored.0.missed.into_inner();
            missed.sort();
            missed.dedup();
            if missed.is_empty() {
                break;
            }
            let found = self.storage.registry_records(&missed)?;
            self.records
                .borrow_mut()
                .extend(missed.into_iter().zip(found));
        }
        Ok(())
    }

    /// Fetches the map tiles an update of `keys` reads: on each key's path
    /// every tile down to its leaf, and at each tile boundary the sibling
    /// tile (whose root hash the update needs). Paths are fetched a few
    /// tile levels at a time, as deep as the map is likely to be at
    /// `map_keys` keys first, then further only for paths that go on.
    pub fn tiles_for(&self, keys: &[MapKey], map_keys: u64) -> Result<(), StorageError> {
        let mut open: Vec<Hash> = keys.iter().map(|k| k.hash()).collect();
        // A random trie of M keys has its leaves near depth log2(M).
        let likely = (64 - map_keys.leading_zeros()) as usize;
        let (mut from, mut to) = (0, likely.div_ceil(TILE_HEIGHT) * TILE_HEIGHT);
        while !open.is_empty() && from <= MAX_DEPTH {
            let mut wanted: Vec<Position> = (open.iter())
                .flat_map(|h| {
                    (from..=to.min(MAX_DEPTH))
                        .step_by(TILE_HEIGHT)
                        .flat_map(move |d| {
                            let on_path = Position::of(h, d);
                            let sibling = (d > 0).then(|| on_path.sibling());
                            std::iter::once(on_path).chain(sibling)
                        })
                })
                .filter(|p| !self.tiles.borrow().contains_key(p))
                .collect();
            wanted.sort();
            wanted.dedup();
            if !wanted.is_empty() {
                let found = self.storage.map_records(&wanted)?;
                self.tiles
                    .borrow_mut()
                    .extend(wanted.into_iter().zip(found));
            }
            // A path goes on below `to` only if its tile there exists.
            let tiles = self.tiles.borrow();
            open.retain(|h| matches!(tiles.get(&Position::of(h, to)), Some(Some(_))));
            (from, to) = (to + TILE_HEIGHT, to + 2 * TILE_HEIGHT);
        }
        Ok(())
    }

    /// The tiles near the root it holds (read or written), for the next
    /// batch: every batch crosses them, and they are the largest.
    pub fn into_shallow(self) -> Tiles {
        let mut tiles = self.tiles.into_inner();
        tiles.retain(|p, _| usize::from(p.depth) <= SHALLOW);
        tiles
    }
}

impl RecordStore for Prefetched<'_> {
    type Error = StorageError;
    fn record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = self.records.borrow().get(key) {
            return Ok(v.clone());
        }
        // The writer's read path (`registry_records`): backends keep it
        // out of the caches that serve queries.
        let key = key.to_vec();
        let v = (self.storage.registry_records(std::slice::from_ref(&key))?)
            .pop()
            .flatten();
        self.records.borrow_mut().insert(key, v.clone());
        Ok(v)
    }
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Rows, StorageError> {
        self.storage.registry_scan(prefix, from, limit)
    }
    fn corrupt(why: String) -> StorageError {
        StorageError::Corrupt(why)
    }
}

impl RecordSource for Prefetched<'_> {
    type Error = StorageError;
    fn map_record(&self, at: &Position) -> Result<Option<MapRecord>, StorageError> {
        if let Some(r) = self.tiles.borrow().get(at) {
            return Ok(r.clone());
        }
        let r = self.storage.map_record(at)?;
        self.tiles.borrow_mut().insert(*at, r.clone());
        Ok(r)
    }
}

/// A reader that answers from the cache and notes what it lacks (answering
/// "none" meanwhile: only a throwaway projection reads through it).
struct Probe<'p, 'a> {
    cache: &'p Prefetched<'a>,
    missed: RefCell<Vec<Vec<u8>>>,
}

impl RecordStore for Probe<'_, '_> {
    type Error = StorageError;
    fn record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = self.cache.records.borrow().get(key) {
            return Ok(v.clone());
        }
        self.missed.borrow_mut().push(key.to_vec());
        Ok(None)
    }
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Rows, StorageError> {
        self.cache.storage.registry_scan(prefix, from, limit)
    }
    fn corrupt(why: String) -> StorageError {
        StorageError::Corrupt(why)
    }
}
