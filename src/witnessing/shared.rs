//! What witnessing shares through storage: the lease (one server at a time
//! runs rounds when several share a database) and the latest cosigned
//! checkpoint (stored by the server whose round reached the quorum, served
//! by every server, and by a restarted one at once).

use super::Cosigned;
use crate::core::checkpoint::Checkpoint;
use crate::core::merkle;
use crate::core::policy::Policy;
use crate::sequencer::Published;
use crate::storage::{Nodes, Storage, StorageError, StoredCosigned};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a lease lasts unless renewed (by the database's clock). A
/// holder that died is replaced within `LEASE` + [`TAKE_EVERY`].
pub(super) const LEASE: Duration = Duration::from_secs(20);
/// How much sooner than the database the holder considers its lease over:
/// covers the database's clock running ahead of the holder's (an NTP
/// step; on CockroachDB or YugabyteDB, nodes' clocks differ by up to their
/// maximum offset, 500 ms by default) and the request's own latency.
const MARGIN: Duration = Duration::from_secs(3);
/// The longest round: a witness gets at most two requests of
/// `REQUEST_TIMEOUT` (5 s) each (the second after a 409), the witnesses in
/// parallel: 10 s, plus time for the proofs' reads. A round is also cut
/// where the lease (less [`MARGIN`]) ends, so it never outlives it.
pub(super) const ROUND_BUDGET: Duration = Duration::from_secs(12);
/// `LEASE - MARGIN - ROUND_BUDGET`: renewed this often, the lease always
/// has a whole round's budget left.
pub(super) const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How often a server without the lease tries to take it.
pub(super) const TAKE_EVERY: Duration = Duration::from_secs(1);

/// This server's side of the lease.
pub(super) struct Lease {
    storage: Arc<dyn Storage>,
    /// Random per server run: a restarted server does not inherit its
    /// previous run's lease.
    holder: String,
    /// Until when (by this server's monotonic clock) the lease is ours:
    /// measured from before the request, less [`MARGIN`], so before the
    /// database's expiry.
    until: Option<Instant>,
    /// When it was last taken, renewed or tried.
    tried: Option<Instant>,
    /// Taken at least once (then released at the end, even if a renewal
    /// failed since: the row may still be ours).
    ever: bool,
}

impl Lease {
    pub fn new(storage: Arc<dyn Storage>) -> Lease {
        let mut id = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        Lease {
            storage,
            holder: hex::encode(id),
            until: None,
            tried: None,
            ever: false,
        }
    }

    /// Takes or renews the lease when due; returns until when it is ours
    /// (`None`: another server holds it, or the database is out of reach).
    pub async fn ensure(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let every = if self.held(now).is_some() {
            RENEW_EVERY
        } else {
            TAKE_EVERY
        };
        if self.tried.is_none_or(|t| now.duration_since(t) >= every) {
            self.tried = Some(now);
            let (storage, holder) = (self.storage.clone(), self.holder.clone());
            let taken = blocking(move || storage.witness_lease(&holder, LEASE)).await;
            let was = self.until.is_some();
            self.until = match taken {
                Ok(true) => {
                    self.ever = true;
                    Some(now + LEASE - MARGIN)
                }
                Ok(false) => None,
                Err(e) => {
                    tracing::warn!("witness lease: {e}");
                    None
                }
            };
            if was != self.until.is_some() {
                let held = self.until.is_some();
                tracing::info!(
                    held,
                    "witness rounds {}",
                    if held { "run here" } else { "run elsewhere" }
                );
                crate::metrics::METRICS.witnessing.lease_held(held);
            }
        }
        self.held(Instant::now())
    }

    fn held(&self, now: Instant) -> Option<Instant> {
        self.until.filter(|u| *u > now)
    }

    /// Ends the lease (the server stops) so another takes over at once.
    pub async fn release(self) {
        if self.ever {
            let (storage, holder) = (self.storage, self.holder);
            if let Err(e) = blocking(move || storage.release_witness_lease(&holder)).await {
                tracing::warn!("releasing the witness lease: {e}");
            }
        }
    }
}

/// Runs a storage call on a blocking thread (the storage contract).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    (tokio::task::spawn_blocking(f).await)
        .unwrap_or_else(|e| Err(StorageError::Corrupt(format!("storage task failed: {e}"))))
}

/// Stores a cosigned checkpoint for the other servers (and a restart);
/// false if storage failed (the caller tries again).
pub(super) async fn store(storage: &Arc<dyn Storage>, c: &Cosigned, at: u64) -> bool {
    let stored = StoredCosigned {
        size: c.size,
        note: c.note.clone(),
        at,
    };
    let storage = storage.clone();
    match blocking(move || storage.store_cosigned(&stored)).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("storing the cosigned checkpoint of size {}: {e}", c.size);
            false
        }
    }
}

/// The stored cosigned checkpoint, if it is not the one served (`have`)
/// nor older, no newer than the log this server publishes, meets the
/// policy and is this log's (same origin, same root at its size). `seen`
/// is the last one examined, so one that does not qualify is examined
/// (and reported) once.
pub(super) async fn adopt(
    policy: &Policy,
    storage: &Arc<dyn Storage>,
    latest: &Published,
    have: Option<&Cosigned>,
    seen: &mut Option<StoredCosigned>,
) -> Option<(Cosigned, u64)> {
    let reader = storage.clone();
    let stored = match blocking(move || reader.cosigned()).await {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!("reading the cosigned checkpoint: {e}");
            return None;
        }
    };
    let served = have.map_or(0, |c| c.size);
    if stored.size < served || stored.size > latest.head.size {
        return None; // older, or not yet in this server's view
    }
    if have.is_some_and(|c| c.note == stored.note) || seen.as_ref() == Some(&stored) {
        return None; // served already, or examined already
    }
    *seen = Some(stored.clone());
    let origin = latest.checkpoint.lines().next().unwrap_or_default();
    let head = policy
        .verify(&stored.note)
        .map_err(|e| e.to_string())
        .and_then(|text| Checkpoint::parse(text).map_err(|e| e.to_string()))
        .and_then(
            |cp| match cp.origin == origin && cp.head.size == stored.size {
                true => Ok(cp.head),
                false => Err("not this log's checkpoint".into()),
            },
        );
    let head = match head {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(
                size = stored.size,
                "the stored cosigned checkpoint is not served: {e}"
            );
            return None;
        }
    };
    let root = if head.size == latest.head.size {
        Ok(latest.head.root)
    } else {
        let reader = storage.clone();
        blocking(move || merkle::root(head.size, &Nodes(reader.as_ref()))).await
    };
    match root {
        Ok(root) if root == head.root => Some((
            Cosigned {
                size: head.size,
                root,
                note: stored.note,
            },
            stored.at,
        )),
        Ok(_) => {
            tracing::warn!(
                size = head.size,
                "the stored cosigned checkpoint has another root than this log: not served"
            );
            None
        }
        Err(e) => {
            *seen = None; // try again
            tracing::debug!("the tree root at {}: {e}", head.size);
            None
        }
    }
}
