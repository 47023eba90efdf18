//! Work spread over the machine's cores with scoped threads: the auditor's
//! per-entry checks (parsing, field rules, strict signature verification,
//! leaf hashing) are independent, so they split cleanly; only the hash chain
//! and the Merkle frontier are sequential.

/// Below this many items per thread, starting threads costs more than it saves.
const MIN_PER_THREAD: usize = 64;

/// `items.iter().map(f).collect()`, computed on all cores, in order.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads).max(MIN_PER_THREAD);
    if items.len() <= per_thread {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}
