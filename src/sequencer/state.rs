//! The sequencer thread's state: opening and checking the stored log, and
//! turning a batch of jobs into one durable commit.

use super::map;
use super::{Accepted, Job, Loading, Published, SequencerError, MAX_BATCH};
use crate::core::checkpoint::{Checkpoint, TreeHead};
use crate::core::endorsement::MAX_FUTURE_SKEW_SECS;
use crate::core::entry::{Entry, Signed, GENESIS_PREV};
use crate::core::frontier::Frontier;
use crate::core::map_head::MapHead;
use crate::core::merkle::{self, NodeSource};
use crate::core::note::Signer;
use crate::core::registry::{Admission, Registry, Resource, RuleError, StoredRegistry};
use crate::core::registry::{FORMAT, FORMAT_KEY};
use crate::core::Hash;
use crate::storage::{Batch, LogMeta, Nodes, Storage, StorageError};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};

mod startup;
mod view;
use super::prefetch::{self, Prefetched};
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::core::map_versions::RecordSource;

/// One job's fate: `(index, leaf hash, duplicate)`, the rule it broke, or
/// `None` if it is held for the next batch.
type Outcome = Option<Result<Logged, RuleError>>;

/// Where a job's statement is: `(index, leaf hash, leaf bytes)`; no bytes
/// for a duplicate (logged before this batch).
type Logged = (u64, Hash, Option<Vec<u8>>);

/// Times a batch is decided again after a conflict before its submitters
/// get UNAVAILABLE: under the lock conflicts do not happen; without it (or
/// on a database that reports serialization failures) a few retries ride
/// out contention.
const CONFLICT_RETRIES: usize = 3;

/// Where the checkpoint goes once a commit is durable (`None` while
/// starting: it is published when the start is done).
type Publish<'a> = Option<&'a watch::Sender<Arc<Published>>>;

fn bad_projection(index: u64, why: String) -> SequencerError {
    SequencerError::Inconsistent(format!("the batch projection refused entry {index}: {why}"))
}

pub(super) struct State {
    pub(super) storage: Arc<dyn Storage>,
    signer: Signer,
    operator_key: [u8; 32],
    /// Held (written) by each commit from before the storage commit until
    /// its checkpoint is published; registry readers hold it (read) so they
    /// see the stored registry, the map and the checkpoint of one size.
    gate: Arc<RwLock<()>>,
    /// Jobs held back because an earlier job of their batch changes what
    /// they depend on (see [`Registry::footprint`]); they lead the next batch.
    pub(super) held: Vec<Job>,
    frontier: Frontier,
    last_leaf_hash: Hash,
    last_time_ms: u64,
    published: Arc<Published>,
    /// Set after a failed commit: the on-disk state is then unknown, so the
    /// sequencer refuses everything until an operator restarts it.
    failed: Option<String>,
    /// Set after a batch failed on a shared database for a reason that may
    /// pass (the database out of reach): the in-memory view may be ahead of
    /// what is stored, so the next batch loads it again first.
    dirty: bool,
    /// The map's tiles near its root as stored after the last commit (see
    /// `prefetch.rs`); emptied whenever the view is loaded again.
    shallow: prefetch::Tiles,
}

