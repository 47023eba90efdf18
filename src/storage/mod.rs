//! Storage: the narrow contract between the log and its database.
//!
//! Only the sequencer writes, and only through [`Storage::commit`]; everyone
//! else reads. The contract every implementation must keep:
//! - `commit` is atomic: after a crash either the whole batch is visible or
//!   none of it is.
//! - `commit` is durable: when it returns `Ok`, the batch survives power loss.
//!   The sequencer acknowledges entries only after that.
//! - Reads of anything at or below the size recorded in [`LogMeta`] return
//!   what was committed; the log never rewrites a leaf or a node.
//! - The registry map's records (`core::map_versions`, one per tile of 4
//!   levels, keyed by the tile's root position) are the one thing
//!   overwritten in place: on a shared backend each keeps its latest
//!   content and the one before, with their versions, so a reader at the
//!   published size reads a consistent map while another server's batch
//!   commits; with one writer, readers hold off its commits and records
//!   keep only the latest (`core::map_versions`). A store may hold some
//!   tiles in memory and persist them later, if a crash cannot lose them:
//!   the local store keeps the batches' [`Batch::map_set`] pairs until it
//!   writes its tiles near the root whole, and sets them again at open.
//! - The registry's records (`core::registry::records`: one per map key,
//!   plus listing indexes) change only in `commit`, with the entries that
//!   changed them; they always reflect exactly the size in [`LogMeta`]
//!   (so a reader that holds off commits reads one consistent registry).
//!   `clear_registry` is the one other writer (repair, server stopped).
//! - Calls may block (disk, network): make them from blocking threads (the
//!   service runs a bounded few local reads on its async workers: proofs,
//!   an organization, a default page of signatories).
//!
//! A backend that several servers share ([`Storage::shared`]: PostgreSQL)
//! also keeps these, so that the database, not the servers, serializes
//! writers (SPEC.md and ARCHITECTURE.md, "Several instances"):
//! - `begin_write` locks the log for the caller until its next `commit`
//!   or `end_write`, and returns the stored size: another writer's
//!   `begin_write` waits meanwhile. The caller decides its batch against
//!   what is stored at that size (reloading its view if another server
//!   committed since it last looked) and commits under the lock.
//! - `commit` of a batch with entries refuses ([`StorageError::Conflict`])
//!   one whose first index is not the stored size, so one size can never
//!   get two roots even if a caller forgot to lock.
//! - Reads see what other servers commit: a reader that needs the
//!   registry and the checkpoint of one size reads the stored size before
//!   and after, and reads again if it moved (the service's `at_one_size`).

pub mod file_log;
mod idle_flush;
mod local_migrate;
pub mod local_store;
pub mod log_files;
pub mod map_near_root;
pub mod memory;
pub mod postgres;
pub mod read_ahead;
pub mod recent_nodes;
pub mod record_cache;
mod records_build;
pub mod records_db;
pub mod sled_layout;
pub mod sled_store;

pub use local_store::LocalStorage;
pub use memory::MemoryStorage;
pub use postgres::PgStorage;
pub use sled_store::SledStorage;

use crate::core::frontier::NewNode;
use crate::core::map::Position;
use crate::core::map_versions::{MapRecord, RecordSource, Stale};
use crate::core::registry::{RecordStore, RecordWrite, Rows};
use crate::core::Hash;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// The local records store (fjall, or redb while moving an older
    /// layout) or its files failed.
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database could not be reached or refused a statement (the
    /// connection may come back: gRPC UNAVAILABLE).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// Another server sharing the database committed first: the batch was
    /// not written (decide it again against the new state).
    #[error("another server committed first: {0}")]
    Conflict(String),
    /// A map read at a tree size two commits old: read again at the latest.
    #[error(transparent)]
    Stale(#[from] Stale),
}

impl StorageError {
    /// True if asking again later may succeed: the database is out of
    /// reach, or another server committed first (gRPC UNAVAILABLE, HTTP
    /// 503). Everything else is a fault of the stored data.
    pub fn transient(&self) -> bool {
        matches!(
            self,
            StorageError::Postgres(_) | StorageError::Conflict(_) | StorageError::Stale(_)
        )
    }
}

/// What identifies the log and where it stands, committed with every batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMeta {
    pub origin: String,
    /// The log's verifier key string (C2SP vkey form).
    pub vkey: String,
    pub size: u64,
    /// The signed checkpoint for `size`, exactly as published.
    pub checkpoint: String,
}

/// A checkpoint cosigned by the witness policy's quorum, kept so that every
/// server sharing the database (and a restarted one) serves it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCosigned {
    pub size: u64,
    /// The log's signed note with the witnesses' cosignature lines.
    pub note: String,
    /// Unix seconds when its round reached the quorum.
    pub at: u64,
}

