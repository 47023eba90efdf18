//! Randomized check of batch admission: whatever the batch boundaries, every
//! answer the sequencer gives equals the answer of applying the statements
//! one by one, in the order it decided them, to a fresh registry; and
//! statements that touch the same organization, key or commitment are
//! decided in the order they were submitted.

use super::state::State;
use super::tests::{endorse, key, registration, rotate};
use super::{Job, Loading, Published, SequencerError};
use crate::core::entry::{Entry, Signed};
use crate::core::map_head::MapHead;
use crate::core::note::Signer;
use crate::core::registry::{Admission, Registry, Resource};
use crate::core::statements::{organization_id, CommitmentRegistration, Withdrawal};
use crate::storage::MemoryStorage;
use ed25519_dalek::{Signer as _, SigningKey};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{oneshot, watch};

/// xorshift64: repeatable without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn withdraw(k: &SigningKey, org: [u8; 32], signed_at: u64) -> Signed {
    let withdrawal = Withdrawal {
        organization_id: org,
        commitment_id: "c".into(),
        signed_at,
        public_key: k.verifying_key().to_bytes(),
    };
    let signature = k.sign(&withdrawal.signed_message()).to_bytes();
    Signed::Withdrawal {
        withdrawal,
        signature,
    }
}

/// A second version of the commitment, by the operator.
fn new_version(operator: &SigningKey, v: u64) -> Signed {
    let registration = CommitmentRegistration {
        commitment_id: "c".into(),
        version: format!("v{v}"),
        title: "C".into(),
        text_sha256: crate::core::sha256(format!("{v}").as_bytes()),
        url: None,
        signed_at: 1_764_000_000 + v,
        public_key: operator.verifying_key().to_bytes(),
    };
    let signature = operator.sign(&registration.signed_message()).to_bytes();
    Signed::Commitment {
        registration,
        signature,
    }
}

/// The operator verifies an organization (`revoke`: takes it back).
fn operator_on(operator: &SigningKey, org: [u8; 32], t: u64, revoke: bool) -> Signed {
    use crate::core::verification::{Revocation, Verification};
    let public_key = operator.verifying_key().to_bytes();
    if revoke {
        let revocation = Revocation {
            organization_id: org,
            reason: "test".into(),
            signed_at: t,
            public_key,
        };
        let signature = operator.sign(&revocation.signed_message()).to_bytes();
        return Signed::Revocation {
            revocation,
            signature,
        };
    }
    let verification = Verification {
        organization_id: org,
        name: "Org".into(),
        stakeholder_group: crate::core::model::StakeholderGroup::Academia,
        country: None,
        domain: None,
        method: crate::core::model::VerificationMethod::InPerson,
        evidence_sha256: [t as u8; 32],
        signed_at: t,
        public_key,
    };
    let signature = operator.sign(&verification.signed_message()).to_bytes();
    Signed::Verification {
        verification,
        signature,
    }
}

/// Statements over a few organizations: valid ones, replays, stale times,
/// retired keys, rotations, withdrawals, operator verifications and
/// revocations, and exact copies.
fn statements(rng: &mut Rng, operator: &SigningKey, n: usize) -> Vec<Signed> {
    // (organization id, keys it has used, latest key)
    let mut orgs: Vec<([u8; 32], Vec<SigningKey>)> = Vec::new();
    let mut out = vec![registration(operator)];
    let mut next_seed = 10u8;
    let mut fresh = |rng: &mut Rng| {
        next_seed = next_seed.wrapping_add(1 + rng.below(3) as u8);
        key(next_seed)
    };
    while out.len() < n {
        let t = 1_764_000_100 + rng.below(40);
        let pick = rng.below(orgs.len().max(1) as u64) as usize;
        let s = match (rng.below(10), orgs.get(pick)) {
            (0, _) | (_, None) => {
                let k = fresh(rng);
                orgs.push((
                    organization_id(&k.verifying_key().to_bytes()),
                    vec![k.clone()],
                ));
                endorse(&k, t)
            }
            (1 | 2, Some((_, keys))) => endorse(keys.last().expect("a key"), t),
            (3, Some((_, keys))) => endorse(&keys[rng.below(keys.len() as u64) as usize], t),
            (4, Some((org, keys))) => withdraw(keys.last().expect("a key"), *org, t),
            (5, Some((_, keys))) => {
                let (old, new) = (keys.last().expect("a key").clone(), fresh(rng));
                orgs[pick].1.push(new.clone());
                rotate(&old, &new, t)
            }
            (6, _) => out[rng.below(out.len() as u64) as usize].clone(),
            (7 | 8, Some((org, _))) => operator_on(operator, *org, t, rng.below(2) == 1),
            _ => new_version(operator, rng.below(3)),
        };
        out.push(s);
    }
    out
}

