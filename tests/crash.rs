//! Crash safety under SIGKILL: a real `accord serve` process takes
//! concurrent submissions and is killed at pseudo-random moments, then
//! restarted on the same data. After every restart, every acknowledged
//! entry is at the index it was given, byte for byte; every checkpoint ever
//! returned is consistent with the latest; and at the end the whole log
//! passes `accord audit`. 5 kills by default (CI); set ACCORD_CRASH_ROUNDS
//! (e.g. 20) for a longer run by hand.

mod common;

use accord::proto::{self, registry_service_client::RegistryServiceClient};
use accord::verifier::{verify_checkpoint_consistency, verify_receipt};
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::Channel;

const ACCORD: &str = env!("CARGO_BIN_EXE_accord");

async fn connect(url: &str) -> RegistryServiceClient<Channel> {
    for _ in 0..250 {
        if let Ok(c) = RegistryServiceClient::connect(url.to_owned()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no server at {url}");
}

/// What the server acknowledged: index, leaf bytes, checkpoint note.
type Acks = Arc<Mutex<Vec<(u64, Vec<u8>, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_entries_survive_sigkill() {
    let rounds: u64 = std::env::var("ACCORD_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let acks: Acks = Arc::default();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next_org = 0u32;
    let mut server = ServeProcess::start(&data, &[]).unwrap();
    let mut url = server.url();
    let vkey = accord::server::datadir::load_key(&data, None)
        .unwrap()
        .verifier();
    let operator = accord::server::datadir::read_key(&data.join("operator.pem")).unwrap();
    connect(&url)
        .await
        .submit(with_token(&registration(&operator), &admin_token(&data)))
        .await
        .unwrap();

    for round in 0..rounds {
        // Load: 8 streams submitting new organizations until the kill.
        let mut writers = Vec::new();
        for _ in 0..8 {
            let (mut c, acks, vkey) = (connect(&url).await, acks.clone(), vkey.clone());
            let first = next_org;
            next_org += 10_000;
            writers.push(tokio::spawn(async move {
                for i in first..first + 10_000 {
                    let key = org_key(i);
                    let req = request(&sign(&key, endorsement(&key, &format!("Crash {i}"))));
                    match c.submit(req).await {
                        Ok(r) => {
                            let r = r.into_inner();
                            // An acknowledgement is a valid receipt.
                            verify_receipt(&r.leaf, &receipt(&r), &vkey).unwrap();
                            acks.lock().unwrap().push((r.index, r.leaf, r.checkpoint));
                        }
                        Err(_) => return, // the server is gone
                    }
                }
            }));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(100 + rng % 400)).await;
        server.kill9();
        for w in writers {
            w.await.unwrap();
        }

        server = ServeProcess::start(&data, &[]).unwrap();
        url = server.url();
        let mut c = connect(&url).await;
        let latest = c
            .get_checkpoint(proto::GetCheckpointRequest {})
            .await
            .unwrap()
            .into_inner();
        let acked = acks.lock().unwrap().clone();
        assert!(!acked.is_empty(), "round {round}: nothing was acknowledged");
        for (index, leaf, checkpoint) in &acked {
            let stored = c
                .get_entry(proto::GetEntryRequest { index: *index })
                .await
                .unwrap_or_else(|e| panic!("round {round}: acknowledged entry {index} lost: {e}"))
                .into_inner();
            assert_eq!(&stored.leaf, leaf, "round {round}: entry {index} changed");
            let old = accord::core::checkpoint::Checkpoint::open(checkpoint, &vkey)
                .unwrap()
                .head
                .size;
            let proof = c
                .get_consistency_proof(proto::GetConsistencyProofRequest {
                    old_size: old,
                    new_size: latest.size,
                })
                .await
                .unwrap()
                .into_inner();
            let hashes: Vec<&[u8]> = proof.hashes.iter().map(|h| &h[..]).collect();
            verify_checkpoint_consistency(checkpoint, &latest.signed_note, &hashes, &vkey)
                .unwrap_or_else(|e| {
                    panic!("round {round}: checkpoint {old} vs {}: {e}", latest.size)
                });
        }
        eprintln!(
            "crash round {round}: killed, restarted at size {}, {} acknowledged entries intact",
            latest.size,
            acked.len()
        );
        // Only one checkpoint per distinct size needs keeping from now on.
        let mut a = acks.lock().unwrap();
        a.sort_by_key(|x| x.0);
        a.dedup_by_key(|x| x.0);
    }

    // The whole log, after all the kills, passes an independent audit.
    let out = Command::new(ACCORD)
        .args([
            "audit",
            "--server",
            &url,
            "--vkey",
            &vkey.to_string(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server); // SIGTERM
}

/// Runs `accord serve` on `data`, which must refuse to start: returns its
/// stderr. Fails if it is still running after 30 s.
fn refused(data: &Path) -> String {
    let mut child = Command::new(ACCORD)
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(!status.success(), "it must fail: {stdout}");
            assert!(!stdout.contains("serving"), "it must not serve: {stdout}");
            return String::from_utf8_lossy(&out.stderr).into_owned();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("accord serve started on a damaged database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_missing_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServeProcess::start(&data, &[]).unwrap();
    let url = server.url();
    let operator = accord::server::datadir::read_key(&data.join("operator.pem")).unwrap();
    let mut c = connect(&url).await;
    c.submit(with_token(&registration(&operator), &admin_token(&data)))
        .await
        .unwrap();
    for i in 0..20u32 {
        let key = org_key(500 + i);
        c.submit(request(&sign(&key, endorsement(&key, &format!("Org {i}")))))
            .await
            .unwrap();
    }
    // Every submission above was acknowledged, hence durable: SIGKILL.
    server.kill9();

    // Every file of the records store overwritten with garbage (same size).
    let records = data
        .join("db")
        .join(accord::storage::records_db::RECORDS_DIR);
    garble(&records);
    let why = refused(&data);
    assert!(why.contains("damaged"), "{why}");

    // Deleted: the key remains, so a new empty log would fork the old one.
    std::fs::remove_dir_all(data.join("db")).unwrap();
    let why = refused(&data);
    assert!(why.contains("holds no log"), "{why}");
}

/// Overwrites every file under `dir` with bytes of the same length.
fn garble(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            garble(&path);
        } else {
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            std::fs::write(&path, vec![0xab; len]).unwrap();
        }
    }
}
