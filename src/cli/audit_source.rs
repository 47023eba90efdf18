//! Where `accord audit` reads the log: a log server over gRPC, or
//! tlog-tiles over HTTP (`--tiles`: the log's `--http-listen`, or a mirror
//! on a static web server). Either way the auditor trusts none of it.

use super::tile_walk::{walk as walk_tiles, Walk};
use super::tiles_reader::{with_nodes, TilesReader};
use super::{client, exit, CliError};
use crate::core::tile_tree::Tiler;
use crate::proto;
use std::collections::VecDeque;

/// GetEntries returns at most 1000 entries; keeping 4 requests in flight
/// hides the round trip behind verification.
pub const PAGE: u64 = 1000;
pub const IN_FLIGHT: usize = 4;

/// Where the audited log is read from.
pub enum Source {
    /// A log server's gRPC address.
    Grpc(String),
    /// tlog-tiles over HTTP (the log's `--http-listen`, or a mirror).
    Tiles(Box<TilesReader>),
}

/// An open source: a gRPC client, or the tiles.
pub enum Open {
    Grpc(Client),
    Tiles(Box<TilesReader>),
}

pub type Client =
    crate::proto::registry_service_client::RegistryServiceClient<tonic::transport::Channel>;

impl Open {
    pub async fn checkpoint(&mut self) -> Result<String, CliError> {
        match self {
            Open::Grpc(c) => Ok(c
                .get_checkpoint(proto::GetCheckpointRequest {})
                .await
                .map_err(client::status)?
                .into_inner()
                .signed_note),
            Open::Tiles(t) => t.checkpoint().await,
        }
    }

    pub async fn consistency(&mut self, old: u64, new: u64) -> Result<Vec<Vec<u8>>, CliError> {
        match self {
            Open::Grpc(c) => {
                let req = proto::GetConsistencyProofRequest {
                    old_size: old,
                    new_size: new,
                };
                Ok(c.get_consistency_proof(req)
                    .await
                    .map_err(client::status)?
                    .into_inner()
                    .hashes)
            }
            Open::Tiles(t) => {
                let proof = with_nodes(t, new, new, move |nodes| {
                    crate::core::merkle::consistency_proof(old, new, nodes)
                })
                .await?;
                Ok(proof.into_iter().map(|h| h.to_vec()).collect())
            }
        }
    }

    pub async fn inclusion(&mut self, index: u64, size: u64) -> Result<Vec<Vec<u8>>, CliError> {
        match self {
            Open::Grpc(c) => {
                let req = proto::GetInclusionProofRequest {
                    leaf: Some(proto::get_inclusion_proof_request::Leaf::Index(index)),
                    tree_size: size,
                };
                Ok(c.get_inclusion_proof(req)
                    .await
                    .map_err(client::status)?
                    .into_inner()
                    .hashes)
            }
            Open::Tiles(t) => {
                let proof = with_nodes(t, size, size, move |nodes| {
                    crate::core::merkle::inclusion_proof(index, size, nodes)
                })
                .await?;
                Ok(proof.into_iter().map(|h| h.to_vec()).collect())
            }
        }
    }

    /// Sends the leaves `[start, end)` in order. From tiles, the hash tiles
    /// of that range are checked on the way (`tile_walk`).
    pub async fn fetch(
        &self,
        start: u64,
        target: crate::core::checkpoint::TreeHead,
        tx: tokio::sync::mpsc::Sender<Vec<Vec<u8>>>,
    ) -> Result<(), CliError> {
        match self {
            Open::Grpc(c) => fetch(c, start, target.size, tx).await,
            Open::Tiles(t) => {
                let tiler = if start == 0 {
                    Tiler::new()
                } else {
                    // The tree so far, from the server's tiles: a tampered
                    // one cannot reach the signed root at the end of the walk.
                    let served = target.size;
                    with_nodes(t, start, served, move |nodes| Tiler::resume(start, nodes)).await?
                };
                let walk = Walk {
                    reader: (**t).clone(),
                    tiler,
                    size: target.size,
                    root: target.root,
                    compare: true,
                };
                walk_tiles(walk, Some(tx), None).await.map(|_| ())
            }
        }
    }
}

/// Fetches entries `[start, end)` in pages, several requests in flight, and
/// sends them in order. Checks each page's indices.
async fn fetch(
    c: &Client,
    start: u64,
    end: u64,
    tx: tokio::sync::mpsc::Sender<Vec<Vec<u8>>>,
) -> Result<(), CliError> {
    let mut next = start;
    let mut in_flight = VecDeque::new();
    loop {
        while in_flight.len() < IN_FLIGHT && next < end {
            let mut c = c.clone();
            let req = proto::GetEntriesRequest {
                start: next,
                end: (next + PAGE).min(end),
            };
            in_flight.push_back((next, tokio::spawn(async move { c.get_entries(req).await })));
            next = (next + PAGE).min(end);
        }
        let Some((first, handle)) = in_flight.pop_front() else {
            return Ok(());
        };
        let page = handle
            .await
            .map_err(|e| CliError::new(exit::SERVER, format!("fetch task failed: {e}")))?
            .map_err(client::status)?
            .into_inner();
        if page.entries.is_empty() {
            return Err(CliError::new(
                exit::VERIFY_FAILED,
                format!("the server returned no entries at {first} (tree size {end})"),
            ));
        }
        if page
            .entries
            .iter()
            .enumerate()
            .any(|(i, e)| e.index != first + i as u64)
        {
            return Err(CliError::new(
                exit::VERIFY_FAILED,
                format!("the server returned entries out of order at {first}"),
            ));
        }
        // Entries short of the page end are fetched by the next request.
        let got = first + page.entries.len() as u64;
        if got < (first + PAGE).min(end) {
            let mut c = c.clone();
            let req = proto::GetEntriesRequest {
                start: got,
                end: (first + PAGE).min(end),
            };
            in_flight.push_front((got, tokio::spawn(async move { c.get_entries(req).await })));
        }
        if tx
            .send(page.entries.into_iter().map(|e| e.leaf).collect())
            .await
            .is_err()
        {
            return Ok(()); // the verifier stopped on an error; it reports it
        }
    }
}
