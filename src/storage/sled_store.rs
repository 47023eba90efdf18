//! The production [`Storage`]: one sled tree, keys prefixed by record type.
//!
//! Keeping everything in one tree lets a batch be a single
//! `sled::Tree::apply_batch`, which sled applies atomically (also across a
//! crash), followed by one `flush` (fsync) for durability.
//!
//! Key layout (big-endian integers, so keys sort in index order):
//! - `m`                        → [`LogMeta`]
//! - `l` ‖ index:u64            → leaf bytes
//! - `n` ‖ level:u8 ‖ index:u64 → 32-byte node hash (level 0 = leaf hash)
//! - `h` ‖ leaf hash            → index:u64
//!
//! (Databases written before 2026-11-23 also hold `s` ‖ statement hash →
//! index records; nothing reads them: the registry answers resubmissions.)
//!
//! Nodes at level [`MEMORY_LEVEL`] and above are also kept in memory, so an
//! inclusion proof reads only its few lowest siblings from sled.

use super::{Batch, LogMeta, Storage, StorageError};
use crate::core::encoding::{Reader, Writer};
use crate::core::Hash;
use std::path::Path;
use std::sync::RwLock;

/// sled's page cache. Its default (1 GiB) would dominate the server's memory;
/// the hot data (recent leaves, upper tree nodes) is far smaller, and the OS
/// page cache still holds the rest of the files.
const CACHE_BYTES: u64 = 64 << 20;

/// Lowest node level held in memory. Levels ≥ L hold about 2N/2^L nodes, so
/// L = 2 costs N/2 hashes (16 MiB at 1M entries, loaded at open in about
/// 0.2 s) and leaves 2 sled reads per inclusion proof instead of
/// log2(N) ≈ 20. Measured at 1M entries (BENCHMARKS.md): L = 4 left proofs
/// dominated by sled page reads (pread and page decoding) for the 4 lowest
/// levels, which sled's cache cannot hold beside the leaves.
pub const MEMORY_LEVEL: u32 = 2;

pub struct SledStorage {
    db: sled::Db,
    /// `upper[l - MEMORY_LEVEL][i]` = node `(l, i)`: every stored node of
    /// those levels, appended in index order by each commit.
    upper: RwLock<Vec<Vec<Hash>>>,
}

fn leaf_key(index: u64) -> [u8; 9] {
    let mut k = [b'l'; 9];
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn node_key(level: u32, index: u64) -> [u8; 10] {
    let mut k = [b'n'; 10];
    k[1] = level as u8;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

fn hash_key(prefix: u8, h: &Hash) -> [u8; 33] {
    let mut k = [prefix; 33];
    k[1..].copy_from_slice(h);
    k
}

fn encode_meta(m: &LogMeta) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(&m.origin).str(&m.vkey).u64(m.size).str(&m.checkpoint);
    w.finish()
}

fn decode_meta(bytes: &[u8]) -> Result<LogMeta, StorageError> {
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

fn corrupt_node() -> StorageError {
    StorageError::Corrupt("a Merkle node record is malformed".into())
}

fn decode_index(v: sled::IVec) -> Result<u64, StorageError> {
    let arr: [u8; 8] = v
        .as_ref()
        .try_into()
        .map_err(|_| StorageError::Corrupt("index value is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(arr))
}

impl SledStorage {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let mut upper = Vec::new();
        for level in MEMORY_LEVEL..64 {
            let mut hashes = Vec::new();
            for kv in db.scan_prefix([b'n', level as u8]) {
                let (k, v) = kv?;
                let index = u64::from_be_bytes(k[2..].try_into().map_err(|_| corrupt_node())?);
                if index != hashes.len() as u64 {
                    return Err(StorageError::Corrupt(format!(
                        "Merkle node ({level}, {}) is missing",
                        hashes.len()
                    )));
                }
                hashes.push(v.as_ref().try_into().map_err(|_| corrupt_node())?);
            }
            if hashes.is_empty() {
                break;
            }
            upper.push(hashes);
        }
        Ok(SledStorage {
            db,
            upper: RwLock::new(upper),
        })
    }

    /// Bytes sled occupies on disk (for operators and benchmarks).
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.size_on_disk()?)
    }
}

impl Storage for SledStorage {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.db.get(b"m")?.map(|v| decode_meta(&v)).transpose()
    }

    fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        let mut b = sled::Batch::default();
        for (index, leaf) in batch.leaves {
            b.insert(&leaf_key(index)[..], leaf);
        }
        for n in &batch.nodes {
            b.insert(&node_key(n.level, n.index)[..], &n.hash[..]);
            if n.level == 0 {
                b.insert(&hash_key(b'h', &n.hash)[..], &n.index.to_be_bytes()[..]);
            }
        }
        if let Some(meta) = &batch.meta {
            b.insert(&b"m"[..], encode_meta(meta));
        }
        // Commit point 1: after apply_batch the batch is visible to readers
        // but may not be on disk; a crash here loses the whole batch (sled
        // recovers batches atomically) and nothing was acknowledged.
        self.db.apply_batch(b)?;
        // Commit point 2: after flush the batch is durable. A crash after this
        // line but before the replies leave keeps the entries; clients that
        // retry get them back as duplicates (same index).
        self.db.flush()?;
        // Readers ask only for nodes below the published size, which moves
        // after this returns, so updating the memory copy last is safe.
        let mut upper = self.upper.write().expect("node cache lock poisoned");
        for n in batch.nodes.iter().filter(|n| n.level >= MEMORY_LEVEL) {
            let l = (n.level - MEMORY_LEVEL) as usize;
            if upper.len() <= l {
                upper.resize(l + 1, Vec::new());
            }
            // Nodes arrive in index order; anything else would be a sequencer
            // bug, and the node stays readable from sled either way.
            if upper[l].len() as u64 == n.index {
                upper[l].push(n.hash);
            }
        }
        Ok(())
    }

    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(leaf_key(index))?.map(|v| v.to_vec()))
    }

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        if level >= MEMORY_LEVEL {
            let upper = self.upper.read().expect("node cache lock poisoned");
            let cached = upper
                .get((level - MEMORY_LEVEL) as usize)
                .and_then(|l| l.get(index as usize));
            if let Some(h) = cached {
                return Ok(Some(*h));
            }
        }
        self.db
            .get(node_key(level, index))?
            .map(|v| {
                v.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("node hash is not 32 bytes".into()))
            })
            .transpose()
    }

    fn find_leaf_hash(&self, h: &Hash) -> Result<Option<u64>, StorageError> {
        self.db
            .get(hash_key(b'h', h))?
            .map(decode_index)
            .transpose()
    }
}
