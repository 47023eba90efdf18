//! The production [`Storage`] on one machine: the log in append-only files
//! (`file_log.rs`), every other record in one redb database beside them.
//!
//! Why redb (2026-11-29, issue 18): sled, which held these records before,
//! kept every page it ever wrote until a restart (≈ 10 KB of disk per
//! entry at 4M entries for ≈ 600 B of live records), replayed all of it at
//! open (100 s after a load of 4M) and held GBs of memory beyond its cache.
//! redb is a copy-on-write B-tree: a commit writes the changed pages to
//! free space and one header, freed pages are reused, open reads one
//! header, and memory is its capped cache. `examples/sledmix.rs`
//! (BENCHMARKS.md, "The local store on redb") compared the two on the
//! log's record mix.
//!
//! Durability: each batch is one redb write transaction with
//! `Durability::Immediate` (redb fsyncs the file before `commit` returns,
//! one fdatasync with checksummed pages: its default "1-phase + checksum"
//! commit). A crash leaves the last committed transaction; redb then
//! repairs its free-space map at the next open by walking the file (see
//! `open_with_cache`). The log files are written and fdatasynced before it
//! commits (`LogFiles::write`, on a second thread while the transaction
//! is filled); the transaction records how many entries they hold.
//!
//! Tables (big-endian integers, so keys sort in index order):
//! - `meta`: `m` → [`LogMeta`]; `F` → entries the log files hold (u64);
//!   `L` → the layout (one byte, [`LAYOUT`]); `c` → the last cosigned
//!   checkpoint (size:u64 ‖ at:u64 ‖ note); `S` (empty) → a moved sled
//!   database's files are still to be removed (`local_migrate.rs`)
//! - `hashes`: leaf hash (32 bytes) → index (u64)
//! - `map`: map tile root key → registry map tile record (`core::map_versions`);
//!   the tiles near the root are as of their last checkpoint
//! - `map_near_root`: number → the changes to the map's tiles near the root
//!   made by one commit since that checkpoint (`map_near_root.rs`)
//! - `registry`: registry record key → registry record (`core::registry::records`)
//!
//! A directory holding a sled database (sled's `conf` file) is moved into
//! this layout at its first open (`local_migrate.rs`).

mod commit;

use super::file_log::FileLog;
use super::log_files::LogFiles;
use super::map_near_root::{near_root, NearRoot};
use super::record_cache::{RecordCache, RECORD_CACHE_BYTES};
use super::sled_store::{decode_cosigned, decode_meta, encode_cosigned};
use super::{Batch, LogMeta, Storage, StorageError, StoredCosigned};
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::core::registry::Rows;
use crate::core::Hash;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(super) const HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("hashes");
pub(super) const MAP: TableDefinition<&[u8], &[u8]> = TableDefinition::new("map");
pub(super) const REGISTRY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("registry");

/// The records file in the database directory.
pub const RECORDS_FILE: &str = "records.redb";
/// Layouts: 1 = everything in sled, 2 = sled + log files, 3 = log files +
/// redb, 4 = this one (3 with the `map_near_root` deltas; a layout-3 file
/// has every tile in `map` and opens as 4, while a build that knows only
/// 3 refuses a layout-4 file instead of reading stale tiles near the root).
pub const LAYOUT: u8 = 4;

/// The records store's cache in MiB (`accord serve --cache-mb`). The hot
/// records (the registry map's tiles below those held in memory, recent
/// organizations) are far smaller; the OS page cache holds the rest.
pub const DEFAULT_CACHE_MB: u64 = 64;

/// What opening the records file failed on: held open elsewhere, a file
/// redb does not recognize or finds inconsistent (damaged: restore), or
/// the system refusing (permissions, space, I/O: fix that, then retry).
fn open_error(file: &Path, e: redb::DatabaseError) -> StorageError {
    use redb::StorageError as E;
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StorageError::Database(format!(
            "{} is already open (by another process, such as a server running on this data directory, or still by this one)",
            file.display()
        )),
        redb::DatabaseError::Storage(E::Io(io))
            if !matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            StorageError::Database(format!("cannot open {}: {io}", file.display()))
        }
        e => StorageError::Corrupt(format!(
            "the records file {} is damaged or unreadable ({e}); restore the data directory from a backup",
            file.display()
        )),
    }
}

