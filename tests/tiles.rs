//! The log as C2SP tlog-tiles over HTTP (`--http-listen`), against a real
//! server: the checkpoint, every full and partial hash tile of levels 0
//! and 1, and every entry bundle, checked against the stored leaves and an
//! independent RFC 6962 recomputation of the signed root; and precise
//! 404s for what the tree does not have.

mod common;

use accord::core::merkle::{leaf_hash, node_hash};
use accord::core::tiles::unbundle;
use accord::storage::{MemoryStorage, Storage};
use common::{http_fetch, log_signer, MemServer};
use std::sync::Arc;

/// RFC 6962 §2.1 MTH, recursively, from the leaf hashes (independent of
/// the server's stored-node math).
fn mth(hashes: &[[u8; 32]]) -> [u8; 32] {
    match hashes.len() {
        0 => accord::core::sha256(b""),
        1 => hashes[0],
        n => {
            let k = n.next_power_of_two() / 2;
            node_hash(&mth(&hashes[..k]), &mth(&hashes[k..]))
        }
    }
}

// Multi-threaded: the test's blocking HTTP reads must not stall the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_serve_the_log_exactly() {
    let storage = Arc::new(MemoryStorage::new());
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = http.local_addr().unwrap().to_string();
    let mut endpoint = accord::server::Endpoint::new(Some(common::ADMIN_TOKEN_FIXTURE), None);
    endpoint.http = Some(http);
    let server = MemServer::start_with(storage.clone(), log_signer(), endpoint).await;
    let operator = common::operator_fixture();
    let mut c = server.client().await;
    c.submit(common::with_token(
        &common::registration(&operator),
        common::ADMIN_TOKEN_FIXTURE,
    ))
    .await
    .unwrap();
    server.submit(1..=300).await; // each with its batch's map head: 601 entries
    let fetch = |path: &str| http_fetch(&addr, path);

    let cp = fetch("/checkpoint");
    assert_eq!(cp.status, 200);
    assert_eq!(cp.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(cp.header("cache-control"), Some("no-cache"));
    let note = String::from_utf8(cp.body).unwrap();
    let checkpoint =
        accord::core::checkpoint::Checkpoint::open(&note, &log_signer().verifier()).unwrap();
    let size = checkpoint.head.size;
    assert_eq!(size, storage.meta().unwrap().unwrap().size);
    assert!(
        size > 512,
        "two full level-0 tiles and a partial one: {size}"
    );

    // Level 0 and the bundles: every tile, full and partial.
    let mut hashes = Vec::new();
    for n in 0..=size / 256 {
        let width = (size - n * 256).min(256);
        let suffix = if width < 256 {
            format!(".p/{width}")
        } else {
            String::new()
        };
        let tile = fetch(&format!("/tile/0/{n:03}{suffix}"));
        assert_eq!(tile.status, 200);
        assert_eq!(
            tile.header("content-type"),
            Some("application/octet-stream")
        );
        assert_eq!(
            tile.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(tile.body.len() as u64, 32 * width);
        let bundle = fetch(&format!("/tile/entries/{n:03}{suffix}"));
        assert_eq!(bundle.status, 200);
        let leaves = unbundle(&bundle.body).unwrap();
        assert_eq!(leaves.len() as u64, width);
        for (i, (h, leaf)) in tile.body.chunks(32).zip(leaves).enumerate() {
            let index = n * 256 + i as u64;
            assert_eq!(leaf, storage.leaf(index).unwrap().unwrap(), "entry {index}");
            assert_eq!(h, leaf_hash(leaf), "leaf hash {index}");
            hashes.push(<[u8; 32]>::try_from(h).unwrap());
        }
    }
    assert_eq!(
        mth(&hashes),
        checkpoint.head.root,
        "the tiles give the signed root"
    );

    // Level 1: the partial tile of the full level-0 tiles' roots.
    let full = size / 256;
    let tile = fetch(&format!("/tile/1/000.p/{full}"));
    assert_eq!(tile.status, 200);
    for (i, h) in tile.body.chunks(32).enumerate() {
        assert_eq!(h, mth(&hashes[i * 256..(i + 1) * 256]));
    }
    // A partial tile of an earlier size is a prefix of the current one.
    assert_eq!(fetch("/tile/0/000.p/3").body, hashes[..3].concat());

    // Entry bundles are gzip-compressed for clients that take it (and say
    // so in Vary); hash tiles, random bytes, never are.
    let plain = fetch("/tile/entries/000");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    let gzip = "Accept-Encoding: br;q=1.0, gzip\r\n";
    let packed = common::http_request_with(&addr, "GET", "/tile/entries/000", gzip, b"");
    assert_eq!(packed.header("content-encoding"), Some("gzip"));
    assert!(packed.body.len() < plain.body.len());
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&packed.body[..]),
        &mut unpacked,
    )
    .unwrap();
    assert_eq!(unpacked, plain.body);
    let refused = "Accept-Encoding: gzip;q=0\r\n";
    let reply = common::http_request_with(&addr, "GET", "/tile/entries/000", refused, b"");
    assert_eq!(reply.body, plain.body);
    let reply = common::http_request_with(&addr, "GET", "/tile/0/000", gzip, b"");
    assert_eq!(reply.header("content-encoding"), None);

    // What the tree does not have, or what is no tile path: 404.
    for path in [
        format!("/tile/0/{:03}", full), // the partial tile is not full yet
        format!("/tile/0/{:03}.p/255", full), // wider than the tree
        "/tile/1/000".to_owned(),       // level 1 is partial
        "/tile/2/000.p/1".to_owned(),   // the tree has no level 2
        "/tile/0/1".to_owned(),         // not a 3-digit element
        "/tile/0/x000/001".to_owned(),  // not the canonical path
        "/tile/entries/000.p/0".to_owned(),
        "/nothing".to_owned(),
    ] {
        let reply = fetch(&path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(!reply.body.is_empty(), "{path}: says why");
    }
    server.stop().await;
}
