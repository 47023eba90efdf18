//! A bounded cache of registry records (present or absent) in front of
//! sled, for the reads that answer queries (issue 14).
//!
//! Why: a page of `ListSignatories` reads about five records per row (the
//! organization, its signatory record, the name keys its flags depend
//! on); from sled each costs a tree descent and a page decode, ≈ 2–4 µs
//! at 1M organizations, so a first page of 100 rows took ≈ 1.2 ms. The
//! records a public listing shows are few and read again and again.
//!
//! Bounded by bytes, in two generations (an approximate LRU without
//! per-read bookkeeping): hits in the old generation move to the young
//! one; when the young one exceeds half the budget, it becomes the old
//! one and the old one is dropped.
//!
//! Coherence with commits: `commit` calls [`RecordCache::invalidate`]
//! with the keys it wrote, right after sled applied them. A reader that
//! missed reads sled and then [`RecordCache::fill`]s, but only if no
//! commit invalidated anything since it took its [`RecordCache::stamp`]
//! before reading: a value read before a commit can never be cached after
//! it. Readers that need one consistent size hold off commits anyway
//! (`Sequencer::hold_commits`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of records kept: about 60,000 organizations' listing rows (their
/// records are ≈ 100–300 bytes with their keys). Per entry, the key, the
/// value and [`OVERHEAD`] are counted.
pub const RECORD_CACHE_BYTES: usize = 16 << 20;
/// Bookkeeping bytes counted per cached record (hash table slot, two
/// allocations' headers, the `Arc`'s counts).
const OVERHEAD: usize = 80;

type Value = Option<Arc<[u8]>>;

#[derive(Default)]
struct Inner {
    /// Commits that invalidated something (see the module doc).
    commits: u64,
    young: HashMap<Vec<u8>, Value>,
    young_bytes: usize,
    old: HashMap<Vec<u8>, Value>,
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

    /// The cached record under `key`: `Some(None)` if it is known absent,
    /// `None` if not cached.
    pub fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let mut inner = self.lock();
        if let Some(v) = inner.young.get(key) {
            return Some(v.as_deref().map(<[u8]>::to_vec));
        }
        let v = inner.old.remove(key)?;
        let out = v.as_deref().map(<[u8]>::to_vec);
        insert(&mut inner, self.budget, key.to_vec(), v);
        Some(out)
    }

    /// Taken before reading sled on a miss (see [`RecordCache::fill`]).
    pub fn stamp(&self) -> u64 {
        self.lock().commits
    }

    /// Caches what a reader read from sled after taking `stamp`, unless a
    /// commit invalidated anything since.
    pub fn fill(&self, stamp: u64, key: &[u8], value: Option<&[u8]>) {
        let mut inner = self.lock();
        if inner.commits == stamp {
            insert(&mut inner, self.budget, key.to_vec(), value.map(Arc::from));
        }
    }

    /// Forgets `keys` (a commit wrote them), or everything (`None`: the
    /// registry was cleared).
    pub fn invalidate<'k>(&self, keys: Option<impl Iterator<Item = &'k [u8]>>) {
        let mut inner = self.lock();
        inner.commits += 1;
        let Some(keys) = keys else {
            *inner = Inner {
                commits: inner.commits,
                ..Inner::default()
            };
            return;
        };
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
    if let Some(old) = inner.young.insert(key.clone(), value) {
        inner.young_bytes -= cost(&key, &old);
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
        assert_eq!(cache.get(b"k0"), None);
        let stamp = cache.stamp();
        cache.fill(stamp, b"k0", Some(b"v0"));
        cache.fill(stamp, b"gone", None);
        assert_eq!(cache.get(b"k0"), Some(Some(b"v0".to_vec())));
        assert_eq!(cache.get(b"gone"), Some(None), "absence is cached");
        // A commit between a reader's stamp and its fill: not cached.
        let stale = cache.stamp();
        cache.invalidate(Some([&b"k0"[..]].into_iter()));
        assert_eq!(cache.get(b"k0"), None, "invalidated");
        cache.fill(stale, b"k0", Some(b"old value"));
        assert_eq!(cache.get(b"k0"), None, "a read from before the commit");
        // Bounded: filling far past the budget keeps at most about it.
        let stamp = cache.stamp();
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
        assert_eq!(cache.get(&999u32.to_be_bytes()), Some(Some(b"v".to_vec())));
        cache.invalidate(None::<std::iter::Empty<&[u8]>>);
        assert_eq!(cache.get(&999u32.to_be_bytes()), None, "cleared");
    }
}
