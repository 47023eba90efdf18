//! The auditor's fault suite: servers that lie in each way a log can, over a
//! real gRPC connection. The auditor must catch every one with the right exit
//! code (1: something does not verify; 4: misbehaviour, with evidence that
//! `check-evidence` confirms with the log key alone).

mod common;

use accord::cli::audit::audit;
use accord::cli::exit;
use accord::core::entry::Entry;
use accord::core::merkle;
use accord::storage::{MemoryStorage, Storage};
use accord::verifier::evidence::Evidence;
use common::*;
use std::path::Path;
use std::sync::Arc;

async fn audit_code(url: &str, state: &Path) -> Result<u64, (i32, String)> {
    let vkey = log_signer().verifier();
    audit(url, &vkey, Some(state), false)
        .await
        .map(|s| s.checked)
        .map_err(|e| (e.code, e.message))
}

/// Exactly one evidence file in `dir`, and it checks out with the log key.
fn confirmed_evidence(dir: &Path) -> String {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("evidence-")
        })
        .collect();
    assert_eq!(files.len(), 1, "one evidence file");
    let evidence = Evidence::parse(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    evidence
        .check(&log_signer().verifier())
        .expect("evidence confirmed with the log key alone")
}

/// A server for a log whose first entries were audited, then `other` serves
/// an alternative history under the same key. Organizations are submitted
/// one at a time, so each is its own batch: the registration is entry 0 and
/// organization `n`'s endorsement entry `2n + 2`, each followed by its map
/// head; `k` organizations make a log of size `2k + 2`.
async fn audited_then(other: impl IntoIterator<Item = u32>) -> (tempfile::TempDir, MemServer) {
    let state = tempfile::tempdir().unwrap();
    let honest = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    honest.submit(0..5).await;
    assert_eq!(
        audit_code(&honest.url, state.path()).await,
        Ok(12),
        "the registration and 5 endorsements, each with its map head"
    );
    honest.stop().await;
    let liar = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    liar.submit(other).await;
    (state, liar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_log_audits_incrementally() {
    let state = tempfile::tempdir().unwrap();
    let server = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    server.submit(0..7).await;
    // The registration and 7 endorsements, each followed by its map head.
    assert_eq!(audit_code(&server.url, state.path()).await, Ok(16));
    assert_eq!(
        audit_code(&server.url, state.path()).await,
        Ok(0),
        "nothing new"
    );
    server.submit(7..10).await;
    assert_eq!(
        audit_code(&server.url, state.path()).await,
        Ok(6),
        "only the new part: 3 endorsements and their map heads"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_1_altered_stored_entry() {
    let state = tempfile::tempdir().unwrap();
    let server = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    server.submit(0..6).await;
    // Change the organization's name inside entry 6 (Organization 2; entry 0
    // is the commitment registration, and each statement is followed by its
    // map head): the leaf still parses.
    let mut leaf = server.storage.leaf(6).unwrap().unwrap();
    let at = leaf
        .windows(14)
        .position(|w| w == b"Organization 2")
        .unwrap();
    leaf[at..at + 14].copy_from_slice(b"Organization X");
    server.storage.tamper_leaf(6, leaf);
    let (code, msg) = audit_code(&server.url, state.path()).await.unwrap_err();
    assert_eq!(code, exit::VERIFY_FAILED, "{msg}");
    assert!(msg.contains("entry 6"), "{msg}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_2_forked_tree() {
    // Same first 3 organizations, then a different history, growing past the
    // audited size (12) to 16.
    let (state, liar) = audited_then([0, 1, 2, 50, 51, 52, 53]).await;
    let (code, msg) = audit_code(&liar.url, state.path()).await.unwrap_err();
    assert_eq!(code, exit::MISBEHAVIOUR, "{msg}");
    assert!(confirmed_evidence(state.path()).contains("consistency proof from size 12 to 16 fails"));
    liar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_2b_fork_at_the_same_size() {
    let (state, liar) = audited_then([0, 1, 2, 3, 60]).await;
    let (code, msg) = audit_code(&liar.url, state.path()).await.unwrap_err();
    assert_eq!(code, exit::MISBEHAVIOUR, "{msg}");
    // 5 organizations again: the audited size, 12.
    assert!(confirmed_evidence(state.path()).contains("two different roots for tree size 12"));
    liar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_3_rollback() {
    let (state, liar) = audited_then(0..3).await;
    let (code, msg) = audit_code(&liar.url, state.path()).await.unwrap_err();
    assert_eq!(code, exit::MISBEHAVIOUR, "{msg}");
    // 3 organizations: size 8, behind the audited 12.
    assert!(confirmed_evidence(state.path()).contains("tree size 8 after tree size 12"));
    liar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_4_broken_hash_chain() {
    // A log whose tree and checkpoint are correctly signed over leaves whose
    // hash chain skips: entry 3 names entry 1's leaf hash instead of entry 2's.
    let signer = log_signer();
    let store = Arc::new(MemoryStorage::new());
    let (mut leaves, mut hashes) = (Vec::new(), Vec::new());
    for i in 0..5u64 {
        let prev = match i {
            0 => [0; 32],
            3 => hashes[1],
            _ => hashes[i as usize - 1],
        };
        let key = org_key(i as u32);
        let signed = if i == 0 {
            registration(&operator_fixture())
        } else {
            sign(&key, endorsement(&key, "Chain"))
        };
        let entry = Entry {
            index: i,
            integrated_at_ms: 1_000 * now(),
            prev_leaf_hash: prev,
            signed,
        };
        let leaf = entry.to_leaf();
        hashes.push(merkle::leaf_hash(&leaf));
        leaves.push(leaf);
    }
    commit_log(&store, &signer, leaves);
    let server = MemServer::start(store, signer).await;
    let state = tempfile::tempdir().unwrap();
    let (code, msg) = audit_code(&server.url, state.path()).await.unwrap_err();
    assert_eq!(code, exit::VERIFY_FAILED, "{msg}");
    assert!(msg.contains("entry 3 breaks the hash chain"), "{msg}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_5_bad_consistency_proof() {
    let state = tempfile::tempdir().unwrap();
    let server = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    server.submit(0..2).await;
    // The registration and 2 endorsements, each followed by its map head.
    assert_eq!(audit_code(&server.url, state.path()).await, Ok(6));
    server.submit(2..7).await;
    // Now 16 entries. The proof from 6 to 16 (RFC 6962 SUBPROOF) is
    // [node(1,2), node(1,3), node(2,0), node(3,1)]; corrupt the last.
    server.storage.tamper_node(3, 1, [0xee; 32]);
    let (code, msg) = audit_code(&server.url, state.path()).await.unwrap_err();
    assert_eq!(code, exit::MISBEHAVIOUR, "{msg}");
    assert!(confirmed_evidence(state.path()).contains("consistency proof from size 6 to 16 fails"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_share_the_state_safely() {
    let state = tempfile::tempdir().unwrap();
    let server = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    server.submit(0..19).await;
    let (a, b) = tokio::join!(
        audit_code(&server.url, state.path()),
        audit_code(&server.url, state.path())
    );
    let mut checked = [a.unwrap(), b.unwrap()];
    checked.sort();
    // The registration and 19 endorsements, each followed by its map head.
    assert_eq!(
        checked,
        [0, 40],
        "one run verifies everything, the other waits and finds nothing new"
    );
    server.stop().await;
}