#[test]
fn any_batching_equals_one_by_one() {
    // How often each case came up over all seeds: [held, new, duplicate, refused].
    let mut seen = [0usize; 4];
    for seed in 1..=12u64 {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        let operator = key(1);
        let all = statements(&mut rng, &operator, 160);
        let signer = Signer::from_seed("test.example/log", &[0x5a; 32]).unwrap();
        let storage = Arc::new(MemoryStorage::new());
        let mut state =
            State::open(storage.clone(), signer, operator.verifying_key().to_bytes()).unwrap();
        let (tx, _rx) = watch::channel(Arc::new(Published {
            head: state.published().head,
            checkpoint: String::new(),
        }));
        state.load_registry(&watch::channel(Loading::InProgress).0, None);

        // Feed the statements in random batches, held jobs first, as `run` does.
        type Reply = oneshot::Receiver<Result<super::Accepted, SequencerError>>;
        let mut replies: Vec<Option<Reply>> = Vec::new();
        let mut decided: Vec<usize> = Vec::new(); // submission numbers, in decision order
        let mut pending: Vec<usize> = Vec::new(); // submission number of each held job
        let mut next = 0;
        while next < all.len() || !state.held.is_empty() {
            let take = (1 + rng.below(12) as usize).min(all.len() - next);
            let mut ids = std::mem::take(&mut pending);
            let mut jobs = std::mem::take(&mut state.held);
            for (i, s) in all.iter().enumerate().skip(next).take(take) {
                let (reply, rx) = oneshot::channel();
                jobs.push(Job {
                    signed: s.clone(),
                    reply,
                });
                replies.push(Some(rx));
                ids.push(i);
            }
            next += take;
            state.process(jobs, &tx);
            for id in ids {
                let answered = replies[id].as_mut().is_some_and(|r| !r.is_empty());
                if answered {
                    decided.push(id)
                } else {
                    seen[0] += 1;
                    pending.push(id)
                }
            }
        }

        // Replay in decision order, one by one.
        let mut registry = Registry::new();
        for &id in &decided {
            let got = replies[id].take().unwrap().try_recv().unwrap();
            // The map heads that ended earlier batches (they change nothing
            // in the registry; their roots are checked below).
            if let Ok(a) = &got {
                while !a.duplicate && registry.size < a.index {
                    let head = MapHead {
                        size: registry.size,
                        root: [0; 32],
                    };
                    registry
                        .apply(registry.size, &Signed::MapHead(head))
                        .unwrap();
                }
            }
            let want = registry.apply(registry.size, &all[id]);
            seen[match &want {
                Ok(Admission::New) => 1,
                Ok(Admission::Duplicate(_)) => 2,
                Err(_) => 3,
            }] += 1;
            match (got, want) {
                (Ok(a), Ok(Admission::New)) => assert_eq!(
                    (a.index, a.duplicate),
                    (registry.size - 1, false),
                    "seed {seed}, statement {id}"
                ),
                (Ok(a), Ok(Admission::Duplicate(i))) => assert_eq!(
                    (a.index, a.duplicate),
                    (i, true),
                    "seed {seed}, statement {id}"
                ),
                (Err(SequencerError::Rejected(g)), Err(w)) => {
                    assert_eq!(g, w, "seed {seed}, statement {id}")
                }
                (got, want) => {
                    panic!("seed {seed}, statement {id}: sequencer {got:?}, one by one {want:?}")
                }
            }
        }
        assert_eq!(decided.len(), all.len(), "every statement is answered");
        map_heads_match_the_map_from_scratch(storage.as_ref(), seed);

        // Statements that touch the same part of the registry, one of them
        // writing it, keep their order (two readers commute).
        let touched = |s: &Signed| -> (HashSet<Resource>, HashSet<Resource>) {
            let f = registry.footprint(s);
            let writes: HashSet<Resource> = f.writes.into_iter().collect();
            (
                f.reads.into_iter().chain(writes.iter().cloned()).collect(),
                writes,
            )
        };
        let position: Vec<usize> = {
            let mut p = vec![0; all.len()];
            for (at, &id) in decided.iter().enumerate() {
                p[id] = at;
            }
            p
        };
        for a in 0..all.len() {
            for b in a + 1..all.len() {
                let ((a_all, a_writes), (b_all, b_writes)) = (touched(&all[a]), touched(&all[b]));
                let shared = (a_writes.intersection(&b_all))
                    .chain(b_writes.intersection(&a_all))
                    .any(|r| !matches!(r, Resource::Commitment(_)));
                if shared {
                    assert!(
                        position[a] < position[b],
                        "seed {seed}: statement {a} was decided after {b}"
                    );
                }
            }
        }
    }
    eprintln!("held, new, duplicate, refused: {seen:?}");
    assert!(
        seen.iter().all(|&n| n > 10),
        "the statements exercise holding, appending, duplicates and refusals: {seen:?}"
    );
}

