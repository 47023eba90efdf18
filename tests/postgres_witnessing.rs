//! Witnessing with several servers on one PostgreSQL database: one server
//! at a time runs the witness rounds (the lease row), every server serves
//! the cosigned checkpoint it stored, a stopping holder hands the lease on
//! at once, and a restarted server serves the stored cosigned checkpoint
//! before any new round. Skipped without PostgreSQL.

mod common;

use accord::core::policy::Policy;
use accord::proto::registry_service_client::RegistryServiceClient;
use common::{accord_ok, endorsement, org_key, registration, sign, PgDb, ServeProcess};
use std::path::Path;
use std::time::{Duration, Instant};

/// A server on `db` with the witness policy and a metrics listener.
fn server(data: &Path, db: &PgDb, policy: &Path) -> (ServeProcess, String) {
    let policy = policy.to_str().unwrap();
    let args = ["--storage", &db.url, "--witness-policy", policy];
    let s = ServeProcess::start(
        data,
        &[&args[..], &["--metrics-listen", "127.0.0.1:0"]].concat(),
    )
    .expect("serves on PostgreSQL with a witness policy");
    let metrics = s.reported("metrics on http://").expect("metrics address");
    let metrics = metrics.trim_end_matches("/metrics").to_owned();
    (s, metrics)
}

/// The value of the sample `name` (with its labels) on `metrics`, or the
/// sum of the samples whose name starts with `name` and a `{`.
fn sample(metrics: &str, name: &str) -> f64 {
    let text = common::http_get(metrics, "/metrics");
    (text.lines())
        .filter(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `(cosigned note, its size, the log's latest size)` from `url`.
async fn checkpoint(url: &str) -> (String, u64, u64) {
    let mut c = RegistryServiceClient::connect(url.to_owned())
        .await
        .unwrap();
    let cp = (c
        .get_checkpoint(accord::proto::GetCheckpointRequest {})
        .await)
        .unwrap()
        .into_inner();
    let latest = cp.log_signed_note.lines().nth(1).unwrap().parse().unwrap();
    (cp.signed_note, cp.size, latest)
}

/// Waits (at most 20 s) until `url` serves a checkpoint of at least `size`
/// that meets the policy; returns it.
async fn cosigned(url: &str, policy: &Policy, size: u64) -> String {
    cosigned_within(url, policy, size, Duration::from_secs(20)).await
}

async fn cosigned_within(url: &str, policy: &Policy, size: u64, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (note, at, _) = checkpoint(url).await;
        if at >= size && policy.verify(&note).is_ok() {
            return note;
        }
        assert!(
            Instant::now() < deadline,
            "{url}: no cosigned checkpoint of {size}: {note}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn submit(url: &str, id: u32) -> u64 {
    let mut c = RegistryServiceClient::connect(url.to_owned())
        .await
        .unwrap();
    let signed = sign(
        &org_key(id),
        endorsement(&org_key(id), &format!("Witnessed org {id}")),
    );
    let ack = c.submit(common::request(&signed)).await.expect("accepted");
    // The size of the checkpoint it was proven against.
    ack.into_inner()
        .checkpoint
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn servers_on_one_database_share_witness_rounds_and_cosigned_checkpoints() {
    // The database's driver blocks on a runtime of its own: outside ours.
    let Some(db) = PgDb::create("witnessing shared by servers") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(shared_witnessing(&db));
}

async fn shared_witnessing(db: &PgDb) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vkey = accord_ok(dir, &["init", "--data", "keys", "--storage", &db.url]);
    let vkey = vkey.trim();
    let witness = common::start_witness(&dir.join("w1"), "witness.test/w1", vkey);
    let policy_text = format!(
        "log {vkey}\nwitness W1 {} http://{}\nquorum W1\n",
        witness.key, witness.addr
    );
    let policy_file = dir.join("witnesses.policy");
    std::fs::write(&policy_file, &policy_text).unwrap();
    let policy = Policy::parse(&policy_text).unwrap();
    let datas: Vec<_> = (0..2)
        .map(|i| {
            let data = dir.join(format!("data{i}"));
            std::fs::create_dir_all(&data).unwrap();
            for file in ["log.key", "operator.pem", "admin.token"] {
                std::fs::copy(dir.join("keys").join(file), data.join(file)).unwrap();
            }
            data
        })
        .collect();
    let mut servers: Vec<_> = datas
        .iter()
        .map(|d| Some(server(d, db, &policy_file)))
        .collect();
    let url = |s: &Option<(ServeProcess, String)>| s.as_ref().unwrap().0.url();
    let metrics = |s: &Option<(ServeProcess, String)>| s.as_ref().unwrap().1.clone();

    // Entries through both servers.
    let operator = accord::server::datadir::ensure_operator_key(&datas[0]).unwrap();
    let token = common::admin_token(&datas[0]);
    let mut c = RegistryServiceClient::connect(url(&servers[0]))
        .await
        .unwrap();
    c.submit(common::with_token(&registration(&operator), &token))
        .await
        .expect("the commitment is registered");
    let mut size = 0;
    for id in 1..=6 {
        size = size.max(submit(&url(&servers[id as usize % 2]), id).await);
    }
    // Both serve the same cosigned checkpoint of the final size.
    let first = cosigned(&url(&servers[0]), &policy, size).await;
    let second = cosigned(&url(&servers[1]), &policy, size).await;
    assert_eq!(first, second, "one cosigned checkpoint, served by both");
    // One server ran every round; the other asked the witness nothing.
    let held: Vec<f64> = servers
        .iter()
        .map(|s| sample(&metrics(s), "accord_witness_lease_held"))
        .collect();
    let asked: Vec<f64> = (servers.iter())
        .map(|s| sample(&metrics(s), "accord_witness_requests_total"))
        .collect();
    let holder = held
        .iter()
        .position(|h| *h == 1.0)
        .expect("one holds the lease");
    assert_eq!(held[1 - holder], 0.0, "one holder: {held:?}");
    assert!(
        asked[holder] >= 1.0,
        "the holder asked the witness: {asked:?}"
    );
    assert_eq!(asked[1 - holder], 0.0, "the other asked nothing: {asked:?}");

    // The holder stops: it releases the lease, the other takes over at
    // once and gets the next checkpoint cosigned.
    let other = 1 - holder;
    let stopped = servers[holder].take().unwrap();
    assert!(stopped.0.terminate().success(), "stops cleanly");
    let size = submit(&url(&servers[other]), 7).await;
    let took_over = Instant::now();
    cosigned(&url(&servers[other]), &policy, size).await;
    assert!(
        took_over.elapsed() < Duration::from_secs(10),
        "taken over within the lease's retry, not its expiry: {:?}",
        took_over.elapsed()
    );
    assert_eq!(
        sample(&metrics(&servers[other]), "accord_witness_lease_held"),
        1.0
    );

    // The stopped server comes back: it serves the stored cosigned
    // checkpoint at once, without the lease and without asking the witness.
    servers[holder] = Some(server(&datas[holder], db, &policy_file));
    // Within a second of serving: the stored one (a round would need the
    // lease, which the other server holds).
    let restarted = &url(&servers[holder]);
    let note = cosigned_within(restarted, &policy, size, Duration::from_secs(1)).await;
    assert_eq!(note, cosigned(&url(&servers[other]), &policy, size).await);
    assert_eq!(
        sample(&metrics(&servers[holder]), "accord_witness_lease_held"),
        0.0
    );
    assert_eq!(
        sample(&metrics(&servers[holder]), "accord_witness_requests_total"),
        0.0
    );
    drop(witness);
}
