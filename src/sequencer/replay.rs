//! Rebuilding the registry from the stored log: at every start (on the
//! writer thread, see `State::load_registry`) and by `accord reindex`.

use super::SequencerError;
use crate::core::entry::Entry;
use crate::core::registry::{Admission, Registry};
use crate::storage::Storage;

/// Leaves read per range read: 4096 × ≈ 270 B ≈ 1 MiB held at a time.
const CHUNK: u64 = 4096;

/// Rebuilds the registry by replaying the stored log (entries were verified
/// at admission, so only their registry rules are applied). `accord reindex`
/// measures this path.
pub fn rebuild_registry(storage: &dyn Storage, size: u64) -> Result<Registry, SequencerError> {
    let mut registry = Registry::new();
    for start in (0..size).step_by(CHUNK as usize) {
        let leaves = storage.leaves(start, (start + CHUNK).min(size))?;
        for (index, leaf) in (start..).zip(leaves) {
            let bad = |why: String| SequencerError::Inconsistent(format!("entry {index}: {why}"));
            let entry = Entry::from_leaf(&leaf).map_err(|e| bad(e.to_string()))?;
            match registry.apply(index, &entry.signed) {
                Ok(Admission::New) => {}
                Ok(Admission::Duplicate(i)) => return Err(bad(format!("repeats entry {i}"))),
                Err(rule) => return Err(bad(format!("breaks a registry rule: {rule}"))),
            }
        }
    }
    Ok(registry)
}

/// Registry records written per commit when storing a whole registry:
/// ≈ 3 records per organization of ≈ 150 B, so ≈ 8 MiB per batch.
const RECORDS_PER_COMMIT: usize = 50_000;

/// Replaces the stored registry with `registry`'s records (the start-up
/// rebuild of a database without them, and `accord reindex`). Returns how
/// many records were written.
pub fn store_registry(storage: &dyn Storage, registry: &Registry) -> Result<usize, SequencerError> {
    // Commit point: the old records are gone (the format marker with
    // them). A crash from here until the last batch leaves no marker, and
    // the next start rebuilds and stores the registry again.
    storage.clear_registry()?;
    let records = registry.all_records(); // the format marker last
    let count = records.len();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let chunk: Vec<_> = records.by_ref().take(RECORDS_PER_COMMIT).collect();
        // Commit point: a chunk of records; the last one holds the marker,
        // so the registry counts as stored only once all of it is.
        storage.commit(crate::storage::Batch {
            registry: chunk,
            ..Default::default()
        })?;
    }
    Ok(count)
}
