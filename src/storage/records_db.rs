//! The local store's records (everything but the log files) in fjall, a
//! log-structured merge tree: one keyspace per kind of record, one journal.
//!
//! Why (issue 18): in redb, which held them before, each of a unary
//! commit's ≈ 8 inserts per entry at a random key (leaf-hash index,
//! registry records, the map's deeper tiles) dirtied its own 4 KiB page:
//! ≈ 36 KB written per entry on a fresh log, ≈ 87 KB at 1M, and the
//! commit's fdatasync waited for all of it. An LSM tree appends a commit's
//! records to its journal (≈ 1–2 KB per entry) and sorts them into files
//! in the background. `examples/sledmix.rs -- redb|fjall` compares the
//! two on the record mix (BENCHMARKS.md, "The records in an LSM tree").
//!
//! Durability: a commit is one [`fjall::OwnedWriteBatch`] with
//! `PersistMode::SyncData`: fjall writes the batch to the journal,
//! fdatasyncs it, and only then makes it visible. A crash leaves whole
//! batches: recovery cuts an incomplete batch at the journal's end (one
//! whose checksum does not match fails the open: damage, not a crash).
//!
//! Keyspaces (big-endian integers, so keys sort in index order):
//! - `meta`: `m` → [`LogMeta`](super::LogMeta); `F` → entries the log files
//!   hold (u64); `L` → the layout (one byte, [`LAYOUT`]); `c` → the last
//!   cosigned checkpoint (size:u64 ‖ at:u64 ‖ note); `R` (empty) → the
//!   build moved a `records.redb` still to be removed (`records_build.rs`);
//!   `X` (empty) → a removal of the map is under way (`local_store.rs`)
//! - `hashes`: leaf hash (32 bytes) → index (u64)
//! - `map`: map tile root key → registry map tile record
//!   (`core::map_versions`); the tiles near the root as of their last
//!   checkpoint
//! - `map_near_root`: number (u64) → the changes to the map's tiles near
//!   the root made by one commit since that checkpoint (`map_near_root.rs`)
//! - `registry`: registry record key → registry record
//!   (`core::registry::records`)
//!
//! The directory is built whole under another name and renamed into
//! place (`records_build.rs`), so a `records` directory is always a
//! complete database.

use super::idle_flush::IdleFlush;
use super::StorageError;
use fjall::compaction::Leveled;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};
use std::path::Path;
use std::sync::Arc;

/// The records directory in the database directory.
pub const RECORDS_DIR: &str = "records";
/// Where a records directory is built before it is renamed into place
/// (`records_build.rs`).
pub const BUILDING: &str = "records.building";
/// Layouts: 1 = everything in sled, 2 = sled + log files, 3 = log files +
/// redb, 4 = 3 with the `map_near_root` deltas, 5 = this one (4's records
/// in fjall). Older layouts are moved into this one at open.
pub const LAYOUT: u8 = 5;

/// One keyspace's memtable (what memory holds before fjall sorts it into
/// a file): 16 MiB, ≈ 10,000–40,000 entries' records; 48 MiB for the
/// three busy keyspaces, plus those being written out. Measured at 1M
/// entries (BENCHMARKS.md, "The records in an LSM tree"): 8 MiB (with
/// [`L0_TABLES`] at 4) used more of the server's CPU (411 ms per 1,000
/// unary entries, on a 1.12M log, against 346 ms; more rewriting in
/// compactions, inferred); 32 MiB kept ≈ 60 MB more after the load's
/// proofs; fjall's default, 64 MiB, took 390 MB of RSS in a 500k-entry
/// run of the record mix alone.
pub(super) const MEMTABLE_BYTES: u64 = 16 << 20;
/// Files in a keyspace's first level before they are merged into the
/// next (fjall's default is 4): the keys are random, so each merge
/// rewrites most of the next level, and merging twice as much at a time
/// halves how often. Below fjall's write stall at 20.
const L0_TABLES: u8 = 8;
/// Journal kept before fjall flushes the memtables holding it up: about
/// what an open replays at most, after a crash or a clean stop alike
/// (fjall does not flush its memtables at close; its default is 512 MiB).
const JOURNAL_BYTES: u64 = 64 << 20;

/// fjall's background threads (flushes and compactions). One: with two,
/// the first hands every compaction to the second and, while that one
/// compacts, receives and re-sends the waiting compaction requests in a
/// loop, a core busy for nothing (fjall 3.1.13, `worker_tick`; 39 % of the
/// server's samples at 1M, BENCHMARKS.md).
const WORKERS: usize = 1;

/// Records removed per batch by [`RecordsDb::remove_all`] (≈ 5–10 MB).
const REMOVE_CHUNK: usize = 100_000;

/// Another process (or this one) holds the database directory.
pub(super) fn already_open(dir: &Path) -> StorageError {
    StorageError::Database(format!(
        "{} is already open (by another process, such as a server running on this data directory, or still by this one)",
        dir.display()
    ))
}

/// Every fjall error met after the open, reported as the database's.
pub(super) fn db_error(e: fjall::Error) -> StorageError {
    StorageError::Database(format!("the records store: {e}"))
}

