//! Which layout a sled database has, and the move from the old one.
//!
//! Layout 2 (2026-11-29, `log_files.rs`): leaves and Merkle nodes in
//! append-only files beside sled; sled holds `F` = how many entries the
//! files hold (u64, written in each batch's atomic commit) and `L` = the
//! layout (one byte, 2). Layout 1 (every database before): leaves under
//! `l` ‖ index and nodes of levels ≥ 1 under `n` ‖ level ‖ index, in sled.
//!
//! A layout-1 database is moved at its first open by a new server: its
//! leaves and nodes are copied into the files (≈ 300 MB per million
//! entries, sequential), then one sled commit records `F` and `L`, then
//! the old records are removed. Each step is restartable; see the commit
//! points below.

use super::log_files::{node_count, FilesError, LogFiles, LEAF_ENDS, LEAVES, NODES};
use super::StorageError;
use crate::core::frontier::NewNode;
use crate::core::Hash;
use std::path::Path;

/// sled key: entries the log files hold.
pub const COUNT_KEY: &[u8] = b"F";
/// sled key: the layout marker.
pub const LAYOUT_KEY: &[u8] = b"L";
pub const LAYOUT: u8 = 2;
/// Entries copied per step of the move (≈ 3 MB of leaves).
const MOVE_CHUNK: u64 = 10_000;
/// Old records removed per sled batch.
const REMOVE_CHUNK: usize = 10_000;

impl From<FilesError> for StorageError {
    fn from(e: FilesError) -> Self {
        match e {
            FilesError::Corrupt(why) => StorageError::Corrupt(why),
            FilesError::Refused(why) => StorageError::Corrupt(format!("{why} (refused)")),
            FilesError::Io(e) => StorageError::Database(e.to_string()),
        }
    }
}

pub fn count_value(entries: u64) -> [u8; 8] {
    entries.to_be_bytes()
}

fn u64_of(v: &[u8], what: &str) -> Result<u64, StorageError> {
    Ok(u64::from_be_bytes(v.try_into().map_err(|_| {
        StorageError::Corrupt(format!("{what} is not 8 bytes"))
    })?))
}