/// Everything one sequencer batch writes, applied atomically by `commit`.
#[derive(Debug, Default)]
pub struct Batch {
    /// `(index, leaf bytes)` of new entries, in index order.
    pub leaves: Vec<(u64, Vec<u8>)>,
    /// Perfect-subtree nodes completed by the new leaves (level 0 = leaf hashes).
    pub nodes: Vec<NewNode>,
    /// Registry map tile records to write (each replacing the one at its tile root).
    pub map: Vec<(Position, MapRecord)>,
    /// Exactly the `(key hash, value hash)` pairs set in the map that gave
    /// `map` (the later of a key given twice wins), or none. A store that keeps some
    /// tiles in memory between checkpoints stores these instead of them
    /// and sets them again at open (the local store's tiles near the root,
    /// `map_near_root.rs`); left empty, such a store writes those tiles
    /// whole. Other stores ignore it.
    pub map_set: Vec<(Hash, Hash)>,
    /// Registry record writes (`None` removes), applied in order.
    pub registry: Vec<RecordWrite>,
    pub meta: Option<LogMeta>,
}

pub trait Storage: Send + Sync + 'static {
    /// The log's metadata, or `None` for a fresh database.
    fn meta(&self) -> Result<Option<LogMeta>, StorageError>;
    /// Atomically and durably applies `batch` (see the module contract).
    fn commit(&self, batch: Batch) -> Result<(), StorageError>;
    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError>;
    /// Leaves `start..end`, in order, all of which must exist (a gap is
    /// `Corrupt`). One range read instead of a lookup per leaf: what replays
    /// and pages of entries use.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        (start..end)
            .map(|i| self.leaf(i)?.ok_or_else(|| missing_leaf(i)))
            .collect()
    }
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError>;
    /// The nodes at `(level, index)` for each of `at`, in order (one round
    /// trip where reads are remote: a whole proof's nodes, see
    /// [`merkle_batched`]).
    fn nodes(&self, at: &[(u32, u64)]) -> Result<Vec<Option<Hash>>, StorageError> {
        at.iter().map(|&(l, i)| self.node(l, i)).collect()
    }
    /// Index of the entry with this RFC 6962 leaf hash.
    fn find_leaf_hash(&self, leaf_hash: &Hash) -> Result<Option<u64>, StorageError>;
    /// The registry map's record of the tile rooted at `position`, `None`
    /// if never written.
    fn map_record(&self, position: &Position) -> Result<Option<MapRecord>, StorageError>;
    /// The registry record under `key`, `None` if there is none.
    fn registry_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// The records of `keys`, in their order: what a batch's writer reads,
    /// in one round trip where reads are remote (PostgreSQL), and past any
    /// cache that serves queries (the local store's record cache), which the writer's
    /// lookups of new keys would otherwise flush.
    fn registry_records(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        keys.iter().map(|k| self.registry_record(k)).collect()
    }
    /// The map records of the tiles at `positions`, in their order (as
    /// `registry_records`).
    fn map_records(&self, positions: &[Position]) -> Result<Vec<Option<MapRecord>>, StorageError> {
        positions.iter().map(|p| self.map_record(p)).collect()
    }
    /// Registry records whose key starts with `prefix`, from key `from`
    /// (≥ `prefix`) on, in key order (bytewise), at most `limit`.
    fn registry_scan(&self, prefix: &[u8], from: &[u8], limit: usize)
        -> Result<Rows, StorageError>;
    /// Removes every registry record, durably (`accord reindex` and the
    /// start-up rebuild of a database without them, before writing them
    /// anew). Returns how many were removed.
    fn clear_registry(&self) -> Result<u64, StorageError>;

    /// True if other servers may write this database too (see the module
    /// contract); then readers must not assume only their own sequencer
    /// moves the log.
    fn shared(&self) -> bool {
        false
    }
    /// Locks the log for this writer until its next `commit` or
    /// `end_write`, and returns the stored size (`None`: a fresh database,
    /// or a backend with one writer, where there is nothing to lock).
    fn begin_write(&self) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }
    /// Releases a lock taken by `begin_write` without committing (a batch
    /// that wrote nothing, or failed). Harmless without one.
    fn end_write(&self) {}

    /// The cosigned checkpoint stored last by `store_cosigned`, if any.
    /// Callers check it (policy, root) before serving it: it is a cache of
    /// what witnesses signed, not part of the log.
    fn cosigned(&self) -> Result<Option<StoredCosigned>, StorageError>;
    /// Stores `c` unless a cosigned checkpoint of a larger size is stored
    /// (it never goes back, whichever server stores last; one of the same
    /// size is replaced: after a policy change it is cosigned again).
    /// Returns whether it was stored. Need not be durable when it returns:
    /// a lost one is gathered again by the next witness round.
    fn store_cosigned(&self, c: &StoredCosigned) -> Result<bool, StorageError>;
    /// Takes or renews, for `holder`, the lease that lets one server at a
    /// time run witness rounds: granted unless another holder's lease is
    /// unexpired; it then lasts `ttl` from now by the database's clock
    /// (not the servers', which may differ; callers keep a margin for the
    /// database's own clock steps). Backends with one server: always granted.
    fn witness_lease(&self, holder: &str, ttl: std::time::Duration) -> Result<bool, StorageError> {
        let _ = (holder, ttl);
        Ok(true)
    }
    /// Ends `holder`'s lease now (a server stopping), so another server
    /// takes over without waiting for it to expire. Harmless if not held.
    fn release_witness_lease(&self, holder: &str) -> Result<(), StorageError> {
        let _ = holder;
        Ok(())
    }
}

