//! Several `accord serve` instances on one PostgreSQL database: one log,
//! writes serialized by the database (SPEC.md, "Several servers on one
//! database"). Concurrent submitters on three instances; every checkpoint
//! any of them returned is a checkpoint of the final log; a duplicate sent
//! to two instances at once is logged once; every instance answers with the
//! same checkpoint within 100 ms once submissions stop; `accord audit`
//! passes; and a kill -9 of one instance under load loses nothing it
//! acknowledged while the others keep serving. Skipped without PostgreSQL.

mod common;

use accord::core::checkpoint::{Checkpoint, TreeHead};
use accord::core::merkle;
use accord::proto::registry_service_client::RegistryServiceClient;
use common::{accord_ok, endorsement, org_key, registration, sign, PgDb, ServeProcess};
use std::path::{Path, PathBuf};
use tonic::transport::Channel;

/// `n` instances on `db`: the first creates the keys, the others get a copy
/// of its three key files (all an additional instance needs).
fn instances(dir: &Path, db: &PgDb, n: usize) -> (Vec<ServeProcess>, Vec<PathBuf>) {
    let first = dir.join("data0");
    let mut servers =
        vec![ServeProcess::on_postgres(&first, &db.url).expect("serves on PostgreSQL")];
    let mut dirs = vec![first.clone()];
    for i in 1..n {
        let data = dir.join(format!("data{i}"));
        std::fs::create_dir_all(&data).unwrap();
        for file in ["log.key", "operator.pem", "admin.token"] {
            std::fs::copy(first.join(file), data.join(file)).unwrap();
        }
        servers.push(ServeProcess::on_postgres(&data, &db.url).expect("serves on PostgreSQL"));
        dirs.push(data);
    }
    (servers, dirs)
}

async fn client(url: String) -> RegistryServiceClient<Channel> {
    RegistryServiceClient::connect(url).await.expect("connects")
}

/// Registers the test commitment through the first instance.
async fn register(url: &str, data: &Path) {
    let operator = accord::server::datadir::ensure_operator_key(data).unwrap();
    let token = common::admin_token(data);
    let mut c = client(url.to_owned()).await;
    c.submit(common::with_token(&registration(&operator), &token))
        .await
        .expect("the commitment is registered");
}

/// What one acknowledged submission promised.
#[derive(Debug, Clone)]
struct Ack {
    index: u64,
    leaf_hash: Vec<u8>,
    head: TreeHead,
}

/// Submits endorsements by organizations `ids` to `url`, one at a time,
/// and returns what each acknowledgement promised (failures are counted,
/// not fatal: an instance may be killed meanwhile).
async fn submit_all(
    url: String,
    ids: Vec<u32>,
    vkey: accord::core::note::Verifier,
) -> (Vec<Ack>, usize) {
    let (mut acks, mut failed) = (Vec::new(), 0);
    let Ok(mut c) = RegistryServiceClient::connect(url).await else {
        return (acks, ids.len());
    };
    for i in ids {
        let key = org_key(i);
        let signed = sign(&key, endorsement(&key, &format!("Organization {i}")));
        match c.submit(common::request(&signed)).await {
            Ok(r) => {
                let r = r.into_inner();
                let cp = Checkpoint::open(&r.checkpoint, &vkey).expect("a valid checkpoint");
                assert!(r.index < cp.head.size, "the checkpoint includes the entry");
                acks.push(Ack {
                    index: r.index,
                    leaf_hash: r.leaf_hash,
                    head: cp.head,
                });
            }
            Err(_) => failed += 1,
        }
    }
    (acks, failed)
}

/// RFC 6962 roots of every prefix size in `sizes`, from the leaf hashes.
fn root_at(hashes: &[[u8; 32]], size: usize) -> [u8; 32] {
    fn mth(h: &[[u8; 32]]) -> [u8; 32] {
        match h.len() {
            0 => merkle::EMPTY_ROOT,
            1 => h[0],
            n => {
                let k = n.next_power_of_two() / 2;
                merkle::node_hash(&mth(&h[..k]), &mth(&h[k..]))
            }
        }
    }
    mth(&hashes[..size])
}

/// Every acknowledged entry is in the final log where it was promised, and
/// every checkpoint returned is the final log's at its size.
async fn check_acks(url: &str, acks: &[Ack]) -> u64 {
    // Any instance reflects every acknowledged commit after 100 ms.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let mut c = client(url.to_owned()).await;
    let size = common::tree_size(&mut c).await;
    let entries = common::get_entries(&mut c, 0, size).await;
    let hashes: Vec<[u8; 32]> = entries.iter().map(|e| merkle::leaf_hash(&e.leaf)).collect();
    for ack in acks {
        assert_eq!(
            hashes[ack.index as usize].to_vec(),
            ack.leaf_hash,
            "acknowledged entry {} is in the log",
            ack.index
        );
        assert!(ack.head.size <= size);
        assert_eq!(
            root_at(&hashes, ack.head.size as usize),
            ack.head.root,
            "the checkpoint of size {} returned by some instance is the final log's",
            ack.head.size
        );
    }
    size
}

