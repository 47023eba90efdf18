//! Token buckets per client (an IP address) or per signing key, in bounded
//! memory: the table holds at most [`MAX_TRACKED`] entries; when it is full,
//! idle entries (whose bucket has refilled, so forgetting them changes
//! nothing) are dropped, at most once per refill period so that a spray of
//! new addresses cannot make every request scan the table; if every entry is
//! active, newcomers share one overflow bucket.

use super::access::RateLimit;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Entries tracked at most: ≈ 64–80 bytes each, so ≈ 8 MiB.
pub const MAX_TRACKED: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Table<K> {
    buckets: HashMap<K, Bucket>,
    swept: Option<Instant>,
}

#[derive(Clone)]
pub struct Limiter<K> {
    pub limit: RateLimit,
    /// The bucket newcomers share when the table is full of active entries.
    overflow: K,
    table: Arc<Mutex<Table<K>>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(limit: RateLimit, overflow: K) -> Limiter<K> {
        Limiter {
            limit,
            overflow,
            table: Arc::new(Mutex::new(Table {
                buckets: HashMap::new(),
                swept: None,
            })),
        }
    }

    /// Takes one token from `key`'s bucket, or says how many milliseconds
    /// until one is there.
    pub fn take(&self, key: K) -> Result<(), u64> {
        let limit = self.limit;
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let Table { buckets, swept } = &mut *table;
        let full_after = limit.burst / limit.per_second;
        let may_sweep = swept.is_none_or(|t| now.duration_since(t).as_secs_f64() >= full_after);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&key) && may_sweep {
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() < full_after);
            *swept = Some(now);
        }
        let key = if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&key) {
            self.overflow.clone()
        } else {
            key
        };
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: limit.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * limit.per_second;
        bucket.tokens = (bucket.tokens + refill).min(limit.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait_ms = ((1.0 - bucket.tokens) / limit.per_second * 1000.0).ceil() as u64;
        Err(wait_ms.max(1))
    }

    #[cfg(test)]
    pub fn tracked(&self) -> Vec<K> {
        let table = self.table.lock().unwrap();
        table.buckets.keys().cloned().collect()
    }
}
