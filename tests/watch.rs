//! WatchEntries: replays from an index, follows live appends in order, and
//! ends a stream whose consumer stops reading with a status naming the index
//! to resume from (bounded memory per watcher).

mod common;

use accord::proto;
use accord::service::watch::{BUFFER, GRACE};
use common::*;
use std::sync::Arc;
use tonic::Code;

async fn submit_many(server: &MemServer, ids: std::ops::Range<u32>) {
    let mut tasks = Vec::new();
    for chunk in ids.collect::<Vec<_>>().chunks(64) {
        let mut c = server.client().await;
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for i in chunk {
                let key = org_key(i);
                c.submit(request(&sign(
                    &key,
                    endorsement(&key, &format!("Watched {i}")),
                )))
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_live_appends_in_order() {
    let server = MemServer::start(
        Arc::new(accord::storage::MemoryStorage::new()),
        log_signer(),
    )
    .await;
    let mut c = server.client().await;
    let mut stream = c
        .watch_entries(proto::WatchEntriesRequest { start: 0 })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.index, 0, "replays the existing entry first");
    let writer = tokio::spawn(async move {
        submit_many(&server, 0..40).await;
        server
    });
    let mut prev = first.leaf_hash.clone();
    for want in 1..=40u64 {
        let e = stream.message().await.unwrap().expect("stream stays open");
        assert_eq!(e.index, want);
        let entry = accord::core::entry::Entry::from_leaf(&e.leaf).unwrap();
        assert_eq!(
            entry.prev_leaf_hash.to_vec(),
            prev,
            "entries arrive in log order"
        );
        prev = e.leaf_hash;
    }
    drop(stream);
    writer.await.unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_is_told_where_to_resume() {
    let server = MemServer::start(
        Arc::new(accord::storage::MemoryStorage::new()),
        log_signer(),
    )
    .await;
    submit_many(&server, 0..(2 * BUFFER as u32)).await;
    // A client with small HTTP/2 windows, so transport buffers cannot hide
    // the consumer's slowness from the server.
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .initial_stream_window_size(16 * 1024)
        .initial_connection_window_size(16 * 1024)
        .connect()
        .await
        .unwrap();
    let mut c = proto::registry_service_client::RegistryServiceClient::new(channel);
    let mut stream = c
        .watch_entries(proto::WatchEntriesRequest { start: 0 })
        .await
        .unwrap()
        .into_inner();
    // Read nothing for longer than the grace period.
    tokio::time::sleep(GRACE + std::time::Duration::from_secs(1)).await;
    let mut received = 0u64;
    let status = loop {
        match stream.message().await {
            Ok(Some(e)) => {
                assert_eq!(e.index, received);
                received += 1;
            }
            Ok(None) => panic!("the stream must end with a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        received < 2 * BUFFER as u64 + 1,
        "the server stopped instead of buffering everything"
    );
    assert!(
        status.message().contains(&format!("start = {received}")),
        "{}",
        status.message()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams_with_a_resume_index() {
    let server = MemServer::start(
        Arc::new(accord::storage::MemoryStorage::new()),
        log_signer(),
    )
    .await;
    let mut c = server.client().await;
    let mut stream = c
        .watch_entries(proto::WatchEntriesRequest { start: 0 })
        .await
        .unwrap()
        .into_inner();
    // The log holds the registration (entry 0) and its map head (entry 1):
    // both are replayed, then the stream waits for more.
    assert_eq!(stream.message().await.unwrap().unwrap().index, 0);
    let head = stream.message().await.unwrap().unwrap();
    assert_eq!(head.index, 1);
    assert!(is_map_head(&head.leaf));
    // Graceful shutdown must not wait for the open stream forever.
    tokio::time::timeout(std::time::Duration::from_secs(30), server.stop())
        .await
        .expect("the server stops although a watcher is connected");
    let status = stream
        .message()
        .await
        .expect_err("the stream ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("start = 2"),
        "{}",
        status.message()
    );
}
