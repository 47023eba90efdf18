//! The production [`Storage`] on one machine: the log in append-only files
//! (`file_log.rs`), every other record in an LSM tree beside them
//! (`records_db.rs`, fjall).
//!
//! Why fjall (2026-11-30, issue 18): redb, a copy-on-write B-tree, wrote
//! a 4 KiB page for each record a commit inserted at a random key, and
//! most of them are (leaf hashes, registry records, map tiles); an LSM
//! tree appends them to its journal. sled, before redb, kept every page
//! it ever wrote. `records_db.rs` says more; BENCHMARKS.md has the
//! measurements.
//!
//! Durability: each batch is one fjall write batch, journaled and
//! fdatasynced before `commit` returns (`RecordsDb::commit`). The log
//! files are written and fdatasynced before it commits (`LogFiles::write`,
//! on a second thread while the batch is filled); the batch records how
//! many entries they hold (`F`), so a crash between the two leaves a tail
//! in the files that the next open cuts.
//!
//! An older layout (sled, or redb's `records.redb`) is moved into this one
//! at its first open (`records_build.rs`, `local_migrate.rs`).

mod commit;

use super::file_log::FileLog;
use super::log_files::LogFiles;
use super::map_near_root::{near_root, NearRoot};
use super::record_cache::{RecordCache, RECORD_CACHE_BYTES};
use super::records_db::{db_error, dir_size, RecordsDb, RECORDS_DIR};
use super::sled_store::{decode_cosigned, decode_meta, encode_cosigned};
use super::{Batch, LogMeta, Storage, StorageError, StoredCosigned};
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::core::registry::Rows;
use crate::core::Hash;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use super::local_migrate::RECORDS_FILE;
pub use super::records_db::LAYOUT;

/// The records store's block cache in MiB (`accord serve --cache-mb`).
/// The hot records (the registry map's tiles below those held in memory,
/// recent organizations, the files' indexes and filters) are far smaller;
/// the OS page cache holds the rest.
pub const DEFAULT_CACHE_MB: u64 = 64;

/// The tiles near the root after a panic during a commit's update of them.
fn near_lost() -> StorageError {
    StorageError::Corrupt(
        "a commit failed while updating the registry map's tiles near the root in memory: restart the server (the records store has them)".into(),
    )
}

pub struct LocalStorage {
    pub(super) db: RecordsDb,
    /// The log's leaves and nodes (levels ≥ 1), and the nodes held in memory.
    log: FileLog,
    /// Registry records queries read again and again (`record_cache.rs`).
    records: RecordCache,
    /// The map's tiles near the root, the only copy of their latest state
    /// between checkpoints (`map_near_root.rs`).
    near: RwLock<NearRoot>,
    /// Durable commits made by `commit` (see [`LocalStorage::syncs`]).
    syncs: AtomicU64,
    /// Held while `store_cosigned` reads and replaces the stored
    /// checkpoint, so the stored size never goes back.
    cosigned: Mutex<()>,
    path: PathBuf,
    /// The database directory's lock (`records_build::lock`), released
    /// when the store is dropped (fields drop in order: this one last).
    _lock: std::fs::File,
}

/// Meta key present while `clear_map` empties the map: an open that finds
/// it finishes the job before reading the map.
const MAP_CLEARING: &str = "X";

/// Empties the `map` and `map_near_root` keyspaces, then removes the
/// [`MAP_CLEARING`] note (its commit point: until then a crash leaves the
/// note, and the next open empties them again).
fn finish_clearing_map(db: &RecordsDb) -> Result<u64, StorageError> {
    db.remove_all(&db.deltas, None)?;
    let removed = db.remove_all(&db.map, None)?;
    let mut batch = db.batch();
    batch.remove(&db.meta, MAP_CLEARING);
    db.commit(batch)?;
    Ok(removed)
}

