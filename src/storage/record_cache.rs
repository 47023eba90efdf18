//! A bounded cache of registry records (present or absent) in front of
//! the local store, for the reads that answer queries (issue 14).
//!
//! Why: a page of `ListSignatories` reads about five records per row (the
//! organization, its signatory record, the name keys its flags depend
//! on); from the store each costs a tree descent and a page decode (measured ≈ 2–4 µs with sled)
//! at 1M organizations, so a first page of 100 rows took ≈ 1.2 ms. The
//! records a public listing shows are few and read again and again.
//!
//! Bounded by bytes, in two generations (an approximate LRU without
//! per-read bookkeeping): hits in the old generation move to the young
//! one; when the young one exceeds half the budget, it becomes the old
//! one and the old one is dropped.
//!
//! Coherence with commits: `commit` calls [`RecordCache::invalidate`]
//! with the keys it wrote, right after the store applied them (or failed to).
//! A reader whose [`RecordCache::get`] missed gets a stamp, reads the store,
//! and [`RecordCache::fill`]s only if no commit invalidated anything since
//! the stamp: a value read before a commit can never be cached after it.
//! Readers that need one consistent size hold off commits anyway
//! (`Sequencer::hold_commits`). The writer's own reads do not pass here
//! (`Storage::registry_records`): its lookups of new organizations would
//! fill the cache with absences nobody asks about again.

use crate::core::map::FastMap;
use std::sync::{Arc, Mutex};

/// Bytes of records kept (counted: key, value and [`OVERHEAD`] each;
/// hash tables' spare capacity comes on top): about 60,000 records of
/// ≈ 100–300 bytes, the rows of ≈ 12,000 listed organizations.
pub const RECORD_CACHE_BYTES: usize = 16 << 20;
/// Larger records are not cached (an organization's record grows with its
/// entries): one of them would push out hundreds of others.
const MAX_VALUE: usize = 64 << 10;
/// Bookkeeping bytes counted per cached record (hash table slot, two
/// allocations' headers, the `Arc`'s counts).
const OVERHEAD: usize = 80;

type Value = Option<Arc<[u8]>>;

#[derive(Default)]
struct Inner {
    /// Commits that invalidated something (see the module doc).
    commits: u64,
    // foldhash, randomly seeded like std's SipHash and several times
    // cheaper on these 33–80-byte keys (a first page of ListSignatories
    // looks up ≈ 300 of them; its profile showed SipHash at 2.5 %). It is
    // weaker against keys chosen to collide, but the cache is bounded, so
    // the worst an attacker gets is slower lookups in it.
    young: FastMap<Vec<u8>, Value>,
    young_bytes: usize,
    old: FastMap<Vec<u8>, Value>,
}

pub struct RecordCache {
    inner: Mutex<Inner>,
    budget: usize,
}

fn cost(key: &[u8], value: &Value) -> usize {
    key.len() + value.as_ref().map_or(0, |v| v.len()) + OVERHEAD
}

impl RecordCache {
    pub fn new(budget: usize) -> Self {
        RecordCache {
            inner: Mutex::default(),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached record under `key`: `Ok(Some(value))` or `Ok(None)`
    /// (known absent); on a miss, `Err(stamp)` for [`RecordCache::fill`],
    /// taken before the caller reads the store.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, u64> {
        let hit = {
            let mut inner = self.lock();
            match inner.young.get(key) {
                Some(v) => v.clone(),
                None => match inner.old.remove(key) {
                    Some(v) => {
                        insert(&mut inner, self.budget, key.to_vec(), v.clone());
                        v
                    }
                    None => return Err(inner.commits),
                },
            }
        };
        // Copied outside the lock.
        Ok(hit.as_deref().map(<[u8]>::to_vec))
    }

    /// Caches what a reader read from the store after [`RecordCache::get`]
    /// missed with `stamp`, unless a commit invalidated anything since.
    pub fn fill(&self, stamp: u64, key: &[u8], value: Option<&[u8]>) {
        if value.is_some_and(|v| v.len() > MAX_VALUE) {
            return;
        }
        let value: Value = value.map(Arc::from);
        let key = key.to_vec();
        let mut inner = self.lock();
        if inner.commits == stamp {
            insert(&mut inner, self.budget, key, value);
        }
    }

    /// Forgets everything (the registry was cleared).
    pub fn invalidate_all(&self) {
        let mut inner = self.lock();
        *inner = Inner {
            commits: inner.commits + 1,
            ..Inner::default()
        };
    }

    /// Forgets `keys` (a commit wrote them).
    pub fn invalidate<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        let mut inner = self.lock();
        inner.commits += 1;
        for key in keys {
            if let Some(v) = inner.young.remove(key) {
                inner.young_bytes -= cost(key, &v);
            }
            inner.old.remove(key);
        }
    }
}

fn insert(inner: &mut Inner, budget: usize, key: Vec<u8>, value: Value) {
    let c = cost(&key, &value);
    let key_len = key.len();
    if let Some(old) = inner.young.insert(key, value) {
        inner.young_bytes -= key_len + old.as_ref().map_or(0, |v| v.len()) + OVERHEAD;
    }
    inner.young_bytes += c;
    if inner.young_bytes > budget / 2 {
        inner.old = std::mem::take(&mut inner.young);
        inner.young_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_generations_and_invalidation() {
        let cache = RecordCache::new(10 * (OVERHEAD + 8));
        let stamp = cache.get(b"k0").unwrap_err();
        cache.fill(stamp, b"k0", Some(b"v0"));
        cache.fill(stamp, b"gone", None);
        assert_eq!(cache.get(b"k0"), Ok(Some(b"v0".to_vec())));
        assert_eq!(cache.get(b"gone"), Ok(None), "absence is cached");
        // A commit between a reader's miss and its fill: not cached.
        let stale = cache.get(b"k1").unwrap_err();
        cache.invalidate([&b"k0"[..], b"k1"].into_iter());
        assert!(cache.get(b"k0").is_err(), "invalidated");
        cache.fill(stale, b"k1", Some(b"old value"));
        assert!(cache.get(b"k1").is_err(), "a read from before the commit");
        // Records too large to cache are not.
        let stamp = cache.get(b"big").unwrap_err();
        cache.fill(stamp, b"big", Some(&vec![0; MAX_VALUE + 1]));
        assert!(cache.get(b"big").is_err());
        // Bounded: filling far past the budget keeps at most about it.
        let stamp = cache.get(b"any").unwrap_err();
        for i in 0..1000u32 {
            cache.fill(stamp, &i.to_be_bytes(), Some(b"v"));
        }
        let inner = cache.lock();
        assert!(
            inner.young.len() + inner.old.len() <= 12,
            "{}",
            inner.young.len()
        );
        drop(inner);
        // The newest are kept.
        assert_eq!(cache.get(&999u32.to_be_bytes()), Ok(Some(b"v".to_vec())));
        cache.invalidate_all();
        assert!(cache.get(&999u32.to_be_bytes()).is_err(), "cleared");
    }
}
