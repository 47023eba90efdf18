//! `accord migrate --from-data DIR --to postgres://…`: copies a stopped
//! server's local log into an empty PostgreSQL database, checked against
//! the log's signed checkpoint; builds the registry and its map there from
//! the copied entries (the map checked against the log's last map head);
//! and only then writes the log's state row, so no server sees the log
//! before all of it is there. The data directory keeps the keys; start the
//! servers with `--storage URL` afterwards.

use super::CliError;
use crate::core::checkpoint::Checkpoint;
use crate::core::entry::{Entry, Signed};
use crate::server::datadir;
use crate::storage::postgres::ConnectOptions;
use crate::storage::{Batch, LocalStorage, LogMeta, PgStorage, Storage};
use std::path::Path;

/// Entries per commit: 4096 × ≈ 0.5 KiB, as a sequencer batch at most.
const CHUNK: u64 = 4096;

fn fail(why: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("migrate: {why}"))
}

pub async fn run(data: &Path, to: &str, opts: &ConnectOptions) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let size = tokio::task::block_in_place(|| copy(data, to, opts))?;
    out!(
        "migrate: {size} entries copied in {:.1} s; the root matches the signed checkpoint, and the registry and its map are built and checked. Start the servers with --storage <the URL> and a copy of {}'s keys",
        started.elapsed().as_secs_f64(),
        data.display()
    );
    Ok(())
}

/// Copies the entries and tree, builds the registry and map, and sets the
/// checkpoint last.
fn copy(data: &Path, to: &str, opts: &ConnectOptions) -> Result<u64, CliError> {
    let signer = datadir::load_key(data, None).map_err(fail)?;
    let verifier = signer.verifier();
    let db = datadir::db_path(data);
    if !db.exists() {
        return Err(fail(format!("{} holds no database", data.display())));
    }
    let source = LocalStorage::open(&db)
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
    let target = PgStorage::open_with(to, opts).map_err(fail)?;
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
    if !target.is_empty().map_err(fail)? {
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
    // The registry and its map, from the copied entries, checked against
    // the log's last entry, its map head (a local server's start appends
    // one to a log from before them).
    let registry = crate::sequencer::rebuild_registry(&target, head.size).map_err(fail)?;
    let map_head = match head.size.checked_sub(1) {
        None => None,
        Some(last) => {
            let leaf = (target.leaf(last).map_err(fail)?)
                .ok_or_else(|| fail(format!("entry {last} was not copied")))?;
            match Entry::from_leaf(&leaf).map_err(fail)?.signed {
                Signed::MapHead(h) => Some(h.root),
                _ => {
                    return Err(fail(
                        "the log's last entry is not a map head (a log from before them): start the server on its data directory once, stop it, and migrate again",
                    ))
                }
            }
        }
    };
    let (root, records, _) =
        crate::sequencer::build_map(&target, &registry, head.size).map_err(fail)?;
    if map_head.is_some_and(|h| h != root) {
        return Err(fail(
            "the registry map built from the entries differs from the log's last map head",
        ));
    }
    // Commit points: the map records, then the registry's (the format
    // marker last), all without the log's state row: a crash leaves a
    // database that servers refuse ("holds no log") and migrate refuses
    // (not empty). Drop it and migrate again.
    target
        .commit(Batch {
            map: records,
            ..Batch::default()
        })
        .map_err(fail)?;
    crate::sequencer::store_registry(&target, &registry).map_err(fail)?;
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
    Ok(head.size)
}
