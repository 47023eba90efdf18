//! Signature verification spread over the machine's cores. Each thread runs
//! [`batch::verify_all`](crate::core::batch::verify_all) on its share, so
//! verdicts equal strict single verification whatever the split.

use crate::core::batch::{self, SigItem};
use crate::core::Error;

/// Below this many items the cost of starting threads outweighs the gain.
const MIN_PER_THREAD: usize = 256;

pub fn verify_all(items: &[SigItem]) -> Vec<Result<(), Error>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads).max(MIN_PER_THREAD);
    if items.len() <= per_thread {
        return batch::verify_all(items);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || batch::verify_all(chunk)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("verification thread panicked"))
            .collect()
    })
}
