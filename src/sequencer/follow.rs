//! Following other servers that share the database (PostgreSQL): every
//! server publishes the latest stored checkpoint within [`REFRESH_EVERY`]
//! of its commit, whoever committed it, and reports the database's
//! reachability to health checks.

use super::{Loading, Published, SequencerError};
use crate::core::checkpoint::Checkpoint;
use crate::core::note::Verifier;
use crate::storage::Storage;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often a server reads the stored size. SPEC promises that a read on
/// any server reflects every commit acknowledged at least 100 ms earlier:
/// half that, so one slow read (a round trip of a few ms) still keeps it.
pub const REFRESH_EVERY: Duration = Duration::from_millis(50);

/// Publishes `p` unless an equal or newer checkpoint is already out: the
/// writer and the refresher both publish, and readers must never see the
/// log go back.
pub(super) fn publish(tx: &watch::Sender<Arc<Published>>, p: Arc<Published>) {
    tx.send_if_modified(|current| {
        let newer = p.head.size > current.head.size
            || (p.head.size == current.head.size && p.checkpoint != current.checkpoint);
        if newer {
            *current = p;
        }
        newer
    });
}

/// The stored checkpoint of `meta`, checked: signed by the log key, and of
/// the size the database records (what the writer loads and followers
/// publish).
pub(super) fn stored_checkpoint(
    meta: crate::storage::LogMeta,
    verifier: &Verifier,
) -> Result<Published, SequencerError> {
    let bad = SequencerError::Inconsistent;
    let cp = Checkpoint::open(&meta.checkpoint, verifier)
        .map_err(|e| bad(format!("stored checkpoint: {e}")))?;
    if cp.head.size != meta.size {
        return Err(bad(format!(
            "checkpoint size {} but log size {}",
            cp.head.size, meta.size
        )));
    }
    Ok(Published {
        head: cp.head,
        checkpoint: meta.checkpoint,
    })
}

/// What reads the stored checkpoint and publishes it.
#[derive(Clone)]
pub(super) struct Follower {
    pub storage: Arc<dyn Storage>,
    pub verifier: Verifier,
    pub published: Arc<watch::Sender<Arc<Published>>>,
}

impl Follower {
    /// Reads the stored checkpoint, publishes it if it is newer than the
    /// published one, and returns it.
    pub fn catch_up(&self) -> Result<Arc<Published>, SequencerError> {
        let bad = SequencerError::Inconsistent;
        // Read what is published first: the database only grows, so what
        // is stored afterwards is at least as large.
        let latest = self.published.borrow().clone();
        let meta = (self.storage.meta()?).ok_or_else(|| bad("the database holds no log".into()))?;
        if meta.size == latest.head.size && meta.checkpoint == latest.checkpoint {
            return Ok(latest);
        }
        if meta.size < latest.head.size {
            return Err(bad(format!(
                "the stored log has {} entries, fewer than the {} published: was the database restored from an older backup?",
                meta.size, latest.head.size
            )));
        }
        let p = Arc::new(stored_checkpoint(meta, &self.verifier)?);
        publish(&self.published, p.clone());
        Ok(p)
    }

    /// The refresher's body, on a thread of its own: catch up every
    /// [`REFRESH_EVERY`]; while the database cannot be read, health says
    /// NOT_SERVING ([`Loading::Unreachable`]), and SERVING again once it
    /// answers. Returns when the server has dropped every handle.
    pub fn run(self, loaded: Arc<watch::Sender<Loading>>) {
        while !self.published.is_closed() {
            std::thread::sleep(REFRESH_EVERY);
            match self.catch_up() {
                Ok(_) => {
                    loaded.send_if_modified(|l| {
                        let back = matches!(l, Loading::Unreachable(_));
                        if back {
                            tracing::info!("the database answers again: serving");
                            *l = Loading::Ready;
                        }
                        back
                    });
                }
                Err(SequencerError::Storage(e)) if e.transient() => {
                    loaded.send_if_modified(|l| {
                        let lost = *l == Loading::Ready;
                        if lost {
                            tracing::warn!("the database is out of reach ({e}): not serving");
                            *l = Loading::Unreachable(format!("the database is out of reach: {e}"));
                        }
                        lost
                    });
                }
                Err(e) => tracing::error!("cannot follow the stored log: {e}"),
            }
        }
    }
}
