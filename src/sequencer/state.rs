//! The sequencer thread's state: opening and checking the stored log, and
//! turning a batch of jobs into one durable commit.

use super::{Accepted, Job, Published, SequencerError, MAX_BATCH};
use crate::core::checkpoint::{Checkpoint, TreeHead};
use crate::core::entry::{Entry, GENESIS_PREV};
use crate::core::frontier::Frontier;
use crate::core::merkle::{self, NodeSource};
use crate::core::note::Signer;
use crate::core::Hash;
use crate::storage::{Batch, LogMeta, Nodes, Storage};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};

pub(super) struct State {
    storage: Arc<dyn Storage>,
    signer: Signer,
    frontier: Frontier,
    last_leaf_hash: Hash,
    last_time_ms: u64,
    published: Arc<Published>,
    /// Set after a failed commit: the on-disk state is then unknown, so the
    /// sequencer refuses everything until an operator restarts it.
    failed: Option<String>,
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
    /// the stored tree reproduces the latest signed checkpoint.
    pub(super) fn open(storage: Arc<dyn Storage>, signer: Signer) -> Result<Self, SequencerError> {
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
                storage.commit(Batch {
                    meta: Some(meta.clone()),
                    ..Batch::default()
                })?;
                meta
            }
        };
        if meta.origin != signer.name || meta.vkey != verifier.to_string() {
            return Err(SequencerError::WrongLog(format!(
                "it holds log {:?} with key {}, but this server has log {:?} with key {verifier}",
                meta.origin, meta.vkey, signer.name
            )));
        }
        let bad = SequencerError::Inconsistent;
        let cp = Checkpoint::open(&meta.checkpoint, &verifier)
            .map_err(|e| bad(format!("stored checkpoint: {e}")))?;
        if cp.head.size != meta.size {
            return Err(bad(format!(
                "checkpoint size {} but log size {}",
                cp.head.size, meta.size
            )));
        }
        let nodes = Nodes(storage.as_ref());
        let frontier = Frontier::load(meta.size, &nodes)?;
        if frontier.root() != cp.head.root {
            return Err(bad(
                "the stored tree's root differs from the signed checkpoint".into(),
            ));
        }
        let (last_leaf_hash, last_time_ms) = match meta.size.checked_sub(1) {
            None => (GENESIS_PREV, 0),
            Some(last) => {
                let leaf = storage
                    .leaf(last)?
                    .ok_or_else(|| bad(format!("leaf {last} is missing")))?;
                let entry =
                    Entry::from_leaf(&leaf).map_err(|e| bad(format!("leaf {last}: {e}")))?;
                let hash = merkle::leaf_hash(&leaf);
                if hash != nodes.node(0, last)? || entry.index != last {
                    return Err(bad(format!("leaf {last} does not match the tree")));
                }
                (hash, entry.integrated_at_ms)
            }
        };
        if storage.leaf(meta.size)?.is_some() {
            return Err(bad(format!(
                "a leaf exists beyond the checkpoint, at index {}",
                meta.size
            )));
        }
        Ok(State {
            storage,
            signer,
            frontier,
            last_leaf_hash,
            last_time_ms,
            published: Arc::new(Published {
                head: cp.head,
                checkpoint: meta.checkpoint,
            }),
            failed: None,
        })
    }

    pub(super) fn published(&self) -> Arc<Published> {
        self.published.clone()
    }

    /// The thread body: take everything queued, commit it as one batch, repeat.
    /// Returns when every [`super::Sequencer`] handle is gone.
    pub(super) fn run(
        mut self,
        mut rx: mpsc::Receiver<Job>,
        published: watch::Sender<Arc<Published>>,
    ) {
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.process(jobs, &published);
        }
    }

    fn process(&mut self, jobs: Vec<Job>, published: &watch::Sender<Arc<Published>>) {
        if let Some(why) = &self.failed {
            for job in jobs {
                let _ = job.reply.send(Err(SequencerError::Stopped(why.clone())));
            }
            return;
        }
        let before = (
            self.frontier.clone(),
            self.last_leaf_hash,
            self.last_time_ms,
        );
        match self.append(&jobs) {
            Ok(results) => {
                published.send_replace(self.published.clone());
                for (job, (index, leaf_hash, duplicate)) in jobs.into_iter().zip(results) {
                    let published = self.published.clone();
                    // A submitter that gave up (cancelled) just misses its reply;
                    // the entry is logged either way.
                    let _ = job.reply.send(Ok(Accepted {
                        index,
                        leaf_hash,
                        duplicate,
                        published,
                    }));
                }
            }
            Err(e) => {
                (self.frontier, self.last_leaf_hash, self.last_time_ms) = before;
                let why = format!("a storage commit failed ({e}); restart the server");
                self.failed = Some(why.clone());
                for job in jobs {
                    let _ = job.reply.send(Err(SequencerError::Stopped(why.clone())));
                }
            }
        }
    }

    /// Builds and commits one batch; returns `(index, leaf hash, duplicate)`
    /// per job, in job order.
    fn append(&mut self, jobs: &[Job]) -> Result<Vec<(u64, Hash, bool)>, SequencerError> {
        // Integration times never go backwards, even if the wall clock does.
        let now = now_ms().max(self.last_time_ms);
        let mut batch = Batch::default();
        let mut in_batch: HashMap<Hash, (u64, Hash)> = HashMap::new();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let statement = job.signed.statement_hash();
            if let Some(&(index, leaf_hash)) = in_batch.get(&statement) {
                results.push((index, leaf_hash, true));
                continue;
            }
            if let Some(index) = self.storage.find_statement(&statement)? {
                let leaf_hash = Nodes(self.storage.as_ref()).node(0, index)?;
                results.push((index, leaf_hash, true));
                continue;
            }
            let entry = Entry {
                index: self.frontier.size(),
                integrated_at_ms: now,
                prev_leaf_hash: self.last_leaf_hash,
                signed: job.signed.clone(),
            };
            let leaf = entry.to_leaf();
            let leaf_hash = merkle::leaf_hash(&leaf);
            self.frontier.push(leaf_hash, |node| batch.nodes.push(node));
            self.last_leaf_hash = leaf_hash;
            in_batch.insert(statement, (entry.index, leaf_hash));
            batch.statements.push((statement, entry.index));
            batch.leaves.push((entry.index, leaf));
            results.push((entry.index, leaf_hash, false));
        }
        if batch.leaves.is_empty() {
            return Ok(results); // only duplicates: nothing to write or sign
        }
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
        // Commit point (see SledStorage::commit): nothing is acknowledged
        // before this returns; a crash before it loses only unacknowledged work.
        self.storage.commit(batch)?;
        self.last_time_ms = now;
        self.published = Arc::new(Published { head, checkpoint });
        Ok(results)
    }
}
