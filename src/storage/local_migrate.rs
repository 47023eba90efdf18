//! The first stage of moving an older local store into layout 5
//! (`records_build.rs`): a sled database (layouts 1 and 2) is moved into a
//! redb records file as layout 4, and a layout-3 records file is marked 4
//! (it differs only by the deltas of the map's tiles near the root, of
//! which it has none). `records_build.rs` then copies the redb file's
//! records into fjall.
//!
//! The move reads sled's records in key order and copies them into redb
//! in transactions of [`CHUNK`] records that need not reach the disk,
//! then commits the layout marker durably together with a note that
//! sled's files are to be removed, then removes them, then the note. Only
//! a records file with that note removes sled's files: one that finds
//! them without it refuses to open (which one is the log?). The
//! log files stay where they are: both layouts keep them the same way.
//! sled's own open moves a layout-1 database's leaves and nodes into the
//! log files first (`sled_layout.rs`). Each step is restartable; see the
//! commit points below.

use super::{SledStorage, StorageError};
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::path::Path;

// The tables of layouts 3 and 4 (`records.redb`); the records are the
// same as layout 5's (`records_db.rs`), but for the integers' types.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(super) const HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("hashes");
pub(super) const MAP: TableDefinition<&[u8], &[u8]> = TableDefinition::new("map");
pub(super) const REGISTRY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("registry");
pub(super) const DELTAS: TableDefinition<u64, &[u8]> = TableDefinition::new("map_near_root");

/// The records file of layouts 3 and 4 in the database directory.
pub const RECORDS_FILE: &str = "records.redb";
/// The layout this stage brings a records file to.
const LAYOUT: u8 = 4;

/// Every redb error, reported as the database's.
fn db_error(e: impl Into<redb::Error>) -> StorageError {
    StorageError::Database(e.into().to_string())
}

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

/// Opens (creating it) the redb records file in `dir` and brings it to
/// layout 4, moving a sled database there into it first.
pub(super) fn open_redb(dir: &Path) -> Result<Database, StorageError> {
    let file = dir.join(RECORDS_FILE);
    let db = redb::Builder::new()
        .set_repair_callback(|r| {
            // Only after a crash: redb walks the file to rebuild its
            // free-space map (seconds per GB).
            if r.progress() == 0.0 {
                tracing::warn!("the records file was not closed cleanly: repairing it");
            }
        })
        .create(&file)
        .map_err(|e| open_error(&file, e))?;
    prepare(&db, dir)?;
    Ok(db)
}

/// Records copied per redb transaction during the move (≈ 10–30 MB).
const CHUNK: usize = 100_000;

/// sled's files in a database directory; `conf` is removed last, so its
/// presence is what says a sled database is (still) here.
pub(super) const SLED_CONF: &str = "conf";
const SLED_FILES: [&str; 2] = ["db", "blobs"];
/// Meta key present from the move's commit until sled's files are removed.
const SLED_PENDING: &str = "S";

fn io<'a>(what: &'static str, p: &'a Path) -> impl Fn(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::Database(format!("{what} {}: {e}", p.display()))
}

/// Layout 3, which this one extends: redb without the map's deltas.
const LAYOUT_3: u8 = 3;

