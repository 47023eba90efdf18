//! One suite of log-level storage checks, written once and run against
//! every backend (memory, the local store, PostgreSQL), through a real server on each:
//! a log written, then reopened (the same checkpoint and registry answers,
//! and it accepts more), refused under another log's key (nothing
//! written), and refused once a stored tree node is damaged. Each backend
//! gives only how to open its store and how to damage it. (Crash points:
//! `crash.rs` kills local servers mid-load and traces their fsyncs;
//! `postgres_instances.rs` kills PostgreSQL ones; `storage_contract.rs`
//! checks that a refused commit writes nothing.)

mod common;

use accord::proto::{self, registry_service_client::RegistryServiceClient};
use accord::storage::{LocalStorage, MemoryStorage, Storage};
use common::{endorsement, org_key, registration, request, sign, with_token, PgDb};
use std::sync::Arc;
use std::time::Duration;

struct Backend<'a> {
    open: &'a dyn Fn() -> Arc<dyn Storage>,
    /// Overwrites the stored node at `(level, index)` (every handle of
    /// the store closed).
    damage: &'a dyn Fn(u32, u64),
}

/// What a server on `storage` answers: its checkpoint and a page of the
/// commitment's signatories.
async fn answers(url: &str) -> (String, String) {
    let mut c = RegistryServiceClient::connect(url.to_owned())
        .await
        .unwrap();
    let cp = (c.get_checkpoint(proto::GetCheckpointRequest {}).await)
        .unwrap()
        .into_inner();
    let page = c
        .list_signatories(proto::ListSignatoriesRequest {
            commitment_id: "global-commitment-dts".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (cp.signed_note, format!("{page:?}"))
}

/// Runs a server on `storage` with `signer` while `f` uses its URL.
async fn serving<T>(
    storage: Arc<dyn Storage>,
    signer: accord::core::note::Signer,
    f: impl AsyncFnOnce(String) -> T,
) -> T {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let endpoint = accord::server::Endpoint::new(Some(common::ADMIN_TOKEN_FIXTURE), None);
    let operator = common::operator_fixture().verifying_key().to_bytes();
    let task = tokio::spawn(accord::server::run_with(
        listener,
        storage,
        signer,
        operator,
        endpoint,
        async {
            let _ = stopped.await;
        },
    ));
    let out = f(url).await;
    let _ = stop.send(());
    task.await
        .unwrap()
        .expect("the server ran and stopped cleanly");
    out
}

/// How a server on `storage` refuses to start (it must, within 10 s).
async fn refusal(storage: Arc<dyn Storage>, signer: accord::core::note::Signer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = accord::server::Endpoint::new(Some(common::ADMIN_TOKEN_FIXTURE), None);
    let operator = common::operator_fixture().verifying_key().to_bytes();
    let never = std::future::pending::<()>();
    let run = accord::server::run_with(listener, storage, signer, operator, endpoint, never);
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => panic!("it served and stopped"),
        Err(_) => panic!("it started serving"),
    }
}

async fn submit(url: &str, ids: std::ops::Range<u32>) {
    let mut c = RegistryServiceClient::connect(url.to_owned())
        .await
        .unwrap();
    for i in ids {
        let key = org_key(i);
        let signed = sign(&key, endorsement(&key, &format!("Suite org {i}")));
        c.submit(request(&signed)).await.expect("accepted");
    }
}

fn suite(name: &str, backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let signer = common::log_signer;
    // A log: the commitment and 20 endorsements (more than 16 leaves).
    let before = rt.block_on(serving((backend.open)(), signer(), async |url| {
        let mut c = RegistryServiceClient::connect(url.clone()).await.unwrap();
        let operator = common::operator_fixture();
        let token = common::ADMIN_TOKEN_FIXTURE;
        c.submit(with_token(&registration(&operator), token))
            .await
            .unwrap();
        submit(&url, 1..21).await;
        answers(&url).await
    }));
    // Reopened: the same answers, and it accepts more.
    let (again, after) = rt.block_on(serving((backend.open)(), signer(), async |url| {
        let again = answers(&url).await;
        submit(&url, 21..22).await;
        (again, answers(&url).await)
    }));
    assert_eq!(again, before, "{name}: the reopened log answers the same");
    assert_ne!(after.0, before.0, "{name}: and grows");
    // Another log's key: refused, nothing written.
    let other = accord::core::note::Signer::from_seed("test.example/log", &[7; 32]).unwrap();
    let storage = (backend.open)();
    let meta = storage.meta().unwrap();
    let why = rt.block_on(refusal(storage.clone(), other));
    assert!(why.contains("belongs to another log"), "{name}: {why}");
    assert_eq!(storage.meta().unwrap(), meta, "{name}: nothing written");
    drop(storage);
    // A damaged tree node: the root of the largest perfect subtree, on
    // the frontier of the tree (so opening reads it): refused.
    let size = meta.expect("a log").size;
    (backend.damage)(63 - size.leading_zeros(), 0);
    let why = rt.block_on(refusal((backend.open)(), signer()));
    assert!(why.contains("does not match"), "{name}: {why}");
}

#[test]
fn memory_keeps_the_log_suite() {
    let store = Arc::new(MemoryStorage::new());
    let damage = |level, index| store.tamper_node(level, index, [0x55; 32]);
    suite(
        "memory",
        Backend {
            open: &|| store.clone() as Arc<dyn Storage>,
            damage: &damage,
        },
    );
}

#[test]
fn local_keeps_the_log_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let damage = |level: u32, index: u64| {
        // Nodes of levels ≥ 1 are in the log file `nodes` (log_files.rs).
        use accord::storage::log_files::{node_position, NODES};
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path.join(NODES))
            .unwrap();
        let at = node_position(level, index) * 32;
        assert!(
            at + 32 <= file.metadata().unwrap().len(),
            "the node is stored"
        );
        file.write_all_at(&[0x55; 32], at).unwrap();
        file.sync_data().unwrap();
    };
    suite(
        "local",
        Backend {
            open: &|| Arc::new(LocalStorage::open(&path).unwrap()) as Arc<dyn Storage>,
            damage: &damage,
        },
    );
}

#[test]
fn postgres_keeps_the_log_suite() {
    let Some(db) = PgDb::create("the log suite") else {
        return;
    };
    let damage = |level: u32, index: u64| {
        let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
        let (level, idx) = (level as i32, index as i64);
        let changed = c
            .execute(
                "UPDATE accord_nodes SET hash = $1 WHERE level = $2 AND idx = $3",
                &[&vec![0x55u8; 32], &level, &idx],
            )
            .unwrap();
        assert_eq!(changed, 1);
    };
    suite(
        "PostgreSQL",
        Backend {
            open: &|| Arc::new(db.open()) as Arc<dyn Storage>,
            damage: &damage,
        },
    );
}
