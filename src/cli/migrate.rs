//! `accord migrate --from-data DIR --to postgres://…`: copies a stopped
//! server's sled log into an empty PostgreSQL database, checked against
//! the log's signed checkpoint, then builds the registry and its map there
//! exactly as a server's start does (and checks the map against the log's
//! last map head). The data directory keeps the keys; start the server
//! with `--data DIR --storage URL` afterwards.

use super::CliError;
use crate::core::checkpoint::Checkpoint;
use crate::server::datadir;
use crate::storage::{Batch, LogMeta, PgStorage, SledStorage, Storage};
use std::path::Path;
use std::sync::Arc;

/// Entries per commit: 4096 × ≈ 0.5 KiB, as a sequencer batch at most.
const CHUNK: u64 = 4096;

fn fail(why: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("migrate: {why}"))
}

pub async fn run(data: &Path, to: &str) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let (size, target, signer) = tokio::task::block_in_place(|| copy(data, to))?;
    // The registry and its map: built by a sequencer's start, which checks
    // the map's root against the log's last map head, then stopped.
    let operator = datadir::read_key(&data.join(datadir::OPERATOR_KEY_FILE)).map_err(fail)?;
    let target: Arc<dyn Storage> = Arc::new(target);
    let (sequencer, thread) =
        crate::sequencer::Sequencer::start(target, signer, operator.verifying_key().to_bytes())
            .map_err(fail)?;
    let ready = sequencer.registry_ready().await;
    drop(sequencer);
    let _ = tokio::task::block_in_place(|| thread.join());
    ready.map_err(|e| fail(format!("the copied log's registry: {e}")))?;
    out!(
        "migrate: {size} entries copied in {:.1} s; the root matches the signed checkpoint, and the registry and its map are built and checked. Start the server with --data {} --storage <the URL>",
        started.elapsed().as_secs_f64(),
        data.display()
    );
    Ok(())
}

/// Copies the entries and tree and sets the checkpoint: what `run` then
/// builds the registry from.
fn copy(data: &Path, to: &str) -> Result<(u64, PgStorage, crate::core::note::Signer), CliError> {
    let signer = datadir::load_key(data, None).map_err(fail)?;
    let verifier = signer.verifier();
    let db = datadir::db_path(data);
    if !db.exists() {
        return Err(fail(format!("{} holds no database", data.display())));
    }
    let source = SledStorage::open(&db)
        .map_err(|e| fail(format!("{e} (is the server still running? stop it first)")))?;
    let meta = (source.meta().map_err(fail)?)
        .ok_or_else(|| fail(format!("{} holds no log", db.display())))?;
    if meta.origin != signer.name || meta.vkey != verifier.to_string() {
        return Err(fail(
            "the database's log is not the one of log.key in --from-data",
        ));
    }
    let head = Checkpoint::open(&meta.checkpoint, &verifier)
        .map_err(|e| fail(format!("the stored checkpoint: {e}")))?
        .head;
    let target = PgStorage::open(to).map_err(fail)?;
    if let Some(there) = target.meta().map_err(fail)? {
        let whose = if there.vkey == meta.vkey {
            "this log already".to_owned()
        } else {
            format!("another log ({:?})", there.origin)
        };
        return Err(fail(format!(
            "the target database holds {whose}, at size {}: migrate only into an empty database",
            there.size
        )));
    }
    let leftover = target.leaf(0).map_err(fail)?.is_some()
        || !(target.registry_scan(b"", b"", 1).map_err(fail)?).is_empty();
    if leftover {
        return Err(fail(
            "the target database is not empty (an interrupted migrate?): drop it and create it again",
        ));
    }
    let mut chain = super::backup::Chain::default();
    for start in (0..head.size).step_by(CHUNK as usize) {
        let end = (start + CHUNK).min(head.size);
        let mut batch = Batch::default();
        for leaf in source.leaves(start, end).map_err(fail)? {
            chain.push(leaf, &mut batch).map_err(fail)?;
        }
        // Commit point: entries and nodes without the log's state row. A
        // crash here leaves a database without a log, which `serve` and
        // this command refuse: drop it and migrate again.
        target.commit(batch).map_err(fail)?;
    }
    if chain.frontier.root() != head.root {
        return Err(fail(
            "the copied entries do not reproduce the signed checkpoint's root (the target is left without a log: drop it)",
        ));
    }
    // Commit point: with its state row the database holds the log.
    target
        .commit(Batch {
            meta: Some(LogMeta {
                origin: meta.origin,
                vkey: meta.vkey,
                size: head.size,
                checkpoint: meta.checkpoint,
            }),
            ..Batch::default()
        })
        .map_err(fail)?;
    Ok((head.size, target, signer))
}
