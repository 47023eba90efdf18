//! A reader's registry and map reads, fetched a round at a time.
//!
//! Answering ListSignatories or a registry proof reads dozens of registry
//! records and map tiles, each depending on the ones before (a listing row
//! names an organization, whose record names its key…). Against the local store each
//! read costs microseconds; against a shared database each is a round trip,
//! and a page of signatories took ≈ 50 ms. So the service runs its query
//! first in *probing* mode over this cache: reads it lacks answer "none"
//! and are noted, then fetched all at once (one query per kind); it runs
//! the query again until a run misses nothing (a few rounds: the depth of
//! that chain of reads), and then once more for the answer, every read now
//! a cache hit. What probing runs return is thrown away. Scans (the
//! listing's pages) are read for real from the first run, once.

use super::{Batch, LogMeta, Storage, StorageError};
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::core::registry::Rows;
use crate::core::Hash;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub struct ReadAhead {
    inner: Arc<dyn Storage>,
    probing: AtomicBool,
    records: Mutex<Cached<Vec<u8>, Vec<u8>>>,
    tiles: Mutex<Cached<Position, MapRecord>>,
    /// Scans are read for real even while probing, once each.
    scans: Mutex<HashMap<Scan, Rows>>,
}

/// A scan's `(prefix, from, limit)`.
type Scan = (Vec<u8>, Vec<u8>, usize);

/// Values read (`None`: there is none) and keys missed while probing.
struct Cached<K, V> {
    found: HashMap<K, Option<V>>,
    missed: Vec<K>,
}

impl<K, V> Default for Cached<K, V> {
    fn default() -> Self {
        Cached {
            found: HashMap::new(),
            missed: Vec::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ReadAhead {
    pub fn new(inner: Arc<dyn Storage>) -> ReadAhead {
        ReadAhead {
            inner,
            probing: AtomicBool::new(true),
            records: Mutex::default(),
            tiles: Mutex::default(),
            scans: Mutex::default(),
        }
    }

    /// Fetches what probing runs missed; false if they missed nothing.
    pub fn fetch_missed(&self) -> Result<bool, StorageError> {
        let mut keys = std::mem::take(&mut lock(&self.records).missed);
        let mut positions = std::mem::take(&mut lock(&self.tiles).missed);
        keys.sort();
        keys.dedup();
        positions.sort();
        positions.dedup();
        let missed = !keys.is_empty() || !positions.is_empty();
        if !keys.is_empty() {
            let values = self.inner.registry_records(&keys)?;
            lock(&self.records)
                .found
                .extend(keys.into_iter().zip(values));
        }
        if !positions.is_empty() {
            let records = self.inner.map_records(&positions)?;
            lock(&self.tiles)
                .found
                .extend(positions.into_iter().zip(records));
        }
        Ok(missed)
    }

    /// From now on reads that miss go to the database (the answering run).
    pub fn stop_probing(&self) {
        self.probing.store(false, Ordering::Relaxed);
    }

    fn probing(&self) -> bool {
        self.probing.load(Ordering::Relaxed)
    }

    fn read<K: Clone + Eq + std::hash::Hash, V: Clone>(
        &self,
        cache: &Mutex<Cached<K, V>>,
        key: &K,
        fetch: impl FnOnce() -> Result<Option<V>, StorageError>,
    ) -> Result<Option<V>, StorageError> {
        if let Some(v) = lock(cache).found.get(key) {
            return Ok(v.clone());
        }
        if self.probing() {
            lock(cache).missed.push(key.clone());
            return Ok(None);
        }
        let v = fetch()?;
        lock(cache).found.insert(key.clone(), v.clone());
        Ok(v)
    }
}

impl Storage for ReadAhead {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.inner.meta()
    }
    fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        self.inner.commit(batch)
    }
    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.leaf(index)
    }
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        self.inner.leaves(start, end)
    }
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        self.inner.node(level, index)
    }
    fn nodes(&self, at: &[(u32, u64)]) -> Result<Vec<Option<Hash>>, StorageError> {
        self.inner.nodes(at)
    }
    fn find_leaf_hash(&self, leaf_hash: &Hash) -> Result<Option<u64>, StorageError> {
        self.inner.find_leaf_hash(leaf_hash)
    }
    fn map_record(&self, position: &Position) -> Result<Option<MapRecord>, StorageError> {
        self.read(&self.tiles, position, || self.inner.map_record(position))
    }
    fn registry_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(&self.records, &key.to_vec(), || {
            self.inner.registry_record(key)
        })
    }
    fn registry_scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Rows, StorageError> {
        let key = (prefix.to_vec(), from.to_vec(), limit);
        if let Some(rows) = lock(&self.scans).get(&key) {
            return Ok(rows.clone());
        }
        let rows = self.inner.registry_scan(prefix, from, limit)?;
        lock(&self.scans).insert(key, rows.clone());
        Ok(rows)
    }
    fn clear_registry(&self) -> Result<u64, StorageError> {
        self.inner.clear_registry()
    }
    fn shared(&self) -> bool {
        self.inner.shared()
    }
    fn begin_write(&self) -> Result<Option<u64>, StorageError> {
        self.inner.begin_write()
    }
    fn end_write(&self) {
        self.inner.end_write()
    }
    fn cosigned(&self) -> Result<Option<super::StoredCosigned>, StorageError> {
        self.inner.cosigned()
    }
    fn store_cosigned(&self, c: &super::StoredCosigned) -> Result<bool, StorageError> {
        self.inner.store_cosigned(c)
    }
    fn witness_lease(&self, holder: &str, ttl: std::time::Duration) -> Result<bool, StorageError> {
        self.inner.witness_lease(holder, ttl)
    }
    fn release_witness_lease(&self, holder: &str) -> Result<(), StorageError> {
        self.inner.release_witness_lease(holder)
    }
}
