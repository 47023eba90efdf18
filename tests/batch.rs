//! SubmitBatch: per-item results; one bad item never fails the others, and
//! nothing is appended for it.

mod common;

use accord::proto::{self, submit_batch_result::Result as Item};
use accord::verifier::verify_receipt;
use common::*;
use std::sync::Arc;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_items_fail_alone() {
    let server = MemServer::start(
        Arc::new(accord::storage::MemoryStorage::new()),
        log_signer(),
    )
    .await;
    let mut c = server.client().await;
    let mut items: Vec<proto::SubmitRequest> = (0..40u32)
        .map(|i| {
            let key = org_key(2000 + i);
            request(&sign(&key, endorsement(&key, &format!("Importer {i}"))))
        })
        .collect();
    // Item 5: broken signature. Item 9: unknown commitment. Item 12: a copy of item 11.
    if let Some(proto::submit_request::Statement::Endorsement(s)) = &mut items[5].statement {
        s.signature[0] ^= 1;
    }
    let key = org_key(3000);
    let mut e = endorsement(&key, "Nobody");
    e.commitment_id = "unregistered".into();
    items[9] = request(&sign(&key, e));
    items[12] = items[11].clone();
    let before = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .size;
    let results = c
        .submit_batch(proto::SubmitBatchRequest { items })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), 40);
    let vkey = log_signer().verifier();
    let mut indices = Vec::new();
    for (i, r) in results.iter().enumerate() {
        match (i, r.result.as_ref().unwrap()) {
            (5, Item::Error(e)) => {
                assert_eq!(e.code, Code::InvalidArgument as i32, "{}", e.message)
            }
            (9, Item::Error(e)) => {
                assert_eq!(e.code, Code::FailedPrecondition as i32);
                assert!(e.message.starts_with("commitment_id"), "{}", e.message);
            }
            (_, Item::Ok(ok)) => {
                verify_receipt(&ok.leaf, &receipt(ok), &vkey)
                    .expect("each item's receipt verifies");
                if !ok.duplicate {
                    indices.push(ok.index);
                }
            }
            (i, Item::Error(e)) => panic!("item {i} failed: {}", e.message),
        }
    }
    let same = |r: &proto::SubmitBatchResult| match r.result.as_ref().unwrap() {
        Item::Ok(ok) => ok.index,
        Item::Error(_) => u64::MAX,
    };
    assert_eq!(
        same(&results[11]),
        same(&results[12]),
        "the copy is answered with the same entry"
    );
    assert_eq!(indices.len(), 37, "37 new entries");
    let after = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .size;
    // The sequencer may split the items into several batches (the copy of
    // item 11 waits for the next one), each ending with its map head: the
    // new entries are the 37 answered ones and map heads, nothing else.
    let batches = assert_statements_and_map_heads(&mut c, before, after, &indices).await;
    assert!(batches >= 1);
    assert_eq!(
        after,
        before + 37 + batches,
        "nothing appended for the bad items"
    );
    let too_many = proto::SubmitBatchRequest {
        items: vec![proto::SubmitRequest::default(); 1001],
    };
    assert_eq!(
        c.submit_batch(too_many).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    server.stop().await;
}