impl LocalStorage {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with_cache(path, DEFAULT_CACHE_MB << 20)
    }

    /// [`LocalStorage::open`] with a records cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self, StorageError> {
        let io = |what: &'static str, p: &Path| {
            let p = p.to_owned();
            move |e: std::io::Error| StorageError::Database(format!("{what} {}: {e}", p.display()))
        };
        let lock = super::records_build::lock(path)?;
        let started = std::time::Instant::now();
        // The layout's commit points are in `records_build.rs`.
        let db = super::records_build::open(path, cache_bytes)?;
        tracing::debug!("records store opened in {:?}", started.elapsed());
        let entries = db.entries()?;
        let files = LogFiles::open(path, entries)?;
        if db.meta_value(MAP_CLEARING)?.is_some() {
            tracing::warn!("finishing the registry map's removal, which a crash interrupted");
            finish_clearing_map(&db)?;
        }
        let near = NearRoot::load(&db)?;
        // The records directory, the log files and the directory entries naming
        // them: durable before anything is acknowledged.
        for p in [path, path.parent().unwrap_or(Path::new("."))] {
            if !p.as_os_str().is_empty() {
                std::fs::File::open(p)
                    .and_then(|d| d.sync_all())
                    .map_err(io("fsync", p))?;
            }
        }
        Ok(LocalStorage {
            db,
            log: FileLog::new(files)?,
            records: RecordCache::new(RECORD_CACHE_BYTES),
            near: RwLock::new(near),
            syncs: AtomicU64::new(0),
            cosigned: Mutex::new(()),
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// Waits until the memory copy of the upper tree levels is loaded
    /// (tests and benchmarks; the server never needs to wait).
    pub fn wait_for_node_cache(&self) {
        self.log.wait_for_node_cache()
    }

    /// How many durable commits `commit` has made (one per batch): the
    /// durability regression check of `tests/storage_contract.rs`
    /// (`tests/fsync_strace.rs` checks the system calls themselves).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Bytes on disk: the records directory and the log files.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(dir_size(&self.path.join(RECORDS_DIR))? + self.log.size_on_disk()?)
    }

    /// Removes every registry map record (`accord reindex`, server
    /// stopped, when the stored map does not match the log): the next start
    /// finds no map, rebuilds it from the log and checks it against the
    /// log's last map head. Returns how many records were removed.
    ///
    /// Not one atomic write (the map may hold millions of records): a note
    /// ([`MAP_CLEARING`]) is committed durably first, and the next open
    /// finishes a removal a crash interrupted, so no start ever reads part
    /// of a map (whose root tile, the first key, would be gone while
    /// deeper tiles stayed, and be built anew over them).
    pub fn clear_map(&self) -> Result<u64, StorageError> {
        let mut near = self.near_mut()?;
        // Also if it fails midway: with nothing in memory, the drop writes
        // nothing, and the next open finishes the removal.
        near.clear();
        // Commit point: from here the map counts as being removed.
        let mut batch = self.db.batch();
        batch.insert(&self.db.meta, MAP_CLEARING, []);
        self.db.commit(batch)?;
        finish_clearing_map(&self.db)
    }

    /// Deltas of the map's tiles near the root stored since their last
    /// checkpoint, `(count, bytes)` (tests).
    pub fn map_deltas(&self) -> (u64, u64) {
        (self.near.read().unwrap_or_else(PoisonError::into_inner)).pending()
    }

    /// Drops the store as a crash would leave it, as far as the map's
    /// tiles near the root go: their deltas stay, for the next open to set
    /// again (tests of that open).
    pub fn abandon(mut self) {
        self.near
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Checkpoints the map's tiles near the root after `bytes` of deltas
    /// instead of `map_near_root::CHECKPOINT_BYTES` (tests).
    pub fn set_map_checkpoint_bytes(&self, bytes: u64) {
        (self.near.write().unwrap_or_else(PoisonError::into_inner)).set_checkpoint_bytes(bytes)
    }

    /// The tiles near the root, for reading. A panic while a commit updated
    /// them (poisoning the lock) leaves them unknown: an error, not a guess.
    fn near(&self) -> Result<RwLockReadGuard<'_, NearRoot>, StorageError> {
        self.near.read().map_err(|_| near_lost())
    }

    fn near_mut(&self) -> Result<RwLockWriteGuard<'_, NearRoot>, StorageError> {
        self.near.write().map_err(|_| near_lost())
    }

    fn registry_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(&self.db.registry, key)?.map(|v| v.to_vec()))
    }

    fn map_value(&self, p: &Position) -> Result<Option<MapRecord>, StorageError> {
        let Some(v) = self.db.get(&self.db.map, &p.to_key())? else {
            return Ok(None);
        };
        (MapRecord::from_bytes(p, &v).map(Some))
            .map_err(|e| StorageError::Corrupt(format!("a registry map record: {e}")))
    }
}