/// The tiles near the root after a panic during a commit's update of them.
fn near_lost() -> StorageError {
    StorageError::Corrupt(
        "a commit failed while updating the registry map's tiles near the root in memory: restart the server (the records file has them)".into(),
    )
}

/// Every redb error, reported as the database's.
pub(super) fn db_error(e: impl Into<redb::Error>) -> StorageError {
    StorageError::Database(e.into().to_string())
}

pub struct LocalStorage {
    db: Database,
    /// The log's leaves and nodes (levels ≥ 1), and the nodes held in memory.
    log: FileLog,
    /// Registry records queries read again and again (`record_cache.rs`).
    records: RecordCache,
    /// The map's tiles near the root, the only copy of their latest state
    /// between checkpoints (`map_near_root.rs`).
    near: RwLock<NearRoot>,
    /// Durable commits made by `commit` (see [`LocalStorage::syncs`]).
    syncs: AtomicU64,
    path: PathBuf,
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
        std::fs::create_dir_all(path).map_err(io("create", path))?;
        let file = path.join(RECORDS_FILE);
        let started = std::time::Instant::now();
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes as usize)
            .set_repair_callback(|r| {
                // Only after a crash: redb walks the file to rebuild its
                // free-space map (seconds per GB).
                if r.progress() == 0.0 {
                    tracing::warn!("the records store was not closed cleanly: repairing it");
                }
            })
            .create(&file)
            .map_err(|e| open_error(&file, e))?;
        tracing::debug!("records store opened in {:?}", started.elapsed());
        // The layout's commit points are in `local_migrate.rs`.
        let entries = super::local_migrate::prepare(&db, path)?;
        let files = LogFiles::open(path, entries)?;
        let near = NearRoot::load(&db)?;
        // The records file, the log files and the directory entries naming
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
            path: path.to_owned(),
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

    /// Bytes on disk: the records file and the log files.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        let file = self.path.join(RECORDS_FILE);
        let records = std::fs::metadata(&file)
            .map_err(|e| StorageError::Database(format!("{}: {e}", file.display())))?
            .len();
        Ok(records + self.log.size_on_disk()?)
    }

    /// Removes every registry map record (`accord reindex`, server
    /// stopped, when the stored map does not match the log): the next start
    /// finds no map, rebuilds it from the log and checks it against the
    /// log's last map head. Returns how many records were removed.
    pub fn clear_map(&self) -> Result<u64, StorageError> {
        let mut near = self.near_mut()?;
        let removed = self.clear(MAP, |tx| {
            tx.delete_table(super::map_near_root::DELTAS)
                .map_err(db_error)?;
            tx.open_table(super::map_near_root::DELTAS)
                .map_err(db_error)?;
            Ok(())
        });
        // Also if it failed (it may have landed): with nothing in memory,
        // the drop writes nothing, and the file decides at the next open.
        near.clear();
        removed
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

    /// Empties `table` (and whatever `also` empties) in one durable
    /// transaction: all records gone or none, also across a crash. If a
    /// crash keeps them: a map that does not match still stops the next
    /// start, and reindex runs again; registry records are still the
    /// complete registry of the log.
    fn clear(
        &self,
        table: TableDefinition<&[u8], &[u8]>,
        also: impl FnOnce(&redb::WriteTransaction) -> Result<(), StorageError>,
    ) -> Result<u64, StorageError> {
        let tx = self.db.begin_write().map_err(db_error)?;
        let removed = {
            let t = tx.open_table(table).map_err(db_error)?;
            t.len().map_err(db_error)?
        };
        tx.delete_table(table).map_err(db_error)?;
        tx.open_table(table).map_err(db_error)?;
        also(&tx)?;
        tx.commit().map_err(db_error)?;
        Ok(removed)
    }

    /// The tiles near the root, for reading. A panic while a commit updated
    /// them (poisoning the lock) leaves them unknown: an error, not a guess.
    fn near(&self) -> Result<RwLockReadGuard<'_, NearRoot>, StorageError> {
        self.near.read().map_err(|_| near_lost())
    }

    fn near_mut(&self) -> Result<RwLockWriteGuard<'_, NearRoot>, StorageError> {
        self.near.write().map_err(|_| near_lost())
    }

    fn read<T>(
        &self,
        table: TableDefinition<&[u8], &[u8]>,
        key: &[u8],
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, StorageError> {
        let tx = self.db.begin_read().map_err(db_error)?;
        let t = tx.open_table(table).map_err(db_error)?;
        Ok(t.get(key).map_err(db_error)?.map(|v| f(v.value())))
    }

    fn meta_value(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let tx = self.db.begin_read().map_err(db_error)?;
        let t = tx.open_table(META).map_err(db_error)?;
        Ok(t.get(key).map_err(db_error)?.map(|v| v.value().to_vec()))
    }
}

