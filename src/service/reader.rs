//! Read queries over the published log: range checks and proof generation.
//! All reads are bounded by the latest *published* checkpoint, so a reader
//! never sees a batch that is still being committed.

use super::error::{invalid, ApiError};
use crate::core::merkle;
use crate::core::Hash;
use crate::sequencer::{Published, Sequencer};
use crate::storage::read_ahead::ReadAhead;
use crate::storage::Storage;
use std::sync::Arc;

/// Most entries one GetEntries call returns: bounds the reply (≈ 0.5 MiB)
/// and the work per call; clients page with `start`.
pub const MAX_ENTRIES_PER_CALL: u64 = 1000;

/// Reads of the registry at one size tried before giving up (UNAVAILABLE):
/// each try takes a few ms and the servers commit a few hundred batches a
/// second at most, so eight misses in a row mean something is wrong.
const ONE_SIZE_TRIES: usize = 8;

/// Probing runs of a registry query at most. Its chain of dependent reads
/// (listing row, organization, name facts; a map path's tiles) is a few
/// deep, but a filtered listing that skips many rows advances one chunk
/// of rows per round; a query that still misses after these reads the rest
/// one by one (slower on a shared database, never wrong).
const READ_AHEAD_ROUNDS: usize = 16;

#[derive(Clone)]
pub struct Reader {
    pub storage: Arc<dyn Storage>,
    pub sequencer: Sequencer,
    /// The facts of names shown in registry answers (`flags`), by name.
    pub names: Arc<super::name_cache::NameCache>,
    /// The latest checkpoint cosigned by a quorum of witnesses, when the
    /// log runs with a witness policy.
    pub cosigned: Option<crate::witnessing::CosignedView>,
    /// The witness policy file, when there is one: the web page shows it so
    /// readers verify checkpoints against its quorum.
    pub witness_policy: Option<Arc<str>>,
    /// Listing rows one ListSignatories call examines at most
    /// ([`super::queries::MAX_EXAMINED`]; lowered only by tests).
    pub max_examined: usize,
}

impl Reader {
    pub fn new(storage: Arc<dyn Storage>, sequencer: Sequencer) -> Reader {
        Reader {
            storage,
            sequencer,
            names: Arc::new(super::name_cache::NameCache::default()),
            cosigned: None,
            witness_policy: None,
            max_examined: super::queries::MAX_EXAMINED,
        }
    }

    /// What clients get as "the checkpoint": with a witness policy, the
    /// latest one cosigned by a quorum (with its cosignatures) once there
    /// is one; otherwise the latest one signed by the log.
    /// `(note, size, root)`.
    pub fn checkpoint(&self) -> (String, u64, Hash) {
        let cosigned = self.cosigned.as_ref().and_then(|c| c.borrow().clone());
        match cosigned {
            Some(c) => (c.note.clone(), c.size, c.root),
            None => {
                let latest = self.latest();
                (
                    latest.checkpoint.clone(),
                    latest.head.size,
                    latest.head.root,
                )
            }
        }
    }

    pub fn latest(&self) -> Arc<Published> {
        self.sequencer.latest()
    }

    /// Runs `f`, which reads the stored registry and map together with
    /// [`Reader::latest`], so that all of it is of one tree size.
    ///
    /// With one writer (local, memory) holding off our own sequencer's
    /// commits is enough. On a database other servers write too, their
    /// commits cannot be held off: publish the stored checkpoint, run `f`,
    /// and keep its answer only if the stored size has not moved meanwhile
    /// (the size only grows, and the registry moves only with it), else
    /// run it again. Blocking (it may wait out a commit): call from a
    /// blocking thread, or use [`Reader::at_one_size_now`].
    pub fn at_one_size<T>(
        &self,
        mut f: impl FnMut(&Reader) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        if !self.sequencer.shared() {
            let _one_size = self.sequencer.hold_commits();
            return f(self);
        }
        for _ in 0..ONE_SIZE_TRIES {
            let before = self.sequencer.catch_up()?.head.size;
            let answer = self.read_ahead(&mut f);
            let after = self.storage.meta()?.map_or(0, |m| m.size);
            if after == before {
                return answer;
            }
        }
        Err(ApiError::Storage(crate::storage::StorageError::Conflict(
            format!("the log grew during each of {ONE_SIZE_TRIES} reads of the registry; retry"),
        )))
    }

