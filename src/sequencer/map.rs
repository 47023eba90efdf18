//! The registry map on the writer's side: what a batch sets in the map,
//! and bringing the map up to date at start-up.

use crate::core::map::Position;
use crate::core::map_batch::set_batch;
use crate::core::map_versions::{MapAt, MapRecord, RecordSource};
use crate::core::registry::{MapKey, Registry};
use crate::core::{sha256, Hash};
use crate::storage::{Records, Storage, StorageError};

/// `(key, value)` pairs to set in the map.
pub(super) type Values = Vec<(MapKey, Vec<u8>)>;

/// What setting values in the map gives: the new root, the records to
/// commit, and the `(key hash, value hash)` pairs set (`Batch::map_set`).
pub(super) type Updated = (Hash, Vec<(Position, MapRecord)>, Vec<(Hash, Hash)>);

/// Sets `values` over the map as stored at tree size `size`: the new root,
/// the records to commit at tree size `version` (keeping the content
/// they replace where other servers read meanwhile: `shared`), the pairs.
pub(super) fn update(
    records: &impl RecordSource<Error = StorageError>,
    size: u64,
    version: u64,
    values: &Values,
    shared: bool,
) -> Result<Updated, StorageError> {
    let pairs: Vec<(Hash, Hash)> = (values.iter())
        .map(|(key, value)| (key.hash(), sha256(value)))
        .collect();
    let map = MapAt::new(records, size);
    let (root, writes) = set_batch(&map, &pairs)?;
    let records = map.records_for(version, writes, shared)?;
    Ok((root, records, pairs))
}

/// The values of `keys` in `registry` (every key a statement changed has
/// one after it: the map never deletes).
pub(super) fn values_of(registry: &Registry, keys: Vec<MapKey>) -> Result<Values, String> {
    let mut keys = keys;
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| match registry.map_value(&key) {
            Some(value) => Ok((key, value)),
            None => Err(format!("no value for changed map key {key:?}")),
        })
        .collect()
}

/// The root of the map stored at tree size `size`.
pub fn stored_root(storage: &dyn Storage, size: u64) -> Result<Hash, StorageError> {
    use crate::core::map::MapSource;
    let records = Records(storage);
    Ok(MapAt::new(&records, size).map_node(&Position::ROOT)?.hash())
}

/// The whole map of `registry` (the registry of entries `0..size`) as
/// stored at tree size `size`: its root, the records to commit and the
/// pairs set, for a
/// database that has the log's entries but no map yet (`accord migrate`,
/// and a start after `accord reindex` cleared it). The caller checks the
/// root against the log's last map head before committing.
pub fn build(
    storage: &dyn Storage,
    registry: &Registry,
    size: u64,
) -> Result<Updated, crate::sequencer::SequencerError> {
    let values = values_of(registry, registry.map_keys())
        .map_err(crate::sequencer::SequencerError::Inconsistent)?;
    Ok(update(
        &Records(storage),
        size,
        size,
        &values,
        storage.shared(),
    )?)
}
