//! `accord backup` and `accord restore`.
//!
//! A backup is taken from a *running* server through the public API (the
//! records store admits one process at a time, so the files of a running
//! server cannot be opened), or from the data directory of a stopped one: the latest
//! signed checkpoint, then every entry up to that size. Because the entries
//! are checked against the checkpoint's root (and the checkpoint against the
//! log key), the snapshot is consistent by construction. Keys are not in
//! it: back them up separately.
//!
//! File format (`accord-backup/v1`): the line `accord-backup/v1\n`; then a
//! u32 big-endian length and the signed checkpoint note; then, for each
//! entry from index 0, a u32 big-endian length and the leaf bytes.

use super::{client, exit, CliError};
use crate::core::checkpoint::Checkpoint;
use crate::core::entry::Entry;
use crate::core::frontier::Frontier;
use crate::core::merkle;
use crate::core::note::Verifier;
use crate::proto;
use crate::storage::{Batch, LocalStorage, LogMeta, Storage};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"accord-backup/v1\n";
/// Entries per GetEntries call (the server's maximum) and per restore commit.
const PAGE: u64 = 1000;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |e| CliError::usage(format!("{}: {e}", path.display()))
}

fn bad(why: impl Into<String>) -> CliError {
    CliError::new(exit::VERIFY_FAILED, why.into())
}

/// Where a backup reads the log from.
pub enum Source<'a> {
    /// A running server, through the public API.
    Server { url: &'a str, vkey: &'a str },
    /// The data directory of a stopped server (one process at a time opens it).
    Data(&'a Path),
}

/// Reads entries `start..end` from the source.
enum Reading {
    Server(crate::proto::registry_service_client::RegistryServiceClient<tonic::transport::Channel>),
    Local(Box<LocalStorage>),
}

