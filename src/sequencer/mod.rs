//! The sequencer: the log's single writer.
//!
//! Submissions (already validated and signature-checked by the service) are
//! queued on a bounded channel. A dedicated thread takes everything queued —
//! up to [`MAX_BATCH`] — assigns consecutive indices, builds the leaves with
//! their hash chain, extends the Merkle frontier, signs one checkpoint, and
//! commits the batch atomically with one durable flush (group commit). Only
//! then are the submitters answered. While a batch flushes, the next one
//! accumulates, so throughput grows with load instead of collapsing.
//!
//! Being the only writer is what makes the log's promises cheap to keep: one
//! checkpoint per size, each consistent with the last, with no locking.

mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_random;

mod follow;
mod map;
mod prefetch;
mod replay;
pub use follow::REFRESH_EVERY;
use follow::{publish, Follower};
pub use map::{build as build_map, stored_root as stored_map_root};
pub use replay::{rebuild_registry, store_registry};
use state::State;

use crate::core::checkpoint::TreeHead;
use crate::core::entry::Signed;
use crate::core::note::Signer;
use crate::core::Hash;
use crate::storage::{Storage, StorageError};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, oneshot, watch};

/// Most entries per batch. Large enough to amortize the flush (one fsync
/// costs about as much as verifying a few hundred signatures), small enough
/// that one batch's leaves (≈ 4096 × 0.5 KiB = 2 MiB) stay cheap to hold.
pub const MAX_BATCH: usize = 4096;
/// Submissions waiting beyond this are refused at once with
/// [`SequencerError::Busy`] instead of queueing without bound: four batches
/// (≈ 0.5–2 s of work at the measured commit rates) is deep enough to keep
/// group commits full and shallow enough that a refused client's retry soon
/// finds room.
pub const QUEUE_DEPTH: usize = 4 * MAX_BATCH;
/// The retry hint sent with `Busy`: about one batch's commit time.
pub const RETRY_AFTER_MS: u64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error("the log is not accepting entries: {0}")]
    Stopped(String),
    #[error(
        "the log's queue is full ({QUEUE_DEPTH} statements waiting); retry in {RETRY_AFTER_MS} ms"
    )]
    Busy,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "the database (the local store under the data directory, or PostgreSQL) belongs to another log: {0}"
    )]
    WrongLog(String),
    #[error("stored log does not match its checkpoint: {0}")]
    Inconsistent(String),
    /// The statement is valid but the registry refuses it in the log's
    /// current state (unknown commitment, replay, retired key…).
    #[error("{0}")]
    Rejected(#[from] crate::core::registry::RuleError),
}

/// Where the registry rebuild at start-up stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loading {
    InProgress,
    Ready,
    Failed(String),
    /// A shared database (PostgreSQL) is out of reach: health says
    /// NOT_SERVING until it answers again, then `Ready` by itself.
    Unreachable(String),
}

/// How long a registry query waits for the start-up rebuild before it is
/// answered UNAVAILABLE (the rebuild takes ≈ 5 s per million entries).
const LOADING_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The latest published checkpoint, shared with readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub head: TreeHead,
    /// The signed checkpoint note, exactly as signed.
    pub checkpoint: String,
}

/// The answer to a submission, sent only after its batch is durable.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub index: u64,
    pub leaf_hash: Hash,
    pub duplicate: bool,
    /// The leaf bytes of an entry this batch appended (`None` for a
    /// duplicate: read them from storage).
    pub leaf: Option<Vec<u8>>,
    /// A checkpoint that includes the entry.
    pub published: Arc<Published>,
}

struct Job {
    signed: Signed,
    reply: oneshot::Sender<Result<Accepted, SequencerError>>,
}

/// Handle to the sequencer thread. Cloneable; the thread stops once every
/// handle is dropped and the queue is drained.
#[derive(Clone)]
pub struct Sequencer {
    tx: mpsc::Sender<Job>,
    published: watch::Receiver<Arc<Published>>,
    gate: Arc<RwLock<()>>,
    loaded: watch::Receiver<Loading>,
    follower: Follower,
}

