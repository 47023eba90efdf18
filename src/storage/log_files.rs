//! The log's leaves and Merkle nodes in append-only files beside the
//! records store (issue 18): written once, sequentially, never rewritten.
//!
//! Why: in sled each entry cost a 270-byte leaf insert and a node insert,
//! and sled rewrites whole pages (and keeps the old ones until it cleans
//! its segments); measured with `examples/sledmix.rs` (BENCHMARKS.md),
//! the leaf and node inserts were a third of sled's commit time and 38 %
//! of its disk. In files, a batch is three sequential writes.
//!
//! Three files in the database directory (integers big-endian):
//! - `leaves`: the leaf bytes of entries 0, 1, 2, … concatenated;
//! - `leaf-ends`: for each entry, u64 = the offset in `leaves` where it
//!   ends (entry `i` is `leaves[end(i-1)..end(i)]`, `end(-1)` = 0);
//! - `nodes`: the 32-byte hashes of the Merkle nodes of levels ≥ 1, in
//!   the order appending the leaves completes them ([`node_position`]):
//!   a tree of `n` leaves has `n - popcount(n)` of them.
//!   Level 0 (the leaf hashes) is not stored: it is one hash of a leaf.
//!
//! How many entries the files hold is recorded in the records store with
//! each batch (`LocalStorage::commit`), in its atomic commit: that count,
//! not the files' lengths, says what is committed. A crash after the files
//! were written but before that commit leaves a tail past it, which
//! [`LogFiles::open`] cuts off.

use crate::core::frontier::NewNode;
use crate::core::Hash;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// File names in the database directory.
pub const LEAVES: &str = "leaves";
pub const LEAF_ENDS: &str = "leaf-ends";
pub const NODES: &str = "nodes";

/// Stored nodes (levels ≥ 1) of a tree of `n` leaves: each level `l`
/// holds `n >> l`, and the sum over `l ≥ 1` is `n - popcount(n)`.
pub fn node_count(n: u64) -> u64 {
    n - u64::from(n.count_ones())
}

/// Where node `(level ≥ 1, index)` is in `nodes`, counted in hashes.
/// Appending leaf `m - 1` completes the nodes of levels `1..=tz(m)` that
/// end at it, lowest first (`tz` = trailing zeros); the node ends at leaf
/// `m - 1` with `m = (index + 1) << level`, and it is the
/// `(tz(m) - level)`-th from the last node stored once `m` leaves are.
pub fn node_position(level: u32, index: u64) -> u64 {
    debug_assert!(level >= 1);
    let m = (index + 1) << level;
    node_count(m) - 1 - u64::from(m.trailing_zeros() - level)
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A system call failed (its kind kept: a full disk stays ENOSPC).
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Corrupt(String),
    /// A batch not shaped as the next part of the log (a caller's bug):
    /// nothing was written.
    #[error("{0}")]
    Refused(String),
}

/// Most entries a crash can leave past the committed count: one batch
/// (the sequencer's `MAX_BATCH` new and as many held statements, and a
/// map head, 8,193) with room to spare. A longer tail means the database
/// went back (an older copy of the records store): cutting it would destroy
/// acknowledged entries, so `open` refuses instead.
pub const MAX_TAIL: u64 = 1 << 14;

pub struct LogFiles {
    dir: std::path::PathBuf,
    leaves: File,
    ends: File,
    nodes: File,
    /// Entries readers may read (see [`LogFiles::publish`]).
    readable: AtomicU64,
    /// Where they end in `leaves`: every `leaf-ends` value read is
    /// checked against it before it sizes a read.
    data_end: AtomicU64,
}

/// What [`LogFiles::write`] wrote, for [`LogFiles::publish`].
#[derive(Debug, Clone, Copy)]
pub struct Written {
    entries: u64,
    data_end: u64,
}

impl Written {
    pub fn entries(&self) -> u64 {
        self.entries
    }
}

