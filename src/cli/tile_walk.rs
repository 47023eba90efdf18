//! Walking a log's tiles from one size to a signed checkpoint's: the
//! common core of `accord mirror` and `accord audit --tiles`. It fetches
//! the entry bundles in order (several in flight), hands the new leaves on,
//! recomputes every hash tile of the grown tree from them (`core::tile_tree`)
//! and, when asked, compares each with the server's. Whatever it passes on
//! has been checked to hash to the checkpoint's root by the time `walk`
//! returns `Ok` — callers commit nothing before that.

use super::tiles_reader::TilesReader;
use super::{exit, CliError};
use crate::core::merkle::leaf_hash;
use crate::core::tile_tree::{entry_bundle, Tiler};
use crate::core::tiles::{unbundle, Tile, WIDTH};
use crate::core::Hash;
use std::collections::VecDeque;

/// Bundles fetched at once: hides the round trip behind hashing/verifying.
const IN_FLIGHT: usize = 8;
/// Server hash tiles being compared at once.
const COMPARING: usize = 16;

/// Where checked bundles and computed tiles go (the mirror's directory).
pub trait Sink: Send {
    fn put(&mut self, tile: Tile, bytes: &[u8]) -> Result<(), CliError>;
}

/// What to walk.
pub struct Walk {
    pub reader: TilesReader,
    /// The tree so far, resumed (and checked against its root) by the caller.
    pub tiler: Tiler,
    /// The signed checkpoint's size and root.
    pub size: u64,
    pub root: Hash,
    /// Compare every hash tile of the new region with the server's.
    pub compare: bool,
}

/// Counts of one walk.
#[derive(Debug, Default, Clone, Copy)]
pub struct Walked {
    pub entries: u64,
    pub bundles: u64,
    pub hash_tiles: u64,
}

fn bad(msg: String) -> CliError {
    CliError::new(exit::VERIFY_FAILED, msg)
}

/// Walks to `w.size`; `leaves` receives the new leaves in order, a bundle
/// at a time (`None`: nobody listens); `sink` every bundle and hash tile.
pub async fn walk(
    mut w: Walk,
    leaves: Option<tokio::sync::mpsc::Sender<Vec<Vec<u8>>>>,
    mut sink: Option<&mut dyn Sink>,
) -> Result<Walked, CliError> {
    let start = w.tiler.size();
    let mut done = Walked::default();
    // The level-0 hashes of the first bundle's entries below `start`,
    // verified with the resumed tree: a bundle must agree with them.
    let seen: Vec<u8> = (w.tiler.partial().first())
        .filter(|(t, _)| t.merkle_level() == 0)
        .map(|(_, b)| b.to_vec())
        .unwrap_or_default();
    let mut comparing = VecDeque::new();
    let mut in_flight = VecDeque::new();
    let mut next = start / WIDTH;
    loop {
        while in_flight.len() < IN_FLIGHT {
            let Some(tile) = entry_bundle(next, w.size) else {
                break;
            };
            let reader = w.reader.clone();
            in_flight.push_back((tile, tokio::spawn(async move { reader.tile(tile).await })));
            next += 1;
        }
        let Some((tile, fetch)) = in_flight.pop_front() else {
            break;
        };
        let bytes = fetch
            .await
            .map_err(|e| CliError::new(exit::SERVER, format!("fetch task failed: {e}")))??;
        let entries = unbundle(&bytes).map_err(|e| bad(format!("{tile}: {e}")))?;
        if entries.len() != usize::from(tile.width) {
            return Err(bad(format!(
                "{tile}: {} entries, want {}",
                entries.len(),
                tile.width
            )));
        }
        let (first, _) = tile.range();
        let mut new = Vec::with_capacity(entries.len());
        for (i, leaf) in entries.into_iter().enumerate() {
            let index = first + i as u64;
            let hash = leaf_hash(leaf);
            if index < start {
                let j = i * 32;
                if seen.get(j..j + 32) != Some(&hash[..]) {
                    return Err(bad(format!(
                        "{tile}: entry {index} differs from the one under the tree of size {start} (verified before)"
                    )));
                }
                continue;
            }
            let mut full = Vec::new();
            w.tiler.push(hash, |t, b| full.push((t, b)));
            for (t, b) in full {
                settle(&w, &mut comparing, &mut sink, t, b, &mut done).await?;
            }
            new.push(leaf.to_vec());
        }
        if let Some(s) = sink.as_deref_mut() {
            s.put(tile, &bytes)?;
        }
        done.bundles += 1;
        done.entries += new.len() as u64;
        if let Some(tx) = &leaves {
            if tx.send(new).await.is_err() {
                break; // the consumer stopped on an error; it reports it
            }
        }
    }
    if leaves.as_ref().is_none_or(|tx| !tx.is_closed()) && w.tiler.root() != w.root {
        return Err(bad(format!(
            "the entries served do not hash to the signed checkpoint's root (tree size {})",
            w.size
        )));
    }
    let partial: Vec<(Tile, Vec<u8>)> = (w.tiler.partial().into_iter())
        .map(|(t, b)| (t, b.to_vec()))
        .collect();
    for (t, b) in partial {
        settle(&w, &mut comparing, &mut sink, t, b, &mut done).await?;
    }
    while let Some(c) = comparing.pop_front() {
        joined(c).await?;
    }
    Ok(done)
}

type Comparison = tokio::task::JoinHandle<Result<(), CliError>>;

async fn joined(c: Comparison) -> Result<(), CliError> {
    c.await
        .map_err(|e| CliError::new(exit::SERVER, format!("compare task failed: {e}")))?
}

/// A hash tile computed from checked entries: compared with the server's
/// (in the background, at most [`COMPARING`] at once), then stored.
async fn settle(
    w: &Walk,
    comparing: &mut VecDeque<Comparison>,
    sink: &mut Option<&mut dyn Sink>,
    tile: Tile,
    bytes: Vec<u8>,
    done: &mut Walked,
) -> Result<(), CliError> {
    if let Some(s) = sink.as_deref_mut() {
        s.put(tile, &bytes)?;
    }
    done.hash_tiles += 1;
    if w.compare {
        if comparing.len() >= COMPARING {
            joined(comparing.pop_front().expect("non-empty")).await?;
        }
        let reader = w.reader.clone();
        comparing.push_back(tokio::spawn(async move {
            let served = reader.tile(tile).await?;
            if served != bytes {
                return Err(bad(format!(
                    "{}/{tile} differs from the tile computed from the log's entries",
                    reader.base()
                )));
            }
            Ok(())
        }));
    }
    Ok(())
}
