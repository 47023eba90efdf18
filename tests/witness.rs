//! `accord witness` (C2SP tlog-witness, cosignature/v1), as a real process
//! over HTTP, fed checkpoints and consistency proofs of a real log: it
//! cosigns a log's growth, answers every refusal with the spec's status
//! (404 unknown log, 403 bad signature, 400, 409 with the cosigned size,
//! 422 bad proof or another root for the same size), keeps its state across
//! a restart, and serves what it cosigned to monitors.

mod common;

use accord::core::checkpoint::{Checkpoint, TreeHead};
use accord::proto;
use accord::storage::MemoryStorage;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use common::{http_fetch, http_request, log_signer, start_witness, MemServer, WitnessProcess};
use std::sync::Arc;

fn add(w: &WitnessProcess, old: u64, proof: &[Vec<u8>], checkpoint: &str) -> common::HttpReply {
    let mut body = format!("old {old}\n");
    for h in proof {
        body += &format!("{}\n", B64.encode(h));
    }
    body += &format!("\n{checkpoint}");
    http_request(&w.addr, "POST", "/add-checkpoint", body.as_bytes())
}

fn text(r: &common::HttpReply) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_consistent_growth_and_refuses_everything_else() {
    let tmp = tempfile::tempdir().unwrap();
    let server = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    let mut c = server.client().await;
    let checkpoint = |c: &mut accord::proto::registry_service_client::RegistryServiceClient<_>| {
        let mut c = c.clone();
        async move {
            c.get_checkpoint(proto::GetCheckpointRequest {})
                .await
                .unwrap()
                .into_inner()
        }
    };
    let vkey = log_signer().verifier().to_string();
    let w = start_witness(tmp.path(), "witness.test/w1", &vkey);

    let first = checkpoint(&mut c).await;
    let r = add(&w, 0, &[], &first.signed_note);
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = first.signed_note.split_once("\n\n").unwrap().0.to_owned() + "\n";
    assert_eq!(
        w.key.verify_line(&body, &text(&r)).unwrap().map(|_| ()),
        Some(()),
        "a valid cosignature"
    );
    assert_eq!(text(&r).lines().count(), 1);

    // The same request again: the witness is past size 0.
    let r = add(&w, 0, &[], &first.signed_note);
    assert_eq!(
        (r.status, r.header("content-type")),
        (409, Some("text/x.tlog.size"))
    );
    assert_eq!(text(&r), format!("{}\n", first.size));

    // The log grows; the witness follows with a consistency proof.
    server.submit(1..=5).await;
    let second = checkpoint(&mut c).await;
    let proof = (c.get_consistency_proof(proto::GetConsistencyProofRequest {
        old_size: first.size,
        new_size: second.size,
    }))
    .await
    .unwrap()
    .into_inner()
    .hashes;
    assert!(!proof.is_empty());
    let mut bad_proof = proof.clone();
    bad_proof[0][0] ^= 1;
    assert_eq!(
        add(&w, first.size, &bad_proof, &second.signed_note).status,
        422
    );
    let r = add(&w, first.size, &proof, &second.signed_note);
    assert_eq!(r.status, 200, "{}", text(&r));

    // Another root for the size it cosigned (a fork, signed by the log key).
    let forged = Checkpoint {
        origin: log_signer().name.clone(),
        head: TreeHead {
            size: second.size,
            root: [7; 32],
        },
    }
    .sign(&log_signer())
    .unwrap();
    assert_eq!(add(&w, second.size, &[], &forged).status, 422);
    // The same checkpoint again is fine (idempotent), an old size above the new one is not.
    assert_eq!(add(&w, second.size, &[], &second.signed_note).status, 200);
    assert_eq!(
        add(&w, second.size + 1, &[], &second.signed_note).status,
        400
    );

    // A log it does not witness, and a bad signature by the one it does.
    let other = accord::core::note::Signer::from_seed("other.example/log", &[9; 32]).unwrap();
    let unknown = Checkpoint {
        origin: other.name.clone(),
        head: TreeHead {
            size: 1,
            root: [1; 32],
        },
    };
    assert_eq!(add(&w, 0, &[], &unknown.sign(&other).unwrap()).status, 404);
    let (note_text, sig_line) = second.signed_note.split_once("\n\n").unwrap();
    let (prefix, sig) = sig_line.trim_end().rsplit_once(' ').unwrap();
    let mut raw = B64.decode(sig).unwrap();
    raw[10] ^= 1;
    let tampered = format!("{note_text}\n\n{prefix} {}\n", B64.encode(raw));
    assert_eq!(add(&w, second.size, &[], &tampered).status, 403);
    assert_eq!(
        http_request(&w.addr, "POST", "/add-checkpoint", b"old 1\n").status,
        400
    );

    // Restarted, it remembers what it cosigned: no rollback to size 0.
    drop(w);
    let w = start_witness(tmp.path(), "witness.test/w1", &vkey);
    let r = add(&w, 0, &[], &first.signed_note);
    assert_eq!((r.status, text(&r)), (409, format!("{}\n", second.size)));

    // Monitors read the latest cosigned checkpoint, with both signatures.
    let origin_hash = hex::encode(accord::core::sha256(log_signer().name.as_bytes()));
    let served = http_fetch(&w.addr, &format!("/{origin_hash}/checkpoint"));
    assert_eq!(served.status, 200);
    let note = text(&served);
    Checkpoint::open(&note, &log_signer().verifier()).unwrap();
    let cosig = note.lines().last().unwrap();
    assert!(w
        .key
        .verify_line(&(note_text.to_owned() + "\n"), cosig)
        .unwrap()
        .is_some());
    assert_eq!(
        http_fetch(&w.addr, &format!("/{}/checkpoint", "0".repeat(64))).status,
        404
    );
    server.stop().await;
}
