//! The database goes away under load and comes back: two `accord serve`
//! instances on one PostgreSQL keep running, answer UNAVAILABLE and
//! NOT_SERVING on health while it is down, and serve again by themselves
//! once it is back, having lost nothing they acknowledged.
//!
//! Stopping the cluster disturbs every test that uses it, so this test
//! lives in a binary of its own (cargo runs test binaries one at a time).
//! It needs the commands that stop and start the test cluster:
//! ACCORD_TEST_POSTGRES_STOP and ACCORD_TEST_POSTGRES_START (`.ci/run`
//! sets them); without them it says that it skipped.

mod common;

use accord::proto::registry_service_client::RegistryServiceClient;
use common::{endorsement, org_key, registration, sign, PgDb, ServeProcess};
use std::process::Command;
use std::time::{Duration, Instant};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn shell(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|c| !c.is_empty())
}

fn run(command: &str) {
    let status = Command::new("sh").arg("-c").arg(command).status().unwrap();
    assert!(status.success(), "{command}");
}

async fn health(url: &str) -> Option<i32> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .ok()?
        .timeout(Duration::from_secs(1))
        .connect()
        .await
        .ok()?;
    let mut c = HealthClient::new(channel);
    let r = c
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?;
    Some(r.into_inner().status)
}

#[test]
fn instances_recover_when_the_database_comes_back() {
    let (Some(stop), Some(start)) = (
        shell("ACCORD_TEST_POSTGRES_STOP"),
        shell("ACCORD_TEST_POSTGRES_START"),
    ) else {
        assert!(
            std::env::var_os("ACCORD_REQUIRE_POSTGRES").is_none(),
            "ACCORD_TEST_POSTGRES_STOP and _START are required (ACCORD_REQUIRE_POSTGRES is set)"
        );
        eprintln!("SKIPPED: a database restart under load (no ACCORD_TEST_POSTGRES_STOP/_START)");
        return;
    };
    let Some(db) = PgDb::create("a database restart under load") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (d0, d1) = (tmp.path().join("d0"), tmp.path().join("d1"));
    let first = ServeProcess::on_postgres(&d0, &db.url).expect("serves on PostgreSQL");
    std::fs::create_dir_all(&d1).unwrap();
    for file in ["log.key", "operator.pem", "admin.token"] {
        std::fs::copy(d0.join(file), d1.join(file)).unwrap();
    }
    let second = ServeProcess::on_postgres(&d1, &db.url).expect("serves on PostgreSQL");
    let urls = [first.url(), second.url()];
    let vkey = accord::server::datadir::load_key(&d0, None)
        .unwrap()
        .verifier();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let operator = accord::server::datadir::ensure_operator_key(&d0).unwrap();
        let mut c = RegistryServiceClient::connect(urls[0].clone())
            .await
            .unwrap();
        c.submit(common::with_token(
            &registration(&operator),
            &common::admin_token(&d0),
        ))
        .await
        .unwrap();
    });

    // Submitters on both instances, through the outage.
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut submitters = Vec::new();
    for (n, url) in urls.iter().enumerate() {
        let (url, running) = (url.clone(), running.clone());
        submitters.push(rt.spawn(async move {
            let mut c = RegistryServiceClient::connect(url).await.unwrap();
            let (mut acked, mut unavailable, mut i) = (Vec::new(), 0, 0u32);
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let key = org_key(10_000 * (n as u32 + 1) + i);
                let signed = sign(&key, endorsement(&key, &format!("Organization {n}-{i}")));
                match c.submit(common::request(&signed)).await {
                    Ok(r) => acked.push(r.into_inner()),
                    Err(s) => {
                        assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                        unavailable += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (acked, unavailable)
        }));
    }
    std::thread::sleep(Duration::from_millis(500));
    run(&stop);
    // Down for 4 s: longer than the 2 s a server waits for a connection,
    // so health must say NOT_SERVING meanwhile.
    let down = Instant::now();
    let mut saw_not_serving = false;
    while down.elapsed() < Duration::from_secs(4) {
        for url in &urls {
            if rt.block_on(health(url)) == Some(ServingStatus::NotServing as i32) {
                saw_not_serving = true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    run(&start);
    assert!(
        saw_not_serving,
        "health said NOT_SERVING while the database was down"
    );

    // Both serve again by themselves: health SERVING and submissions pass.
    let back = Instant::now();
    for url in &urls {
        while rt.block_on(health(url)) != Some(ServingStatus::Serving as i32) {
            assert!(back.elapsed() < Duration::from_secs(30), "{url} recovers");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut acks = Vec::new();
    let mut unavailable = 0;
    for s in submitters {
        let (a, u) = rt.block_on(s).unwrap();
        assert!(!a.is_empty());
        acks.extend(a);
        unavailable += u;
    }
    assert!(unavailable > 0, "some submissions met the outage");

    // Nothing acknowledged was lost, and the log audits.
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut c = RegistryServiceClient::connect(urls[1].clone())
            .await
            .unwrap();
        let size = common::tree_size(&mut c).await;
        let entries = common::get_entries(&mut c, 0, size).await;
        for a in &acks {
            let leaf = &entries[a.index as usize].leaf;
            assert_eq!(accord::core::merkle::leaf_hash(leaf).to_vec(), a.leaf_hash);
        }
    });
    common::accord_ok(
        tmp.path(),
        &[
            "audit",
            "--server",
            &urls[0],
            "--vkey",
            &vkey.to_string(),
            "--quiet",
        ],
    );
    drop((first, second));
}
