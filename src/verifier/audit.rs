//! Auditing the whole log, incrementally.
//!
//! An [`Auditor`] starts from an [`AuditState`] (the last checkpoint it
//! verified and what it needs to continue: the Merkle frontier, the last leaf
//! hash and time), checks a newer checkpoint against it, then takes the new
//! entries in order and verifies each one: parse, index = position, hash
//! chain, non-decreasing integration time, field rules and strict signatures
//! (batched across cores). At the end the recomputed root must equal the
//! checkpoint's. The state then advances, so the next run verifies only what
//! is new. Pure logic: fetching and files belong to the caller.

use super::evidence::{Evidence, Kind};
use super::parallel;
use crate::core::checkpoint::{Checkpoint, TreeHead};
use crate::core::entry::{Entry, Signed, GENESIS_PREV};
use crate::core::frontier::Frontier;
use crate::core::map_arena::ArenaMap;
use crate::core::merkle::{self, EMPTY_ROOT};
use crate::core::note::Verifier;
use crate::core::registry::{Admission, MapKey, Registry};
use crate::core::{proof, sha256, Error, Hash};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use std::collections::HashSet;

/// Why an audit failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log presented checkpoints it should never have signed together.
    #[error("log misbehaviour ({:?})", .0.kind)]
    Misbehaviour(Box<Evidence>),
    /// Something the log served does not verify.
    #[error("{0}")]
    Invalid(String),
    /// A map head whose root is not the map recomputed from the entries
    /// before it: the log committed to a false registry state. (The caller
    /// turns it into evidence with the map head's inclusion proof.)
    #[error("the map head at entry {} commits to registry map root {}, but the entries before it give {}", .0.index, hex::encode(.0.claimed), hex::encode(.0.computed))]
    MapRoot(Box<MapRootClaim>),
}

/// A map head the auditor found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRootClaim {
    pub index: u64,
    /// The map-head entry's leaf bytes.
    pub leaf: Vec<u8>,
    pub claimed: Hash,
    pub computed: Hash,
}

fn invalid(why: impl Into<String>) -> AuditError {
    AuditError::Invalid(why.into())
}

/// What an auditor remembers between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditState {
    /// The last verified signed checkpoint (empty before the first run).
    pub checkpoint: String,
    pub head: TreeHead,
    pub frontier: Frontier,
    pub last_leaf_hash: Hash,
    pub last_integrated_ms: u64,
    /// The registry derived from every entry so far (§5.4). Not part of the
    /// encoded state: callers rebuild it from their copy of the entries with
    /// [`AuditState::replay`].
    pub registry: Registry,
    /// The registry map recomputed from the entries, as of the last map
    /// head; `pending` holds the keys changed since (rebuilt like `registry`).
    pub map: ArenaMap,
    pub pending: HashSet<MapKey>,
}

const STATE_HEADER: &str = "accord audit state v1";

impl AuditState {
    /// The state of an auditor that has seen nothing.
    pub fn genesis() -> Self {
        AuditState {
            checkpoint: String::new(),
            head: TreeHead {
                size: 0,
                root: EMPTY_ROOT,
            },
            frontier: Frontier::new(),
            last_leaf_hash: GENESIS_PREV,
            last_integrated_ms: 0,
            registry: Registry::new(),
            map: ArenaMap::default(),
            pending: HashSet::new(),
        }
    }

    /// Before entry `signed` is applied: a map head gets the map's root
    /// after the keys changed since the previous one; any other entry adds
    /// the keys it changes.
    fn track_map(&mut self, signed: &Signed) -> Option<Hash> {
        if !matches!(signed, Signed::MapHead(_)) {
            self.pending.extend(self.registry.changed_map_keys(signed));
            return None;
        }
        let pairs: Vec<(Hash, Hash)> = (self.pending.drain())
            .map(|key| {
                let value = (self.registry.map_value(&key)).expect("changed keys have values");
                (key.hash(), sha256(&value))
            })
            .collect();
        Some(self.map.set_all(pairs.iter().map(|(k, v)| (k, v))))
    }

