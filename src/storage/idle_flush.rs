//! Writes the records store's memtables out once the store falls idle,
//! so the memory they hold goes back to the system.
//!
//! Why (issue 18): fjall writes a keyspace's memtable (its newest records,
//! in memory and in the journal) to a file only once it is full, up to
//! `records_db::MEMTABLE_BYTES` per keyspace. After a load stops, what
//! the memtables then hold stays in memory until the next restart: part
//! of why the server held ≈ 325 MB a few seconds after a 1M load and
//! 142 MB after a restart (BENCHMARKS.md, "Huge pages off"). A thread
//! checks every [`CHECK_EVERY`]; after a whole period without a commit,
//! following one with, it rotates every keyspace's memtable that holds
//! [`MIN_FLUSH_BYTES`] or more (fjall's worker flushes it, as when it
//! fills). Durability does not change: the
//! records are in the journal already, and a flush is how fjall always
//! moves them to files. The rotation is fjall 3.1's
//! `Keyspace::rotate_memtable`: public but left out of its documentation
//! (its own tests use it), so a fjall upgrade must check it still exists
//! and does the same; `Cargo.lock` pins the version.

use fjall::{AbstractTree, Keyspace};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the thread looks, and how long without a commit counts as
/// idle: long enough not to flush between a load's batches (which commit
/// many times a second), short enough to give memory back soon after.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Smaller memtables stay: each flush adds a file to the keyspace's first
/// level, and with random keys merging those into the next level rewrites
/// most of it, so a server with a trickle of submissions must not flush
/// tiny memtables every few seconds. A quarter of `MEMTABLE_BYTES`: at
/// most four times as many flushes as a load makes, and only when idle.
const MIN_FLUSH_BYTES: u64 = 4 << 20;

/// The thread and what it shares with the store. Dropping it stops the
/// thread and waits for it (at most one rotation in progress).
pub(super) struct IdleFlush {
    commits: Arc<AtomicU64>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl IdleFlush {
    /// Starts the thread over `spaces` (if a thread cannot start, memtables
    /// are written out only when full, as before: a warning, not an error).
    pub fn start(spaces: Vec<Keyspace>) -> Self {
        Self::start_every(spaces, CHECK_EVERY)
    }

    /// [`IdleFlush::start`], looking every `period` (tests).
    fn start_every(spaces: Vec<Keyspace>, period: Duration) -> Self {
        let commits = Arc::new(AtomicU64::new(0));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (seen, stopping) = (commits.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("accord-idle-flush".into())
            .spawn(move || run(&spaces, period, &seen, &stopping))
            .map_err(|e| tracing::warn!("memtables are not flushed when idle: {e}"))
            .ok();
        IdleFlush {
            commits,
            stop,
            thread,
        }
    }

    /// Counts a commit (the store's only writes go through commits).
    pub fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

fn run(spaces: &[Keyspace], period: Duration, commits: &AtomicU64, stop: &(Mutex<bool>, Condvar)) {
    let (mut last, mut flushed) = (0, 0);
    loop {
        {
            let stopped = stop.0.lock().unwrap_or_else(|p| p.into_inner());
            let (stopped, _) = (stop.1)
                .wait_timeout_while(stopped, period, |s| !*s)
                .unwrap_or_else(|p| p.into_inner());
            if *stopped {
                return;
            }
        }
        let now = commits.load(Ordering::Relaxed);
        if now == last && now != flushed {
            for space in spaces {
                if space.tree.active_memtable().size() < MIN_FLUSH_BYTES {
                    continue;
                }
                if let Err(e) = space.rotate_memtable() {
                    tracing::warn!("flushing an idle memtable: {e}");
                }
            }
            flushed = now;
        }
        last = now;
    }
}

impl Drop for IdleFlush {
    fn drop(&mut self) {
        *self.stop.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjall::{Database, KeyspaceCreateOptions};

    #[test]
    fn a_large_idle_memtable_is_written_out_and_a_small_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path()).open().unwrap();
        let big = db.keyspace("big", KeyspaceCreateOptions::default).unwrap();
        let small = db
            .keyspace("small", KeyspaceCreateOptions::default)
            .unwrap();
        let idle =
            IdleFlush::start_every(vec![big.clone(), small.clone()], Duration::from_millis(50));
        // 6 MiB in one, 64 KiB in the other: over and under MIN_FLUSH_BYTES.
        for i in 0u32..6 * 1024 {
            big.insert(i.to_be_bytes(), vec![7u8; 1024]).unwrap();
        }
        small.insert("k", vec![1u8; 64 << 10]).unwrap();
        idle.committed();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while big.tree.active_memtable().size() > 0 || big.tree.table_count() == 0 {
            assert!(std::time::Instant::now() < deadline, "not flushed");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            small.tree.active_memtable().size() > 0,
            "a small memtable stays"
        );
        assert_eq!(small.tree.table_count(), 0);
        assert_eq!(
            big.get(5u32.to_be_bytes()).unwrap().as_deref(),
            Some(&[7u8; 1024][..])
        );
        drop(idle); // stops the thread and waits for it
    }
}
