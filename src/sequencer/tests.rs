//! The sequencer decides a whole batch against the registry as of the last
//! commit, holding back jobs that depend on an earlier job of the batch.
//! These tests hand it batches directly, so what shares a batch is certain.

use super::state::State;
use super::{Job, Published, SequencerError};
use crate::core::endorsement::Endorsement;
use crate::core::entry::Signed;
use crate::core::model::{Region, StakeholderGroup};
use crate::core::note::Signer;
use crate::core::statements::{organization_id, CommitmentRegistration, KeyRotation};
use crate::storage::MemoryStorage;
use ed25519_dalek::{Signer as _, SigningKey};
use std::sync::Arc;
use tokio::sync::{oneshot, watch};

const TEXT: &[u8] = b"commitment text\n";

pub(super) fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32]) // TEST FIXTURE keys
}

pub(super) fn registration(operator: &SigningKey) -> Signed {
    let registration = CommitmentRegistration {
        commitment_id: "c".into(),
        version: "1".into(),
        title: "C".into(),
        text_sha256: crate::core::sha256(TEXT),
        url: None,
        signed_at: 1_764_000_000,
        public_key: operator.verifying_key().to_bytes(),
    };
    let signature = operator.sign(&registration.signed_message()).to_bytes();
    Signed::Commitment {
        registration,
        signature,
    }
}

pub(super) fn endorse(k: &SigningKey, signed_at: u64) -> Signed {
    let endorsement = Endorsement {
        commitment_id: "c".into(),
        commitment_sha256: crate::core::sha256(TEXT),
        organization_name: "Org".into(),
        stakeholder_group: StakeholderGroup::Academia,
        region: Region::AsiaPacific,
        country: None,
        domain: None,
        statement: None,
        signed_at,
        public_key: k.verifying_key().to_bytes(),
    };
    let signature = k.sign(&endorsement.signed_message()).to_bytes();
    Signed::Endorsement {
        endorsement,
        signature,
    }
}

pub(super) fn rotate(old: &SigningKey, new: &SigningKey, signed_at: u64) -> Signed {
    let rotation = KeyRotation {
        organization_id: organization_id(&old.verifying_key().to_bytes()),
        old_public_key: old.verifying_key().to_bytes(),
        new_public_key: new.verifying_key().to_bytes(),
        signed_at,
    };
    let m = rotation.signed_message();
    Signed::KeyRotation {
        old_signature: old.sign(&m).to_bytes(),
        new_signature: new.sign(&m).to_bytes(),
        rotation,
    }
}

type Reply = oneshot::Receiver<Result<super::Accepted, SequencerError>>;

fn jobs(statements: Vec<Signed>) -> (Vec<Job>, Vec<Reply>) {
    statements
        .into_iter()
        .map(|signed| {
            let (reply, rx) = oneshot::channel();
            (Job { signed, reply }, rx)
        })
        .unzip()
}

/// Index of an accepted reply (and whether it was a duplicate).
fn index(rx: &mut Reply) -> Option<(u64, bool)> {
    match rx.try_recv() {
        Ok(Ok(a)) => Some((a.index, a.duplicate)),
        Ok(Err(e)) => panic!("refused: {e}"),
        Err(_) => None, // not answered yet (held)
    }
}

#[test]
fn dependent_jobs_wait_for_the_next_batch() {
    let operator = key(1);
    let signer = Signer::from_seed("test.example/log", &[0x5a; 32]).unwrap();
    let mut state = State::open(
        Arc::new(MemoryStorage::new()),
        signer,
        operator.verifying_key().to_bytes(),
    )
    .unwrap();
    let (tx, _published) = watch::channel(Arc::new(Published {
        head: state.published().head,
        checkpoint: String::new(),
    }));
    state.load_registry(&watch::channel(super::Loading::InProgress).0, None);
    let (a, b, a2) = (key(2), key(3), key(4));
    let t = 1_764_000_100;
    // One batch: the registration, then statements that each depend on it
    // or on each other, and one (b's endorsement) that is independent of
    // the others but not of the registration.
    let (batch, mut replies) = jobs(vec![
        registration(&operator),
        endorse(&a, t),
        endorse(&a, t),
        rotate(&a, &a2, t + 1),
        endorse(&a2, t + 2),
        endorse(&b, t),
    ]);
    state.process(batch, &tx);
    let answered: Vec<_> = replies.iter_mut().map(index).collect();
    assert_eq!(answered, [Some((0, false)), None, None, None, None, None]);
    // Each following batch settles what the previous one made possible.
    let mut rounds = 0;
    while !state.held.is_empty() {
        let held = std::mem::take(&mut state.held);
        state.process(held, &tx);
        rounds += 1;
    }
    // Batch 2: a's endorsement and b's; 3: the copy (a duplicate) and the
    // rotation; 4: the endorsement with a's new key. Each batch ends with
    // its map head (entries 1, 4, 6 and 8).
    assert_eq!(rounds, 3);
    let answered: Vec<_> = replies[1..].iter_mut().map(index).collect();
    assert_eq!(
        answered,
        [
            Some((2, false)),
            Some((2, true)), // the identical copy: answered with entry 2
            Some((5, false)),
            Some((7, false)),
            Some((3, false)),
        ]
    );
    assert_eq!(state.published().head.size, 9);
    use crate::core::registry::{RegistryRead, StoredRegistry};
    let stored = StoredRegistry(crate::storage::Records(state.storage.as_ref()));
    let id = organization_id(&a.verifying_key().to_bytes());
    let org = stored.organization(&id).unwrap().expect("stored");
    assert_eq!(org.history, [2, 5, 7]);
    assert_eq!(org.current_key, a2.verifying_key().to_bytes());
}

/// If the clock steps back between admission (which let `signed_at` up to
/// 300 s ahead of it) and integration, the entry is still integrated no
/// earlier than `signed_at − 300 s`, so the audit's time rule (judged at
/// `integrated_at`) holds for every entry the log accepted. Simulated with
/// a statement 400 s ahead of the real clock, as if admitted when the clock
/// was ≥ 100 s later than now.
#[test]
fn an_entry_is_never_integrated_before_the_clock_that_admitted_it() {
    let operator = key(1);
    let signer = Signer::from_seed("test.example/log", &[0x5a; 32]).unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let mut state =
        State::open(storage.clone(), signer, operator.verifying_key().to_bytes()).unwrap();
    let (tx, _published) = watch::channel(Arc::new(Published {
        head: state.published().head,
        checkpoint: String::new(),
    }));
    state.load_registry(&watch::channel(super::Loading::InProgress).0, None);
    let now = super::state::now_secs();
    let (batch, mut replies) = jobs(vec![registration(&operator)]);
    state.process(batch, &tx);
    assert_eq!(index(&mut replies[0]), Some((0, false)));
    let ahead = now + 400;
    let (batch, mut replies) = jobs(vec![endorse(&key(2), ahead)]);
    state.process(batch, &tx);
    assert_eq!(index(&mut replies[0]), Some((2, false))); // after a map head
    use crate::storage::Storage as _;
    let leaf = storage.leaf(2).unwrap().expect("entry 2 stored");
    let entry = crate::core::entry::Entry::from_leaf(&leaf).unwrap();
    assert!(
        entry.integrated_at_ms / 1000 + 300 >= ahead,
        "integrated at {} for signed_at {ahead}",
        entry.integrated_at_ms
    );
    // The audit's per-entry rules accept it.
    entry
        .signed
        .validate(entry.integrated_at_ms / 1000)
        .expect("the time rule holds at integrated_at");
}
