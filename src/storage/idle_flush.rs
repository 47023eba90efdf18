//! Writes the records store's memtables out once the store falls idle,
//! so the memory they hold goes back to the system.
//!
//! Why (issue 18): fjall writes a keyspace's memtable (its newest records,
//! in memory and in the journal) to a file only once it is full, up to
//! `records_db::MEMTABLE_BYTES` per keyspace, and an open fills the
//! memtables again from the journal. So what a load leaves in them stays
//! in memory while the server rests: part of the ≈ 320 MB it held a few
//! seconds after 100k batched entries and 20,000 proofs on a 1M log
//! (BENCHMARKS.md, "Huge pages off, idle memtables written out"). A
//! thread checks every [`CHECK_EVERY`]; after a whole period without a
//! commit, if a commit came since the last write-out (or none was made
//! since the open), it rotates every
//! keyspace's memtable that holds [`MIN_FLUSH_BYTES`] or more (fjall's
//! worker flushes it, as when it fills). Durability does not change: the
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

/// Smaller memtables stay. Each flush adds a file to the keyspace's first
/// level, and with random keys each merge of those files into the next
/// level rewrites most of it. A flush here always writes at least a
/// quarter of `MEMTABLE_BYTES`, so at most four times as many flushes,
/// and merges, as filling makes, and only where commits pause for more
/// than [`CHECK_EVERY`] (a busy keyspace takes ≈ 1–2 KB per entry: 4 MiB
/// is a few thousand entries).
const MIN_FLUSH_BYTES: u64 = super::records_db::MEMTABLE_BYTES / 4;

/// The thread and what it shares with the store. Dropping it stops the
/// thread and waits for it (at most one round of rotations in progress).
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

    /// Counts a durable commit (`RecordsDb::commit`; the few writes made
    /// outside it, such as `remove_all`'s chunks, are not counted: at
    /// worst a rotation runs during them, which fjall allows).
    pub fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the thread remembers from one look to the next.
struct Looks {
    /// The commit count at the last look.
    last: u64,
    /// The commit count when the memtables were last written out; at
    /// first unlike any count, so the memtables an open filled from the
    /// journal are written out too once the store rests.
    flushed: u64,
}

impl Looks {
    fn new() -> Self {
        Looks {
            last: 0,
            flushed: u64::MAX,
        }
    }

    /// One look at the commit count `now`: whether to write out now (no
    /// commit for a whole period, and some since the last time).
    fn idle_now(&mut self, now: u64) -> bool {
        let idle = now == self.last && now != self.flushed;
        if idle {
            self.flushed = now;
        }
        self.last = now;
        idle
    }
}

fn run(spaces: &[Keyspace], period: Duration, commits: &AtomicU64, stop: &(Mutex<bool>, Condvar)) {
    let mut looks = Looks::new();
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
        if !looks.idle_now(commits.load(Ordering::Relaxed)) {
            continue;
        }
        for space in spaces {
            if space.tree.active_memtable().size() < MIN_FLUSH_BYTES {
                continue;
            }
            if let Err(e) = space.rotate_memtable() {
                tracing::warn!("flushing an idle memtable: {e}");
            }
        }
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
        // 6 MiB in one, 64 KiB in the other: over and under MIN_FLUSH_BYTES.
        for i in 0u32..6 * 1024 {
            big.insert(i.to_be_bytes(), vec![7u8; 1024]).unwrap();
        }
        small.insert("k", vec![1u8; 64 << 10]).unwrap();
        // Started after the writes, so no look falls amid them.
        let idle =
            IdleFlush::start_every(vec![big.clone(), small.clone()], Duration::from_millis(50));
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

    #[test]
    fn written_out_after_a_whole_period_without_commits_once_per_rest() {
        let mut looks = Looks::new();
        let seen: Vec<bool> = [0, 0, 3, 5, 5, 5, 6, 7, 7, 7]
            .into_iter()
            .map(|now| looks.idle_now(now))
            .collect();
        // At rest after the open; busy; at rest (once); busy; at rest (once).
        let expected = [
            true, false, false, false, true, false, false, false, true, false,
        ];
        assert_eq!(seen, expected);
    }
}
