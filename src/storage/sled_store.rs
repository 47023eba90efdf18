//! The production [`Storage`]: one sled tree, keys prefixed by record type.
//!
//! Keeping everything in one tree lets a batch be a single
//! `sled::Tree::apply_batch`, which sled applies atomically (also across a
//! crash), followed by one `flush` and one fdatasync(2) of sled's data
//! file for durability (after those of the log files, see below).
//!
//! Durability (sled 0.34 on Linux, read in its source): `flush` writes the
//! log to `DIR/db` and calls sync_file_range(2), which neither flushes the
//! disk's volatile write cache nor the file's metadata; sled's background
//! flusher calls fsync(2) only every 500 ms, so an acknowledged batch could
//! be lost on power failure (not on a process crash). So `commit` also
//! calls fdatasync(2) on `DIR/db` after the flush. sled's other files:
//! `DIR/conf` (written once at creation, never synced by sled) and
//! `DIR/snap.*` (written only while opening, synced, then renamed into
//! place without syncing the directory) are made durable by [`SledStorage::open`],
//! which syncs them and the directories; `DIR/blobs/*` (values over about
//! 128 KiB, e.g. a large registry record, written and never synced
//! by sled) are synced by `commit` when new ones appear, with their directory.
//!
//! The log's leaves and Merkle nodes (levels ≥ 1) are not in sled but in
//! append-only files in the same directory (`log_files.rs`, layout 2 in
//! `sled_layout.rs`); `commit` writes and fdatasyncs them first, then
//! records how many entries they hold in sled's atomic batch.
//!
//! Key layout (big-endian integers, so keys sort in index order):
//! - `m`                        → [`LogMeta`]
//! - `F`                        → entries the log files hold: u64
//! - `L`                        → the layout: one byte, 2
//! - `h` ‖ leaf hash            → index:u64
//! - `p` ‖ map tile root key    → registry map tile record (`core::map_versions`)
//! - `r` ‖ registry record key  → registry record (`core::registry::records`)
//! - `c`                        → the last cosigned checkpoint: size:u64 ‖
//!   at:u64 ‖ note, written outside the batches (see `store_cosigned`)
//!
//! Level-0 nodes (leaf hashes) are not stored: a proof reads the sibling
//! leaf instead and hashes it (≈ 0.2 µs), which saves 32 bytes per entry.
//!
//! (Databases written before 2026-11-29 held leaves and nodes in sled,
//! under `l` and `n`; `sled_layout.rs` moves them into the files at the
//! first open. Databases written before 2026-11-23 also hold `s` ‖
//! statement hash → index records; nothing reads them.)
//!
//! Nodes at level [`MEMORY_LEVEL`] and above are also kept in memory (loaded
//! in the background at open), so an inclusion proof reads only its lowest
//! siblings from the files.

use super::file_log::FileLog;
use super::record_cache::{RecordCache, RECORD_CACHE_BYTES};
use super::sled_layout::{self, COUNT_KEY};
use super::{Batch, LogMeta, Storage, StorageError, StoredCosigned};
use crate::core::encoding::{Reader, Writer};
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::core::registry::Rows;
use crate::core::Hash;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// sled's page cache in MiB (`accord serve --cache-mb`). sled's default
/// (1 GiB) would dominate the server's memory; the hot data (recent leaves,
/// upper tree nodes, the top tiles of the registry map) is far smaller, and
/// the OS page cache still holds the rest of the files.
pub const DEFAULT_CACHE_MB: u64 = 64;

pub struct SledStorage {
    db: sled::Db,
    /// sled's data file `DIR/db`, opened once: `commit` fdatasyncs it.
    data_file: File,
    /// `DIR/blobs` and the blob files already made durable.
    blob_dir: PathBuf,
    blobs: Mutex<HashSet<OsString>>,
    /// fdatasync calls on the data file made by `commit` (see [`SledStorage::syncs`]).
    syncs: AtomicU64,
    /// The log's leaves and nodes (levels ≥ 1), and the nodes held in memory.
    log: FileLog,
    /// Registry records queries read again and again (`record_cache.rs`).
    records: RecordCache,
}

pub(super) fn hash_key(prefix: u8, h: &Hash) -> [u8; 33] {
    let mut k = [prefix; 33];
    k[1..].copy_from_slice(h);
    k
}

pub(super) fn encode_meta(m: &LogMeta) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(&m.origin).str(&m.vkey).u64(m.size).str(&m.checkpoint);
    w.finish()
}

