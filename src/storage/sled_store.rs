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
//! - `s` ‖ statement hash       → index:u64
//! - `h` ‖ leaf hash            → index:u64

use super::{Batch, LogMeta, Storage, StorageError};
use crate::core::encoding::{Reader, Writer};
use crate::core::Hash;
use std::path::Path;

/// sled's page cache. Its default (1 GiB) would dominate the server's memory;
/// the hot data (recent leaves, upper tree nodes) is far smaller, and the OS
/// page cache still holds the rest of the files.
const CACHE_BYTES: u64 = 64 << 20;

pub struct SledStorage {
    db: sled::Db,
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
        Ok(SledStorage { db })
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
        for (h, index) in &batch.statements {
            b.insert(&hash_key(b's', h)[..], &index.to_be_bytes()[..]);
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
        Ok(())
    }

    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(leaf_key(index))?.map(|v| v.to_vec()))
    }

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        self.db
            .get(node_key(level, index))?
            .map(|v| {
                v.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("node hash is not 32 bytes".into()))
            })
            .transpose()
    }

    fn find_statement(&self, h: &Hash) -> Result<Option<u64>, StorageError> {
        self.db
            .get(hash_key(b's', h))?
            .map(decode_index)
            .transpose()
    }

    fn find_leaf_hash(&self, h: &Hash) -> Result<Option<u64>, StorageError> {
        self.db
            .get(hash_key(b'h', h))?
            .map(decode_index)
            .transpose()
    }
}
