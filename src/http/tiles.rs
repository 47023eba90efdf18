//! Reading a tile or an entry bundle from storage, at the published size.

use super::HttpError;
use crate::core::merkle;
use crate::core::tiles::{bundle, Kind, Tile};
use crate::service::reader::Reader;
use crate::storage::StorageError;

/// The bytes of `tile`, if the published tree has all of it (else 404:
/// a size not reached yet, or a level the tree does not have).
pub fn read(reader: &Reader, tile: Tile) -> Result<Vec<u8>, HttpError> {
    let size = reader.latest().head.size;
    if !tile.within(size) {
        return Err(HttpError::NotFound(format!(
            "{tile} is not part of the tree of size {size}"
        )));
    }
    let (start, end) = tile.range();
    let storage = reader.storage.as_ref();
    Ok(match tile.kind {
        // One range read of the leaves for both (leaf hashes are not stored).
        Kind::Entries => bundle(&storage.leaves(start, end)?)
            .map_err(|e| StorageError::Corrupt(format!("{tile}: {e}")))?,
        Kind::Hashes(0) => (storage.leaves(start, end)?.iter())
            .flat_map(|leaf| merkle::leaf_hash(leaf))
            .collect(),
        Kind::Hashes(_) => {
            let level = tile.merkle_level();
            let mut out = Vec::with_capacity(32 * (end - start) as usize);
            for i in start..end {
                let node = storage.node(level, i)?.ok_or_else(|| {
                    StorageError::Corrupt(format!("Merkle node ({level}, {i}) is missing"))
                })?;
                out.extend_from_slice(&node);
            }
            out
        }
    })
}

/// A gzip member of `bytes` at the fastest level: entry bundles shrink to
/// about a third, for ≈ 1 ms of CPU per full bundle.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::fast(),
    );
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}