pub(super) fn decode_meta(bytes: &[u8]) -> Result<LogMeta, StorageError> {
    let corrupt = |e: crate::core::Error| StorageError::Corrupt(format!("log metadata: {e}"));
    let mut r = Reader::new(bytes);
    let meta = LogMeta {
        origin: r.str("origin").map_err(corrupt)?.to_owned(),
        vkey: r.str("vkey").map_err(corrupt)?.to_owned(),
        size: r.u64("size").map_err(corrupt)?,
        checkpoint: r.str("checkpoint").map_err(corrupt)?.to_owned(),
    };
    r.finish("meta").map_err(corrupt)?;
    Ok(meta)
}

/// The stored form of a cosigned checkpoint: size:u64 ‖ at:u64 ‖ note.
pub(super) fn encode_cosigned(c: &StoredCosigned) -> Vec<u8> {
    [
        &c.size.to_be_bytes()[..],
        &c.at.to_be_bytes(),
        c.note.as_bytes(),
    ]
    .concat()
}

pub(super) fn decode_cosigned(bytes: &[u8]) -> Result<StoredCosigned, StorageError> {
    let corrupt = |why: &str| StorageError::Corrupt(format!("cosigned checkpoint: {why}"));
    let (Some(size), Some(at), Some(note)) = (bytes.get(..8), bytes.get(8..16), bytes.get(16..))
    else {
        return Err(corrupt("shorter than 16 bytes"));
    };
    let u64_of = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
    Ok(StoredCosigned {
        size: u64_of(size),
        at: u64_of(at),
        note: String::from_utf8(note.to_vec()).map_err(|_| corrupt("not UTF-8"))?,
    })
}

/// fsync(2) of a directory, so the names created or renamed in it survive
/// a power failure.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The names in `dir` (sled's blob directory).
fn list(dir: &Path) -> std::io::Result<HashSet<OsString>> {
    std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect()
}

/// An I/O error of ours on sled's files, reported as sled reports its own.
pub(super) fn io_error(what: &str, path: &Path, e: std::io::Error) -> StorageError {
    let e = std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()));
    StorageError::Sled(sled::Error::Io(e))
}

