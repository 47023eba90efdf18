//! An in-memory [`Storage`] for tests: same contract as the local store, no disk. Tests
//! also use it to inject faults (`tamper_leaf`) under a real server.

use super::{Batch, LogMeta, Storage, StorageError, StoredCosigned};
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::core::registry::Rows;
use crate::core::Hash;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
struct State {
    meta: Option<LogMeta>,
    leaves: HashMap<u64, Vec<u8>>,
    nodes: HashMap<(u32, u64), Hash>,
    leaf_hashes: HashMap<Hash, u64>,
    map: HashMap<Position, MapRecord>,
    registry: BTreeMap<Vec<u8>, Vec<u8>>,
    cosigned: Option<StoredCosigned>,
}

#[derive(Default)]
pub struct MemoryStorage {
    state: Mutex<State>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces stored leaf bytes without touching the tree: a storage fault
    /// that auditors must detect.
    pub fn tamper_leaf(&self, index: u64, leaf: Vec<u8>) {
        self.state
            .lock()
            .expect("poisoned")
            .leaves
            .insert(index, leaf);
    }
}

impl MemoryStorage {
    /// Replaces a stored Merkle node: proofs served from it go wrong while
    /// the signed checkpoints stay as they were.
    pub fn tamper_node(&self, level: u32, index: u64, hash: Hash) {
        self.state
            .lock()
            .expect("poisoned")
            .nodes
            .insert((level, index), hash);
    }
}

impl Storage for MemoryStorage {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        Ok(self.state.lock().expect("poisoned").meta.clone())
    }

    fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        // One lock for the whole batch: atomic for readers.
        let mut s = self.state.lock().expect("poisoned");
        s.leaves.extend(batch.leaves);
        for n in batch.nodes {
            s.nodes.insert((n.level, n.index), n.hash);
            if n.level == 0 {
                s.leaf_hashes.insert(n.hash, n.index);
            }
        }
        s.map.extend(batch.map);
        for (key, value) in batch.registry {
            match value {
                Some(v) => s.registry.insert(key, v),
                None => s.registry.remove(&key),
            };
        }
        if batch.meta.is_some() {
            s.meta = batch.meta;
        }
        Ok(())
    }

    fn cosigned(&self) -> Result<Option<StoredCosigned>, StorageError> {
        Ok(self.state.lock().expect("poisoned").cosigned.clone())
    }

    fn store_cosigned(&self, c: &StoredCosigned) -> Result<bool, StorageError> {
        let mut s = self.state.lock().expect("poisoned");
        if s.cosigned.as_ref().is_some_and(|old| old.size > c.size) {
            return Ok(false);
        }
        s.cosigned = Some(c.clone());
        Ok(true)
    }

    fn map_record(&self, position: &Position) -> Result<Option<MapRecord>, StorageError> {
        Ok(self
            .state
            .lock()
            .expect("poisoned")
            .map
            .get(position)
            .cloned())
    }

    fn registry_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .state
            .lock()
            .expect("poisoned")
            .registry
            .get(key)
            .cloned())
    }

    fn registry_scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Rows, StorageError> {
        let s = self.state.lock().expect("poisoned");
        let rows = s.registry.range(from.to_vec()..);
        Ok(rows
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn clear_registry(&self) -> Result<u64, StorageError> {
        let mut s = self.state.lock().expect("poisoned");
        let removed = s.registry.len() as u64;
        s.registry.clear();
        Ok(removed)
    }

    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .state
            .lock()
            .expect("poisoned")
            .leaves
            .get(&index)
            .cloned())
    }

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        Ok(self
            .state
            .lock()
            .expect("poisoned")
            .nodes
            .get(&(level, index))
            .copied())
    }

    fn find_leaf_hash(&self, h: &Hash) -> Result<Option<u64>, StorageError> {
        Ok(self
            .state
            .lock()
            .expect("poisoned")
            .leaf_hashes
            .get(h)
            .copied())
    }
}
