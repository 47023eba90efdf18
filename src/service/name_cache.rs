//! A bounded cache of [`NameFacts`] by name, shared by the registry
//! queries: a listing page shows up to 1000 records, and computing each
//! name's conflict keys and scripts again for every page made the first
//! page of ListSignatories cost ≈ 2 ms instead of ≈ 0.3 ms.

use crate::core::map::FastMap;
use crate::core::names::NameFacts;
use std::sync::{Arc, Mutex};

/// Names remembered before the cache starts over: ≈ 200 bytes each (the
/// name, its keys, the table), so at most ≈ 13 MiB; a page of 1000 records
/// names at most 2000.
const MAX_NAMES: usize = 65_536;

#[derive(Default)]
pub struct NameCache {
    // foldhash (randomly seeded): cheaper than SipHash on the ≈ 100 names
    // a page looks up; bounded, like the record cache (see its comment).
    facts: Mutex<FastMap<String, Arc<NameFacts>>>,
}

impl NameCache {
    /// The facts of `name`, computed once while it stays cached.
    pub fn get(&self, name: &str) -> Arc<NameFacts> {
        if let Some(f) = self.facts.lock().expect("name cache poisoned").get(name) {
            return f.clone();
        }
        // Computed outside the lock: two readers may both compute a name,
        // never wait on each other's Unicode work.
        let facts = Arc::new(NameFacts::of(name));
        let mut map = self.facts.lock().expect("name cache poisoned");
        if map.len() >= MAX_NAMES {
            map.clear(); // bounded memory; the hot names come back at once
        }
        map.insert(name.to_owned(), facts.clone());
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_gives_the_facts_of_the_name_and_stays_bounded() {
        let cache = NameCache::default();
        let name = "Gоvernment of Estonia"; // a Cyrillic о
        assert_eq!(*cache.get(name), NameFacts::of(name));
        assert!(cache.get(name).mixed_script);
        for i in 0..MAX_NAMES + 10 {
            cache.get(&format!("Organization {i}"));
        }
        assert!(cache.facts.lock().unwrap().len() <= MAX_NAMES);
    }
}
