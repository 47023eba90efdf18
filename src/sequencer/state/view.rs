//! The writer's view of the stored log — its Merkle frontier, last leaf and
//! checkpoint — loaded and checked at start, and loaded again when another
//! server sharing the database has committed since (PostgreSQL).

use super::super::{Published, SequencerError};
use super::State;
use crate::core::entry::{Entry, GENESIS_PREV};
use crate::core::frontier::Frontier;
use crate::core::merkle::{self, NodeSource};
use crate::core::note::Verifier;
use crate::core::Hash;
use crate::storage::{LogMeta, Nodes, Storage};
use std::sync::Arc;

/// What the writer must know of the stored log to extend it.
pub(super) struct View {
    pub frontier: Frontier,
    pub last_leaf_hash: Hash,
    pub last_time_ms: u64,
    pub published: Arc<Published>,
}

/// Refuses a database that holds another log.
pub(super) fn same_log(
    meta: &LogMeta,
    origin: &str,
    verifier: &Verifier,
) -> Result<(), SequencerError> {
    if meta.origin != origin || meta.vkey != verifier.to_string() {
        return Err(SequencerError::WrongLog(format!(
            "it holds log {:?} with key {}, but this server has log {origin:?} with key {verifier}",
            meta.origin, meta.vkey
        )));
    }
    Ok(())
}

/// Loads the view of the log `meta` describes, checking that the stored
/// tree reproduces its signed checkpoint, that the last leaf is the tree's,
/// and that nothing lies beyond it. For a shared database, call it holding
/// the write lock (`Storage::begin_write`), so no commit lands in between.
pub(super) fn load(
    storage: &dyn Storage,
    verifier: &Verifier,
    meta: LogMeta,
) -> Result<View, SequencerError> {
    let bad = SequencerError::Inconsistent;
    let size = meta.size;
    let published = super::super::follow::stored_checkpoint(meta, verifier)?;
    let nodes = Nodes(storage);
    let frontier = Frontier::load(size, &nodes)?;
    if frontier.root() != published.head.root {
        return Err(bad(
            "the stored tree's root differs from the signed checkpoint".into(),
        ));
    }
    let (last_leaf_hash, last_time_ms) = match size.checked_sub(1) {
        None => (GENESIS_PREV, 0),
        Some(last) => {
            let leaf = storage
                .leaf(last)?
                .ok_or_else(|| bad(format!("leaf {last} is missing")))?;
            let entry = Entry::from_leaf(&leaf).map_err(|e| bad(format!("leaf {last}: {e}")))?;
            let hash = merkle::leaf_hash(&leaf);
            if hash != nodes.node(0, last)? || entry.index != last {
                return Err(bad(format!("leaf {last} does not match the tree")));
            }
            (hash, entry.integrated_at_ms)
        }
    };
    if storage.leaf(size)?.is_some() {
        return Err(bad(format!(
            "a leaf exists beyond the checkpoint, at index {size}"
        )));
    }
    Ok(View {
        frontier,
        last_leaf_hash,
        last_time_ms,
        published: Arc::new(published),
    })
}

impl State {
    pub(super) fn set_view(&mut self, view: View) {
        self.frontier = view.frontier;
        self.last_leaf_hash = view.last_leaf_hash;
        // Another server's clock may be ahead of ours: integration times
        // stay non-decreasing along the log because each batch starts from
        // the last stored entry's time (`append` takes the max).
        self.last_time_ms = view.last_time_ms;
        self.published = view.published;
    }

    /// With the write lock held (`stored` is the locked size): loads the
    /// view again if another server committed since this one last looked,
    /// or if this one's last batch failed part-way (its in-memory view may
    /// be ahead of what was stored). Returns true if it loaded.
    pub(super) fn sync(&mut self, stored: Option<u64>) -> Result<bool, SequencerError> {
        let bad = SequencerError::Inconsistent;
        let Some(size) = stored else {
            return Err(bad("the shared database holds no log any more".into()));
        };
        let mine = self.published.head.size;
        if size < mine {
            return Err(bad(format!(
                "the stored log has {size} entries, fewer than the {mine} this server published: was the database restored from an older backup?"
            )));
        }
        if size == mine && !self.dirty {
            return Ok(false);
        }
        let meta = self
            .storage
            .meta()?
            .ok_or_else(|| bad("the log's state row is gone".into()))?;
        same_log(&meta, &self.signer.name, &self.signer.verifier())?;
        let view = load(self.storage.as_ref(), &self.signer.verifier(), meta)?;
        self.set_view(view);
        self.shallow.clear(); // another server may have rewritten them
        self.dirty = false;
        Ok(true)
    }
}
