//! Operating a real `accord serve`: Prometheus metrics, the health service
//! (through `accord health`), graceful shutdown on SIGTERM, and backup →
//! restore → audit.

mod common;

use accord::proto::{self, registry_service_client::RegistryServiceClient};
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ACCORD: &str = env!("CARGO_BIN_EXE_accord");

fn accord(args: &[&str]) -> std::process::Output {
    Command::new(ACCORD)
        .args(args)
        .output()
        .expect("run accord")
}

fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

async fn register_and_endorse(data: &Path, url: &str, orgs: std::ops::Range<u32>) {
    let mut c = RegistryServiceClient::connect(url.to_owned())
        .await
        .unwrap();
    let operator = accord::server::datadir::read_key(&data.join("operator.pem")).unwrap();
    c.submit(with_token(&registration(&operator), &admin_token(data)))
        .await
        .unwrap();
    for i in orgs {
        let key = org_key(i);
        c.submit(request(&sign(&key, endorsement(&key, &format!("Org {i}")))))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_report_what_happened() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = ServeProcess::start(&data, &["--metrics-listen", "127.0.0.1:0"]).unwrap();
    let metrics = server
        .reported("metrics on http://")
        .expect("metrics address");
    let metrics = metrics.trim_end_matches("/metrics");
    let url = server.url();

    let health = accord(&["health", "--server", &url]);
    assert!(health.status.success(), "{health:?}");
    assert_eq!(String::from_utf8_lossy(&health.stdout).trim(), "SERVING");
    // The service by its full name (what probes ask); the name it had before
    // buf's naming rules (SPEC.md §10) is unknown to health now.
    let health = accord(&[
        "health",
        "--server",
        &url,
        "--service",
        "accord.v1.RegistryService",
    ]);
    assert!(health.status.success(), "{health:?}");
    assert_eq!(String::from_utf8_lossy(&health.stdout).trim(), "SERVING");
    let old = accord(&[
        "health",
        "--server",
        &url,
        "--service",
        "accord.v1.Registry",
    ]);
    assert_eq!(old.status.code(), Some(3), "{old:?}");

    register_and_endorse(&data, &url, 0..5).await;
    let mut c = RegistryServiceClient::connect(url.clone()).await.unwrap();
    let key = org_key(100);
    let mut e = endorsement(&key, "Org 100");
    e.commitment_id = "no-such-commitment".into(); // refused by the registry rules
    assert!(c.submit(request(&sign(&key, e))).await.is_err());
    let mut forged = sign(&key, endorsement(&key, "Org 100"));
    if let accord::core::entry::Signed::Endorsement { signature, .. } = &mut forged {
        signature[0] ^= 1; // fails verification
    }
    assert!(c.submit(request(&forged)).await.is_err());

    let m = http_get(metrics, "/metrics");
    assert_eq!(
        value(&m, "accord_submissions_total{result=\"accepted\"}"),
        6.0
    );
    assert_eq!(
        value(&m, "accord_submissions_total{result=\"rejected\"}"),
        1.0
    );
    assert_eq!(
        value(&m, "accord_submissions_total{result=\"invalid\"}"),
        1.0
    );
    assert_eq!(value(&m, "accord_verify_failures_total"), 1.0);
    // The 6 statements were submitted one at a time: 6 batches, each
    // followed by its map head, so 12 entries; the refusals committed nothing.
    assert_eq!(value(&m, "accord_tree_size"), 12.0);
    assert_eq!(value(&m, "accord_admission_seconds_count"), 8.0);
    assert_eq!(value(&m, "accord_commit_seconds_count"), 6.0);
    assert_eq!(
        value(&m, "accord_batch_entries_bucket{le=\"+Inf\"}"),
        value(&m, "accord_commit_seconds_count")
    );
    assert_eq!(
        value(&m, "accord_batch_entries_sum"),
        12.0,
        "every entry appended, map heads included"
    );
    assert_eq!(value(&m, "accord_queue_depth"), 0.0);
    assert_eq!(value(&m, "accord_stream_subscribers"), 0.0);
    assert!(m.contains("# TYPE accord_admission_seconds histogram"));
}

/// The binary built with mimalloc turns huge pages off (`server::memory`).
#[test]
fn the_server_runs_without_huge_pages() {
    if !cfg!(all(target_os = "linux", feature = "mimalloc")) {
        eprintln!("SKIPPED: huge pages are turned off only by the Linux mimalloc build");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(&tmp.path().join("data"), &[]).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) else {
        eprintln!("SKIPPED: the huge-pages check (no THP_enabled in /proc: a kernel before 5.0)");
        return;
    };
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = ServeProcess::start(&data, &[]).unwrap();
    let url = server.url();
    register_and_endorse(&data, &url, 0..1).await;
    // Submitters keep going while the signal arrives.
    let mut writers = Vec::new();
    for w in 0..4u32 {
        let mut c = RegistryServiceClient::connect(url.clone()).await.unwrap();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in (1000 * (w + 1))..(1000 * (w + 1) + 500) {
                let key = org_key(i);
                match c
                    .submit(request(&sign(&key, endorsement(&key, "Late"))))
                    .await
                {
                    Ok(r) => acked.push((r.into_inner().index, i)),
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    Command::new("kill")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (status, server)
    });
    let (status, _server) = tokio::time::timeout(Duration::from_secs(20), status)
        .await
        .unwrap()
        .unwrap();
    eprintln!(
        "exited {:.2} s after SIGTERM",
        signalled.elapsed().as_secs_f64()
    );
    assert!(status.success(), "exit status {status:?}");
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(!acked.is_empty());
    // Every acknowledged entry is there after a restart.
    let server = ServeProcess::start(&data, &[]).unwrap();
    let mut c = RegistryServiceClient::connect(server.url()).await.unwrap();
    for (index, org) in acked {
        let leaf = c
            .get_entry(proto::GetEntryRequest { index })
            .await
            .unwrap()
            .into_inner()
            .leaf;
        let entry = accord::core::entry::Entry::from_leaf(&leaf).unwrap();
        assert_eq!(
            entry.signed.signers()[0],
            org_key(org).verifying_key().to_bytes()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_log_restores_to_a_log_that_passes_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, copy) = (tmp.path().join("data"), tmp.path().join("restored"));
    let server = ServeProcess::start(&data, &[]).unwrap();
    register_and_endorse(&data, &server.url(), 0..1500).await;
    let vkey = accord::server::datadir::load_key(&data, None)
        .unwrap()
        .verifier()
        .to_string();
    let file = tmp.path().join("log.backup");
    let out = accord(&[
        "backup",
        "--server",
        &server.url(),
        "--vkey",
        &vkey,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backed_up = RegistryServiceClient::connect(server.url())
        .await
        .unwrap()
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    // The files of a running server cannot be opened (the records store is locked)…
    let cold = tmp.path().join("cold.backup");
    let cold_backup = || {
        accord(&[
            "backup",
            "--data",
            data.to_str().unwrap(),
            "--out",
            cold.to_str().unwrap(),
        ])
    };
    let locked = cold_backup();
    assert!(!locked.status.success());
    assert!(
        String::from_utf8_lossy(&locked.stderr).contains("--server"),
        "{locked:?}"
    );
    drop(server); // SIGTERM
                  // …but once it stopped, a backup from its data directory is the same file.
    let out = cold_backup();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&cold).unwrap(), std::fs::read(&file).unwrap());

    // The keys travel separately; the restore checks the backup against them.
    std::fs::create_dir(&copy).unwrap();
    for key in ["log.key", "operator.pem", "admin.token"] {
        std::fs::copy(data.join(key), copy.join(key)).unwrap();
    }
    let restore = |dir: &Path| {
        accord(&[
            "restore",
            "--in",
            file.to_str().unwrap(),
            "--data",
            dir.to_str().unwrap(),
        ])
    };
    let out = restore(&copy);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = restore(&copy);
    assert!(
        !again.status.success(),
        "restored over an existing database"
    );

    let server = ServeProcess::start(&copy, &[]).unwrap();
    let mut c = RegistryServiceClient::connect(server.url()).await.unwrap();
    let restored = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(restored.signed_note, backed_up.signed_note);
    let audit = accord(&[
        "audit",
        "--server",
        &server.url(),
        "--vkey",
        &vkey,
        "--quiet",
    ]);
    assert!(
        audit.status.success(),
        "{}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );
    // The restored log goes on.
    let key = org_key(9999);
    c.submit(request(&sign(&key, endorsement(&key, "After the restore"))))
        .await
        .unwrap();

    // A backup does not restore under another log's key.
    let other = tmp.path().join("other");
    accord::server::datadir::ensure_key(&other, Some("other.example/log")).unwrap();
    let refused = restore(&other);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not this log's"),
        "{refused:?}"
    );
}