pub fn leaf_key(index: u64) -> [u8; 9] {
    let mut k = [b'l'; 9];
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

pub fn node_key(level: u32, index: u64) -> [u8; 10] {
    let mut k = [b'n'; 10];
    k[1] = level as u8;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Opens the log files of the sled database `db` in `dir`, moving a
/// layout-1 database first. `sync` makes sled's writes durable (flush
/// and fdatasync of its data file).
pub fn open_files(
    db: &sled::Db,
    dir: &Path,
    sync: &dyn Fn() -> Result<(), StorageError>,
) -> Result<LogFiles, StorageError> {
    match db.get(LAYOUT_KEY)? {
        Some(v) if v.as_ref() == [LAYOUT] => {}
        Some(v) => {
            return Err(StorageError::Corrupt(format!(
                "the database has layout {v:?}, which this version does not know (a newer Accord wrote it)"
            )))
        }
        None => move_layout_1(db, dir, sync)?,
    }
    let entries = match db.get(COUNT_KEY)? {
        Some(v) => u64_of(&v, "the log files' entry count")?,
        None => 0,
    };
    let files = LogFiles::open(dir, entries)?;
    remove_layout_1(db, entries, sync)?;
    Ok(files)
}

/// Copies a layout-1 database's leaves and nodes into the files and
/// records layout 2 (a fresh database just gets the marker).
fn move_layout_1(
    db: &sled::Db,
    dir: &Path,
    sync: &dyn Fn() -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    // Without layout 1's leaves there is nothing to move: the files must
    // be empty (a fresh database).
    if db.scan_prefix(b"l").next().is_none() {
        super::log_files::refuse_orphans(dir)?;
    }
    // Files left by a move that a crash interrupted (of any length: the
    // layout-1 records are still the log) are cut to nothing first, so
    // that `LogFiles::open` does not take them for a database gone back.
    for name in [LEAVES, LEAF_ENDS, NODES] {
        let path = dir.join(name);
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => f.set_len(0).and_then(|()| f.sync_data()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
        .map_err(|e| super::sled_store::io_error("cut", &path, e))?;
    }
    let files = LogFiles::open(dir, 0)?;
    let mut done = 0u64;
    loop {
        let mut leaves = Vec::new();
        for kv in db.range(leaf_key(done)..leaf_key(done + MOVE_CHUNK)) {
            let (k, v) = kv?;
            let at = done + leaves.len() as u64;
            if k.as_ref() != leaf_key(at) {
                return Err(StorageError::Corrupt(format!("leaf {at} is missing")));
            }
            leaves.push((at, v.to_vec()));
        }
        if leaves.is_empty() {
            break;
        }
        let end = done + leaves.len() as u64;
        let mut nodes = Vec::with_capacity((node_count(end) - node_count(done)) as usize);
        for m in done + 1..=end {
            for level in 1..=m.trailing_zeros() {
                let index = (m >> level) - 1;
                let hash: Hash = db
                    .get(node_key(level, index))?
                    .and_then(|v| v.as_ref().try_into().ok())
                    .ok_or_else(|| {
                        StorageError::Corrupt(format!("Merkle node ({level}, {index}) is missing"))
                    })?;
                nodes.push(NewNode { level, index, hash });
            }
        }
        files.publish(files.write(&leaves, &nodes)?);
        done = end;
    }
    // Commit point: with `F` and `L` in sled the files are the log's
    // leaves and nodes. A crash before this leaves layout 1 intact, moved
    // again (from the start) at the next open.
    let mut b = sled::Batch::default();
    b.insert(COUNT_KEY, &count_value(done)[..]);
    b.insert(LAYOUT_KEY, &[LAYOUT][..]);
    db.apply_batch(b)?;
    sync()?;
    if done > 0 {
        tracing::info!("moved {done} entries' leaves and nodes from sled into the log files");
    }
    Ok(())
}

/// Removes layout 1's leaf and node records once layout 2 is recorded.
/// A crash midway leaves some, which nothing reads; the next open goes on.
/// A leaf record past the files' `entries` was not moved (an older
/// release wrote it after the move): refused, never removed.
fn remove_layout_1(
    db: &sled::Db,
    entries: u64,
    sync: &dyn Fn() -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    if let Some(last) = db.scan_prefix(b"l").next_back() {
        let (key, _) = last?;
        let index = u64_of(&key[1..], "a leaf record's key")?;
        if index >= entries {
            return Err(StorageError::Corrupt(format!(
                "the database holds leaf {index} in sled, past the {entries} entries of its log files: an older Accord wrote entries after this one moved them; restore the data directory from a backup"
            )));
        }
    }
    let mut removed = 0;
    for prefix in [&b"l"[..], b"n"] {
        loop {
            let mut b = sled::Batch::default();
            let mut n = 0;
            for kv in db.scan_prefix(prefix).take(REMOVE_CHUNK) {
                b.remove(kv?.0);
                n += 1;
            }
            if n == 0 {
                break;
            }
            db.apply_batch(b)?;
            removed += n;
        }
    }
    if removed > 0 {
        sync()?;
        tracing::info!("removed {removed} sled records of the old layout");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::frontier::Frontier;
    use crate::core::merkle;
    use crate::storage::sled_store::{encode_meta, hash_key};
    use crate::storage::{LogMeta, Nodes, SledStorage, Storage};

    /// sled's own open, retried while a just-closed database still holds
    /// its lock (sled's threads release it a moment after the drop).
    fn raw_open(path: &std::path::Path) -> sled::Db {
        for _ in 0..100 {
            match sled::open(path) {
                Ok(db) => return db,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        sled::open(path).unwrap()
    }

    /// A database as servers before layout 2 wrote it (leaves and nodes in
    /// sled) opens with the same log, moved into the files, and grows.
    #[test]
    fn a_layout_1_database_is_moved_into_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let n = MOVE_CHUNK * 2 + 345;
        let leaf = |i: u64| format!("entry {i}").repeat(1 + i as usize % 7).into_bytes();
        let mut frontier = Frontier::new();
        {
            let db = sled::open(&path).unwrap();
            for i in 0..n {
                db.insert(leaf_key(i), leaf(i)).unwrap();
                frontier.push(merkle::leaf_hash(&leaf(i)), |node| {
                    let done = if node.level == 0 {
                        db.insert(hash_key(b'h', &node.hash), &node.index.to_be_bytes()[..])
                    } else {
                        db.insert(node_key(node.level, node.index), &node.hash[..])
                    };
                    done.unwrap();
                });
            }
            let meta = LogMeta {
                origin: "o".into(),
                vkey: "v".into(),
                size: n,
                checkpoint: "cp".into(),
            };
            db.insert(b"m", encode_meta(&meta)).unwrap();
            db.flush().unwrap();
        }
        // The same database opened straight by the local store (layout 1
        // to 3 in one open), in a copy of the directory.
        {
            let copy = dir.path().join("copy");
            std::fs::create_dir_all(copy.join("blobs")).unwrap();
            for entry in std::fs::read_dir(&path).unwrap() {
                let entry = entry.unwrap();
                if entry.path().is_file() {
                    std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
                }
            }
            let local = crate::storage::LocalStorage::open(&copy).unwrap();
            local.wait_for_node_cache();
            assert_eq!(local.meta().unwrap().unwrap().size, n);
            assert_eq!(merkle::root(n, &Nodes(&local)).unwrap(), frontier.root());
            let h = merkle::leaf_hash(&leaf(4_321));
            assert_eq!(local.find_leaf_hash(&h).unwrap(), Some(4_321));
            assert!(!copy.join("conf").exists());
        }
        // What a move interrupted by a crash would have left (longer than
        // any batch's tail): cut at open, the move done again.
        std::fs::write(path.join(LEAVES), b"half a move").unwrap();
        let half = vec![0u8; ((crate::storage::log_files::MAX_TAIL + 2) * 8) as usize];
        std::fs::write(path.join(LEAF_ENDS), half).unwrap();
        let s = SledStorage::open(&path).unwrap();
        s.wait_for_node_cache();
        assert_eq!(s.meta().unwrap().unwrap().size, n);
        let all = s.leaves(0, n).unwrap();
        assert!(all.iter().zip(0..).all(|(l, i)| *l == leaf(i)));
        assert_eq!(merkle::root(n, &Nodes(&s)).unwrap(), frontier.root());
        let h = merkle::leaf_hash(&leaf(12_345));
        assert_eq!(s.find_leaf_hash(&h).unwrap(), Some(12_345));
        // It grows in layout 2.
        let mut batch = crate::storage::Batch::default();
        frontier.push(merkle::leaf_hash(b"next"), |node| batch.nodes.push(node));
        batch.leaves.push((n, b"next".to_vec()));
        s.commit(batch).unwrap();
        drop(s);
        let db = raw_open(&path);
        for prefix in [&b"l"[..], b"n"] {
            assert!(
                db.scan_prefix(prefix).next().is_none(),
                "old records removed"
            );
        }
        assert_eq!(db.get(LAYOUT_KEY).unwrap().unwrap().as_ref(), [LAYOUT]);
        drop(db);
        let s = SledStorage::open(&path).unwrap();
        assert_eq!(s.leaf(n).unwrap(), Some(b"next".to_vec()));
        assert_eq!(merkle::root(n + 1, &Nodes(&s)).unwrap(), frontier.root());
    }

    /// What `open` refuses rather than cut: log files beside a sled that
    /// records none, a tail longer than one batch, and leaves an older
    /// release wrote into sled after the move.
    #[test]
    fn open_refuses_what_it_must_not_cut() {
        use crate::storage::log_files::MAX_TAIL;
        let err = |r: Result<SledStorage, StorageError>| r.err().expect("refused").to_string();
        // Files with data, sled fresh.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join(LEAVES), b"someone's leaves").unwrap();
        assert!(err(SledStorage::open(&path)).contains("records none"));
        assert_eq!(
            std::fs::read(path.join(LEAVES)).unwrap(),
            b"someone's leaves"
        );
        // A tail of more than one batch past `F` (here 0).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        drop(SledStorage::open(&path).unwrap());
        let ends = vec![0u8; ((MAX_TAIL + 1) * 8) as usize];
        std::fs::write(path.join(LEAF_ENDS), &ends).unwrap();
        assert!(err(SledStorage::open(&path)).contains("went back"));
        assert_eq!(
            std::fs::read(path.join(LEAF_ENDS)).unwrap().len(),
            ends.len()
        );
        // A leaf in sled past the files' entries.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let s = SledStorage::open(&path).unwrap();
            let mut frontier = Frontier::new();
            let mut batch = crate::storage::Batch::default();
            for i in 0..3u64 {
                frontier.push(merkle::leaf_hash(&[i as u8]), |n| batch.nodes.push(n));
                batch.leaves.push((i, vec![i as u8]));
            }
            s.commit(batch).unwrap();
        }
        {
            let db = raw_open(&path);
            db.insert(leaf_key(3), &b"written by an older release"[..])
                .unwrap();
            db.flush().unwrap();
        }
        assert!(err(SledStorage::open(&path)).contains("older Accord wrote entries"));
    }
}
