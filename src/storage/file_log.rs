//! The log's leaves and Merkle nodes as the local backends keep them: the
//! append-only files of `log_files.rs`, plus the nodes that proofs read
//! most, in memory.
//!
//! Both local stores (`local_store.rs`, fjall; `sled_store.rs`, the older
//! sled databases it migrates from) keep their records in a key-value
//! database and the log here; the database's atomic commit records how
//! many entries the files hold, which is what makes a written tail count.

use super::log_files::{LogFiles, Written};
use super::recent_nodes::RecentNodes;
use super::StorageError;
use crate::core::frontier::NewNode;
use crate::core::merkle;
use crate::core::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Lowest node level held in memory. Levels ≥ L hold about 2N/2^L nodes, so
/// L = 2 costs N/2 hashes (16 MiB at 1M entries, loaded in the background
/// at open from the node file) and leaves one leaf and one node read per
/// inclusion proof instead of log2(N) ≈ 20 reads. Measured at 1M entries
/// when nodes were sled records (BENCHMARKS.md): L = 4 left proofs
/// dominated by sled page reads for the 4 lowest levels.
pub const MEMORY_LEVEL: u32 = 2;

pub struct FileLog {
    files: Arc<LogFiles>,
    /// `upper[l - MEMORY_LEVEL][i]` = node `(l, i)`: every stored node of
    /// those levels, appended in index order by each commit.
    upper: Arc<RwLock<Vec<Vec<Hash>>>>,
    /// Levels 0 and 1 of the newest entries (see `recent_nodes.rs`).
    recent: RwLock<RecentNodes>,
    loader: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Tells the loader to give up (a closing database waits for it).
    stop: Arc<AtomicBool>,
}

impl Drop for FileLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wait_for_node_cache();
    }
}

impl FileLog {
    /// Serves `files` at once; the memory copy of the upper levels (≈ 0.1 s
    /// to read at 1M entries) is loaded in the background, and until it is
    /// complete those nodes are read from the files.
    pub fn new(files: LogFiles) -> Result<Self, StorageError> {
        let files = Arc::new(files);
        let upper = Arc::new(RwLock::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let loader = {
            let (files, upper, stop) = (files.clone(), upper.clone(), stop.clone());
            std::thread::Builder::new()
                .name("accord-node-cache".into())
                .spawn(move || {
                    match load_upper(&files, &upper, &stop) {
                        Err(_) if stop.load(Ordering::Relaxed) => {}
                        // Proofs stay correct (read from the files); say why
                        // they are slower.
                        Err(e) => tracing::warn!("Merkle node cache not loaded: {e}"),
                        Ok(()) => {}
                    }
                })
                .map_err(|e| StorageError::Corrupt(format!("cannot start a thread: {e}")))?
        };
        Ok(FileLog {
            files,
            upper,
            recent: RwLock::default(),
            loader: Mutex::new(Some(loader)),
            stop,
        })
    }

    /// Waits until the memory copy of the upper tree levels is loaded
    /// (tests and benchmarks; the server never needs to wait).
    pub fn wait_for_node_cache(&self) {
        let loader = self.loader.lock().expect("loader lock poisoned").take();
        if let Some(handle) = loader {
            let _ = handle.join();
        }
    }

    /// Entries the files hold and readers may read.
    pub fn entries(&self) -> u64 {
        self.files.entries()
    }

    /// Writes a batch's leaves and nodes durably (commit points in
    /// `LogFiles::write`); they count once the caller's database records
    /// `written.entries()`, and are read once published.
    pub fn write(
        &self,
        leaves: &[(u64, Vec<u8>)],
        nodes: &[NewNode],
    ) -> Result<Written, StorageError> {
        Ok(self.files.write(leaves, nodes)?)
    }

    pub fn publish(&self, written: Written) {
        self.files.publish(written)
    }

    /// Adds a committed batch's nodes to the memory copies. Readers ask
    /// only for nodes below the published size, which moves after the
    /// commit returns, so updating them last is safe.
    pub fn remember(&self, nodes: &[NewNode]) {
        let mut recent = self.recent.write().expect("node cache lock poisoned");
        for n in nodes.iter().filter(|n| n.level < MEMORY_LEVEL) {
            recent.push(n.level, n.index, n.hash);
        }
        drop(recent);
        let mut upper = self.upper.write().expect("node cache lock poisoned");
        for n in nodes.iter().filter(|n| n.level >= MEMORY_LEVEL) {
            let l = (n.level - MEMORY_LEVEL) as usize;
            if upper.len() <= l {
                upper.resize(l + 1, Vec::new());
            }
            // Nodes arrive in index order; anything else would be a sequencer
            // bug, and the node stays readable from the files either way.
            if upper[l].len() as u64 == n.index {
                upper[l].push(n.hash);
            }
        }
    }

    pub fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        if index >= self.files.entries() {
            return Ok(None);
        }
        Ok(self.files.leaves(index, index + 1)?.pop())
    }

