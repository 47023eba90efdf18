//! `accord mirror --server URL --vkey VKEY --out DIR`: copies a log's
//! tlog-tiles into a directory that any static web server, object store or
//! CDN can serve as the log's read side (`DIR/checkpoint`, `DIR/tile/…`).
//!
//! Every tile it writes is computed from entries that hash to the root of
//! the checkpoint signed by `--vkey`; run again, it extends the mirror from
//! the checkpoint it holds: the mirror's own tiles are checked against it
//! first, the server's consistency proof (from its tiles) must take it to
//! the new checkpoint, full tiles already covered are never written again,
//! and a checkpoint that is not one history with the mirrored one is log
//! misbehaviour: evidence is written as `accord audit` writes it.

use super::tile_walk::{walk, Sink, Walk};
use super::tiles_reader::{with_nodes, TilesReader};
use super::{exit, CliError};
use crate::core::checkpoint::Checkpoint;
use crate::core::merkle;
use crate::core::proof::verify_consistency;
use crate::core::tile_tree::{TileNodes, Tiler};
use crate::core::tiles::Tile;
use crate::verifier::audit::AuditError;
use crate::verifier::evidence::{Evidence, Kind};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct MirrorArgs {
    /// The log's tiles prefix: its `--http-listen` URL, or another mirror.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The log's verifier key, or a file containing it.
    #[arg(long)]
    vkey: String,
    /// The mirror directory (created; extended when it holds a mirror).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Writes under the mirror directory, each file atomically (temporary
/// file, then rename), so a reader never sees half a tile.
struct Dir(PathBuf);

impl Dir {
    fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), CliError> {
        let path = self.0.join(rel);
        let tmp = path.with_extension("tmp-accord");
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().expect("under the mirror"))?;
            std::fs::File::create(&tmp)?.write_all(bytes)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| CliError::usage(format!("writing {}: {e}", path.display())))
    }

    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>, CliError> {
        let path = self.0.join(rel);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::usage(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Flushes every file written so far to disk (one `syncfs`): the
    /// checkpoint that refers to them is written only after.
    fn sync(&self) -> Result<(), CliError> {
        let f = std::fs::File::open(&self.0)
            .map_err(|e| CliError::usage(format!("{}: {e}", self.0.display())))?;
        // SAFETY: syncfs only reads the descriptor, which `f` keeps open.
        let rc = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f)) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(CliError::usage(format!(
                "syncing {}: {e}",
                self.0.display()
            )));
        }
        Ok(())
    }
}

impl Sink for Dir {
    fn put(&mut self, tile: Tile, bytes: &[u8]) -> Result<(), CliError> {
        self.write(&tile.path(), bytes)
    }
}

