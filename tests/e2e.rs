//! End to end: a real server on loopback over the local store in a temp dir. Concurrent
//! submissions, offline receipt verification, idempotent resubmission, the
//! hash chain, and a restart after which old receipts still verify and new
//! checkpoints are consistent with old ones.

mod common;

use accord::core::entry::Entry;
use accord::core::merkle;
use accord::proto;
use accord::verifier::{verify_checkpoint_consistency, verify_receipt};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_verify_restart_and_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let vkey = server.verifier();
    let mut client = server.client().await;
    // The registration (entry 0) and its map head (entry 1).
    let start = tree_size(&mut client).await;
    assert_eq!(start, 2);

    // Submit 24 endorsements concurrently from distinct organizations.
    let mut tasks = Vec::new();
    for i in 0..24u32 {
        let mut client = server.client().await;
        tasks.push(tokio::spawn(async move {
            let key = org_key(i);
            let signed = sign(&key, endorsement(&key, &format!("Organization {i}")));
            client.submit(request(&signed)).await.unwrap().into_inner()
        }));
    }
    let (mut receipts, mut checkpoint_ends) = (Vec::new(), Vec::new());
    for t in tasks {
        let resp = t.await.unwrap();
        assert!(!resp.duplicate);
        assert_eq!(resp.leaf_hash, merkle::leaf_hash(&resp.leaf).to_vec());
        let ok =
            verify_receipt(&resp.leaf, &receipt(&resp), &vkey).expect("receipt verifies offline");
        assert_eq!(ok.entry.index, resp.index);
        // The answer's checkpoint ends with the map head of the entry's batch.
        let size = ok.checkpoint.head.size;
        assert!(resp.index + 1 < size, "{} in a tree of {size}", resp.index);
        checkpoint_ends.push(size);
        receipts.push((resp.leaf.clone(), receipt(&resp)));
    }
    let indices: Vec<u64> = receipts
        .iter()
        .map(|(l, _)| Entry::from_leaf(l).unwrap().index)
        .collect();
    // Batching is up to the sequencer: after the registration's map head
    // come the 24 endorsements, each index once, and one map head ending
    // each batch, nothing else.
    let end = tree_size(&mut client).await;
    let batches = assert_statements_and_map_heads(&mut client, start, end, &indices).await;
    assert_eq!(end, start + 24 + batches);
    for size in checkpoint_ends {
        let last = client
            .get_entry(proto::GetEntryRequest { index: size - 1 })
            .await
            .unwrap()
            .into_inner();
        assert!(
            is_map_head(&last.leaf),
            "checkpoint {size} ends in a map head"
        );
    }

    // Identical resubmission: same index, no new leaf.
    let before = client
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    let key = org_key(3);
    let first = Entry::from_leaf(
        &receipts
            .iter()
            .find(|(l, _)| {
                Entry::from_leaf(l)
                    .unwrap()
                    .signed
                    .describe()
                    .contains("\"Organization 3\"")
            })
            .unwrap()
            .0,
    )
    .unwrap();
    let accord::core::entry::Signed::Endorsement { endorsement: e, .. } = first.signed.clone()
    else {
        unreachable!("an endorsement")
    };
    let again = client
        .submit(request(&sign(&key, e)))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(again.index, first.index);
    let after = client
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.size, after.size, "a duplicate appends nothing");
    assert_eq!(before.size, end);

    // The hash chain, through the map heads too: entry n names the leaf hash
    // of entry n-1; entry 0 names zeros.
    let page = client
        .get_entries(proto::GetEntriesRequest { start: 0, end: 100 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.entries.len() as u64, end);
    let mut prev = [0u8; 32];
    for (i, e) in page.entries.iter().enumerate() {
        let entry = Entry::from_leaf(&e.leaf).unwrap();
        assert_eq!(entry.index, i as u64);
        assert_eq!(entry.prev_leaf_hash, prev);
        prev = merkle::leaf_hash(&e.leaf);
        assert_eq!(e.leaf_hash, prev.to_vec());
    }

    // Proof by leaf hash, at an older tree size.
    let p = client
        .get_inclusion_proof(proto::GetInclusionProofRequest {
            leaf: Some(proto::get_inclusion_proof_request::Leaf::LeafHash(
                page.entries[5].leaf_hash.clone(),
            )),
            tree_size: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p.index, p.tree_size), (5, 10));

    // Restart on the same data.
    let old_checkpoint = after.signed_note.clone();
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    assert_eq!(server.verifier(), vkey, "same log key after restart");
    let mut client = server.client().await;
    let restarted = client
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        restarted.signed_note, old_checkpoint,
        "same checkpoint after restart"
    );
    // The registry is rebuilt in the background after a restart; a query
    // made at once waits for it and sees every organization.
    let listed = client
        .list_signatories(proto::ListSignatoriesRequest {
            commitment_id: "global-commitment-dts".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tree_size, restarted.size);
    assert_eq!(
        listed.signatories.len(),
        24,
        "the endorsements by distinct organizations (the other entries are the registration and map heads)"
    );
    for (leaf, proof) in &receipts {
        verify_receipt(leaf, proof, &vkey).expect("old receipts still verify");
    }
    // One at a time: each is its own batch, so each takes the next index and
    // its map head the one after.
    for i in 100..110u32 {
        let key = org_key(i);
        let resp = client
            .submit(request(&sign(
                &key,
                endorsement(&key, &format!("Later {i}")),
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.index, end + 2 * u64::from(i - 100));
        verify_receipt(&resp.leaf, &receipt(&resp), &vkey).unwrap();
    }
    let new = client
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(new.size, end + 20);
    let cons = client
        .get_consistency_proof(proto::GetConsistencyProofRequest {
            old_size: end,
            new_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let hashes: Vec<&[u8]> = cons.hashes.iter().map(Vec::as_slice).collect();
    verify_checkpoint_consistency(&old_checkpoint, &new.signed_note, &hashes, &vkey)
        .expect("new checkpoint extends the old");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_data_dir_of_another_log() {
    let dir = tempfile::tempdir().unwrap();
    TestServer::try_start(dir.path(), Some("first.example/log"))
        .await
        .unwrap()
        .stop()
        .await;
    let err = TestServer::try_start(dir.path(), Some("second.example/log"))
        .await
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("first.example/log") && msg.contains("second.example/log"),
        "{msg}"
    );
    // Same origin (or none given) is fine.
    TestServer::try_start(dir.path(), None)
        .await
        .unwrap()
        .stop()
        .await;
}