/// Brings the records file in `dir` to layout 4 and returns how many
/// entries the log files hold.
fn prepare(db: &Database, dir: &Path) -> Result<u64, StorageError> {
    let (layout, pending) = {
        // Creates the tables of a new file (a no-op for an existing one).
        let tx = db.begin_write().map_err(db_error)?;
        let (layout, pending) = {
            let meta = tx.open_table(META).map_err(db_error)?;
            let layout = meta.get("L").map_err(db_error)?;
            let pending = meta.get(SLED_PENDING).map_err(db_error)?.is_some();
            (layout.map(|v| v.value().to_vec()), pending)
        };
        for t in [MAP, REGISTRY] {
            tx.open_table(t).map_err(db_error)?;
        }
        tx.open_table(HASHES).map_err(db_error)?;
        tx.open_table(DELTAS).map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        (layout, pending)
    };
    let sled_here = dir.join(SLED_CONF).exists();
    match layout.as_deref() {
        // sled's files beside a records file that did not move them (a
        // sled-era copy restored over part of the directory?): which one
        // is the log is not for this open to decide.
        Some([LAYOUT | LAYOUT_3]) if sled_here && !pending => {
            return Err(StorageError::Corrupt(format!(
                "{} holds both a records file and a sled database it was not moved from; restore the whole data directory from one backup",
                dir.display()
            )))
        }
        Some([LAYOUT]) => {}
        // Commit point: with the marker at 4, commits may store deltas; a
        // crash before leaves layout 3, marked again at the next open.
        Some([LAYOUT_3]) => mark(db, false)?,
        Some(v) => {
            return Err(StorageError::Corrupt(format!(
                "the records file has layout {v:?}, which this version does not know (a newer Accord wrote it)"
            )))
        }
        None if sled_here => move_from_sled(db, dir)?,
        None => {
            super::log_files::refuse_orphans(dir)?;
            mark(db, false)?;
        }
    }
    if sled_here || pending {
        remove_sled(dir)?;
        // Commit point: the removal is done; a crash before this removes
        // what is left (nothing, or files already gone) again.
        let tx = db.begin_write().map_err(db_error)?;
        tx.open_table(META)
            .map_err(db_error)?
            .remove(SLED_PENDING)
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
    }
    let tx = db.begin_read().map_err(db_error)?;
    let meta = tx.open_table(META).map_err(db_error)?;
    let Some(count) = meta.get("F").map_err(db_error)? else {
        return Ok(0);
    };
    let count: [u8; 8] = count
        .value()
        .try_into()
        .map_err(|_| StorageError::Corrupt("the log files' entry count is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(count))
}

/// Commit point: with `L` recorded durably, the records file is the
/// database. A crash before leaves no marker, and the move (or a fresh
/// database's creation) starts again. `moved`: also records that sled's
/// files are to be removed (by this open, or the next if it crashes).
fn mark(db: &Database, moved: bool) -> Result<(), StorageError> {
    let tx = db.begin_write().map_err(db_error)?;
    {
        let mut meta = tx.open_table(META).map_err(db_error)?;
        meta.insert("L", &[LAYOUT][..]).map_err(db_error)?;
        if moved {
            meta.insert(SLED_PENDING, &[][..]).map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)
}

/// Copies every sled record into the records file, then marks it.
fn move_from_sled(db: &Database, dir: &Path) -> Result<(), StorageError> {
    let started = std::time::Instant::now();
    // What an interrupted move left is thrown away first.
    let mut tx = db.begin_write().map_err(db_error)?;
    tx.set_durability(Durability::None);
    for t in [MAP, REGISTRY] {
        tx.delete_table(t).map_err(db_error)?;
    }
    tx.delete_table(HASHES).map_err(db_error)?;
    tx.delete_table(META).map_err(db_error)?;
    tx.commit().map_err(db_error)?;
    let sled = SledStorage::open(dir)?;
    let mut chunk: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(CHUNK);
    let mut moved = 0u64;
    sled.export(|key, value| {
        chunk.push((key.to_vec(), value.to_vec()));
        if chunk.len() == CHUNK {
            moved += copy(db, &mut chunk)?;
        }
        Ok(())
    })?;
    moved += copy(db, &mut chunk)?;
    drop(sled);
    mark(db, true)?;
    tracing::info!(
        "moved {moved} records from sled into {} in {:.1} s",
        dir.join(RECORDS_FILE).display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One transaction of the move (not durable by itself: `mark`'s commit
/// makes it so). Returns how many records it copied.
fn copy(db: &Database, chunk: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<u64, StorageError> {
    let mut tx = db.begin_write().map_err(db_error)?;
    tx.set_durability(Durability::None);
    let mut copied = 0;
    {
        let mut meta = tx.open_table(META).map_err(db_error)?;
        let mut hashes = tx.open_table(HASHES).map_err(db_error)?;
        let mut map = tx.open_table(MAP).map_err(db_error)?;
        let mut registry = tx.open_table(REGISTRY).map_err(db_error)?;
        for (key, value) in chunk.drain(..) {
            let (kind, rest) = key.split_first().unwrap_or((&0, &[]));
            let corrupt = || {
                StorageError::Corrupt(format!(
                    "sled record {} is not one Accord writes",
                    hex::encode(&key)
                ))
            };
            match (kind, rest) {
                (b'm' | b'F' | b'c', []) => {
                    let name = std::str::from_utf8(&key).map_err(|_| corrupt())?;
                    meta.insert(name, value.as_slice()).map_err(db_error)?;
                }
                (b'h', hash) if hash.len() == 32 => {
                    let index: [u8; 8] = value.as_slice().try_into().map_err(|_| corrupt())?;
                    hashes
                        .insert(hash, u64::from_be_bytes(index))
                        .map_err(db_error)?;
                }
                (b'p', position) => {
                    map.insert(position, value.as_slice()).map_err(db_error)?;
                }
                (b'r', name) => {
                    registry.insert(name, value.as_slice()).map_err(db_error)?;
                }
                // sled's layout marker; statement records of databases
                // before 2026-11-23, which nothing reads.
                (b'L', []) | (b's', _) => continue,
                _ => return Err(corrupt()),
            }
            copied += 1;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(copied)
}

/// Removes sled's files once the records file is marked; `conf` last.
/// A crash midway leaves some, removed at the next open.
fn remove_sled(dir: &Path) -> Result<(), StorageError> {
    let entries = std::fs::read_dir(dir).map_err(io("list", dir))?;
    for entry in entries {
        let entry = entry.map_err(io("list", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with("snap.") || SLED_FILES.contains(&name.as_ref()) {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(io("remove", &path))?;
        }
    }
    // The other removals durable before `conf`'s (belt and braces: the
    // pending note already makes the next open finish the removal).
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))?;
    let conf = dir.join(SLED_CONF);
    match std::fs::remove_file(&conf) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io("remove", &conf)(e));
        }
        _ => {}
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))?;
    tracing::info!("removed the sled database's files from {}", dir.display());
    Ok(())
}