impl Storage for LocalStorage {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.meta_value("m")?.map(|v| decode_meta(&v)).transpose()
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
        let tx = self.db.begin_read().map_err(db_error)?;
        let t = tx.open_table(HASHES).map_err(db_error)?;
        Ok(t.get(&h[..]).map_err(db_error)?.map(|v| v.value()))
    }

    fn map_record(&self, position: &Position) -> Result<Option<MapRecord>, StorageError> {
        if near_root(position) {
            return Ok(self.near()?.get(position));
        }
        self.read(MAP, &position.to_key(), |v| {
            MapRecord::from_bytes(position, v)
        })?
        .transpose()
        .map_err(|e| StorageError::Corrupt(format!("a registry map record: {e}")))
    }

    /// The tiles near the root from memory, the others from the file: one
    /// consistent map only because commits hold readers off (the contract).
    fn map_records(&self, positions: &[Position]) -> Result<Vec<Option<MapRecord>>, StorageError> {
        let tx = self.db.begin_read().map_err(db_error)?;
        let t = tx.open_table(MAP).map_err(db_error)?;
        let near = self.near()?;
        positions
            .iter()
            .map(|p| {
                if near_root(p) {
                    return Ok(near.get(p));
                }
                match t.get(&p.to_key()[..]).map_err(db_error)? {
                    None => Ok(None),
                    Some(v) => MapRecord::from_bytes(p, v.value())
                        .map(Some)
                        .map_err(|e| StorageError::Corrupt(format!("a registry map record: {e}"))),
                }
            })
            .collect()
    }

    fn registry_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let stamp = match self.records.get(key) {
            Ok(hit) => return Ok(hit),
            Err(stamp) => stamp,
        };
        let value = self.read(REGISTRY, key, <[u8]>::to_vec)?;
        self.records.fill(stamp, key, value.as_deref());
        Ok(value)
    }

    /// The writer's reads: in one read transaction, past the record cache
    /// (see the trait), so a batch's lookups of new organizations do not
    /// push out what queries read.
    fn registry_records(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let tx = self.db.begin_read().map_err(db_error)?;
        let t = tx.open_table(REGISTRY).map_err(db_error)?;
        keys.iter()
            .map(|k| {
                Ok(t.get(k.as_slice())
                    .map_err(db_error)?
                    .map(|v| v.value().to_vec()))
            })
            .collect()
    }

    fn registry_scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Rows, StorageError> {
        let tx = self.db.begin_read().map_err(db_error)?;
        let t = tx.open_table(REGISTRY).map_err(db_error)?;
        let mut out = Vec::new();
        for kv in t.range(from..).map_err(db_error)?.take(limit) {
            let (k, v) = kv.map_err(db_error)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn clear_registry(&self) -> Result<u64, StorageError> {
        let removed = self.clear(REGISTRY, |_| Ok(()));
        self.records.invalidate_all();
        removed
    }

    fn cosigned(&self) -> Result<Option<StoredCosigned>, StorageError> {
        self.meta_value("c")?
            .map(|v| decode_cosigned(&v))
            .transpose()
    }

    /// Read and written in one write transaction (redb runs one at a
    /// time), so the stored size never goes back. Committed without a
    /// sync (`Durability::None`; `Eventual` fdatasyncs too on Linux): the
    /// next batch's commit or the database's close makes it durable, and
    /// a lost one is gathered again.
    fn store_cosigned(&self, c: &StoredCosigned) -> Result<bool, StorageError> {
        let mut tx = self.db.begin_write().map_err(db_error)?;
        tx.set_durability(Durability::None);
        {
            let mut meta = tx.open_table(META).map_err(db_error)?;
            let old = meta.get("c").map_err(db_error)?;
            let old = old.map(|v| decode_cosigned(v.value())).transpose()?;
            if old.is_some_and(|old| old.size > c.size) {
                return Ok(false);
            }
            meta.insert("c", &encode_cosigned(c)[..])
                .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)?;
        Ok(true)
    }
}