fn decode_index(v: sled::IVec) -> Result<u64, StorageError> {
    let arr: [u8; 8] = v
        .as_ref()
        .try_into()
        .map_err(|_| StorageError::Corrupt("index value is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(arr))
}

/// Serializes [`SledStorage::open`] within the process.
static OPENING: Mutex<()> = Mutex::new(());
/// How long `open` waits for sled's file lock: a database just closed (a
/// restart, a test reopening its store) releases it only once sled's
/// background threads have finished, a moment later. Another live process
/// keeps it, and is then reported as sled reports it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl SledStorage {
    /// Removes every registry map record (`accord reindex`, server
    /// stopped, when the stored map does not match the log): the next start
    /// finds no map, rebuilds it from the log and checks it against the
    /// log's last map head. Returns how many records were removed.
    pub fn clear_map(&self) -> Result<u64, StorageError> {
        self.clear_prefix(b"p", &|| {})
    }

    /// Removes every record whose key starts with `prefix`, durably;
    /// `applied` runs once sled has applied the removal (or failed to).
    fn clear_prefix(&self, prefix: &[u8], applied: &dyn Fn()) -> Result<u64, StorageError> {
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for kv in self.db.scan_prefix(prefix) {
            batch.remove(kv?.0);
            removed += 1;
        }
        // Commit point: all records gone or none (sled applies a batch
        // atomically, also across a crash). If a crash keeps them: a map
        // that does not match still stops the next start, and reindex runs
        // again; registry records with their format marker are still the
        // complete registry of the log.
        let done = self.db.apply_batch(batch);
        applied();
        done?;
        self.db.flush()?;
        self.data_file
            .sync_data()
            .map_err(|e| StorageError::Sled(sled::Error::Io(e)))?;
        Ok(removed)
    }

    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with_cache(path, DEFAULT_CACHE_MB << 20)
    }

    /// [`SledStorage::open`] with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self, StorageError> {
        // sled panics (instead of failing) on some damaged files; turn that
        // into an error that says what happened. The hook is silenced only
        // for this call, made once at start-up.
        let config = sled::Config::new().path(path).cache_capacity(cache_bytes);
        // One open at a time per process: the panic hook is process-wide,
        // and two opens swapping it concurrently could leave it silenced.
        let _one = OPENING.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let opened = loop {
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
            std::panic::set_hook(hook);
            match opened {
                Ok(Err(sled::Error::Io(e)))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => break other,
            }
        };
        let db = opened.map_err(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            StorageError::Corrupt(format!(
                "the database at {} is damaged (sled: {why}); restore it from a backup",
                path.display()
            ))
        })??;
        // Make what sled created or renamed while opening durable: `conf`
        // (never synced by sled), the data file, the directory entries of
        // `db`, `conf`, `blobs`, the log files and the snapshot sled renamed into place,
        // and `DIR` itself in its parent. A crash before this leaves at
        // worst a database without a log (refused or recreated at start,
        // see `server::run`); nothing was acknowledged yet.
        let io = |what: &str, p: &Path| {
            let p = p.to_owned();
            let what = what.to_owned();
            move |e| io_error(&what, &p, e)
        };
        let data_path = path.join("db");
        let data_file = File::open(&data_path).map_err(io("open", &data_path))?;
        data_file.sync_all().map_err(io("fsync", &data_path))?;
        let conf = path.join("conf");
        File::open(&conf)
            .and_then(|f| f.sync_all())
            .map_err(io("fsync", &conf))?;
        let blob_dir = path.join("blobs");
        let blobs = list(&blob_dir).map_err(io("list", &blob_dir))?;
        for name in &blobs {
            let blob = blob_dir.join(name);
            File::open(&blob)
                .and_then(|f| f.sync_all())
                .map_err(io("fsync", &blob))?;
        }
        sync_dir(&blob_dir).map_err(io("fsync", &blob_dir))?;
        // The log files, created (or a layout-1 database moved into them)
        // before the directory's fsync below makes their names durable;
        // the layout's commit points are in `sled_layout.rs`.
        let sync = || {
            db.flush()?;
            data_file
                .sync_data()
                .map_err(|e| StorageError::Sled(sled::Error::Io(e)))
        };
        let files = sled_layout::open_files(&db, path, &sync)?;
        sync_dir(path).map_err(io("fsync", path))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(io("fsync", parent))?;
        }
        let log = FileLog::new(files)?;
        Ok(SledStorage {
            db,
            data_file,
            blob_dir,
            blobs: Mutex::new(blobs),
            syncs: AtomicU64::new(0),
            log,
            records: RecordCache::new(RECORD_CACHE_BYTES),
        })
    }

    /// Waits until the memory copy of the upper tree levels is loaded
    /// (tests and benchmarks; the server never needs to wait).
    pub fn wait_for_node_cache(&self) {
        self.log.wait_for_node_cache()
    }

    /// How many times `commit` has called fdatasync(2) on sled's data
    /// file (one per batch): the durability regression check of
    /// `tests/storage_contract.rs` (`tests/fsync_strace.rs` checks the
    /// system calls themselves).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Makes new blob files (values sled stores outside its log) and their
    /// names durable: sled writes them without any sync.
    fn sync_new_blobs(&self) -> Result<(), StorageError> {
        let io = |what: &'static str, p: &Path| {
            let p = p.to_owned();
            move |e| io_error(what, &p, e)
        };
        let mut known = self.blobs.lock().expect("blob list lock poisoned");
        let now = list(&self.blob_dir).map_err(io("list", &self.blob_dir))?;
        let new: Vec<&OsString> = now.difference(&known).collect();
        if new.is_empty() {
            // Also when blobs were only removed (sled's garbage collection):
            // a removal that does not survive a crash leaves an unused file.
            *known = now;
            return Ok(());
        }
        for name in new {
            let blob = self.blob_dir.join(name);
            match File::open(&blob) {
                Ok(f) => f.sync_data().map_err(io("fdatasync", &blob))?,
                // Collected by sled meanwhile: nothing to keep.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("open", &blob, e)),
            }
        }
        sync_dir(&self.blob_dir).map_err(io("fsync", &self.blob_dir))?;
        *known = now;
        Ok(())
    }

    /// Calls `f` with every record, in key order: the move into the
    /// records store (`local_migrate.rs`).
    pub(super) fn export(
        &self,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        for kv in self.db.iter() {
            let (k, v) = kv?;
            f(&k, &v)?;
        }
        Ok(())
    }

    /// Bytes sled occupies on disk (for operators and benchmarks).
    /// sled's files and the log files.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.size_on_disk()? + self.log.size_on_disk()?)
    }
}