pub async fn run(args: MirrorArgs) -> Result<(), CliError> {
    let vkey = super::verify::parse_vkey(&args.vkey)?;
    let started = Instant::now();
    let reader = TilesReader::new(&args.server)?;
    let mut dir = Dir(args.out.clone());
    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::usage(format!("--out {}: {e}", args.out.display())))?;
    let _lock = super::audit_files::lock_state(&args.out)?;
    let note = reader.checkpoint().await?;
    let new = Checkpoint::open(&note, &vkey).map_err(|e| {
        CliError::new(
            exit::VERIFY_FAILED,
            format!(
                "{}/checkpoint does not verify with {vkey}: {e}",
                reader.base()
            ),
        )
    })?;
    let old = match dir.read("checkpoint")? {
        None => None,
        Some(bytes) => {
            let text = String::from_utf8(bytes).unwrap_or_default();
            let cp = Checkpoint::open(&text, &vkey).map_err(|e| {
                CliError::usage(format!(
                    "{}/checkpoint is not a checkpoint of this log ({e}): mirror it into another directory",
                    args.out.display()
                ))
            })?;
            Some((cp.head, text))
        }
    };
    let (old_head, old_note) = old.unwrap_or((
        crate::core::checkpoint::TreeHead {
            size: 0,
            root: merkle::EMPTY_ROOT,
        },
        String::new(),
    ));
    // The mirror's own tree, read back from its tiles, must be the one its
    // checkpoint signs: a damaged mirror is not extended.
    let local = |tile: Tile| -> Result<Vec<u8>, String> {
        let path = args.out.join(tile.path());
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let tiler = if old_head.size == 0 {
        Tiler::new()
    } else {
        Tiler::resume(old_head.size, &TileNodes::new(old_head.size, local))
            .map_err(|e| CliError::usage(format!("the mirror is damaged: {e}")))?
    };
    if tiler.root() != old_head.root {
        return Err(CliError::usage(format!(
            "the mirror is damaged: its tiles do not hash to its checkpoint's root (size {})",
            old_head.size
        )));
    }
    let evidence = |kind, older: &str, newer: &str, proof: Vec<crate::core::Hash>| {
        let e = Evidence {
            kind,
            old_checkpoint: older.to_owned(),
            new_checkpoint: newer.to_owned(),
            proof: proof.into_iter().map(|h| h.to_vec()).collect(),
            map_head: None,
        };
        super::audit::audit_error(
            AuditError::Misbehaviour(Box::new(e)),
            &vkey,
            Some(&args.out),
        )
    };
    if old_head.size > 0 && new.head.size == old_head.size && new.head.root != old_head.root {
        return Err(evidence(Kind::Fork, &old_note, &note, Vec::new()));
    }
    if new.head.size <= old_head.size {
        // An older (or the same) checkpoint must be a prefix of the mirror's
        // tree: the mirror proves it is not with its own tiles.
        if new.head.size > 0 && new.head.size < old_head.size {
            let local = TileNodes::new(old_head.size, local);
            let proof = merkle::consistency_proof(new.head.size, old_head.size, &local)
                .map_err(|e| CliError::usage(format!("the mirror is damaged: {e}")))?;
            let refs: Vec<&[u8]> = proof.iter().map(|h| &h[..]).collect();
            let (small, large) = (&new.head, &old_head);
            if verify_consistency(small.size, large.size, &refs, &small.root, &large.root).is_err()
            {
                return Err(evidence(Kind::Inconsistent, &note, &old_note, proof));
            }
        }
        out!(
            "OK: the mirror is up to date (tree size {}; the server's checkpoint is at {})",
            old_head.size,
            new.head.size
        );
        return Ok(());
    }
    if old_head.size > 0 {
        // As `audit` does: the server's own consistency proof (from its
        // tiles) must take the mirrored root to the new one.
        let (old_size, new_size) = (old_head.size, new.head.size);
        let proof = with_nodes(&reader, new_size, new_size, move |nodes| {
            merkle::consistency_proof(old_size, new_size, nodes)
        })
        .await?;
        let refs: Vec<&[u8]> = proof.iter().map(|h| &h[..]).collect();
        let ok = verify_consistency(old_size, new_size, &refs, &old_head.root, &new.head.root);
        if ok.is_err() {
            return Err(evidence(Kind::Inconsistent, &old_note, &note, proof));
        }
    }
    let w = Walk {
        reader,
        tiler,
        size: new.head.size,
        root: new.head.root,
        compare: false,
    };
    let walked = walk(w, None, Some(&mut dir)).await?;
    // Commit point: tiles and bundles are on disk before the checkpoint
    // that covers them. A crash before the rename leaves the previous
    // checkpoint and some unreferenced tiles, which the next run rewrites.
    dir.sync()?;
    dir.write("checkpoint", note.as_bytes())?;
    dir.sync()?;
    let secs = started.elapsed().as_secs_f64();
    out!(
        "OK: mirrored {} entries ({} → {}), {} bundles and {} hash tiles written, {:.2} s, {:.0} entries/s",
        walked.entries,
        old_head.size,
        new.head.size,
        walked.bundles,
        walked.hash_tiles,
        secs,
        walked.entries as f64 / secs.max(1e-9)
    );
    Ok(())
}
