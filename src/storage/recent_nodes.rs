//! The lowest tree levels of the newest entries, kept in memory by the local
//! backend (which holds levels from `MEMORY_LEVEL` up in memory anyway).
//!
//! Why: every acknowledged entry gets a receipt whose inclusion proof
//! starts with the entry's sibling leaf hash and level-1 node, and those
//! belong to the newest entries. Read from the files they cost a leaf read and
//! a hash (level 0) and a node read (level 1) on pages the writer is
//! rewriting at the same moment: profiled under SubmitBatch load (issue
//! 18), those reads were as costly as verifying the entries' signatures.

use crate::core::Hash;
use std::collections::VecDeque;

/// Newest nodes kept per level: the last 65,536 entries' leaf hashes and
/// their level-1 parents, 3 MiB. A batch is at most a few thousand
/// entries, so every receipt, and proofs for anything recent, hit it.
pub const RECENT_LEAVES: usize = 1 << 16;

/// The newest nodes of levels 0 and 1, each level contiguous in index.
#[derive(Default)]
pub struct RecentNodes {
    levels: [Run; 2],
}

/// Nodes `start..start + hashes.len()` of one level.
#[derive(Default)]
struct Run {
    start: u64,
    hashes: VecDeque<Hash>,
}

impl RecentNodes {
    /// Records node `(level, index)` as committed. Nodes arrive in index
    /// order; a gap (none is expected) restarts the level's run there, so
    /// the run never holds a wrong position.
    pub fn push(&mut self, level: u32, index: u64, hash: Hash) {
        let Some(run) = self.levels.get_mut(level as usize) else {
            return;
        };
        if run.start + run.hashes.len() as u64 != index {
            run.start = index;
            run.hashes.clear();
        }
        run.hashes.push_back(hash);
        if run.hashes.len() > RECENT_LEAVES >> level {
            run.hashes.pop_front();
            run.start += 1;
        }
    }

    /// Node `(level, index)` if it is among the newest kept.
    pub fn get(&self, level: u32, index: u64) -> Option<Hash> {
        let run = self.levels.get(level as usize)?;
        let at = usize::try_from(index.checked_sub(run.start)?).ok()?;
        run.hashes.get(at).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_nodes_of_each_level_in_place() {
        let mut r = RecentNodes::default();
        let h = |i: u64| [i as u8; 32];
        for i in 0..(RECENT_LEAVES as u64 + 10) {
            r.push(0, i, h(i));
        }
        assert_eq!(r.get(0, 9), None, "the oldest are dropped");
        assert_eq!(r.get(0, 10), Some(h(10)));
        assert_eq!(r.get(0, RECENT_LEAVES as u64 + 9), Some(h(9)));
        assert_eq!(r.get(0, RECENT_LEAVES as u64 + 10), None, "not yet");
        r.push(1, 5, h(5));
        r.push(1, 6, h(6));
        assert_eq!(
            (r.get(1, 5), r.get(1, 6), r.get(1, 4)),
            (Some(h(5)), Some(h(6)), None)
        );
        // A gap restarts the run: nothing is ever answered at a wrong index.
        r.push(1, 9, h(9));
        assert_eq!((r.get(1, 6), r.get(1, 9)), (None, Some(h(9))));
        r.push(2, 0, h(0));
        assert_eq!(r.get(2, 0), None, "levels 0 and 1 only");
    }
}
