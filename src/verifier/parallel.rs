//! Work spread over the machine's cores with scoped threads: the auditor's
//! per-entry checks (parsing, field rules, strict signature verification,
//! leaf hashing) are independent, so they split cleanly; only the hash chain
//! and the Merkle frontier are sequential.
//!
//! The items are handed out in blocks from a shared counter rather than cut
//! into one equal share per thread: the auditor checks a chunk while its
//! sequential part settles the previous one on a third thread, so on two
//! cores one worker is slowed by it, and with equal shares the other would
//! finish first and leave its core idle until the chunk's end.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many items per thread, starting threads costs more than it saves.
const MIN_PER_THREAD: usize = 64;

/// Items per block handed out: small enough that the threads finish within
/// a block of each other (a block of 32 signature checks is ≈ 2 ms), large
/// enough that the shared counter is touched rarely.
const BLOCK: usize = 32;

/// `items.iter().map(f).collect()`, computed on all cores, in order.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() <= MIN_PER_THREAD {
        return items.iter().map(f).collect();
    }
    let threads = threads.min(items.len().div_ceil(MIN_PER_THREAD));
    let blocks: Vec<&[T]> = items.chunks(BLOCK).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            let Some(block) = blocks.get(b) else {
                return done;
            };
            done.push((b, block.iter().map(&f).collect()));
        }
    };
    let mut parts: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    });
    parts.sort_unstable_by_key(|(b, _)| *b);
    parts.into_iter().flat_map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_items_order_at_every_size() {
        for n in [0, 1, 63, 64, 65, 100, 1000, 4097] {
            let items: Vec<u64> = (0..n).collect();
            let got = super::map(&items, |i| i * 3);
            assert_eq!(
                got,
                items.iter().map(|i| i * 3).collect::<Vec<_>>(),
                "{n} items"
            );
        }
    }
}
