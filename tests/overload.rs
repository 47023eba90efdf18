//! Overload: when the sequencer's queue is full, submissions are refused at
//! once with RESOURCE_EXHAUSTED and a retry hint (not queued without bound),
//! nothing is lost or half-done, and the server recovers.

mod common;

use accord::proto::{self, submit_batch_result::Result as Item};
use accord::sequencer::{MAX_BATCH, QUEUE_DEPTH};
use accord::storage::{Batch, LogMeta, MemoryStorage, Storage, StorageError};
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tonic::Code;

/// A store whose commits wait while the gate is closed: a sequencer stuck
/// on a slow disk, so the queue behind it fills.
struct Gated {
    inner: MemoryStorage,
    open: Mutex<bool>,
    turned: Condvar,
    /// Commits fail (a dead disk) while set.
    broken: AtomicBool,
}

impl Gated {
    fn set(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.turned.notify_all();
    }
}

impl Storage for Gated {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.inner.meta()
    }
    fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.turned.wait(open).unwrap();
        }
        drop(open);
        if self.broken.load(Ordering::SeqCst) {
            return Err(StorageError::Corrupt("the disk is gone (test)".into()));
        }
        self.inner.commit(batch)
    }
    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.leaf(index)
    }
    fn node(&self, level: u32, index: u64) -> Result<Option<[u8; 32]>, StorageError> {
        self.inner.node(level, index)
    }
    fn find_leaf_hash(&self, h: &[u8; 32]) -> Result<Option<u64>, StorageError> {
        self.inner.find_leaf_hash(h)
    }
    fn map_record(
        &self,
        at: &accord::core::map::Position,
    ) -> Result<Option<accord::core::map_versions::MapRecord>, StorageError> {
        self.inner.map_record(at)
    }
    fn registry_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.registry_record(key)
    }
    fn registry_scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<accord::core::registry::Rows, StorageError> {
        self.inner.registry_scan(prefix, from, limit)
    }
    fn clear_registry(&self) -> Result<u64, StorageError> {
        self.inner.clear_registry()
    }
    fn cosigned(&self) -> Result<Option<accord::storage::StoredCosigned>, StorageError> {
        self.inner.cosigned()
    }
    fn store_cosigned(&self, c: &accord::storage::StoredCosigned) -> Result<bool, StorageError> {
        self.inner.store_cosigned(c)
    }
}