/// What opening failed on: held open elsewhere, the system refusing
/// (permissions, space, I/O: fix that, then retry), or files fjall finds
/// inconsistent (damaged: restore).
fn open_error(dir: &Path, e: fjall::Error) -> StorageError {
    let system = |io: &std::io::Error| {
        !matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        )
    };
    match e {
        fjall::Error::Locked => already_open(dir),
        fjall::Error::Io(io) | fjall::Error::Storage(fjall::LsmError::Io(io)) if system(&io) => {
            StorageError::Database(format!("cannot open {}: {io}", dir.display()))
        }
        // An unreadable version marker (`None`, also a format newer than
        // this fjall knows) is reported as damage, below.
        fjall::Error::InvalidVersion(Some(v)) => StorageError::Corrupt(format!(
            "the records in {} have fjall's disk format {v:?}, which this version does not read",
            dir.display()
        )),
        e => StorageError::Corrupt(format!(
            "the records in {} are damaged or unreadable ({e}); restore the data directory from a backup",
            dir.display()
        )),
    }
}

/// The records database and its keyspaces (cheap handles; fjall is
/// internally synchronized).
pub(super) struct RecordsDb {
    /// First, so it stops (dropped first) before the database closes.
    idle: IdleFlush,
    pub db: Database,
    pub meta: Keyspace,
    pub hashes: Keyspace,
    pub map: Keyspace,
    pub deltas: Keyspace,
    pub registry: Keyspace,
}

impl RecordsDb {
    /// Opens (creating it if absent) the database in `dir` with a block
    /// cache of `cache_bytes`.
    pub fn open_at(dir: &Path, cache_bytes: u64) -> Result<Self, StorageError> {
        let db = Database::builder(dir)
            .worker_threads(WORKERS)
            .cache_size(cache_bytes)
            .max_journaling_size(JOURNAL_BYTES)
            .open()
            .map_err(|e| open_error(dir, e))?;
        let space = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default()
                    .max_memtable_size(MEMTABLE_BYTES)
                    .compaction_strategy(Arc::new(Leveled::default().with_l0_threshold(L0_TABLES)))
            })
            .map_err(|e| open_error(dir, e))
        };
        let (meta, hashes, map, deltas, registry) = (
            space("meta")?,
            space("hashes")?,
            space("map")?,
            space("map_near_root")?,
            space("registry")?,
        );
        let spaces = [&meta, &hashes, &map, &deltas, &registry];
        Ok(RecordsDb {
            idle: IdleFlush::start(spaces.into_iter().cloned().collect()),
            meta,
            hashes,
            map,
            deltas,
            registry,
            db,
        })
    }

    pub fn batch(&self) -> OwnedWriteBatch {
        self.db.batch()
    }

    /// Commits `batch` durably: journaled and fdatasynced before it
    /// returns, and visible only then (see the module doc).
    pub fn commit(&self, batch: OwnedWriteBatch) -> Result<(), StorageError> {
        (batch.durability(Some(PersistMode::SyncData)).commit()).map_err(db_error)?;
        self.idle.committed();
        Ok(())
    }

    pub fn get(&self, space: &Keyspace, key: &[u8]) -> Result<Option<fjall::Slice>, StorageError> {
        space.get(key).map_err(db_error)
    }

    pub fn meta_value(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.get(&self.meta, key.as_bytes())?.map(|v| v.to_vec()))
    }

    /// The log files' entry count recorded by the last commit (0 if none).
    pub fn entries(&self) -> Result<u64, StorageError> {
        let Some(count) = self.meta_value("F")? else {
            return Ok(0);
        };
        let count: [u8; 8] = count.try_into().map_err(|_| {
            StorageError::Corrupt("the log files' entry count is not 8 bytes".into())
        })?;
        Ok(u64::from_be_bytes(count))
    }

    /// Removes every record of `space`, `first` (if present) in a durable
    /// batch of its own before the others, then the rest in batches of
    /// [`REMOVE_CHUNK`], durable at the end. Not atomic: a crash midway
    /// leaves some records (see the callers for why that is safe).
    /// Returns how many records were removed.
    pub fn remove_all(&self, space: &Keyspace, first: Option<&[u8]>) -> Result<u64, StorageError> {
        let mut removed = 0u64;
        if let Some(first) = first {
            removed += u64::from(space.contains_key(first).map_err(db_error)?);
            let mut batch = self.batch();
            batch.remove(space, first);
            self.commit(batch)?;
        }
        let mut batch = self.batch();
        // The iterator reads one snapshot: the removals do not disturb it.
        for kv in space.iter() {
            let (key, _) = kv.into_inner().map_err(db_error)?;
            batch.remove(space, key);
            removed += 1;
            if batch.len() == REMOVE_CHUNK {
                std::mem::replace(&mut batch, self.batch())
                    .commit()
                    .map_err(db_error)?;
            }
        }
        self.commit(batch)?;
        // An empty last batch commits nothing: the sync makes the rest durable.
        self.db.persist(PersistMode::SyncData).map_err(db_error)?;
        Ok(removed)
    }
}

/// Bytes of the files under `dir`, recursively.
pub(super) fn dir_size(dir: &Path) -> Result<u64, StorageError> {
    let io = |e: std::io::Error| StorageError::Database(format!("{}: {e}", dir.display()));
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let meta = entry.metadata().map_err(io)?;
        total += match meta.is_dir() {
            true => dir_size(&entry.path())?,
            false => meta.len(),
        };
    }
    Ok(total)
}