    /// Rebuilds `registry` from this state's entries `0..head.size`, taken
    /// from the auditor's own copy (they were verified when first audited).
    pub fn replay<'a>(&mut self, leaves: impl IntoIterator<Item = &'a [u8]>) -> Result<(), Error> {
        self.registry = Registry::new();
        self.map = ArenaMap::default();
        self.pending.clear();
        for leaf in leaves {
            let entry = Entry::from_leaf(leaf)?;
            self.track_map(&entry.signed);
            let registry = &mut self.registry;
            let index = registry.size;
            if registry
                .apply(index, &entry.signed)
                .map_err(|e| Error::malformed("saved entry", e.to_string()))?
                != Admission::New
            {
                return Err(Error::malformed(
                    "saved entry",
                    format!("entry {index} repeats an earlier one"),
                ));
            }
        }
        if self.registry.size != self.head.size {
            return Err(Error::malformed(
                "saved entries",
                format!(
                    "{} saved, the state has {}",
                    self.registry.size, self.head.size
                ),
            ));
        }
        Ok(())
    }

    pub fn encode(&self, log_key: &Verifier) -> String {
        let mut out = format!(
            "{STATE_HEADER}\nlog {log_key}\nlast-leaf-hash {}\nlast-integrated-ms {}\n",
            hex::encode(self.last_leaf_hash),
            self.last_integrated_ms
        );
        for h in self.frontier.hashes() {
            out += &format!("frontier {}\n", hex::encode(h));
        }
        out + "checkpoint\n" + &self.checkpoint
    }

    /// Parses a saved state and checks it is for `log_key` and self-consistent
    /// (signed checkpoint, frontier reproducing its root).
    pub fn decode(text: &str, log_key: &Verifier) -> Result<Self, Error> {
        let bad = |why: &str| Error::malformed("audit state", why.to_owned());
        let (head, checkpoint) = text
            .split_once("checkpoint\n")
            .ok_or_else(|| bad("no checkpoint"))?;
        let mut lines = head.lines();
        if lines.next() != Some(STATE_HEADER) {
            return Err(bad("unknown format"));
        }
        if lines.next() != Some(&format!("log {log_key}")) {
            return Err(bad("it belongs to another log key"));
        }
        let hash = |s: Option<&str>| -> Result<Hash, Error> {
            s.and_then(|h| hex::decode(h).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("bad hash"))
        };
        let last_leaf_hash = hash(lines.next().and_then(|l| l.strip_prefix("last-leaf-hash ")))?;
        let last_integrated_ms = lines
            .next()
            .and_then(|l| l.strip_prefix("last-integrated-ms "))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("bad last-integrated-ms"))?;
        let hashes = lines
            .map(|l| hash(l.strip_prefix("frontier ")))
            .collect::<Result<Vec<_>, _>>()?;
        let cp = Checkpoint::open(checkpoint, log_key)?;
        let frontier = Frontier::from_parts(cp.head.size, hashes)
            .ok_or_else(|| bad("frontier does not fit the size"))?;
        if frontier.root() != cp.head.root {
            return Err(bad("frontier does not reproduce the checkpoint root"));
        }
        Ok(AuditState {
            checkpoint: checkpoint.to_owned(),
            head: cp.head,
            frontier,
            last_leaf_hash,
            last_integrated_ms,
            registry: Registry::new(),
            map: ArenaMap::default(),
            pending: HashSet::new(),
        })
    }
}

/// Entries through the independent checks of [`check`], in order, waiting
/// for [`Auditor::feed_checked`].
pub struct Checked(Vec<Result<(Entry, Hash), Error>>);

/// The independent checks of each entry (parse, field rules, strict
/// signatures, leaf hash), on all cores. Needs no auditor state, so it can
/// run ahead of the sequential checks.
pub fn check(leaves: &[Vec<u8>]) -> Checked {
    Checked(parallel::map(
        leaves,
        |leaf| -> Result<(Entry, Hash), Error> {
            let entry = Entry::from_leaf(leaf)?;
            entry.signed.verify(entry.integrated_at_ms / 1000)?;
            Ok((entry, merkle::leaf_hash(leaf)))
        },
    ))
}

/// An audit in progress from a known state to a newer checkpoint.
pub struct Auditor {
    state: AuditState,
    target: Checkpoint,
    target_note: String,
}

