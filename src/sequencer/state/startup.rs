//! The writer's start: checking that the stored registry and its map are
//! those of the log, or building them from the log once (a database from
//! before the registry was stored, a restored one, or after `accord
//! reindex` cleared a map that did not match).

use super::super::map;
use super::super::replay::{rebuild_registry, store_registry};
use super::{now_ms, Loading, Publish, SequencerError, State};
use crate::core::entry::{Entry, Signed};
use crate::core::registry::{Registry, StoredRegistry};
use crate::storage::{Batch, Records};
use tokio::sync::watch;

impl State {
    /// Makes the stored registry and map ready. Normally a check of a few
    /// reads (the registry is stored, the map root is the last map head's);
    /// otherwise a rebuild from the log (≈ 10 s per million entries), while
    /// submissions wait in the queue and registry queries on `loaded`. A
    /// log that breaks the registry rules stops the sequencer. With
    /// `published`, the checkpoint is published when done (building the map
    /// of an older log appends a map head).
    pub(in crate::sequencer) fn load_registry(
        &mut self,
        loaded: &watch::Sender<Loading>,
        published: Publish,
    ) {
        let size = self.published.head.size;
        let started = std::time::Instant::now();
        let outcome = match self.stored_registry_is_current() {
            Ok(true) => Ok(false),
            // On a shared database other servers may be writing while this
            // one would rebuild, and two servers could rebuild at once: the
            // registry and its map are built before the log's state row
            // exists (`accord migrate`), or with the log's first batch.
            Ok(false) if self.storage.shared() => Err(SequencerError::Inconsistent(
                "the database holds a log without its complete registry and map (an interrupted `accord migrate`?): migrate again into a new database".into(),
            )),
            Ok(false) => self.rebuild(published).map(|()| true),
            Err(e) => Err(e),
        };
        // The lock `State::open` took on a shared database (a no-op
        // otherwise, or if a rebuild's commit released it).
        self.storage.end_write();
        match outcome {
            Ok(rebuilt) => {
                if let Some(p) = published {
                    super::super::publish(p, self.published.clone());
                }
                loaded.send_replace(Loading::Ready);
                // Operators (and BENCHMARKS.md) see when submissions and
                // registry queries are answered; a closed stdout is fine.
                let secs = started.elapsed().as_secs_f64();
                if rebuilt {
                    tracing::info!("registry rebuilt from {size} entries and stored in {secs:.2} s: accepting submissions");
                } else {
                    tracing::info!("stored registry checked in {secs:.3} s: accepting submissions");
                }
            }
            Err(e) => {
                let why = format!("the registry cannot be loaded: {e}");
                tracing::error!("{why}");
                self.failed = Some(why.clone());
                loaded.send_replace(Loading::Failed(why));
            }
        }
    }

    /// True if the stored registry is complete and the stored map is the
    /// one the log's last entry, a map head, commits to. A map that
    /// exists but differs stops the log (`accord reindex` clears it).
    fn stored_registry_is_current(&self) -> Result<bool, SequencerError> {
        let size = self.published.head.size;
        if !StoredRegistry(Records(self.storage.as_ref())).complete()? {
            return Ok(false);
        }
        let Some(last) = size.checked_sub(1) else {
            return Ok(true); // an empty log has no map yet
        };
        let bad = SequencerError::Inconsistent;
        let leaf =
            (self.storage.leaf(last)?).ok_or_else(|| bad(format!("leaf {last} is missing")))?;
        let entry = Entry::from_leaf(&leaf).map_err(|e| bad(format!("leaf {last}: {e}")))?;
        let Signed::MapHead(head) = entry.signed else {
            return Ok(false); // a log from before map heads
        };
        let stored = map::stored_root(self.storage.as_ref(), size)?;
        if stored == head.root {
            return Ok(true);
        }
        if stored != crate::core::map::empty_hash() {
            return Err(bad(format!(
                "the stored registry map (root {}) is not the one the map head at entry {last} commits to (root {}); `accord reindex` (server stopped) clears it, and the next start rebuilds it from the log",
                hex::encode(stored),
                hex::encode(head.root)
            )));
        }
        Ok(false) // no map stored: a database restored from its entries
    }

    /// Replays the log, brings the map up to date with it, and stores the
    /// registry's records.
    fn rebuild(&mut self, published: Publish) -> Result<(), SequencerError> {
        let size = self.published.head.size;
        let mut registry = rebuild_registry(self.storage.as_ref(), size)?;
        self.catch_up_map(&mut registry, published)?;
        let records = store_registry(self.storage.as_ref(), &registry)?;
        tracing::info!("registry stored: {records} records");
        Ok(())
    }

    /// Makes the stored map the one the log's last map head commits to. A
    /// log written before map heads existed (its last entry is not one)
    /// gets its map built from the registry and a map head appended, in one
    /// commit, so from then on every checkpoint ends in one.
    fn catch_up_map(
        &mut self,
        registry: &mut Registry,
        published: Publish,
    ) -> Result<(), SequencerError> {
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
            // No map stored (checked by `stored_registry_is_current`): build
            // it, and it must give the log's root.
            let (root, records, _) = map::build(self.storage.as_ref(), registry, size)?;
            if root != head.root {
                return Err(bad(format!(
                    "the registry of entries 0..{last} has map root {}, but the map head at entry {last} says {}",
                    hex::encode(root),
                    hex::encode(head.root)
                )));
            }
            // Commit point: the map records alone. A crash before leaves
            // no map, and the next start builds it again.
            let records_len = records.len();
            self.storage.commit(Batch {
                map: records,
                ..Batch::default()
            })?;
            tracing::info!("registry map rebuilt from the log: {} tiles", records_len);
            return Ok(());
        }
        let started = std::time::Instant::now();
        let values = map::values_of(registry, registry.map_keys()).map_err(bad)?;
        let now = now_ms().max(self.last_time_ms);
        let mut batch = Batch::default();
        let storage = self.storage.clone();
        let (index, head) = self.seal(&mut batch, now, &values, &Records(storage.as_ref()))?;
        // Commit point: the map and its head, as one batch. A crash before
        // leaves the log as it was, and the next start builds the map again.
        self.commit(batch, now, published)?;
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
