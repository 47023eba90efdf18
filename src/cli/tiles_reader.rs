//! Reading a log published as C2SP tlog-tiles (https://c2sp.org/tlog-tiles)
//! over HTTP — from `accord serve --http-listen`, a mirror on any static
//! web server, or a CDN — for `accord mirror` and `accord audit --tiles`.
//! Nothing read here is trusted: callers check every byte against a
//! checkpoint signed by the log key.

use super::{exit, CliError};
use crate::core::tile_tree::{hash_tile, TileNodes, TileReadError};
use crate::core::tiles::{Kind, Tile};
use crate::http_client::HttpClient;
use std::time::Duration;

/// A whole request, connect to last byte: a full entry bundle is at most
/// 256 × 64 KiB, seconds even on a slow link.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Largest checkpoint accepted: a note with its signatures and cosignatures
/// is well under 1 KiB; the signed-note spec caps signatures at 100.
const MAX_CHECKPOINT: usize = 64 << 10;
/// A hash tile: 256 hashes of 32 bytes.
const MAX_HASH_TILE: usize = 256 * 32;
/// An entry bundle: 256 entries of at most 65,535 bytes with their lengths.
const MAX_BUNDLE: usize = 256 * (2 + 65_535);

/// The tiles under one URL prefix.
#[derive(Clone)]
pub struct TilesReader {
    base: String,
    client: HttpClient,
}

impl TilesReader {
    /// `base` is the prefix the log serves `checkpoint` and `tile/` under.
    pub fn new(base: &str) -> Result<TilesReader, CliError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::usage(format!(
                "--tiles/--server {base:?}: give an http:// or https:// URL"
            )));
        }
        let client = HttpClient::new(TIMEOUT).map_err(|e| CliError::usage(e.to_string()))?;
        Ok(TilesReader {
            base: base.trim_end_matches('/').to_owned(),
            client,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, CliError> {
        let url = format!("{}/{path}", self.base);
        let reply = (self.client.get(&url, limit).await)
            .map_err(|e| CliError::new(exit::SERVER, e.to_string()))?;
        if reply.status != 200 {
            let why = String::from_utf8_lossy(&reply.body);
            return Err(CliError::new(
                exit::SERVER,
                format!("{url}: HTTP {} {}", reply.status, why.trim()),
            ));
        }
        Ok(reply.body.to_vec())
    }

    /// The signed checkpoint (unverified).
    pub async fn checkpoint(&self) -> Result<String, CliError> {
        let bytes = self.get("checkpoint", MAX_CHECKPOINT).await?;
        String::from_utf8(bytes)
            .map_err(|_| CliError::new(exit::VERIFY_FAILED, "the checkpoint is not UTF-8"))
    }

    /// A tile's bytes (unverified, but of the right length for a hash tile).
    pub async fn tile(&self, tile: Tile) -> Result<Vec<u8>, CliError> {
        let limit = match tile.kind {
            Kind::Entries => MAX_BUNDLE,
            Kind::Hashes(_) => MAX_HASH_TILE,
        };
        let bytes = self.get(&tile.path(), limit).await?;
        if matches!(tile.kind, Kind::Hashes(_)) && bytes.len() != 32 * usize::from(tile.width) {
            return Err(CliError::new(
                exit::VERIFY_FAILED,
                format!(
                    "{}/{tile}: {} bytes, want {}",
                    self.base,
                    bytes.len(),
                    32 * tile.width
                ),
            ));
        }
        Ok(bytes)
    }

    /// The tree of `size` leaves as a [`NodeSource`] for `core::merkle`,
    /// read from a host whose latest checkpoint has `served` leaves: each
    /// hash tile is fetched as that tree has it (full, or its partial
    /// width) and cut to the width `size` needs, so a static mirror needs
    /// only its current tiles, not a partial tile of every size ever seen.
    /// Blocking: use it on a blocking thread (it waits for each fetch on
    /// `runtime`).
    pub fn nodes(&self, size: u64, served: u64, runtime: tokio::runtime::Handle) -> HttpNodes {
        let reader = self.clone();
        TileNodes::new(
            size,
            Box::new(move |tile: Tile| {
                let wide = match tile.kind {
                    Kind::Hashes(level) => hash_tile(level, tile.index, served)
                        .filter(|w| w.width >= tile.width)
                        .unwrap_or(tile),
                    Kind::Entries => tile,
                };
                let mut bytes = (runtime.block_on(reader.tile(wide))).map_err(|e| e.to_string())?;
                bytes.truncate(32 * usize::from(tile.width));
                Ok(bytes)
            }),
        )
    }
}

/// Merkle nodes read from tiles over HTTP.
pub type HttpNodes = TileNodes<Box<dyn Fn(Tile) -> Result<Vec<u8>, String> + Send>>;

/// Computes `f(nodes of the tree of size)` on a blocking thread.
pub async fn with_nodes<T: Send + 'static>(
    reader: &TilesReader,
    size: u64,
    served: u64,
    f: impl FnOnce(&HttpNodes) -> Result<T, TileReadError> + Send + 'static,
) -> Result<T, CliError> {
    let reader = reader.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || f(&reader.nodes(size, served, runtime)))
        .await
        .map_err(|e| CliError::new(exit::SERVER, format!("tile task failed: {e}")))?
        .map_err(|e| CliError::new(exit::VERIFY_FAILED, format!("reading tiles: {e}")))
}