/// Adapts a [`Storage`] to the core's map [`RecordSource`].
pub struct Records<'a, S: ?Sized>(pub &'a S);

impl<S: Storage + ?Sized> RecordSource for Records<'_, S> {
    type Error = StorageError;
    fn map_record(&self, at: &Position) -> Result<Option<MapRecord>, StorageError> {
        self.0.map_record(at)
    }
}

impl<S: Storage + ?Sized> RecordStore for Records<'_, S> {
    type Error = StorageError;
    fn record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.registry_record(key)
    }
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Rows, StorageError> {
        self.0.registry_scan(prefix, from, limit)
    }
    fn corrupt(why: String) -> StorageError {
        StorageError::Corrupt(why)
    }
}

fn missing_leaf(index: u64) -> StorageError {
    StorageError::Corrupt(format!("leaf {index} is missing"))
}

/// Adapts a [`Storage`] to the core's Merkle [`NodeSource`](crate::core::merkle::NodeSource):
/// a missing node below the published size means the database is corrupt.
pub struct Nodes<'a, S: ?Sized>(pub &'a S);

impl<S: Storage + ?Sized> crate::core::merkle::NodeSource for Nodes<'_, S> {
    type Error = StorageError;
    fn node(&self, level: u32, index: u64) -> Result<Hash, StorageError> {
        self.0
            .node(level, index)?
            .ok_or_else(|| StorageError::Corrupt(format!("missing Merkle node ({level}, {index})")))
    }
}

/// Runs `f`, a Merkle computation (root, inclusion or consistency proof)
/// over `storage`'s nodes. Which nodes such a computation reads depends only
/// on the sizes and indices, never on the hashes read; so where reads are
/// remote (a shared database) `f` first runs over placeholder hashes to
/// learn them, they are fetched in one round trip, and `f` runs again on
/// them. With local storage, `f` simply reads as it goes.
pub fn merkle_batched<S: Storage + ?Sized, T>(
    storage: &S,
    f: impl Fn(&dyn MerkleNodes) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    if !storage.shared() {
        return f(&Nodes(storage));
    }
    let probe = Wanted(std::cell::RefCell::default());
    let _ = f(&probe);
    let mut wanted = probe.0.into_inner();
    wanted.sort_unstable();
    wanted.dedup();
    let found = storage.nodes(&wanted)?;
    let mut fetched = std::collections::HashMap::with_capacity(wanted.len());
    for (at, hash) in wanted.into_iter().zip(found) {
        let hash = hash.ok_or_else(|| {
            StorageError::Corrupt(format!("missing Merkle node ({}, {})", at.0, at.1))
        })?;
        fetched.insert(at, hash);
    }
    f(&Fetched(fetched, storage))
}

/// A Merkle node source as a trait object (what [`merkle_batched`] hands
/// its computation).
pub trait MerkleNodes {
    fn get(&self, level: u32, index: u64) -> Result<Hash, StorageError>;
}

impl crate::core::merkle::NodeSource for &(dyn MerkleNodes + '_) {
    type Error = StorageError;
    fn node(&self, level: u32, index: u64) -> Result<Hash, StorageError> {
        self.get(level, index)
    }
}

impl<S: Storage + ?Sized> MerkleNodes for Nodes<'_, S> {
    fn get(&self, level: u32, index: u64) -> Result<Hash, StorageError> {
        crate::core::merkle::NodeSource::node(self, level, index)
    }
}

/// Notes every node asked for and answers zeros (the first pass).
struct Wanted(std::cell::RefCell<Vec<(u32, u64)>>);

impl MerkleNodes for Wanted {
    fn get(&self, level: u32, index: u64) -> Result<Hash, StorageError> {
        self.0.borrow_mut().push((level, index));
        Ok([0; 32])
    }
}

/// The fetched nodes (the second pass); anything else is read directly.
struct Fetched<'a, S: ?Sized>(std::collections::HashMap<(u32, u64), Hash>, &'a S);

impl<S: Storage + ?Sized> MerkleNodes for Fetched<'_, S> {
    fn get(&self, level: u32, index: u64) -> Result<Hash, StorageError> {
        match self.0.get(&(level, index)) {
            Some(h) => Ok(*h),
            None => crate::core::merkle::NodeSource::node(&Nodes(self.1), level, index),
        }
    }
}