impl Storage for SledStorage {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.db.get(b"m")?.map(|v| decode_meta(&v)).transpose()
    }

    fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        let mut b = sled::Batch::default();
        let mut written = None;
        if !batch.leaves.is_empty() {
            // The leaves and nodes go to the log files first, durably
            // (their own commit points are in `LogFiles::write`); they count
            // only once the sled batch below records `F`. A crash before
            // that leaves a tail the next open cuts; nothing acknowledged.
            let w = self.log.write(&batch.leaves, &batch.nodes)?;
            b.insert(COUNT_KEY, &sled_layout::count_value(w.entries())[..]);
            written = Some(w);
        }
        for n in batch.nodes.iter().filter(|n| n.level == 0) {
            b.insert(&hash_key(b'h', &n.hash)[..], &n.index.to_be_bytes()[..]);
        }
        for (position, record) in &batch.map {
            b.insert([&b"p"[..], &position.to_key()].concat(), record.to_bytes());
        }
        for (key, value) in &batch.registry {
            let key = [&b"r"[..], key].concat();
            match value {
                Some(v) => b.insert(key, v.as_slice()),
                None => b.remove(key),
            }
        }
        if let Some(meta) = &batch.meta {
            b.insert(&b"m"[..], encode_meta(meta));
        }
        // Commit point 1: after apply_batch the batch is visible to readers
        // but may not be on disk; a crash here loses the whole batch (sled
        // recovers batches atomically) and nothing was acknowledged.
        let applied = self.db.apply_batch(b);
        // Also if sled failed partway: what it applied may be visible.
        if !batch.registry.is_empty() {
            let written = batch.registry.iter().map(|(k, _)| k.as_slice());
            self.records.invalidate(written);
        }
        applied?;
        // Readers see the new entries with the rest of the batch (they read
        // only below a size published after `commit` returns). If what
        // follows fails, the log stops (the sequencer's `failed`).
        if let Some(w) = written {
            self.log.publish(w);
        }
        // After flush the batch is in the kernel's page cache and, with
        // sync_file_range, on its way to the disk, but the disk may still
        // hold it in its volatile cache and the file's new length may not
        // be recorded: a process crash (kill -9) here keeps the batch, a
        // power failure may lose it. Nothing was acknowledged yet.
        self.db.flush()?;
        // Commit point 2: after fdatasync of the data file (and of any new
        // blob files and their directory) the batch is durable, also across
        // a power failure. A crash after this line but before the replies
        // leave keeps the entries; clients that retry get them back as
        // duplicates (same index).
        self.sync_new_blobs()?;
        self.data_file
            .sync_data()
            .map_err(|e| StorageError::Sled(sled::Error::Io(e)))?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.log.remember(&batch.nodes);
        Ok(())
    }

    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.log.leaf(index)
    }

    fn map_record(&self, position: &Position) -> Result<Option<MapRecord>, StorageError> {
        let key = [&b"p"[..], &position.to_key()].concat();
        match self.db.get(key)? {
            None => Ok(None),
            Some(v) => MapRecord::from_bytes(position, &v)
                .map(Some)
                .map_err(|e| StorageError::Corrupt(format!("a registry map record: {e}"))),
        }
    }

    fn registry_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let stamp = match self.records.get(key) {
            Ok(hit) => return Ok(hit),
            Err(stamp) => stamp,
        };
        let value = self.db.get([&b"r"[..], key].concat())?;
        self.records.fill(stamp, key, value.as_deref());
        Ok(value.map(|v| v.to_vec()))
    }

    fn registry_scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Rows, StorageError> {
        let (prefix, from) = ([&b"r"[..], prefix].concat(), [&b"r"[..], from].concat());
        let mut out = Vec::new();
        for kv in self.db.range(from..).take(limit) {
            let (k, v) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push((k[1..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn clear_registry(&self) -> Result<u64, StorageError> {
        self.clear_prefix(b"r", &|| self.records.invalidate_all())
    }

    /// The writer's reads: straight from sled, past the record cache (see
    /// the trait), so a batch's lookups of new organizations do not push
    /// out what queries read.
    fn registry_records(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        keys.iter()
            .map(|k| Ok(self.db.get([&b"r"[..], k].concat())?.map(|v| v.to_vec())))
            .collect()
    }

    fn cosigned(&self) -> Result<Option<StoredCosigned>, StorageError> {
        self.db.get(b"c")?.map(|v| decode_cosigned(&v)).transpose()
    }

    /// One server writes a sled log (its file lock), so read-then-insert
    /// cannot race another writer. Not flushed here: sled's background
    /// flush (every 500 ms) makes it durable, and a lost one is gathered
    /// again.
    fn store_cosigned(&self, c: &StoredCosigned) -> Result<bool, StorageError> {
        if self.cosigned()?.is_some_and(|old| old.size > c.size) {
            return Ok(false);
        }
        let value = encode_cosigned(c);
        self.db.insert(b"c", value)?;
        Ok(true)
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        self.log.leaves(start, end)
    }

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        self.log.node(level, index)
    }

    fn find_leaf_hash(&self, h: &Hash) -> Result<Option<u64>, StorageError> {
        self.db
            .get(hash_key(b'h', h))?
            .map(decode_index)
            .transpose()
    }
}
