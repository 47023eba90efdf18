//! The local store's commit path: a batch's leaves and nodes to the log
//! files and its other records into one fjall write batch, at once; then
//! the batch's durable commit, the tiles near the root in memory and the
//! readers' view.
//! And the clean stop's checkpoint of those tiles (`map_near_root.rs`).

use super::LocalStorage;
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::storage::map_near_root::{near_root, NearRoot, Write};
use crate::storage::sled_store::encode_meta;
use crate::storage::{Batch, StorageError};
use fjall::OwnedWriteBatch;
use std::sync::atomic::Ordering;

impl LocalStorage {
    /// `Storage::commit`: the batch's log files and records write batch
    /// (`write_batch`), its commit (durable), then the
    /// query cache's invalidation, the tiles near the root in memory and
    /// the new entries made readable.
    pub(super) fn commit_batch(&self, mut batch: Batch) -> Result<(), StorageError> {
        // The tiles near the root go to memory and, as a delta or a
        // checkpoint, into the same write batch (`map_near_root.rs`).
        let (near, deep): (Vec<_>, Vec<_>) = std::mem::take(&mut batch.map)
            .into_iter()
            .partition(|(p, _)| near_root(p));
        let near_write = match near.is_empty() {
            true => None,
            false => {
                let mut tiles = self.near_mut()?;
                tiles.begin()?;
                Some(tiles.plan(&near, &batch.map_set))
            }
        };
        let (records, written) = match self.write_batch(&batch, &deep, near_write.as_ref()) {
            Ok(done) => done,
            Err(e) => {
                // Nothing of the batch is in the records store (its write
                // batch was dropped, not committed).
                if near_write.is_some() {
                    if let Ok(mut tiles) = self.near_mut() {
                        tiles.aborted();
                    }
                }
                return Err(e);
            }
        };
        // Commit point: when `commit` returns Ok the whole batch is in the
        // journal, fdatasynced, and visible to readers; a crash before
        // leaves none of it (recovery drops a torn batch at the journal's
        // end) and nothing was acknowledged. A crash after it but
        // before the replies leave keeps the entries; clients that retry
        // get them back as duplicates (same index). If it fails, the tiles
        // near the root stay marked unsure (`NearRoot::begin`): it may
        // have landed.
        let committed = self.db.commit(records);
        // Also if the commit failed: the cache must not outlive a write
        // that may be visible.
        if !batch.registry.is_empty() {
            let written = batch.registry.iter().map(|(k, _)| k.as_slice());
            self.records.invalidate(written);
        }
        committed?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        // Readers hold off commits (the contract): none sees the tiles
        // near the root change apart from the rest of the batch.
        if let Some(w) = near_write {
            self.near_mut()?.committed(near, w);
        }
        // Readers see the new entries with the rest of the batch (they read
        // only below a size published after `commit` returns).
        if let Some(w) = written {
            self.log.publish(w);
        }
        self.log.remember(&batch.nodes);
        Ok(())
    }

    /// Writes `batch` to the log files (durably) and into a write batch of
    /// the records store, returned uncommitted with what the files now
    /// hold. The two run at once: the files' writes and fdatasyncs on a
    /// scoped thread, the records' copies into the write batch on this
    /// one, so a commit waits for the
    /// slower of them rather than their sum (BENCHMARKS.md, "Where a unary
    /// batch's time goes").
    fn write_batch(
        &self,
        batch: &Batch,
        deep: &[(Position, MapRecord)],
        near_write: Option<&Write>,
    ) -> Result<(OwnedWriteBatch, Option<crate::storage::log_files::Written>), StorageError> {
        let (files, records) = std::thread::scope(|scope| {
            // The leaves and nodes go to the log files, durably (their own
            // commit points are in `LogFiles::write`), while the records
            // go into the write batch; they count only once it records
            // `F`, which it does only after they are durable. A crash
            // before that leaves a tail the next open cuts; nothing
            // acknowledged.
            let files = (!batch.leaves.is_empty())
                .then(|| scope.spawn(|| self.log.write(&batch.leaves, &batch.nodes)));
            let records = self.records_into_batch(batch, deep, near_write);
            // A panic there (a thread the system refused) becomes an
            // error, so the write batch is dropped normally.
            let files = files.map(|f| {
                f.join().unwrap_or_else(|_| {
                    Err(StorageError::Database(
                        "writing the log files panicked".into(),
                    ))
                })
            });
            (files, records)
        });
        // If it failed, the write batch is dropped uncommitted: nothing of
        // the batch counts, whatever the files hold past their count.
        let written = files.transpose()?;
        let mut records = records;
        if let Some(w) = &written {
            records.insert(&self.db.meta, "F", w.entries().to_be_bytes());
        }
        Ok((records, written))
    }

    /// A write batch holding `batch`'s records (all but the log files'
    /// count `F`), uncommitted.
    fn records_into_batch(
        &self,
        batch: &Batch,
        deep: &[(Position, MapRecord)],
        near_write: Option<&Write>,
    ) -> OwnedWriteBatch {
        let db = &self.db;
        let mut records = db.batch();
        if let Some(m) = &batch.meta {
            records.insert(&db.meta, "m", encode_meta(m));
        }
        for n in batch.nodes.iter().filter(|n| n.level == 0) {
            records.insert(&db.hashes, n.hash, n.index.to_be_bytes());
        }
        for (position, record) in deep {
            records.insert(&db.map, position.to_key(), record.to_bytes());
        }
        if let Some(w) = near_write {
            NearRoot::store(w, db, &mut records);
        }
        for (key, value) in &batch.registry {
            match value {
                Some(v) => records.insert(&db.registry, key.as_slice(), v.as_slice()),
                None => records.remove(&db.registry, key.as_slice()),
            }
        }
        records
    }
}

/// A clean stop writes the map's tiles near the root back whole, so the
/// next open has no deltas to set again (`map_near_root.rs`). If this
/// fails or never runs (a crash), the deltas stay and the open uses them.
impl Drop for LocalStorage {
    fn drop(&mut self) {
        // Poisoned: what memory holds is unknown, and the deltas stay.
        let Ok(near) = self.near.get_mut() else {
            return;
        };
        let Some(write) = near.checkpoint() else {
            return;
        };
        let mut records = self.db.batch();
        NearRoot::store(&write, &self.db, &mut records);
        // Commit point: the tiles whole and no deltas, or (before it) the
        // deltas as they were; either opens to the same map.
        let stored = self.db.commit(records);
        match stored {
            Ok(()) => near.committed(Vec::new(), write),
            Err(e) => tracing::warn!("the map's tiles near the root stay in deltas: {e}"),
        }
    }
}
