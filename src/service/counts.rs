//! How many organizations currently endorse a commitment, by stakeholder
//! group and by UN regional group (the web page's chart). The registry
//! keeps no counters, so they are counted by walking the commitment's
//! listing, [`STEP`] rows at a time, each step holding off commits only
//! for its own reads (≈ 50 ms), and cached per commitment: a page shows
//! the latest finished count and the tree size it was finished at, and a
//! stale or missing count is recounted in the background, at most one
//! count per commitment at a time.

use super::error::ApiError;
use super::reader::Reader;
use crate::core::model::{Region, StakeholderGroup};
use crate::core::registry::{RegistryRead, Status, StoredRegistry};
use crate::storage::Records;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Listing rows per step: the bound `queries::MAX_EXAMINED` uses too.
const STEP: usize = super::queries::MAX_EXAMINED;
/// A count older than this is recounted when asked for (and shown meanwhile).
const FRESH_FOR: Duration = Duration::from_secs(60);

/// Current signatories of one commitment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// The log size when the count finished (entries after its start may
    /// or may not be counted).
    pub tree_size: u64,
    pub total: u64,
    /// By `StakeholderGroup::ALL` and `Region::ALL` order.
    pub by_group: Vec<u64>,
    pub by_region: Vec<u64>,
}

#[derive(Default)]
struct Slot {
    done: Option<(Instant, Arc<Counts>)>,
    running: bool,
}

/// The cache of counts, shared by the pages (cheap to clone).
#[derive(Clone, Default)]
pub struct CountCache(Arc<Mutex<HashMap<String, Slot>>>);

impl CountCache {
    /// The latest finished count of `commitment` (`None` before the first
    /// finishes); starts a recount when there is none or it is stale.
    pub fn get(&self, reader: &Reader, commitment: &str) -> Option<Arc<Counts>> {
        let mut all = self.0.lock().expect("count cache lock");
        let slot = all.entry(commitment.to_owned()).or_default();
        let stale = slot
            .done
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() > FRESH_FOR);
        if stale && !slot.running {
            slot.running = true;
            let (cache, reader, c) = (self.clone(), reader.clone(), commitment.to_owned());
            tokio::task::spawn_blocking(move || {
                let counted = count(&reader, &c);
                let mut all = cache.0.lock().expect("count cache lock");
                let slot = all.entry(c.clone()).or_default();
                slot.running = false;
                match counted {
                    Ok(counts) => slot.done = Some((Instant::now(), Arc::new(counts))),
                    Err(e) => tracing::warn!("counting the signatories of {c:?}: {e}"),
                }
            });
        }
        slot.done.as_ref().map(|(_, c)| c.clone())
    }
}

/// Counts the current signatories of `commitment`, step by step.
pub fn count(reader: &Reader, commitment: &str) -> Result<Counts, ApiError> {
    let mut counts = Counts {
        by_group: vec![0; StakeholderGroup::ALL.len()],
        by_region: vec![0; Region::ALL.len()],
        ..Counts::default()
    };
    let mut from = 0u64;
    loop {
        // Each step reads one size (a retried step starts from the counts
        // before it).
        let (stepped, rows) = reader.at_one_size(|reader| {
            let mut counts = counts.clone();
            let r = StoredRegistry(Records(reader.storage.as_ref()));
            let rows = r.listing(commitment, false, from, STEP)?;
            for (_, org_id) in &rows {
                let current =
                    (r.signatory(org_id, commitment)?).is_some_and(|s| s.status == Status::Current);
                let Some(org) = r.organization(org_id)? else {
                    continue;
                };
                if current {
                    counts.total += 1;
                    let g = StakeholderGroup::ALL
                        .iter()
                        .position(|g| *g == org.profile.group);
                    let p = Region::ALL.iter().position(|p| *p == org.profile.region);
                    counts.by_group[g.unwrap_or(0)] += 1;
                    counts.by_region[p.unwrap_or(0)] += 1;
                }
            }
            counts.tree_size = reader.latest().head.size;
            Ok((counts, rows))
        })?;
        counts = stepped;
        match rows.last() {
            Some((first, _)) if rows.len() == STEP => from = first + 1,
            _ => return Ok(counts),
        }
    }
}