impl Reading {
    async fn page(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, CliError> {
        match self {
            Reading::Server(c) => Ok((c
                .get_entries(proto::GetEntriesRequest { start, end })
                .await)
                .map_err(client::status)?
                .into_inner()
                .entries
                .into_iter()
                .map(|e| e.leaf)
                .collect()),
            Reading::Local(s) => s.leaves(start, end).map_err(|e| bad(e.to_string())),
        }
    }
}

/// Opens the source: its signed checkpoint and a way to read entries.
async fn open(source: Source<'_>) -> Result<(String, Verifier, Reading), CliError> {
    match source {
        Source::Server { url, vkey } => {
            let verifier =
                Verifier::parse(vkey).map_err(|e| CliError::usage(format!("--vkey: {e}")))?;
            let mut c = client::connect(url).await?;
            let note = (c.get_checkpoint(proto::GetCheckpointRequest {}).await)
                .map_err(client::status)?
                .into_inner()
                .signed_note;
            Ok((note, verifier, Reading::Server(c)))
        }
        Source::Data(dir) => {
            let usage = |e: crate::server::ServerError| CliError::usage(e.to_string());
            let verifier = crate::server::datadir::load_key(dir, None)
                .map_err(usage)?
                .verifier();
            let db = crate::server::datadir::db_path(dir);
            let storage = LocalStorage::open(&db).map_err(|e| {
                CliError::usage(format!(
                    "{}: {e} (is the server running? then back up with --server)",
                    db.display()
                ))
            })?;
            let meta = storage.meta().map_err(|e| bad(e.to_string()))?;
            let note = meta
                .ok_or_else(|| bad(format!("{} holds no log", db.display())))?
                .checkpoint;
            Ok((note, verifier, Reading::Local(Box::new(storage))))
        }
    }
}

/// Writes a verified snapshot of the log to `out` (atomically: a temporary
/// file renamed once complete and synced).
pub async fn backup(source: Source<'_>, out: &Path) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let (note, verifier, mut reading) = open(source).await?;
    let head = Checkpoint::open(&note, &verifier)
        .map_err(|e| bad(format!("the log's checkpoint does not verify: {e}")))?
        .head;
    let tmp = out.with_extension("tmp");
    let mut w = BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
    w.write_all(MAGIC).map_err(io(&tmp))?;
    write_record(&mut w, note.as_bytes()).map_err(io(&tmp))?;
    let mut frontier = Frontier::new();
    while frontier.size() < head.size {
        let start = frontier.size();
        let end = (start + PAGE).min(head.size);
        let page = reading.page(start, end).await?;
        if page.is_empty() {
            return Err(bad(format!("no entries from {start}")));
        }
        for leaf in page {
            frontier.push(merkle::leaf_hash(&leaf), |_| {});
            write_record(&mut w, &leaf).map_err(io(&tmp))?;
        }
    }
    if frontier.root() != head.root {
        return Err(bad("the entries do not hash to the checkpoint's root"));
    }
    let file = w.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, out).map_err(io(out))?;
    out!(
        "backup: {} entries, checkpoint verified, root matches; {} in {:.1} s",
        head.size,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn write_record(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(&(bytes.len() as u32).to_be_bytes())?;
    w.write_all(bytes)
}

fn read_record(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let mut bytes = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut bytes)?;
    Ok(Some(bytes))
}

/// Rebuilds the database of `data` (which holds the log's keys but no
/// database) from a backup file, checking every entry and the root.
pub fn restore(input: &Path, data: &Path) -> Result<(), CliError> {
    use crate::server::datadir;
    let signer = datadir::load_key(data, None)
        .map_err(|e| CliError::usage(format!("{e} (copy the log's keys into --data first)")))?;
    let db = datadir::db_path(data);
    if db.exists() {
        return Err(CliError::usage(format!(
            "{} exists: restore only into a data directory without a database",
            db.display()
        )));
    }
    let mut r = BufReader::new(std::fs::File::open(input).map_err(io(input))?);
    let mut magic = vec![0u8; MAGIC.len()];
    r.read_exact(&mut magic).map_err(io(input))?;
    if magic != MAGIC {
        return Err(CliError::usage(format!(
            "{}: not an accord backup",
            input.display()
        )));
    }
    let note = read_record(&mut r).map_err(io(input))?.unwrap_or_default();
    let note = String::from_utf8(note).map_err(|_| bad("the checkpoint is not text"))?;
    let head = Checkpoint::open(&note, &signer.verifier())
        .map_err(|e| bad(format!("the backup's checkpoint is not this log's: {e}")))?
        .head;
    let storage = LocalStorage::open(&db).map_err(|e| CliError::usage(e.to_string()))?;
    let mut chain = Chain::default();
    let mut batch = Batch::default();
    while let Some(leaf) = read_record(&mut r).map_err(io(input))? {
        chain.push(leaf, &mut batch).map_err(bad)?;
        if batch.leaves.len() as u64 == PAGE {
            // Commit point: leaves and nodes without metadata. A crash here
            // leaves a database without a log, which `serve` refuses; delete
            // it and restore again.
            storage
                .commit(std::mem::take(&mut batch))
                .map_err(|e| CliError::usage(e.to_string()))?;
        }
    }
    let frontier = &chain.frontier;
    if frontier.size() != head.size || frontier.root() != head.root {
        return Err(bad(format!(
            "the backup's {} entries do not match its checkpoint (size {})",
            frontier.size(),
            head.size
        )));
    }
    // Commit point: with the metadata the database holds the log.
    batch.meta = Some(LogMeta {
        origin: signer.name.clone(),
        vkey: signer.verifier().to_string(),
        size: head.size,
        checkpoint: note,
    });
    storage
        .commit(batch)
        .map_err(|e| CliError::usage(e.to_string()))?;
    out!(
        "restore: {} entries into {}, root matches the checkpoint",
        head.size,
        db.display()
    );
    Ok(())
}

/// A log being rebuilt from its leaves, in order (restore, migrate): each
/// leaf must decode, carry its index and chain to the one before; its
/// hash and the subtrees it completes join the batch.
pub(super) struct Chain {
    pub frontier: Frontier,
    prev: crate::core::Hash,
}

impl Default for Chain {
    fn default() -> Chain {
        Chain {
            frontier: Frontier::new(),
            prev: crate::core::entry::GENESIS_PREV,
        }
    }
}

impl Chain {
    pub fn push(&mut self, leaf: Vec<u8>, batch: &mut Batch) -> Result<(), String> {
        let index = self.frontier.size();
        let entry = Entry::from_leaf(&leaf).map_err(|e| format!("entry {index}: {e}"))?;
        if entry.index != index || entry.prev_leaf_hash != self.prev {
            return Err(format!("entry {index}: wrong index or broken hash chain"));
        }
        self.prev = merkle::leaf_hash(&leaf);
        let nodes = &mut batch.nodes;
        self.frontier.push(self.prev, |node| nodes.push(node));
        batch.leaves.push((index, leaf));
        Ok(())
    }
}
