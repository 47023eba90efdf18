//! Opening the local store's records directory (`records_db.rs`), and
//! building it when it is absent: empty for a new database, or moved from
//! an older layout's redb records file or sled database
//! (`local_migrate.rs` brings either to redb's layout 4 first).
//!
//! A build writes the whole database under [`BUILDING`], marks it with
//! the layout, makes it durable, closes it and renames it to `records`.
//! Commit points:
//! - before the rename, a crash leaves [`BUILDING`], which the next open
//!   removes and builds again, from the redb file if there is one
//!   (nothing of it is removed before the rename; a sled database's files
//!   are, but only once `local_migrate.rs` has moved them into that redb
//!   file durably);
//! - the rename (then the directory's fsync) is the commit point: from
//!   then on `records` is the database, and the redb file an older layout
//!   left is removed by this open or, after a crash, by the next one. The
//!   build records that it moved that file ([`REDB_MOVED`], with the
//!   layout marker); a `records.redb` beside a records directory without
//!   that note is not this build's to remove, and the open refuses.
//!
//! The whole open holds the directory's lock file ([`lock`]) first, so two
//! processes never build (or use) one directory at once.

use super::local_migrate::{
    open_redb, DELTAS, HASHES, MAP, META, RECORDS_FILE, REGISTRY, SLED_CONF,
};
use super::records_db::{RecordsDb, BUILDING, LAYOUT, RECORDS_DIR};
use super::StorageError;
use fjall::{Keyspace, PersistMode};
use redb::ReadableTable;
use std::path::Path;

/// Records copied per fjall batch while moving a redb file (≈ 10–30 MB).
const CHUNK: usize = 100_000;

/// Meta key present from a build that moved `records.redb` until that
/// file is removed.
const REDB_MOVED: &str = "R";

/// The database directory's lock file.
pub const LOCK_FILE: &str = "accord.lock";

/// Locks the database directory `dir` (creating it and its lock file) for
/// as long as the returned file is open: fjall locks only its own
/// directory, which a build renames, and the log files have no lock of
/// their own.
pub(super) fn lock(dir: &Path) -> Result<std::fs::File, StorageError> {
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io("open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(super::records_db::already_open(dir)),
        Err(std::fs::TryLockError::Error(e)) => Err(io("lock", &path)(e)),
    }
}

fn io<'a>(what: &'static str, p: &'a Path) -> impl Fn(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::Database(format!("{what} {}: {e}", p.display()))
}

fn fsync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))
}

/// Opens the records of the database directory `dir` (locked by the
/// caller, [`lock`]), building them first if they are absent (see the
/// module doc).
pub(super) fn open(dir: &Path, cache_bytes: u64) -> Result<RecordsDb, StorageError> {
    let path = dir.join(RECORDS_DIR);
    if !path.exists() {
        build(dir, cache_bytes)?;
    }
    let db = RecordsDb::open_at(&path, cache_bytes)?;
    match db.meta_value("L")?.as_deref() {
        Some([LAYOUT]) => {}
        None => {
            return Err(StorageError::Corrupt(format!(
                "{} has no layout marker: its files are damaged or were replaced; restore the data directory from a backup",
                path.display()
            )))
        }
        Some(v) => {
            return Err(StorageError::Corrupt(format!(
                "the records have layout {v:?}, which this version does not know (a newer Accord wrote them)"
            )))
        }
    }
    // The move removes sled's files before the rename: one here now came
    // from elsewhere (a sled-era copy restored over part of the directory?),
    // and which one is the log is not for this open to decide.
    if dir.join(SLED_CONF).exists() {
        return Err(StorageError::Corrupt(format!(
            "{} holds both a records directory and a sled database it was not moved from; restore the whole data directory from one backup",
            dir.display()
        )));
    }
    let old = dir.join(RECORDS_FILE);
    let moved = db.meta_value(REDB_MOVED)?.is_some();
    if old.exists() {
        if !moved {
            return Err(StorageError::Corrupt(format!(
                "{} holds both a records directory and a file {RECORDS_FILE} it was not moved from; restore the whole data directory from one backup",
                dir.display()
            )));
        }
        std::fs::remove_file(&old).map_err(io("remove", &old))?;
        fsync_dir(dir)?;
        tracing::info!(
            "removed {}, now moved into {}",
            old.display(),
            path.display()
        );
    }
    // Commit point: the note goes once the file is gone; a crash before
    // leaves it, and the next open removes what is left (nothing, or the
    // file again).
    if moved {
        let mut batch = db.batch();
        batch.remove(&db.meta, REDB_MOVED);
        db.commit(batch)?;
    }
    Ok(db)
}