    /// [`Reader::at_one_size`] without waiting, for an async worker: `None`
    /// on a shared database (its reads are network round trips) or while a
    /// commit holds off readers or waits to; the caller then goes to the
    /// blocking pool.
    pub fn at_one_size_now<T>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, ApiError>,
    ) -> Option<Result<T, ApiError>> {
        if self.sequencer.shared() {
            return None;
        }
        let _one_size = self.sequencer.try_hold_commits()?;
        Some(f(self))
    }

    /// Runs `f` over a [`ReadAhead`] of this reader's storage: probing runs
    /// until one misses nothing (their reads fetched a round at a time),
    /// then the run that answers.
    fn read_ahead<T>(
        &self,
        f: &mut impl FnMut(&Reader) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let ahead = Arc::new(ReadAhead::new(self.storage.clone()));
        let reader = Reader {
            storage: ahead.clone(),
            ..self.clone()
        };
        for _ in 0..READ_AHEAD_ROUNDS {
            let _ = f(&reader); // probing: its answer is not used
            if !ahead.fetch_missed()? {
                break;
            }
        }
        ahead.stop_probing();
        f(&reader)
    }

    fn size(&self) -> u64 {
        self.latest().head.size
    }

    /// `(leaf bytes, leaf hash)` of entry `index`.
    pub fn entry(&self, index: u64) -> Result<(Vec<u8>, Hash), ApiError> {
        let size = self.size();
        if index >= size {
            return Err(ApiError::OutOfRange(format!(
                "index {index} is beyond the tree size {size}"
            )));
        }
        let leaf = self.storage.leaf(index)?.ok_or_else(|| {
            crate::storage::StorageError::Corrupt(format!("leaf {index} is missing"))
        })?;
        let hash = merkle::leaf_hash(&leaf);
        Ok((leaf, hash))
    }

    /// Entries `[start, min(end, start + MAX, size))`.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>, Hash)>, ApiError> {
        let size = self.size();
        if end <= start {
            return Err(invalid(
                "end",
                format!("must be greater than start ({start}), got {end}"),
            ));
        }
        if start >= size {
            return Err(ApiError::OutOfRange(format!(
                "start {start} is beyond the tree size {size}"
            )));
        }
        let end = end.min(size).min(start + MAX_ENTRIES_PER_CALL);
        Ok((start..)
            .zip(self.storage.leaves(start, end)?)
            .map(|(i, leaf)| {
                let hash = merkle::leaf_hash(&leaf);
                (i, leaf, hash)
            })
            .collect())
    }

    /// Resolves a requested tree size (0 = latest) against the published one.
    fn tree_size(&self, requested: u64, field: &'static str) -> Result<u64, ApiError> {
        let size = self.size();
        match requested {
            0 => Ok(size),
            n if n > size => Err(ApiError::OutOfRange(format!(
                "{field} {n} is beyond the tree size {size}"
            ))),
            n => Ok(n),
        }
    }

    pub fn index_of(&self, leaf_hash: &[u8]) -> Result<u64, ApiError> {
        let hash: Hash = leaf_hash.try_into().map_err(|_| {
            invalid(
                "leaf_hash",
                format!("must be 32 bytes, got {}", leaf_hash.len()),
            )
        })?;
        match self.storage.find_leaf_hash(&hash)? {
            Some(i) if i < self.size() => Ok(i),
            _ => Err(ApiError::NotFound(format!(
                "no entry has leaf hash {}",
                hex::encode(hash)
            ))),
        }
    }

    /// `(tree size, proof)` for entry `index`.
    pub fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<(u64, Vec<Hash>), ApiError> {
        let size = self.tree_size(tree_size, "tree_size")?;
        if index >= size {
            return Err(ApiError::OutOfRange(format!(
                "index {index} is not in a tree of size {size}"
            )));
        }
        Ok((
            size,
            crate::storage::merkle_batched(self.storage.as_ref(), |nodes| {
                merkle::inclusion_proof(index, size, &nodes)
            })?,
        ))
    }

    /// `(new size, proof)` from `old` to `new` (0 = latest).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<(u64, Vec<Hash>), ApiError> {
        let new = self.tree_size(new, "new_size")?;
        if old == 0 {
            return Err(invalid(
                "old_size",
                "must be at least 1 (every tree extends the empty tree)",
            ));
        }
        if old > new {
            return Err(invalid(
                "old_size",
                format!("{old} is larger than new_size {new}"),
            ));
        }
        Ok((
            new,
            crate::storage::merkle_batched(self.storage.as_ref(), |nodes| {
                merkle::consistency_proof(old, new, &nodes)
            })?,
        ))
    }

    /// `GetCheckpoint`'s answer: the checkpoint to trust (cosigned when a
    /// witness policy is set) and the latest one the log signed.
    pub fn checkpoint_response(&self) -> crate::proto::GetCheckpointResponse {
        let (note, size, root) = self.checkpoint();
        crate::proto::GetCheckpointResponse {
            signed_note: note,
            size,
            root: root.to_vec(),
            log_signed_note: self.latest().checkpoint.clone(),
        }
    }

    /// Runs `f` with this reader on the blocking pool (work that grows with
    /// the request: pages of entries, listings that need many rows).
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let reader = self.clone();
        let joined = tokio::task::spawn_blocking(move || f(&reader)).await;
        joined.map_err(|e| ApiError::Task(e.to_string()))?
    }
}