fn io<'a>(
    what: &'a str,
    dir: &'a Path,
    name: &'a str,
) -> impl FnOnce(std::io::Error) -> FilesError + 'a {
    move |e| {
        let path = dir.join(name);
        FilesError::Io(std::io::Error::new(
            e.kind(),
            format!("{what} {}: {e}", path.display()),
        ))
    }
}

fn corrupt_size(name: &str, have: u64, entries: u64, need: Option<u64>) -> FilesError {
    let need = need.map_or("more than a file can hold".into(), |n| n.to_string());
    FilesError::Corrupt(format!(
        "{name} holds {have} bytes but the {entries} committed entries need {need}: restore the data directory from a backup"
    ))
}

/// Refuses log files holding data in `dir` when the database beside them
/// records no entries: its own files were replaced or lost, and opening
/// would cut the log's leaves to nothing.
pub fn refuse_orphans(dir: &Path) -> Result<(), FilesError> {
    for name in [LEAVES, LEAF_ENDS, NODES] {
        let path = dir.join(name);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            return Err(FilesError::Corrupt(format!(
                "{} holds entries but the database beside it records none (were its files replaced or damaged?); restore the data directory from a backup",
                path.display()
            )));
        }
    }
    Ok(())
}

impl LogFiles {
    /// Opens (creating them empty) the files in `dir`, which hold
    /// `entries` committed entries: a longer tail (a batch written to the
    /// files whose records commit never happened) is cut off and the cut made
    /// durable; shorter files are corrupt (something removed what a commit
    /// recorded).
    pub fn open(dir: &Path, entries: u64) -> Result<Self, FilesError> {
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join(name))
                .map_err(io("open", dir, name))
        };
        let mut files = LogFiles {
            dir: dir.to_owned(),
            leaves: open(LEAVES)?,
            ends: open(LEAF_ENDS)?,
            nodes: open(NODES)?,
            readable: AtomicU64::new(entries),
            data_end: AtomicU64::new(0),
        };
        // The files' names are durable before anything written into them
        // is counted on (a created file's fdatasync does not record its
        // name in the directory).
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync", dir, ""))?;
        let len = |f: &File, name| {
            Ok::<_, FilesError>(f.metadata().map_err(io("stat", dir, name))?.len())
        };
        let ends_len = len(&files.ends, LEAF_ENDS)?;
        let need = entries.checked_mul(8).filter(|&n| n <= ends_len);
        let Some(need) = need else {
            return Err(corrupt_size(
                LEAF_ENDS,
                ends_len,
                entries,
                entries.checked_mul(8),
            ));
        };
        let tail = (ends_len - need) / 8;
        if tail > MAX_TAIL {
            return Err(FilesError::Corrupt(format!(
                "{} holds {tail} entries past the {entries} the database records, more than one batch: the database went back (an older copy of its files?); restore the whole data directory from one backup",
                dir.join(LEAF_ENDS).display()
            )));
        }
        let data_len = files.end_of(entries)?;
        *files.data_end.get_mut() = data_len;
        let node_len = node_count(entries)
            .checked_mul(32)
            .ok_or_else(|| corrupt_size(NODES, 0, entries, None))?;
        for (file, name, need) in [
            (&files.leaves, LEAVES, data_len),
            (&files.ends, LEAF_ENDS, entries * 8),
            (&files.nodes, NODES, node_len),
        ] {
            let have = len(file, name)?;
            if have < need {
                return Err(corrupt_size(name, have, entries, Some(need)));
            }
            if have > need {
                // An uncommitted batch's tail (see the module doc): cut,
                // and make the cut durable before anything is appended.
                file.set_len(need).map_err(io("truncate", dir, name))?;
                file.sync_data().map_err(io("fdatasync", dir, name))?;
            }
        }
        if tail > 0 {
            tracing::warn!(
                "cut {tail} uncommitted entries (a batch a crash interrupted) from the log files"
            );
        }
        Ok(files)
    }

    /// Entries readers may read.
    pub fn entries(&self) -> u64 {
        self.readable.load(Ordering::Acquire)
    }

    /// Lets readers read what `written` wrote: the writer calls it once
    /// the batch is committed (a failed commit stops the log, so nothing
    /// is ever taken back).
    pub fn publish(&self, written: Written) {
        self.data_end.store(written.data_end, Ordering::Release);
        self.readable.store(written.entries, Ordering::Release)
    }

    /// The offset in `leaves` where the first `entries` end (at open).
    fn end_of(&self, entries: u64) -> Result<u64, FilesError> {
        if entries == 0 {
            return Ok(0);
        }
        let mut b = [0; 8];
        self.ends
            .read_exact_at(&mut b, (entries - 1) * 8)
            .map_err(io("read", &self.dir, LEAF_ENDS))?;
        Ok(u64::from_be_bytes(b))
    }

    /// Writes the leaves that follow the published ones and the nodes they
    /// complete, and makes them durable; readers see none of it until
    /// [`LogFiles::publish`]. Writes go to places derived from the
    /// published count, so a batch written again after a failed commit
    /// overwrites the first attempt. Refuses (writing nothing) a batch
    /// whose leaves are not the next indices or whose level ≥ 1 nodes are
    /// not exactly those its leaves complete.
    pub fn write(
        &self,
        leaves: &[(u64, Vec<u8>)],
        nodes: &[NewNode],
    ) -> Result<Written, FilesError> {
        let first = self.entries();
        let end = first + leaves.len() as u64;
        if let Some((i, (at, _))) = (first..).zip(leaves).find(|(i, (at, _))| i != at) {
            return Err(FilesError::Refused(format!(
                "a batch's leaf {at} is not at the next index {i}"
            )));
        }
        let (from, to) = (node_count(first), node_count(end));
        let mut hashes = vec![0u8; ((to - from) * 32) as usize];
        let mut placed = vec![false; (to - from) as usize];
        for n in nodes.iter().filter(|n| n.level >= 1) {
            let at =
                (n.level < 64 && n.index < end >> n.level).then(|| node_position(n.level, n.index));
            let Some(at) = at.filter(|at| (from..to).contains(at) && !placed[(at - from) as usize])
            else {
                return Err(FilesError::Refused(format!(
                    "a batch of leaves {first}..{end} carries node ({}, {}), which they do not complete (or twice)",
                    n.level, n.index
                )));
            };
            placed[(at - from) as usize] = true;
            let at = ((at - from) * 32) as usize;
            hashes[at..at + 32].copy_from_slice(&n.hash);
        }
        if let Some(missing) = placed.iter().position(|p| !p) {
            return Err(FilesError::Refused(format!(
                "a batch of leaves {first}..{end} lacks the node at position {} of {NODES}",
                from + missing as u64
            )));
        }
        let start = self.data_end.load(Ordering::Acquire);
        let mut data = Vec::with_capacity(leaves.iter().map(|(_, l)| l.len()).sum());
        let mut ends = Vec::with_capacity(leaves.len() * 8);
        for (_, leaf) in leaves {
            data.extend_from_slice(leaf);
            ends.extend_from_slice(&(start + data.len() as u64).to_be_bytes());
        }
        // None of this counts until the records commit records the new count:
        // a crash before it leaves a tail (whole or torn) that `open` cuts.
        let parts = [
            (&self.leaves, LEAVES, &data, start),
            (&self.ends, LEAF_ENDS, &ends, first * 8),
            (&self.nodes, NODES, &hashes, from * 32),
        ];
        for (file, name, bytes, at) in parts {
            file.write_all_at(bytes, at)
                .map_err(io("write", &self.dir, name))?;
        }
        // Durable point of the files: after these three fdatasyncs the
        // batch's leaves and nodes survive a power failure (a file that
        // grew also gets its new length recorded). Run at once, so the
        // file system can join them in one journal commit.
        std::thread::scope(|scope| {
            let syncs: Vec<_> = parts
                .iter()
                .map(|(file, name, _, _)| {
                    scope.spawn(move || file.sync_data().map_err(io("fdatasync", &self.dir, name)))
                })
                .collect();
            syncs
                .into_iter()
                .try_for_each(|s| s.join().expect("fdatasync does not panic"))
        })?;
        Ok(Written {
            entries: end,
            data_end: start + data.len() as u64,
        })
    }

    /// The bytes of entries `start..end` (all below [`LogFiles::entries`]),
    /// with two reads.
    pub fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, FilesError> {
        if start >= end {
            return Ok(Vec::new());
        }
        // The end of entry start − 1 (0 before the first) and of each one.
        let first = start.saturating_sub(1);
        let mut raw = vec![0u8; ((end - first) * 8) as usize];
        self.ends
            .read_exact_at(&mut raw, first * 8)
            .map_err(io("read", &self.dir, LEAF_ENDS))?;
        let mut ends: Vec<u64> = raw
            .chunks_exact(8)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
            .collect();
        if start == 0 {
            ends.insert(0, 0);
        }
        let (from, to) = (ends[0], ends[ends.len() - 1]);
        if ends.windows(2).any(|w| w[0] > w[1]) || to > self.data_end.load(Ordering::Acquire) {
            return Err(FilesError::Corrupt(format!(
                "{} is damaged within entries {start}..{end} (not increasing, or past the leaves)",
                self.dir.join(LEAF_ENDS).display()
            )));
        }
        let mut data = vec![0u8; (to - from) as usize];
        self.leaves
            .read_exact_at(&mut data, from)
            .map_err(io("read", &self.dir, LEAVES))?;
        Ok(ends
            .windows(2)
            .map(|w| data[(w[0] - from) as usize..(w[1] - from) as usize].to_vec())
            .collect())
    }

    /// Bytes the three files hold.
    pub fn size_on_disk(&self) -> Result<u64, FilesError> {
        let mut total = 0;
        for (file, name) in [
            (&self.leaves, LEAVES),
            (&self.ends, LEAF_ENDS),
            (&self.nodes, NODES),
        ] {
            total += file.metadata().map_err(io("stat", &self.dir, name))?.len();
        }
        Ok(total)
    }

    /// Node `(level ≥ 1, index)`, which the caller knows is stored.
    pub fn node(&self, level: u32, index: u64) -> Result<Hash, FilesError> {
        let mut h = [0; 32];
        self.nodes
            .read_exact_at(&mut h, node_position(level, index) * 32)
            .map_err(io("read", &self.dir, NODES))?;
        Ok(h)
    }

    /// Reads the nodes of levels ≥ `lowest` completed by leaves
    /// `from..to` (one sequential pass over their part of `nodes`) and
    /// hands each to `f(level, index, hash)`, in the file's order.
    pub fn scan_nodes(
        &self,
        from: u64,
        to: u64,
        lowest: u32,
        mut f: impl FnMut(u32, u64, Hash),
    ) -> Result<(), FilesError> {
        /// Hashes read at a time (1 MiB).
        const CHUNK: u64 = 1 << 15;
        let (mut at, end) = (node_count(from), node_count(to));
        let mut buf = Vec::new();
        let mut next = 0usize;
        for m in from + 1..=to {
            for level in 1..=m.trailing_zeros() {
                if next == buf.len() {
                    let n = CHUNK.min(end - at);
                    buf = vec![0u8; (n * 32) as usize];
                    self.nodes
                        .read_exact_at(&mut buf, at * 32)
                        .map_err(io("read", &self.dir, NODES))?;
                    at += n;
                    next = 0;
                }
                let mut h = [0; 32];
                h.copy_from_slice(&buf[next..next + 32]);
                next += 32;
                if level >= lowest {
                    f(level, (m >> level) - 1, h);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "log_files_tests.rs"]
mod tests;