impl Sequencer {
    /// Opens (or initializes) the log in `storage`, checks it against its
    /// latest checkpoint, and starts the writer thread.
    /// Commitment registrations must be signed by `operator_key`.
    pub fn start(
        storage: Arc<dyn Storage>,
        signer: Signer,
        operator_key: [u8; 32],
    ) -> Result<(Self, std::thread::JoinHandle<()>), SequencerError> {
        let verifier = signer.verifier();
        let state = State::open(storage.clone(), signer, operator_key)?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (pub_tx, published) = watch::channel(state.published());
        let pub_tx = Arc::new(pub_tx);
        let gate = state.gate();
        let (loaded_tx, loaded) = watch::channel(Loading::InProgress);
        let loaded_tx = Arc::new(loaded_tx);
        let follower = Follower {
            storage: storage.clone(),
            verifier,
            published: pub_tx.clone(),
        };
        if storage.shared() {
            let (follower, loaded_tx) = (follower.clone(), loaded_tx.clone());
            std::thread::Builder::new()
                .name("accord-follow".into())
                .spawn(move || follower.run(loaded_tx))
                .expect("spawn refresher thread");
        }
        let handle = std::thread::Builder::new()
            .name("accord-sequencer".into())
            .spawn(move || state.run(rx, &pub_tx, &loaded_tx))
            .expect("spawn sequencer thread");
        Ok((
            Sequencer {
                tx,
                published,
                gate,
                loaded,
                follower,
            },
            handle,
        ))
    }

    /// Holds off commits while the guard lives, so the stored registry,
    /// the map and [`Sequencer::latest`] all reflect one tree size (a
    /// commit waits, and readers wait for at most one commit). Until the
    /// start-up check is done the stored registry may be incomplete: await
    /// [`Sequencer::registry_ready`] first.
    pub fn hold_commits(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().expect("registry gate poisoned")
    }

    /// [`Sequencer::hold_commits`] if that needs no wait: `None` while a
    /// commit holds the gate or waits for it. For readers on an async
    /// worker, which must not wait out a commit (a batch's fsync).
    pub fn try_hold_commits(&self) -> Option<std::sync::RwLockReadGuard<'_, ()>> {
        match self.gate.try_read() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::WouldBlock) => None,
            Err(std::sync::TryLockError::Poisoned(_)) => panic!("registry gate poisoned"),
        }
    }

    /// Waits (up to 30 s) until the registry has been rebuilt from the log.
    pub async fn registry_ready(&self) -> Result<(), SequencerError> {
        let mut loaded = self.loaded.clone();
        let waited =
            tokio::time::timeout(LOADING_WAIT, loaded.wait_for(|l| *l != Loading::InProgress))
                .await;
        let state = match waited {
            Ok(Ok(state)) => state.clone(),
            Ok(Err(_)) => Loading::Failed("the sequencer has shut down".into()),
            Err(_) => {
                return Err(SequencerError::Stopped(format!(
                    "the registry is still being rebuilt from the log after {} s; retry shortly",
                    LOADING_WAIT.as_secs()
                )))
            }
        };
        match state {
            Loading::Failed(why) | Loading::Unreachable(why) => Err(SequencerError::Stopped(why)),
            _ => Ok(()),
        }
    }

    /// Queues a verified statement and waits until it is durably logged.
    /// A full queue refuses it at once ([`SequencerError::Busy`]).
    pub async fn submit(&self, signed: Signed) -> Result<Accepted, SequencerError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || SequencerError::Stopped("the sequencer has shut down".into());
        self.tx
            .try_send(Job { signed, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SequencerError::Busy,
                mpsc::error::TrySendError::Closed(_) => stopped(),
            })?;
        rx.await.map_err(|_| stopped())?
    }

    /// The writer's state: rebuilding the registry, ready, or stopped
    /// after a failure (what health checks report).
    pub fn status(&self) -> watch::Receiver<Loading> {
        self.loaded.clone()
    }

    /// Statements waiting in the queue (for metrics).
    pub fn queue_len(&self) -> usize {
        QUEUE_DEPTH - self.tx.capacity()
    }

    /// True if other servers write the same database (PostgreSQL): then
    /// reads that need one size use [`Sequencer::catch_up`] and check the
    /// stored size again afterwards instead of [`Sequencer::hold_commits`].
    pub fn shared(&self) -> bool {
        self.follower.storage.shared()
    }

    /// Reads the stored checkpoint (blocking: call from a blocking thread),
    /// publishes it if another server committed it, and returns it.
    pub fn catch_up(&self) -> Result<Arc<Published>, SequencerError> {
        self.follower.catch_up()
    }

    pub fn latest(&self) -> Arc<Published> {
        self.published.borrow().clone()
    }

    /// A receiver that sees every newly published checkpoint.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Published>> {
        self.published.clone()
    }
}