    pub fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let stored = self.files.entries();
        if end > stored && start < end {
            return Err(super::missing_leaf(stored.max(start)));
        }
        Ok(self.files.leaves(start, end)?)
    }

    pub fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        if level < MEMORY_LEVEL {
            let recent = self.recent.read().expect("node cache lock poisoned");
            if let Some(h) = recent.get(level, index) {
                return Ok(Some(h));
            }
        }
        if level == 0 {
            return Ok(self.leaf(index)?.map(|leaf| merkle::leaf_hash(&leaf)));
        }
        if level >= MEMORY_LEVEL {
            let upper = self.upper.read().expect("node cache lock poisoned");
            let cached = upper
                .get((level - MEMORY_LEVEL) as usize)
                .and_then(|l| l.get(index as usize));
            if let Some(h) = cached {
                return Ok(Some(*h));
            }
        }
        // Stored iff the first `entries` leaves complete it.
        let complete = (1u64.checked_shl(level))
            .and_then(|width| index.checked_add(1)?.checked_mul(width))
            .is_some_and(|end| end <= self.files.entries());
        if !complete {
            return Ok(None);
        }
        Ok(Some(self.files.node(level, index)?))
    }

    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.files.size_on_disk()?)
    }
}

/// Appends to the copy every stored node of levels ≥ `MEMORY_LEVEL`
/// completed by entries `from..to`, in the files' order (each level in
/// index order). Stops early (leaving the copy incomplete) once `stop`
/// is set.
fn scan_upper(
    files: &LogFiles,
    levels: &mut Vec<Vec<Hash>>,
    from: u64,
    to: u64,
    stop: &AtomicBool,
) -> Result<(), StorageError> {
    let mut gap = None;
    files.scan_nodes(from, to, MEMORY_LEVEL, |level, index, hash| {
        let l = (level - MEMORY_LEVEL) as usize;
        if levels.len() <= l {
            levels.resize(l + 1, Vec::new());
        }
        if levels[l].len() as u64 == index {
            levels[l].push(hash);
        } else {
            gap.get_or_insert((level, index));
        }
    })?;
    if let Some((level, index)) = gap {
        return Err(StorageError::Corrupt(format!(
            "Merkle node ({level}, {index}) is out of order in the node file"
        )));
    }
    if stop.load(Ordering::Relaxed) {
        return Err(StorageError::Corrupt("closed while loading".into()));
    }
    Ok(())
}

/// Reads the upper levels without blocking commits, then, holding the lock
/// that commits take to extend the copy, reads what they stored meanwhile.
/// A commit's nodes are readable in the files before it takes the lock,
/// so after this the copy holds every stored node of those levels.
fn load_upper(
    files: &LogFiles,
    upper: &RwLock<Vec<Vec<Hash>>>,
    stop: &AtomicBool,
) -> Result<(), StorageError> {
    let mut levels = Vec::new();
    let mut done = 0;
    // In steps, so that a closing database is not held up for long.
    loop {
        let to = files.entries().min(done + (1 << 20));
        if to == done {
            break;
        }
        scan_upper(files, &mut levels, done, to, stop)?;
        done = to;
    }
    let mut guard = upper.write().expect("node cache lock poisoned");
    scan_upper(files, &mut levels, done, files.entries(), stop)?;
    *guard = levels;
    Ok(())
}