impl Auditor {
    /// Checks `new_note` against `state`: signature, then rollback, fork and
    /// consistency (with `consistency`, the proof from `state`'s size to the
    /// new size, when both are non-zero and differ).
    pub fn begin(
        state: AuditState,
        new_note: &str,
        consistency: &[Vec<u8>],
        log_key: &Verifier,
    ) -> Result<Self, AuditError> {
        let target = Checkpoint::open(new_note, log_key)
            .map_err(|e| invalid(format!("latest checkpoint: {e}")))?;
        let (old, new) = (state.head, target.head);
        let evidence = |kind| {
            AuditError::Misbehaviour(Box::new(Evidence {
                kind,
                old_checkpoint: state.checkpoint.clone(),
                new_checkpoint: new_note.to_owned(),
                proof: consistency.to_vec(),
                map_head: None,
            }))
        };
        if old.size > 0 {
            if new.size < old.size {
                return Err(evidence(Kind::Rollback));
            }
            if new.size == old.size && new.root != old.root {
                return Err(evidence(Kind::Fork));
            }
            let refs: Vec<&[u8]> = consistency.iter().map(Vec::as_slice).collect();
            if new.size > old.size
                && proof::verify_consistency(old.size, new.size, &refs, &old.root, &new.root)
                    .is_err()
            {
                return Err(evidence(Kind::Inconsistent));
            }
        }
        Ok(Auditor {
            state,
            target,
            target_note: new_note.to_owned(),
        })
    }

    /// Index of the next entry to feed; entries up to the target size are needed.
    pub fn next_index(&self) -> u64 {
        self.state.frontier.size()
    }

    pub fn target(&self) -> TreeHead {
        self.target.head
    }

    /// Verifies the next entries, given as leaf bytes in index order. On an
    /// error the auditor is left mid-way and must be discarded.
    ///
    /// The independent checks of each entry (parse, field rules, strict
    /// signatures, leaf hash) run on all cores; then the order-dependent ones
    /// (position, hash chain, time order) and the frontier run in sequence.
    pub fn feed(&mut self, leaves: &[Vec<u8>]) -> Result<(), AuditError> {
        self.feed_checked(check(leaves))
    }

    /// [`Auditor::feed`] for entries already through [`check`]: only the
    /// order-dependent checks run here, so the caller can check the next
    /// chunk meanwhile (on two cores the sequential part would otherwise
    /// leave one idle).
    pub fn feed_checked(&mut self, checked: Checked) -> Result<(), AuditError> {
        let st = &mut self.state;
        for result in checked.0 {
            let index = st.frontier.size();
            if index >= self.target.head.size {
                return Err(invalid(format!(
                    "entry {index} is beyond the checkpoint size {}",
                    self.target.head.size
                )));
            }
            let (entry, leaf_hash) = result.map_err(|e| invalid(format!("entry {index}: {e}")))?;
            if entry.index != index {
                return Err(invalid(format!(
                    "entry at position {index} says it is index {}",
                    entry.index
                )));
            }
            if entry.prev_leaf_hash != st.last_leaf_hash {
                return Err(invalid(format!(
                    "entry {index} breaks the hash chain: it names a previous leaf hash that is not entry {}'s",
                    index.wrapping_sub(1)
                )));
            }
            if entry.integrated_at_ms < st.last_integrated_ms {
                return Err(invalid(format!(
                    "entry {index}: integration time goes backwards"
                )));
            }
            if let Some(computed) = st.track_map(&entry.signed) {
                let Signed::MapHead(head) = &entry.signed else {
                    unreachable!("only map heads have a root")
                };
                if head.root != computed {
                    return Err(AuditError::MapRoot(Box::new(MapRootClaim {
                        index,
                        leaf: entry.to_leaf(),
                        claimed: head.root,
                        computed,
                    })));
                }
            }
            match st.registry.apply(index, &entry.signed) {
                Ok(Admission::New) => {}
                Ok(Admission::Duplicate(i)) => {
                    return Err(invalid(format!("entry {index} repeats entry {i}")))
                }
                Err(rule) => {
                    return Err(invalid(format!(
                        "entry {index} breaks a registry rule: {rule}"
                    )))
                }
            }
            st.frontier.push(leaf_hash, |_| {});
            st.last_leaf_hash = leaf_hash;
            st.last_integrated_ms = entry.integrated_at_ms;
        }
        Ok(())
    }

    /// Checks that all entries arrived and reproduce the checkpoint's root;
    /// returns the state to remember.
    pub fn finish(mut self) -> Result<AuditState, AuditError> {
        let (got, want) = (self.state.frontier.size(), self.target.head.size);
        if got != want {
            return Err(invalid(format!(
                "received entries up to {got}, the checkpoint has {want}"
            )));
        }
        if self.state.frontier.root() != self.target.head.root {
            return Err(invalid(format!(
                "the entries do not reproduce the checkpoint root: computed {}, signed {}",
                B64.encode(self.state.frontier.root()),
                B64.encode(self.target.head.root)
            )));
        }
        self.state.head = self.target.head;
        self.state.checkpoint = self.target_note;
        Ok(self.state)
    }
}