/// Builds the records directory under [`BUILDING`] and renames it into
/// place.
fn build(dir: &Path, cache_bytes: u64) -> Result<(), StorageError> {
    let building = dir.join(BUILDING);
    if building.exists() {
        tracing::warn!(
            "removing {}, left by an interrupted build",
            building.display()
        );
        std::fs::remove_dir_all(&building).map_err(io("remove", &building))?;
    }
    {
        let db = RecordsDb::open_at(&building, cache_bytes)?;
        let mut batch = db.batch();
        if dir.join(RECORDS_FILE).exists() || dir.join(SLED_CONF).exists() {
            batch.insert(&db.meta, REDB_MOVED, []);
            let started = std::time::Instant::now();
            let moved = copy_from_redb(&open_redb(dir)?, &db)?;
            tracing::info!(
                "moved {moved} records from {} into {} in {:.1} s",
                dir.join(RECORDS_FILE).display(),
                dir.join(RECORDS_DIR).display(),
                started.elapsed().as_secs_f64()
            );
        } else {
            super::log_files::refuse_orphans(dir)?;
        }
        batch.insert(&db.meta, "L", [LAYOUT]);
        db.commit(batch)?;
        db.db
            .persist(PersistMode::SyncAll)
            .map_err(super::records_db::db_error)?;
        // Dropped here: fjall stops its threads and closes its files.
    }
    fsync_dir(&building)?;
    // Commit point (see the module doc).
    let path = dir.join(RECORDS_DIR);
    std::fs::rename(&building, &path).map_err(io("rename", &building))?;
    fsync_dir(dir)
}

/// Copies every record of the layout-4 redb file `old` into `db`, in
/// batches that need not reach the disk (the build's close does).
/// Returns how many records it copied.
fn copy_from_redb(old: &redb::Database, db: &RecordsDb) -> Result<u64, StorageError> {
    let err =
        |e: redb::Error| StorageError::Database(format!("reading the redb records file: {e}"));
    let tx = old.begin_read().map_err(|e| err(e.into()))?;
    let mut copier = Copier {
        db,
        batch: db.batch(),
        copied: 0,
    };
    for kv in (tx.open_table(META).map_err(|e| err(e.into()))?)
        .iter()
        .map_err(|e| err(e.into()))?
    {
        let (k, v) = kv.map_err(|e| err(e.into()))?;
        // The layout is marked by the build; "S" (sled's files to remove)
        // was handled by `open_redb`.
        if !matches!(k.value(), "L" | "S") {
            copier.put(&db.meta, k.value().as_bytes(), v.value())?;
        }
    }
    for kv in (tx.open_table(HASHES).map_err(|e| err(e.into()))?)
        .iter()
        .map_err(|e| err(e.into()))?
    {
        let (k, v) = kv.map_err(|e| err(e.into()))?;
        copier.put(&db.hashes, k.value(), &v.value().to_be_bytes())?;
    }
    for (table, space) in [(MAP, &db.map), (REGISTRY, &db.registry)] {
        for kv in (tx.open_table(table).map_err(|e| err(e.into()))?)
            .iter()
            .map_err(|e| err(e.into()))?
        {
            let (k, v) = kv.map_err(|e| err(e.into()))?;
            copier.put(space, k.value(), v.value())?;
        }
    }
    for kv in (tx.open_table(DELTAS).map_err(|e| err(e.into()))?)
        .iter()
        .map_err(|e| err(e.into()))?
    {
        let (k, v) = kv.map_err(|e| err(e.into()))?;
        copier.put(&db.deltas, &k.value().to_be_bytes(), v.value())?;
    }
    copier.flush()?;
    Ok(copier.copied)
}

/// Batches of the copy.
struct Copier<'a> {
    db: &'a RecordsDb,
    batch: fjall::OwnedWriteBatch,
    copied: u64,
}

impl Copier<'_> {
    fn put(&mut self, space: &Keyspace, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.batch.insert(space, key, value);
        self.copied += 1;
        if self.batch.len() == CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        let batch = std::mem::replace(&mut self.batch, self.db.batch());
        batch.commit().map_err(super::records_db::db_error)
    }
}