/// The wall clock in seconds (tests).
#[cfg(test)]
pub(super) fn now_secs() -> u64 {
    now_ms() / 1000
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn sign(signer: &Signer, head: TreeHead) -> Result<String, SequencerError> {
    Checkpoint {
        origin: signer.name.clone(),
        head,
    }
    .sign(signer)
    .map_err(|e| SequencerError::Stopped(format!("cannot sign checkpoint: {e}")))
}

impl State {
    /// Loads the log, refusing a database of another log and checking that
    /// the stored tree reproduces the latest signed checkpoint. On a shared
    /// database this holds the write lock, until `load_registry` is done,
    /// so other servers' commits cannot interleave with the checks.
    pub(super) fn open(
        storage: Arc<dyn Storage>,
        signer: Signer,
        operator_key: [u8; 32],
    ) -> Result<Self, SequencerError> {
        storage.begin_write()?;
        let opened = Self::open_locked(storage.clone(), signer, operator_key);
        if opened.is_err() {
            storage.end_write();
        }
        opened
    }

    fn open_locked(
        storage: Arc<dyn Storage>,
        signer: Signer,
        operator_key: [u8; 32],
    ) -> Result<Self, SequencerError> {
        let verifier = signer.verifier();
        let meta = match storage.meta()? {
            Some(meta) => meta,
            None => {
                let empty = TreeHead {
                    size: 0,
                    root: merkle::EMPTY_ROOT,
                };
                let meta = LogMeta {
                    origin: signer.name.clone(),
                    vkey: verifier.to_string(),
                    size: 0,
                    checkpoint: sign(&signer, empty)?,
                };
                // Commit point: a fresh log is its identity plus the signed
                // empty checkpoint. A crash before this leaves an empty
                // database that the next start initializes again.
                // The registry of an empty log is complete: no records.
                let created = storage.commit(Batch {
                    meta: Some(meta.clone()),
                    registry: vec![(FORMAT_KEY.to_vec(), Some(FORMAT.to_vec()))],
                    ..Batch::default()
                });
                match created {
                    Ok(()) => {}
                    // Another server sharing the database created it first.
                    Err(StorageError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                // The commit released the lock (if any): take it again,
                // now that there is a log to lock, and read what is stored.
                storage.begin_write()?;
                storage.meta()?.ok_or_else(|| {
                    SequencerError::Inconsistent("the new log's state is not stored".into())
                })?
            }
        };
        view::same_log(&meta, &signer.name, &verifier)?;
        let view = view::load(storage.as_ref(), &verifier, meta)?;
        let mut state = State {
            gate: Arc::new(RwLock::new(())),
            held: Vec::new(),
            operator_key,
            storage,
            signer,
            frontier: Frontier::new(),
            last_leaf_hash: GENESIS_PREV,
            last_time_ms: 0,
            published: view.published.clone(),
            failed: None,
            dirty: false,
            shallow: prefetch::Tiles::new(),
        };
        state.set_view(view);
        Ok(state)
    }

    pub(super) fn published(&self) -> Arc<Published> {
        self.published.clone()
    }

    pub(super) fn gate(&self) -> Arc<RwLock<()>> {
        self.gate.clone()
    }

    /// The thread body: take everything queued, commit it as one batch, repeat.
    /// Returns when every [`super::Sequencer`] handle is gone.
    pub(super) fn run(
        mut self,
        mut rx: mpsc::Receiver<Job>,
        published: &watch::Sender<Arc<Published>>,
        loaded: &watch::Sender<Loading>,
    ) {
        self.load_registry(loaded, Some(published));
        loop {
            // Held jobs lead the batch, and up to MAX_BATCH new ones follow,
            // so a chain of one organization's statements (decided one per
            // batch) does not starve everyone else. Past MAX_BATCH held
            // jobs, new ones wait in the channel (backpressure, bounded
            // memory). Deciding such chains in one batch would need a
            // batch-local overlay of the touched records.
            let mut jobs = std::mem::take(&mut self.held);
            let limit = if jobs.len() < MAX_BATCH {
                jobs.len() + MAX_BATCH
            } else {
                jobs.len()
            };
            if jobs.is_empty() {
                match rx.blocking_recv() {
                    Some(first) => jobs.push(first),
                    None => return,
                }
            }
            while jobs.len() < limit {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.process(jobs, published);
            // A failed commit stops the log: say so to health checks.
            if let Some(why) = &self.failed {
                if !matches!(*loaded.borrow(), Loading::Failed(_)) {
                    loaded.send_replace(Loading::Failed(why.clone()));
                }
            }
        }
    }

    pub(super) fn process(&mut self, jobs: Vec<Job>, published: &watch::Sender<Arc<Published>>) {
        if let Some(why) = &self.failed {
            for job in jobs {
                let _ = job.reply.send(Err(SequencerError::Stopped(why.clone())));
            }
            return;
        }
        let mut attempt = 0;
        let appended = loop {
            // On a shared database: take the log's lock, and catch up with
            // what other servers committed, before deciding anything.
            let appended = match self.lock_and_sync(published) {
                Ok(()) => self.append(&jobs, Some(published)),
                Err(e) => Err(e),
            };
            // Releases the lock if the batch did not commit (nothing new,
            // or an error); a commit released it already.
            self.storage.end_write();
            attempt += 1;
            match appended {
                // Another writer got there first, or the database asks for
                // a retry (serialization failure): decide the batch again
                // on the state as it now is.
                Err(SequencerError::Storage(StorageError::Conflict(why)))
                    if attempt < CONFLICT_RETRIES =>
                {
                    tracing::info!("batch decided again: {why}");
                    self.dirty = true;
                }
                other => break other,
            }
        };
        match appended {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let Some(outcome) = outcome else {
                        self.held.push(job);
                        continue;
                    };
                    let reply = outcome.map(|(index, leaf_hash, leaf)| Accepted {
                        index,
                        leaf_hash,
                        duplicate: leaf.is_none(),
                        leaf,
                        published: self.published.clone(),
                    });
                    // A submitter that gave up (cancelled) just misses its reply;
                    // the entry is logged either way.
                    let _ = job.reply.send(reply.map_err(SequencerError::Rejected));
                }
            }
            Err(SequencerError::Storage(e)) if e.transient() && self.storage.shared() => {
                // The database may be back in a moment (the refresher
                // reports health meanwhile); whether the batch's COMMIT
                // landed is unknown, so its entries are either all stored
                // or none, and a retry finds them as duplicates.
                self.dirty = true;
                let why = format!(
                    "the database did not confirm the batch ({e}); submit again (a logged statement comes back as a duplicate)"
                );
                tracing::warn!("{why}");
                for job in jobs {
                    let _ = job.reply.send(Err(SequencerError::Stopped(why.clone())));
                }
            }
            Err(e) => {
                let why = format!("a storage commit failed ({e}); restart the server");
                self.failed = Some(why.clone());
                for job in jobs {
                    let _ = job.reply.send(Err(SequencerError::Stopped(why.clone())));
                }
            }
        }
    }

    /// On a shared database, locks the log and loads the view again if
    /// another server committed (publishing its checkpoint). A no-op for a
    /// database with one writer.
    fn lock_and_sync(
        &mut self,
        published: &watch::Sender<Arc<Published>>,
    ) -> Result<(), SequencerError> {
        if !self.storage.shared() {
            return Ok(());
        }
        let stored = self.storage.begin_write()?;
        if self.sync(stored)? {
            super::publish(published, self.published.clone());
        }
        Ok(())
    }

    /// Decides each job against the stored registry, then builds and
    /// commits one batch: its entries, map head, map records and registry
    /// records. Returns per job `(index, leaf hash, duplicate)`, the rule it
    /// broke, or `None` if it is held for the next batch.
    fn append(&mut self, jobs: &[Job], publish: Publish) -> Result<Vec<Outcome>, SequencerError> {
        // Integration times never go backwards, even if the wall clock does;
        // nor before the admission clock that let these statements in
        // (signed_at ≤ admission time + 300 s): if the clock stepped back
        // since, an entry integrated "earlier" would fail the audit's time
        // rule (SPEC §5), which judges signed_at against integrated_at.
        let admitted_by = (jobs.iter())
            .map(|j| j.signed.signed_at().saturating_sub(MAX_FUTURE_SKEW_SECS))
            .max()
            .unwrap_or(0)
            .saturating_mul(1000);
        let now = now_ms().max(self.last_time_ms).max(admitted_by);
        let mut batch = Batch::default();
        let mut outcomes = Vec::with_capacity(jobs.len());
        // The stored registry as of the last commit: only this thread
        // writes it, and only in `commit` (on a shared database, only the
        // holder of the lock `lock_and_sync` took). Read through a cache
        // of this batch's reads, fetched ahead where reads are remote.
        let storage = self.storage.clone();
        let reads = Prefetched::new(storage.as_ref(), std::mem::take(&mut self.shallow));
        if storage.shared() {
            reads.registry_for(self.frontier.size(), jobs.iter().map(|j| &j.signed))?;
        }
        let stored = StoredRegistry(&reads);
        // The batch applied to copies of the records it touches: admission
        // decides there, and the records and map values after the batch
        // come from it (see `project.rs`).
        let mut scratch = Registry::projection(self.frontier.size(), &stored)?;
        let mut changed = Vec::new();
        // A job decided now is ordered before every job held back, so it must
        // commute with them and with this batch's new entries (see
        // Registry::footprint): it may touch nothing they write, and write
        // nothing held jobs read.
        let mut written: HashSet<Resource> = HashSet::new();
        let mut held_reads: HashSet<Resource> = HashSet::new();
        for job in jobs {
            scratch.absorb(&stored, &job.signed)?;
            let footprint = scratch.footprint(&job.signed);
            let mut touched = footprint.reads.iter().chain(&footprint.writes);
            if touched.any(|r| written.contains(r))
                || footprint.writes.iter().any(|r| held_reads.contains(r))
            {
                outcomes.push(None); // decided in the next batch
                written.extend(footprint.writes);
                held_reads.extend(footprint.reads);
                continue;
            }
            // Operator statements (commitments, verifications) must be
            // signed by the key this server was started with.
            if job.signed.is_operator_statement() && job.signed.signers()[0] != self.operator_key {
                outcomes.push(Some(Err(RuleError {
                    field: "public_key",
                    rule: "is not this log's operator key".into(),
                })));
                continue;
            }
            let index = self.frontier.size();
            let statement = job.signed.statement_hash();
            match scratch.check_hashed(&job.signed, &statement) {
                Err(rule) => outcomes.push(Some(Err(rule))),
                Ok(Admission::Duplicate(i)) => {
                    // Committed before this batch: no earlier job of the
                    // batch touches this organization.
                    let leaf_hash = Nodes(self.storage.as_ref()).node(0, i)?;
                    outcomes.push(Some(Ok((i, leaf_hash, None))));
                }
                Ok(Admission::New) => {
                    let leaf = Entry::leaf_bytes(index, now, &self.last_leaf_hash, &job.signed);
                    let leaf_hash = merkle::leaf_hash(&leaf);
                    self.frontier.push(leaf_hash, |node| batch.nodes.push(node));
                    self.last_leaf_hash = leaf_hash;
                    // The answer carries the leaf (one read less per reply).
                    outcomes.push(Some(Ok((index, leaf_hash, Some(leaf.clone())))));
                    batch.leaves.push((index, leaf));
                    written.extend(footprint.writes);
                    changed.extend(scratch.changed_map_keys(&job.signed));
                    scratch
                        .apply_hashed(index, &job.signed, statement)
                        .map_err(|e| bad_projection(index, e.to_string()))?;
                }
            }
        }
        if batch.leaves.is_empty() {
            self.shallow = reads.into_shallow(); // unchanged: nothing written
            return Ok(outcomes); // nothing to write or sign
        }
        changed.sort();
        changed.dedup();
        let relisted: Vec<Hash> = (outcomes.iter().zip(jobs))
            .filter(|(o, _)| matches!(o, Some(Ok((_, _, Some(_))))))
            .filter_map(|(_, job)| match &job.signed {
                Signed::Verification {
                    verification: v, ..
                } => Some(v.organization_id),
                Signed::Revocation { revocation: r, .. } => Some(r.organization_id),
                _ => None,
            })
            .collect();
        let since = self.published.head.size;
        batch.registry = scratch.record_writes(&changed, &relisted, since);
        if storage.shared() {
            // Map keys: about four per entry at most (SPEC §5.8).
            reads.tiles_for(&changed, self.frontier.size().saturating_mul(4))?;
        }
        let values = map::values_of(&scratch, changed).map_err(SequencerError::Inconsistent)?;
        self.seal(&mut batch, now, &values, &reads)?;
        let shallow_writes: Vec<(Position, MapRecord)> = (batch.map.iter())
            .filter(|(p, _)| usize::from(p.depth) <= prefetch::SHALLOW)
            .cloned()
            .collect();
        self.commit(batch, now, publish)?;
        // What is now stored near the map's root, for the next batch.
        let mut shallow = reads.into_shallow();
        shallow.extend(shallow_writes.into_iter().map(|(p, r)| (p, Some(r))));
        self.shallow = shallow;
        Ok(outcomes)
    }

    /// Ends `batch` with its map head: sets `values` in the map (the
    /// records join the batch) and appends the map-head entry after the
    /// batch's entries, so the checkpoint's last entry commits to the map
    /// of exactly the state it reflects.
    fn seal(
        &mut self,
        batch: &mut Batch,
        now: u64,
        values: &map::Values,
        source: &impl RecordSource<Error = StorageError>,
    ) -> Result<(u64, MapHead), SequencerError> {
        let index = self.frontier.size();
        let stored_at = self.published.head.size;
        let shared = self.storage.shared();
        let (root, records, pairs) = map::update(source, stored_at, index + 1, values, shared)?;
        let head = MapHead { size: index, root };
        let leaf = Entry::leaf_bytes(index, now, &self.last_leaf_hash, &Signed::MapHead(head));
        let leaf_hash = merkle::leaf_hash(&leaf);
        self.frontier.push(leaf_hash, |node| batch.nodes.push(node));
        self.last_leaf_hash = leaf_hash;
        batch.leaves.push((index, leaf));
        batch.map = records;
        batch.map_set = pairs;
        Ok((index, head))
    }

    /// Signs the checkpoint for the frontier, commits `batch` with it and
    /// publishes it (holding off registry readers meanwhile).
    fn commit(
        &mut self,
        mut batch: Batch,
        now: u64,
        publish: Publish,
    ) -> Result<(), SequencerError> {
        let head = TreeHead {
            size: self.frontier.size(),
            root: self.frontier.root(),
        };
        // Signing before the commit is safe: the checkpoint is published only
        // after the commit; a crash in between discards it unseen.
        let checkpoint = sign(&self.signer, head)?;
        batch.meta = Some(LogMeta {
            origin: self.signer.name.clone(),
            vkey: self.signer.verifier().to_string(),
            size: head.size,
            checkpoint: checkpoint.clone(),
        });
        // Commit point (see `storage/local_store/commit.rs`): the entries, their map head
        // and map records, and the checkpoint, all or nothing. Nothing is
        // acknowledged before this returns; a crash before it loses only
        // unacknowledged work and leaves the previous map and checkpoint.
        let (entries, started) = (batch.leaves.len(), std::time::Instant::now());
        let gate = self.gate.clone();
        let _readers_wait = gate.write().expect("registry gate poisoned");
        self.storage.commit(batch)?;
        let took = started.elapsed();
        crate::metrics::METRICS.batch_committed(entries, head.size, took);
        tracing::info!(
            entries,
            size = head.size,
            commit_ms = %format!("{:.3}", took.as_secs_f64() * 1000.0),
            "batch committed"
        );
        self.last_time_ms = now;
        self.published = Arc::new(Published { head, checkpoint });
        // Readers see the batch only now that it is durable; the registry
        // records, the map and the checkpoint move together (the gate).
        if let Some(p) = publish {
            super::publish(p, self.published.clone());
        }
        Ok(())
    }
}