/// Every map head the sequencer wrote (the last entry of each batch) has
/// the root of the map of every pair of the registry before it, computed
/// from scratch: the projection, the stored versioned map and the bottom-up
/// batch update together give the map of the definition.
fn map_heads_match_the_map_from_scratch(storage: &MemoryStorage, seed: u64) {
    use crate::core::map::MemoryMap;
    use crate::storage::Storage;
    let size = storage.meta().unwrap().unwrap().size;
    let mut registry = Registry::new();
    let mut heads = 0;
    for (index, leaf) in (0..).zip(storage.leaves(0, size).unwrap()) {
        let entry = Entry::from_leaf(&leaf).unwrap();
        if let Signed::MapHead(head) = &entry.signed {
            let pairs: Vec<_> = (registry.map_keys().iter())
                .map(|k| {
                    (
                        k.hash(),
                        crate::core::sha256(&registry.map_value(k).unwrap()),
                    )
                })
                .collect();
            let root = MemoryMap::default().set_all(pairs.iter().map(|(k, v)| (k, v)));
            assert_eq!(head.root, root, "seed {seed}, map head at entry {index}");
            heads += 1;
        }
        assert_eq!(registry.apply(index, &entry.signed), Ok(Admission::New));
    }
    let last = Entry::from_leaf(&storage.leaf(size - 1).unwrap().unwrap()).unwrap();
    assert!(
        matches!(last.signed, Signed::MapHead(_)),
        "the log ends in a map head"
    );
    assert!(heads > 10, "seed {seed}: {heads} map heads");
    stored_records_equal_the_replayed_registry(storage, &registry, seed);
}

/// The registry the sequencer stored, record by record (listing indexes
/// included), is the one a replay of its log gives: nothing missing,
/// nothing extra, nothing different.
fn stored_records_equal_the_replayed_registry(
    storage: &MemoryStorage,
    registry: &Registry,
    seed: u64,
) {
    use crate::storage::Storage;
    use std::collections::BTreeMap;
    let want: BTreeMap<Vec<u8>, Vec<u8>> = (registry.all_records().into_iter())
        .map(|(k, v)| (k, v.expect("all_records only sets")))
        .collect();
    let got: BTreeMap<Vec<u8>, Vec<u8>> = storage
        .registry_scan(&[], &[], usize::MAX)
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        want.keys().any(|k| k[0] == b'v'),
        "seed {seed}: some verified listing"
    );
    for (k, v) in &want {
        assert_eq!(
            got.get(k),
            Some(v),
            "seed {seed}: record {}",
            hex::encode(k)
        );
    }
    assert_eq!(got.len(), want.len(), "seed {seed}: no extra records");
}

/// The registry map kept statement by statement (the values of the keys
/// each statement changes, `Registry::changed_map_keys`) equals the map of
/// every pair computed from scratch, at every step: no statement changes a
/// value it does not name, whatever the mix of statements.
#[test]
fn the_registry_map_kept_incrementally_equals_the_map_from_scratch() {
    use crate::core::map::MemoryMap;
    for seed in 1..=6u64 {
        let mut rng = Rng(0x51_7cc1_b727_220a ^ seed);
        let operator = key(1);
        let all = statements(&mut rng, &operator, 160);
        let mut registry = Registry::new();
        let mut kept = MemoryMap::default();
        for (step, s) in all.iter().enumerate() {
            let changed = registry.changed_map_keys(s);
            if registry.apply(registry.size, s) != Ok(Admission::New) {
                continue; // refused or a duplicate: nothing changes
            }
            let values: Vec<_> = changed
                .iter()
                .map(|k| {
                    (
                        k.hash(),
                        crate::core::sha256(&registry.map_value(k).unwrap()),
                    )
                })
                .collect();
            kept.set_all(values.iter().map(|(k, v)| (k, v)));
            if step % 8 == 0 || step == all.len() - 1 {
                let pairs: Vec<_> = (registry.map_keys().iter())
                    .map(|k| {
                        (
                            k.hash(),
                            crate::core::sha256(&registry.map_value(k).unwrap()),
                        )
                    })
                    .collect();
                let mut scratch = MemoryMap::default();
                let root = scratch.set_all(pairs.iter().map(|(k, v)| (k, v)));
                assert_eq!(kept.root(), root, "seed {seed}, step {step}");
            }
        }
    }
}
