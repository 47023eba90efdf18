//! Gives freed heap memory back to the system now and then.
//!
//! Why: the records store allocates and frees buffers by the thousand per
//! commit, and glibc keeps what is freed inside its heaps for reuse: with
//! the records in redb (until 2026-11-30), after a load of 1M entries the
//! server held 376 MB, 207 MB once restarted (BENCHMARKS.md, "The local
//! store on redb"). `malloc_trim(0)`
//! hands the free pages inside the heaps back (madvise). It runs on a
//! thread of its own, once every [`TRIM_EVERY`]; while it walks a heap it
//! holds that heap's lock, and pages given back are faulted in again
//! when reused. Its cost was not measured on its own: the batch rates of
//! a 1M load were unchanged (BENCHMARKS.md).
//!
//! The `accord` binary, built with its default `mimalloc` feature,
//! allocates with mimalloc instead (`main.rs`), which gives freed pages
//! back by itself: no sooner than a second after they were freed (its v3
//! `purge_delay`), on a later allocation or free (it has no thread of its
//! own). That binary calls [`allocator_returns_memory`] and no thread is
//! started; built with `--no-default-features`, it keeps glibc's allocator
//! and this trimming. The library keeps glibc's allocator and the
//! trimming, and so do the examples, the benches and the servers that
//! tests start in-process; tests that spawn the `accord` binary run its
//! allocator (mimalloc in a default build).

use std::time::Duration;

/// How often the heap is trimmed: short enough that a load's garbage is
/// returned within seconds, long enough that the walks cost nothing.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Set by [`allocator_returns_memory`]: no trimming thread.
static ALLOCATOR_RETURNS_MEMORY: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Tells the server that the process's global allocator is not glibc's
/// but one that gives freed memory back by itself (the binary's mimalloc),
/// so [`start_trimming`] starts nothing. Call before serving.
pub fn allocator_returns_memory() {
    ALLOCATOR_RETURNS_MEMORY.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Turns transparent huge pages off for the whole process (its threads and
/// children too). Refused by kernels before 3.15 or by a sandbox: huge
/// pages then stay, and only memory use differs. The `accord` binary calls it first in `main` when built
/// with its default `mimalloc` feature; a `--no-default-features` build
/// keeps the system's setting.
///
/// Why: mimalloc asks for huge pages where the system allows (Linux's THP
/// in `madvise` mode, as on the benchmark machine; in `always` mode every
/// allocator gets them). A 2 MiB page counts in full towards RSS as soon
/// as any byte of it is touched, is zeroed whole when first touched, and
/// is given back only whole. At 1M entries, with them off (BENCHMARKS.md,
/// "Huge pages off, idle memtables written out"): RSS 5 s after 100k
/// batched entries and 20,000 proofs 321–328 against 370–383 MB, 142
/// against 191 MB after a restart; SubmitBatch 6,800–7,057 against
/// 5,996–6,556/s, a 1M load 142 against 139 s.
pub fn no_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use libc::{c_int, c_ulong};
        // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process; it
        // reads or changes no memory of ours. The kernel reads its
        // arguments as unsigned longs, so they are passed as such.
        let set = unsafe {
            libc::prctl(
                libc::PR_SET_THP_DISABLE as c_int,
                1 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
                0 as c_ulong,
            )
        };
        if set != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Starts the trimming thread, once per process (tests start many servers
/// in one process). Only with glibc's allocator, whose `malloc_trim` this
/// is.
pub fn start_trimming() {
    if ALLOCATOR_RETURNS_MEMORY.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(|| {
            let spawned = std::thread::Builder::new()
                .name("accord-trim".into())
                .spawn(|| loop {
                    std::thread::sleep(TRIM_EVERY);
                    // SAFETY: malloc_trim only takes glibc's own heap
                    // locks and releases free pages; it reads or changes
                    // no memory of ours.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("memory is not trimmed: cannot start a thread: {e}");
            }
        });
    }
}
