//! A log with a witness policy (three real `accord witness` processes,
//! quorum 2): its checkpoints get cosigned and served as the checkpoint;
//! with one witness down there is still a quorum; with all down the
//! served checkpoint stays the last cosigned one while the log goes on
//! (verifiers with the policy refuse the newer, log-signed one) until the
//! witnesses are back, when it is cosigned without a new entry; and a
//! second log under the same key with another history — a fork — is
//! refused by the witnesses and never reaches the quorum.

mod common;

use accord::core::policy::Policy;
use accord::proto::{self, registry_service_client::RegistryServiceClient};
use accord::storage::MemoryStorage;
use common::{log_signer, start_witness, MemServer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

async fn checkpoint(c: &mut RegistryServiceClient<Channel>) -> proto::GetCheckpointResponse {
    c.get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Waits (at most 20 s) until the served checkpoint is the log's latest and
/// meets the policy.
async fn cosigned(
    c: &mut RegistryServiceClient<Channel>,
    policy: &Policy,
) -> proto::GetCheckpointResponse {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cp = checkpoint(c).await;
        let latest_size = cp
            .log_signed_note
            .lines()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap();
        if policy.verify(&cp.signed_note).is_ok() && cp.size == latest_size {
            return cp;
        }
        assert!(Instant::now() < deadline, "no cosigned checkpoint: {cp:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn server_with(policy: &Policy) -> MemServer {
    server_on(Arc::new(MemoryStorage::new()), policy).await
}

/// A server of `storage`'s log with the policy; registers the commitment.
async fn server_on(storage: Arc<MemoryStorage>, policy: &Policy) -> MemServer {
    let mut endpoint = accord::server::Endpoint::new(Some(common::ADMIN_TOKEN_FIXTURE), None);
    endpoint.witness_policy = Some(policy.clone());
    let server = MemServer::start_with(storage, log_signer(), endpoint).await;
    let operator = common::operator_fixture();
    let registration = common::with_token(
        &common::registration(&operator),
        common::ADMIN_TOKEN_FIXTURE,
    );
    server.client().await.submit(registration).await.unwrap();
    server
}

/// Three `accord witness` processes (state under `dir`, kept across
/// calls) and the policy "any two of them" for the test log.
fn three_witnesses(
    dir: &std::path::Path,
    vkey: &str,
) -> (Vec<common::WitnessProcess>, Policy, String) {
    let witnesses: Vec<_> = (1..=3)
        .map(|i| {
            start_witness(
                &dir.join(format!("w{i}")),
                &format!("witness.test/w{i}"),
                vkey,
            )
        })
        .collect();
    let mut text = format!("log {vkey}\n");
    for (i, w) in witnesses.iter().enumerate() {
        text += &format!("witness W{} {} http://{}\n", i + 1, w.key, w.addr);
    }
    text += "group any-two 2 W1 W2 W3\nquorum any-two\n";
    let policy = Policy::parse(&text).unwrap();
    (witnesses, policy, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_of_witnesses_cosigns_the_log_and_refuses_a_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let vkey = log_signer().verifier().to_string();
    let (mut witnesses, policy, policy_text) = three_witnesses(tmp.path(), &vkey);
    let server = server_with(&policy).await;
    let mut c = server.client().await;

    server.submit(1..=3).await;
    let first = cosigned(&mut c, &policy).await;
    assert_eq!(
        first
            .signed_note
            .lines()
            .filter(|l| l.starts_with('\u{2014}'))
            .count(),
        4,
        "the log's signature and three cosignatures"
    );

    // One witness down: two still make the quorum.
    let addrs: Vec<String> = witnesses.iter().map(|w| w.addr.clone()).collect();
    witnesses.remove(0);
    server.submit(4..=6).await;
    let second = cosigned(&mut c, &policy).await;
    assert!(second.size > first.size);

    // All down: the log goes on; the served checkpoint stays the last
    // cosigned one, and the newer log-signed one does not meet the policy.
    witnesses.clear();
    server.submit(7..=9).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = checkpoint(&mut c).await;
    assert_eq!(now.signed_note, second.signed_note);
    assert!(policy.verify(&now.log_signed_note).is_err());
    let log_only = Policy::parse(&format!("log {vkey}\nquorum none\n")).unwrap();
    assert!(
        log_only.verify(&now.log_signed_note).is_ok(),
        "without a quorum rule it verifies"
    );
    // The page's JavaScript verifier agrees: the cosigned checkpoint meets
    // the policy (by the two witnesses still up), the newer one does not.
    if common::node_ready() {
        let dir = tmp.path();
        std::fs::write(dir.join("js-vkey"), &vkey).unwrap();
        std::fs::write(dir.join("js-policy"), &policy_text).unwrap();
        let js = |note: &str| {
            std::fs::write(dir.join("js-note"), note).unwrap();
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/js/verify_checkpoint.mjs"
            );
            let out = std::process::Command::new("node")
                .args([script, "js-vkey", "js-policy", "js-note"])
                .current_dir(dir)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text)
        };
        let (ok, text) = js(&second.signed_note);
        assert!(
            ok && text.contains(&format!("size {} cosigned by W", second.size)),
            "{text}"
        );
        let (ok, text) = js(&now.log_signed_note);
        assert!(!ok && text.contains("quorum"), "{text}");
    }
    // `accord audit --policy` accepts the cosigned checkpoint, and refuses
    // one when the policy wants a witness that never cosigned.
    let dir = tmp.path();
    std::fs::write(dir.join("policy"), &policy_text).unwrap();
    let audit = |policy: &str| {
        let args = [
            "audit",
            "--server",
            &server.url,
            "--vkey",
            &vkey,
            "--policy",
            policy,
            "--quiet",
        ];
        common::run_accord(dir, &args)
    };
    let out = audit("policy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // TEST FIXTURE key of a witness that never cosigned anything.
    let stranger =
        accord::core::cosignature::Cosigner::from_seed("stranger.test/w", &[3; 32]).unwrap();
    let strict = format!("log {vkey}\nwitness S {}\nquorum S\n", stranger.verifier());
    std::fs::write(dir.join("strict"), strict).unwrap();
    let out = audit("strict");
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && why.contains("witness policy"),
        "{why}"
    );
    // The witnesses come back (with what they cosigned): the log resends
    // its latest checkpoint without waiting for a new one.
    let back: Vec<_> = (2..=3)
        .map(|i| {
            let (dir, name) = (
                tmp.path().join(format!("w{i}")),
                format!("witness.test/w{i}"),
            );
            common::start_witness_at(&dir, &name, &vkey, &addrs[i - 1])
        })
        .collect();
    let third = cosigned(&mut c, &policy).await;
    assert!(third.size > second.size);
    drop(back);
    server.stop().await;

    // A fork: another history under the same log key, witnessed by the
    // same (restarted) witnesses, which remember the first history.
    let (witnesses, policy, _) = three_witnesses(tmp.path(), &vkey);
    let fork = server_with(&policy).await;
    fork.submit(100..=130).await; // a longer, different history
    let mut f = fork.client().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cp = checkpoint(&mut f).await;
    assert_eq!(
        cp.signed_note, cp.log_signed_note,
        "no cosignature for the fork"
    );
    assert!(policy.verify(&cp.signed_note).is_err());
    // The witnesses still hold the first history's checkpoint.
    let origin_hash = hex::encode(accord::core::sha256(log_signer().name.as_bytes()));
    for w in &witnesses[1..] {
        let held = common::http_fetch(&w.addr, &format!("/{origin_hash}/checkpoint"));
        let held = String::from_utf8(held.body).unwrap();
        assert_eq!(held.lines().nth(1), Some(third.size.to_string().as_str()));
    }
    fork.stop().await;
}

/// `accord endorse --witnessed` makes its receipt with a cosigned
/// checkpoint; `accord verify --policy` (and the Python verifier's
/// `--policy`) accept it and refuse it under a policy it does not meet;
/// the witnessing metrics count each witness's answers; with every witness
/// down, `--witnessed` gives up after its timeout, keeping the log-signed
/// receipt, which only verifiers without the policy accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witnessed_receipts_verify_with_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vkey = log_signer().verifier().to_string();
    let (mut witnesses, policy, policy_text) = three_witnesses(dir, &vkey);
    let server = server_with(&policy).await;
    std::fs::write(dir.join("policy"), &policy_text).unwrap();
    let stranger =
        accord::core::cosignature::Cosigner::from_seed("stranger.test/w", &[3; 32]).unwrap();
    std::fs::write(
        dir.join("strict"),
        format!("log {vkey}\nwitness S {}\nquorum S\n", stranger.verifier()),
    )
    .unwrap();
    let run = |args: Vec<String>| {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::run_accord(&dir, &args)
        })
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    common::accord_ok(dir, &["keygen", "--out", "org.pem"]);
    let digest = hex::encode(accord::core::sha256(common::COMMITMENT_TEXT));
    let endorse = |out: &str, timeout: &str| {
        args(&[
            "endorse",
            "--server",
            &server.url,
            "--key",
            "org.pem",
            "--commitment",
            "global-commitment-dts",
            "--commitment-sha256",
            &digest,
            "--org",
            "Government of Uruguay",
            "--group",
            "government",
            "--region",
            "grulac",
            "--out",
            out,
            "--witnessed",
            "--policy",
            "policy",
            "--witnessed-timeout",
            timeout,
        ])
    };
    let out = run(endorse("uy", "20")).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let receipt = std::fs::read_to_string(dir.join("uy.tlog-proof")).unwrap();
    // The receipt's checkpoint (after the proof lines, from its origin line)
    // carries the quorum's cosignatures.
    let note = &receipt[receipt.find("test.example/log\n").unwrap()..];
    assert!(policy.verify(note).is_ok(), "{receipt}");
    // `verify` (and the Python verifier's `receipt`) of receipt PREFIX,
    // with `--policy POLICY` when given.
    let receipt_args = |prefix: &str, policy: Option<&str>| {
        let (entry, proof) = (format!("{prefix}.entry"), format!("{prefix}.tlog-proof"));
        let mut a = args(&["--vkey", &vkey, "--entry", &entry, "--proof", &proof]);
        a.extend(
            policy
                .map(|p| ["--policy".to_owned(), p.to_owned()])
                .into_iter()
                .flatten(),
        );
        a
    };
    let verify = |policy: &str| [args(&["verify"]), receipt_args("uy", Some(policy))].concat();
    let ok = run(verify("policy")).await.unwrap();
    let said = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(
        ok.status.success() && said.contains("witness policy's quorum"),
        "{said}"
    );
    let refused = run(verify("strict")).await.unwrap();
    let why = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        refused.status.code() == Some(1) && why.contains("witness policy"),
        "{why}"
    );
    if common::python_ready() {
        let py = |policy: &str| {
            std::process::Command::new("python3")
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/verifiers/python/accord_verify.py"
                ))
                .arg("receipt")
                .args(receipt_args("uy", Some(policy)))
                .current_dir(dir)
                .output()
                .unwrap()
        };
        let out = py("policy");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(py("strict").status.code(), Some(1));
    }

    // The metrics of this process's witnessing (the server runs in it).
    let metrics = accord::metrics::METRICS.render(0);
    let cosigned_by = |w: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "accord_witness_requests_total{{witness=\"{w}\",result=\"cosigned\"}}"
                ))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(
        (1..=3).all(|i| cosigned_by(&format!("W{i}")) > 0),
        "{metrics}"
    );
    assert!(metrics.contains("accord_witness_request_seconds_count{witness=\"W1\"}"));
    assert!(
        !metrics.contains("accord_cosigned_tree_size 0\n"),
        "{metrics}"
    );

    // Every witness down: --witnessed waits its timeout, then keeps the
    // log-signed receipt and exits 3.
    witnesses.clear();
    let out = run(endorse("uy2", "1")).await.unwrap();
    let why = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code() == Some(3) && why.contains("signature alone"),
        "{why}"
    );
    let plain = [args(&["verify"]), receipt_args("uy2", None)].concat();
    assert!(run(plain).await.unwrap().status.success());
    let strict = [args(&["verify"]), receipt_args("uy2", Some("policy"))].concat();
    assert_eq!(run(strict).await.unwrap().status.code(), Some(1));
    server.stop().await;
}

/// A restarted server serves the cosigned checkpoint it stored before at
/// once, although every witness is down: no round could have made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_its_stored_cosigned_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let vkey = log_signer().verifier().to_string();
    let (witnesses, policy, _) = three_witnesses(tmp.path(), &vkey);
    let storage = Arc::new(MemoryStorage::new());
    let server = server_on(storage.clone(), &policy).await;
    server.submit([1, 2]).await;
    let before = cosigned(&mut server.client().await, &policy).await;
    server.stop().await;
    drop(witnesses);
    // Restarted (the registration is a duplicate: the log does not move).
    let server = server_on(storage, &policy).await;
    let mut c = server.client().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    let after = loop {
        let cp = checkpoint(&mut c).await;
        if cp.signed_note == before.signed_note || Instant::now() > deadline {
            break cp;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(after.signed_note, before.signed_note, "served from storage");
    assert!(policy.verify(&after.signed_note).is_ok());
    server.stop().await;
}