/// A runtime for the async parts (the database helpers block, so the
/// tests themselves are plain).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn three_instances_share_one_log() {
    let Some(db) = PgDb::create("three instances on one database") else {
        return;
    };
    runtime().block_on(three_instances(&db));
}

async fn three_instances(db: &PgDb) {
    let tmp = tempfile::tempdir().unwrap();
    let (servers, dirs) = instances(tmp.path(), db, 3);
    let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
    let vkey = accord::server::datadir::load_key(&dirs[0], None)
        .unwrap()
        .verifier();
    register(&urls[1], &dirs[1]).await;

    // Four submitters per instance, 20 organizations each, all at once.
    let mut tasks = Vec::new();
    for (n, url) in urls.iter().enumerate() {
        for t in 0..4u32 {
            let base = 1000 * (n as u32 + 1) + 100 * t;
            let ids = (base..base + 20).collect();
            tasks.push(tokio::spawn(submit_all(url.clone(), ids, vkey.clone())));
        }
    }
    let mut acks = Vec::new();
    for t in tasks {
        let (a, failed) = t.await.unwrap();
        assert_eq!(failed, 0, "no submission fails while all instances run");
        acks.extend(a);
    }
    assert_eq!(acks.len(), 240);

    // The same statement sent to two instances at once is logged once.
    let key = org_key(7);
    let signed = sign(&key, endorsement(&key, "Organization 7"));
    let (mut a, mut b) = (client(urls[0].clone()).await, client(urls[2].clone()).await);
    let (ra, rb) = tokio::join!(
        a.submit(common::request(&signed)),
        b.submit(common::request(&signed))
    );
    let (ra, rb) = (ra.unwrap().into_inner(), rb.unwrap().into_inner());
    assert_eq!(ra.index, rb.index, "one index for one statement");
    assert!(
        ra.duplicate != rb.duplicate,
        "exactly one of them appended it"
    );

    let size = check_acks(&urls[2], &acks).await;
    // Each instance answers with the latest checkpoint (100 ms after the
    // last acknowledgement: check_acks waited that long).
    let mut notes = Vec::new();
    for url in &urls {
        let cp = client(url.clone())
            .await
            .get_checkpoint(accord::proto::GetCheckpointRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cp.size, size, "{url} is up to date");
        notes.push(cp.signed_note);
    }
    assert!(notes.windows(2).all(|w| w[0] == w[1]), "{notes:?}");
    // Registry answers come from the shared database too.
    let rows = common::json_rows(tmp.path(), &urls[0], "global-commitment-dts");
    assert_eq!(
        rows.len(),
        241,
        "every organization, listed by any instance"
    );
    let audited = accord_ok(
        tmp.path(),
        &[
            "audit",
            "--server",
            &urls[1],
            "--vkey",
            &vkey.to_string(),
            "--quiet",
        ],
    );
    assert!(audited.contains("entries"), "{audited}");
    for s in servers {
        assert!(s.terminate().success(), "SIGTERM stops each cleanly");
    }
}

#[test]
fn killing_one_instance_loses_nothing_acknowledged() {
    let Some(db) = PgDb::create("kill -9 of one of three instances") else {
        return;
    };
    runtime().block_on(kill_one(&db));
}

async fn kill_one(db: &PgDb) {
    let tmp = tempfile::tempdir().unwrap();
    let (mut servers, dirs) = instances(tmp.path(), db, 3);
    let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
    let vkey = accord::server::datadir::load_key(&dirs[0], None)
        .unwrap()
        .verifier();
    register(&urls[0], &dirs[0]).await;

    let mut tasks = Vec::new();
    for (n, url) in urls.iter().enumerate() {
        for t in 0..3u32 {
            let base = 1000 * (n as u32 + 1) + 100 * t;
            let ids = (base..base + 40).collect();
            tasks.push(tokio::spawn(submit_all(url.clone(), ids, vkey.clone())));
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    servers[2].kill9();
    let mut acks = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (a, failed) = t.await.unwrap();
        if i < 6 {
            assert_eq!(failed, 0, "the other instances keep serving");
        }
        acks.extend(a);
    }
    assert!(acks.len() >= 240, "{} acknowledged", acks.len());
    check_acks(&urls[0], &acks).await;

    // The killed instance comes back on the same database and serves on.
    let back = ServeProcess::on_postgres(&dirs[2], &db.url).expect("serves on PostgreSQL");
    let more = submit_all(back.url(), vec![9000, 9001], vkey.clone()).await;
    assert_eq!(more.1, 0);
    acks.extend(more.0);
    check_acks(&urls[1], &acks).await;
    accord_ok(
        tmp.path(),
        &[
            "audit",
            "--server",
            &back.url(),
            "--vkey",
            &vkey.to_string(),
            "--quiet",
        ],
    );
}
