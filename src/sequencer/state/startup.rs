//! The writer's start: rebuilding the registry from the log, and checking
//! (or building) the registry map its last map head commits to.

use super::super::map;
use super::super::replay::rebuild_registry;
use super::{now_ms, Loading, Published, SequencerError, State};
use crate::core::entry::{Entry, Signed};
use crate::core::registry::Registry;
use crate::storage::Batch;
use std::sync::Arc;
use tokio::sync::watch;

impl State {
    /// Rebuilds the registry by replaying the log (≈ 5 s at 1M entries).
    /// Submissions wait in the queue meanwhile; registry queries wait on
    /// `loaded`. A log that breaks the registry rules stops the sequencer.
    /// With `published`, the checkpoint is published with the registry
    /// (building the map of an older log appends a map head).
    pub(in crate::sequencer) fn load_registry(
        &mut self,
        loaded: &watch::Sender<Loading>,
        published: Option<&watch::Sender<Arc<Published>>>,
    ) {
        let size = self.published.head.size;
        let started = std::time::Instant::now();
        let rebuilt = rebuild_registry(self.storage.as_ref(), size)
            .and_then(|mut registry| self.catch_up_map(&mut registry).map(|()| registry));
        match rebuilt {
            Ok(registry) => {
                let mut shared = self.registry.write().expect("registry lock poisoned");
                *shared = registry;
                if let Some(p) = published {
                    p.send_replace(self.published.clone());
                }
                drop(shared);
                loaded.send_replace(Loading::Ready);
                // Operators (and BENCHMARKS.md) see when submissions and
                // registry queries are answered; a closed stdout is fine.
                tracing::info!(
                    "registry rebuilt from {size} entries in {:.2} s: accepting submissions",
                    started.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                let why = format!("the registry cannot be rebuilt from the log: {e}");
                tracing::error!("{why}");
                self.failed = Some(why.clone());
                loaded.send_replace(Loading::Failed(why));
            }
        }
    }

    /// Checks that the stored map is the one the log's last map head
    /// commits to. A log written before map heads existed (its last entry
    /// is not one) gets its map built from the registry and a map head
    /// appended, in one commit, so from then on every checkpoint ends in one.
    fn catch_up_map(&mut self, registry: &mut Registry) -> Result<(), SequencerError> {
        let size = self.published.head.size;
        let Some(last) = size.checked_sub(1) else {
            return Ok(()); // an empty log has no map yet
        };
        let bad = SequencerError::Inconsistent;
        let leaf =
            (self.storage.leaf(last)?).ok_or_else(|| bad(format!("leaf {last} is missing")))?;
        let entry = Entry::from_leaf(&leaf).map_err(|e| bad(format!("leaf {last}: {e}")))?;
        if let Signed::MapHead(head) = entry.signed {
            let stored = map::stored_root(self.storage.as_ref(), size)?;
            if stored == head.root {
                return Ok(());
            }
            if stored != crate::core::map::empty_hash() {
                return Err(bad(format!(
                    "the stored registry map (root {}) is not the one the map head at entry {last} commits to (root {}); `accord reindex` (server stopped) clears it, and the next start rebuilds it from the log",
                    hex::encode(stored),
                    hex::encode(head.root)
                )));
            }
            // No map stored (a database restored from its entries, e.g. by
            // `accord restore`): build it, and it must give the log's root.
            let values = map::values_of(registry, registry.map_keys()).map_err(bad)?;
            let (root, records) = map::update(self.storage.as_ref(), size, size, &values)?;
            if root != head.root {
                return Err(bad(format!(
                    "the registry of entries 0..{last} has map root {}, but the map head at entry {last} says {}",
                    hex::encode(root),
                    hex::encode(head.root)
                )));
            }
            // Commit point: the map records alone. A crash before leaves
            // no map, and the next start builds it again.
            self.storage.commit(Batch {
                map: records,
                ..Batch::default()
            })?;
            tracing::info!("registry map rebuilt from the log: {} keys", values.len());
            return Ok(());
        }
        let started = std::time::Instant::now();
        let values = map::values_of(registry, registry.map_keys()).map_err(bad)?;
        let now = now_ms().max(self.last_time_ms);
        let mut batch = Batch::default();
        let (index, head) = self.seal(&mut batch, now, &values)?;
        // Commit point: the map and its head, as one batch. A crash before
        // leaves the log as it was, and the next start builds the map again.
        self.commit(batch, now)?;
        registry
            .apply(index, &Signed::MapHead(head))
            .map_err(|e| bad(e.to_string()))?;
        tracing::info!(
            "registry map built for a log from before map heads: {} keys, map head at entry {index}, {:.2} s",
            values.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}