impl Storage for LocalStorage {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.db
            .meta_value("m")?
            .map(|v| decode_meta(&v))
            .transpose()
    }

    fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        self.commit_batch(batch)
    }

    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.log.leaf(index)
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        self.log.leaves(start, end)
    }

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        self.log.node(level, index)
    }

    fn find_leaf_hash(&self, h: &Hash) -> Result<Option<u64>, StorageError> {
        let Some(v) = self.db.get(&self.db.hashes, h)? else {
            return Ok(None);
        };
        let index: [u8; 8] = (*v).try_into().map_err(|_| {
            StorageError::Corrupt(format!(
                "the index of leaf hash {} is not 8 bytes",
                hex::encode(h)
            ))
        })?;
        Ok(Some(u64::from_be_bytes(index)))
    }

    fn map_record(&self, position: &Position) -> Result<Option<MapRecord>, StorageError> {
        if near_root(position) {
            return Ok(self.near()?.get(position));
        }
        self.map_value(position)
    }

    /// The tiles near the root from memory, the others from the store: one
    /// consistent map only because commits hold readers off (the contract).
    fn map_records(&self, positions: &[Position]) -> Result<Vec<Option<MapRecord>>, StorageError> {
        let near = self.near()?;
        positions
            .iter()
            .map(|p| match near_root(p) {
                true => Ok(near.get(p)),
                false => self.map_value(p),
            })
            .collect()
    }

    fn registry_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let stamp = match self.records.get(key) {
            Ok(hit) => return Ok(hit),
            Err(stamp) => stamp,
        };
        let value = self.registry_value(key)?;
        self.records.fill(stamp, key, value.as_deref());
        Ok(value)
    }

    /// The writer's reads: past the record cache (see the trait), so a
    /// batch's lookups of new organizations do not push out what queries
    /// read.
    fn registry_records(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        keys.iter().map(|k| self.registry_value(k)).collect()
    }

    fn registry_scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Rows, StorageError> {
        let mut out = Vec::new();
        for kv in self.db.registry.range(from..).take(limit) {
            let (k, v) = kv.into_inner().map_err(db_error)?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// The format marker goes first: a crash midway leaves records without
    /// it, which the next start rebuilds and stores again (the marker is
    /// written last, `sequencer::replay::store_registry`).
    fn clear_registry(&self) -> Result<u64, StorageError> {
        use crate::core::registry::FORMAT_KEY;
        let removed = self.db.remove_all(&self.db.registry, Some(FORMAT_KEY));
        self.records.invalidate_all();
        removed
    }

    fn cosigned(&self) -> Result<Option<StoredCosigned>, StorageError> {
        self.db
            .meta_value("c")?
            .map(|v| decode_cosigned(&v))
            .transpose()
    }

    /// Read and replaced under a lock, so the stored size never goes
    /// back. Committed without a sync: the journal keeps the order of
    /// writes, so the next batch's durable commit (or the store's close)
    /// makes it durable too, and a lost one is gathered again.
    fn store_cosigned(&self, c: &StoredCosigned) -> Result<bool, StorageError> {
        let _one_at_a_time = self.cosigned.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.db.meta_value("c")?;
        let old = old.map(|v| decode_cosigned(&v)).transpose()?;
        if old.is_some_and(|old| old.size > c.size) {
            return Ok(false);
        }
        let mut batch = self.db.batch();
        batch.insert(&self.db.meta, "c", encode_cosigned(c));
        batch.commit().map_err(db_error)?;
        Ok(true)
    }
}