fn gated() -> Arc<Gated> {
    Arc::new(Gated {
        inner: MemoryStorage::new(),
        open: Mutex::new(true),
        turned: Condvar::new(),
        broken: AtomicBool::new(false),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_stops_the_log_and_health_says_so() {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let storage = gated();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(accord::server::run_with(
        listener,
        storage.clone(),
        log_signer(),
        operator_fixture().verifying_key().to_bytes(),
        accord::server::Endpoint::new(Some(ADMIN_TOKEN_FIXTURE), None),
        async {
            let _ = stopped.await;
        },
    ));
    let channel = loop {
        if let Ok(ch) = tonic::transport::Endpoint::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
        {
            break ch;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut health = HealthClient::new(channel.clone());
    let status = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let serving = 1; // grpc.health.v1 ServingStatus::SERVING
    assert_eq!(
        health.check(status("")).await.unwrap().into_inner().status,
        serving
    );

    storage.broken.store(true, Ordering::SeqCst);
    let mut c = proto::registry_service_client::RegistryServiceClient::new(channel);
    let refused = c
        .submit(with_token(
            &registration(&operator_fixture()),
            ADMIN_TOKEN_FIXTURE,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let s = health
            .check(status("accord.v1.RegistryService"))
            .await
            .unwrap()
            .into_inner()
            .status;
        statuses.push(s);
        if s == 2 {
            break; // NOT_SERVING
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        statuses.last(),
        Some(&2),
        "health after a failed commit: {statuses:?}"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_promptly_and_recovers() {
    let storage = gated();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = operator_fixture();
    let server = tokio::spawn(accord::server::run_with(
        listener,
        storage.clone(),
        log_signer(),
        operator.verifying_key().to_bytes(),
        accord::server::Endpoint::new(Some(ADMIN_TOKEN_FIXTURE), None),
        async {
            let _ = stopped.await;
        },
    ));
    let mut c = loop {
        if let Ok(c) =
            proto::registry_service_client::RegistryServiceClient::connect(url.clone()).await
        {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    c.submit(with_token(&registration(&operator), ADMIN_TOKEN_FIXTURE))
        .await
        .unwrap();
    // The registration (entry 0) and its map head (entry 1).
    let start = tree_size(&mut c).await;
    assert_eq!(start, 2);

    // Close the gate, then queue more than the sequencer can hold: the batch
    // it is committing plus a full queue.
    storage.set(false);
    let capacity = QUEUE_DEPTH + MAX_BATCH;
    let per_call = 1000;
    let calls = capacity.div_ceil(per_call) + 1;
    let keys: Vec<u32> = (0..(calls * per_call) as u32).collect();
    let signed = tokio::task::spawn_blocking(move || {
        keys.iter()
            .map(|&i| {
                let key = org_key(100_000 + i);
                request(&sign(&key, endorsement(&key, &format!("Flood {i}"))))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let mut flood = Vec::new();
    for items in signed.chunks(per_call) {
        let mut c = c.clone();
        let items = items.to_vec();
        flood.push(tokio::spawn(async move {
            c.submit_batch(proto::SubmitBatchRequest { items }).await
        }));
    }

    // A further submission is refused at once (bounded wait: the answer must
    // not depend on the gate), with the retry hint.
    let key = org_key(99_999);
    let probe = request(&sign(&key, endorsement(&key, "Probe")));
    let refused = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match tokio::time::timeout(Duration::from_millis(500), c.clone().submit(probe.clone()))
                .await
            {
                Ok(Err(status)) => break status,
                Ok(Ok(_)) => panic!("accepted while the sequencer is stuck"),
                // Queued (the flood is not all in yet): try again.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
    .expect("a full queue must answer, not hang");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("retry in"),
        "{}",
        refused.message()
    );
    assert_eq!(
        refused.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "200"
    );

    // Open the gate: every item is either logged or refused as busy.
    storage.set(true);
    let (mut ok, mut busy, mut indices) = (0u64, 0u64, Vec::new());
    for call in flood {
        for r in call.await.unwrap().unwrap().into_inner().results {
            match r.result.unwrap() {
                Item::Ok(logged) => {
                    assert!(!logged.duplicate, "each flood item is new");
                    indices.push(logged.index);
                    ok += 1;
                }
                Item::Error(e) => {
                    assert_eq!(e.code, Code::ResourceExhausted as i32, "{}", e.message);
                    busy += 1;
                }
            }
        }
    }
    assert!(busy > 0, "the flood exceeded the queue");
    assert!(
        // (one slot may hold the probe, if a try of it was queued)
        ok + 1 >= QUEUE_DEPTH as u64,
        "a full queue's worth was logged: {ok}"
    );
    // Besides the accepted items, only the probe can be logged (if one of its
    // tries was queued before the queue filled; the identical retries are
    // duplicates), and one map head ends each batch: nothing refused was
    // appended.
    let size = tree_size(&mut c).await;
    let probe_key = key.verifying_key().to_bytes();
    let probes: Vec<u64> = get_entries(&mut c, start, size)
        .await
        .iter()
        .filter(|e| {
            let entry = accord::core::entry::Entry::from_leaf(&e.leaf).unwrap();
            entry.signed.signers().first() == Some(&probe_key)
        })
        .map(|e| e.index)
        .collect();
    assert!(
        probes.len() <= 1,
        "the probe is logged at most once: {probes:?}"
    );
    indices.extend(&probes);
    let batches = assert_statements_and_map_heads(&mut c, start, size, &indices).await;
    assert_eq!(
        size,
        start + ok + probes.len() as u64 + batches,
        "size {size}, accepted {ok}, probe {probes:?}, batches {batches}"
    );
    // Healthy afterwards: a new submission is accepted.
    let key = org_key(99_998);
    c.submit(request(&sign(&key, endorsement(&key, "After"))))
        .await
        .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
