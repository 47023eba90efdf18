//! `accord audit`: verify the whole log (or, with `--state`, everything new
//! since the last run) trusting nothing the server says.
//!
//! Network fetching (pipelined pages) runs on the async runtime; verification
//! runs on a blocking thread fed through a bounded channel, so downloading
//! and checking overlap. Signatures are batch-verified across all cores.

use super::audit_files::{append_entries, load_state, lock_state, save_state};
use super::audit_source::{Open, Source, IN_FLIGHT, PAGE};
use super::tiles_reader::TilesReader;
use super::{client, exit, CliError};
use crate::core::checkpoint::Checkpoint;
use crate::core::note::Verifier;
use crate::verifier::audit::{check, AuditError, AuditState, Auditor, Checked, MapRootClaim};
use crate::verifier::evidence::{Evidence, Kind as EvidenceKind};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
/// Entries verified per call to `Auditor::feed`: enough to fill both cores'
/// signature batches.
const CHUNK: usize = 4096;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["server", "tiles"])))]
pub struct AuditArgs {
    /// The log's gRPC address.
    #[arg(long)]
    server: Option<String>,
    /// Audit from tlog-tiles alone (no gRPC): the log's --http-listen URL,
    /// or a mirror on any static web server. Every hash tile of the audited
    /// range is also compared with the one computed from the entries.
    #[arg(long, value_name = "URL")]
    tiles: Option<String>,
    /// The log's verifier key, or a file containing it.
    #[arg(long)]
    vkey: String,
    /// Monitor mode: remember the verified checkpoint here and verify only new entries next time.
    #[arg(long)]
    state: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// A witness policy (C2SP tlog-policy): the checkpoint audited must carry
    /// cosignatures meeting its quorum, and the policy must list --vkey.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

/// What one audit run checked.
#[derive(Debug, Clone)]
pub struct Summary {
    pub checked: u64,
    pub tree_size: u64,
    pub root: [u8; 32],
    pub elapsed: Duration,
    /// How the server's signatory listings compared with the registry
    /// recomputed from the log.
    pub signatories: String,
}

pub async fn run(args: AuditArgs) -> Result<(), CliError> {
    let vkey = super::verify::parse_vkey(&args.vkey)?;
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let policy = (args.policy.as_deref())
        .map(|p| super::verify::load_policy(p, &vkey))
        .transpose()?;
    let source = match (args.server, args.tiles) {
        (Some(server), _) => Source::Grpc(server),
        (None, Some(url)) => Source::Tiles(Box::new(TilesReader::new(&url)?)),
        (None, None) => return Err(CliError::usage("give --server or --tiles")),
    };
    let s = audit_with(
        &source,
        &vkey,
        policy.as_ref(),
        args.state.as_deref(),
        progress,
    )
    .await?;
    let secs = s.elapsed.as_secs_f64();
    out!(
        "OK: {} entries checked, tree size {}, root {}, {:.2} s, {:.0} entries/s",
        s.checked,
        s.tree_size,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s.root),
        secs,
        s.checked as f64 / secs.max(1e-9)
    );
    out!("{}", s.signatories);
    Ok(())
}

/// Runs one audit. With `state_dir`, takes an exclusive lock on it for the
/// whole run (concurrent runs wait their turn), resumes from the saved state
/// and saves the new one atomically.
pub async fn audit(
    server: &str,
    vkey: &Verifier,
    state_dir: Option<&Path>,
    progress: bool,
) -> Result<Summary, CliError> {
    let source = Source::Grpc(server.to_owned());
    audit_with(&source, vkey, None, state_dir, progress).await
}

/// [`audit`], requiring with `policy` that the checkpoint audited carries
/// cosignatures meeting its quorum (a split view then needs the witnesses).
pub async fn audit_with(
    source: &Source,
    vkey: &Verifier,
    policy: Option<&crate::core::policy::Policy>,
    state_dir: Option<&Path>,
    progress: bool,
) -> Result<Summary, CliError> {
    let started = Instant::now();
    // Waiting for the lock blocks, so it happens on the blocking pool.
    let _lock = match state_dir {
        Some(dir) => {
            let dir = dir.to_owned();
            let locked = tokio::task::spawn_blocking(move || lock_state(&dir)).await;
            Some(locked.map_err(|e| CliError::usage(format!("locking the audit state: {e}")))??)
        }
        None => None,
    };
    let (state, mut mirror) = match state_dir {
        Some(dir) => {
            let (state, file) = load_state(dir, vkey)?;
            (state, Some(file))
        }
        None => (AuditState::genesis(), None),
    };
    let mut c = match source {
        Source::Grpc(server) => Open::Grpc(client::connect(server).await?),
        Source::Tiles(t) => Open::Tiles(t.clone()),
    };
    let note = c.checkpoint().await?;
    super::verify::require_quorum(policy, &note)?;
    // The size only decides which proof to fetch; Auditor::begin verifies the note.
    let new = Checkpoint::open(&note, vkey).map_or(0, |cp| cp.head.size);
    let old = state.head.size;
    let consistency = if old > 0 && new > old {
        c.consistency(old, new).await?
    } else {
        Vec::new()
    };
    let auditor = match Auditor::begin(state, &note, &consistency, vkey) {
        Ok(a) => a,
        Err(e) => return Err(audit_error(e, vkey, state_dir)),
    };
    let done = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Vec<u8>>>(2 * IN_FLIGHT);
    let (start, target) = (auditor.next_index(), auditor.target());
    let verifier = {
        let done = done.clone();
        tokio::task::spawn_blocking(move || verify_stream(auditor, rx, &done, mirror.as_mut()))
    };
    let ticker = progress.then(|| tokio::spawn(show_progress(done.clone(), start, target.size)));
    let fetched = c.fetch(start, target, tx).await;
    let verified = verifier.await.map_err(|e| {
        CliError::new(
            exit::VERIFY_FAILED,
            format!("verification thread failed: {e}"),
        )
    })?;
    if let Some(t) = ticker {
        t.abort();
        let _ = t.await; // the bar is cleared when its task drops it
    }
    let new_state = match verified {
        Ok(s) => s,
        Err(StreamError::Local(e)) => {
            return Err(CliError::usage(format!("saving audited entries: {e}")))
        }
        Err(StreamError::Audit(AuditError::MapRoot(claim))) => {
            let e = map_root_evidence(&mut c, *claim, &note, target.size).await;
            return Err(audit_error(e, vkey, state_dir));
        }
        // A fetch error usually explains a short stream; report it first.
        Err(StreamError::Audit(e)) => {
            return Err(fetched
                .err()
                .unwrap_or_else(|| audit_error(e, vkey, state_dir)))
        }
    };
    fetched?;
    let registry_note = match &mut c {
        Open::Grpc(c) => super::audit_registry::compare(c, &new_state.registry).await?,
        Open::Tiles(_) => {
            "Signatory listings: not compared (tiles carry the entries, not the server's listings; audit with --server for that).".to_owned()
        }
    };
    if let Some(dir) = state_dir {
        save_state(dir, &new_state.encode(vkey))?;
    }
    Ok(Summary {
        checked: target.size - start,
        tree_size: target.size,
        root: target.root,
        elapsed: started.elapsed(),
        signatories: registry_note,
    })
}

/// Receives pages, feeds the auditor in chunks (saving each verified chunk
/// to `mirror`, the state directory's copy of the entries), and finishes it.
fn verify_stream(
    mut auditor: Auditor,
    mut rx: tokio::sync::mpsc::Receiver<Vec<Vec<u8>>>,
    done: &AtomicU64,
    mut mirror: Option<&mut std::fs::File>,
) -> Result<AuditState, StreamError> {
    let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(CHUNK + PAGE as usize);
    // A chunk whose independent checks are done: its sequential checks run
    // while the next chunk is checked on all cores.
    let mut pending: Option<(Vec<Vec<u8>>, Checked)> = None;
    let mut settle = |auditor: &mut Auditor,
                      (leaves, checked): (Vec<Vec<u8>>, Checked)|
     -> Result<(), StreamError> {
        auditor.feed_checked(checked)?;
        if let Some(f) = mirror.as_deref_mut() {
            append_entries(f, &leaves).map_err(|e| StreamError::Local(e.to_string()))?;
        }
        done.fetch_add(leaves.len() as u64, Ordering::Relaxed);
        Ok(())
    };
    loop {
        let page = rx.blocking_recv();
        let finished = page.is_none();
        chunk.extend(page.unwrap_or_default());
        if chunk.len() >= CHUNK || (finished && !chunk.is_empty()) {
            let leaves = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK + PAGE as usize));
            let checked = std::thread::scope(|s| {
                let settled = pending.take().map(|p| s.spawn(|| settle(&mut auditor, p)));
                let checked = check(&leaves);
                settled.map_or(Ok(()), |h| h.join().expect("audit thread panicked"))?;
                Ok::<_, StreamError>(checked)
            })?;
            pending = Some((leaves, checked));
        }
        if finished {
            if let Some(p) = pending.take() {
                settle(&mut auditor, p)?;
            }
            if let Some(f) = mirror {
                // The entries must be on disk before the state that counts them.
                f.sync_data()
                    .map_err(|e| StreamError::Local(e.to_string()))?;
            }
            return Ok(auditor.finish()?);
        }
    }
}

/// Why the verification thread stopped.
#[derive(Debug)]
enum StreamError {
    Audit(AuditError),
    /// Saving to the state directory failed (not the log's fault).
    Local(String),
}

impl From<AuditError> for StreamError {
    fn from(e: AuditError) -> Self {
        StreamError::Audit(e)
    }
}

/// A progress bar (indicatif) on stderr, updated from the verifier's
/// count five times a second; cleared when the task is aborted.
async fn show_progress(done: Arc<AtomicU64>, start: u64, end: u64) {
    let bar = indicatif::ProgressBar::new(end - start);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "[{bar:30}] {pos}/{len} entries ({percent}%), {per_sec}, {eta} left",
        )
        .expect("a valid template")
        .progress_chars("#>-"),
    );
    let _clear = ClearOnDrop(bar.clone());
    loop {
        bar.set_position(done.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct ClearOnDrop(indicatif::ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Evidence for a wrong map head: the log's inclusion proof of it in the
/// checkpoint being audited. If the server will not prove the inclusion,
/// the audit still fails, without evidence.
async fn map_root_evidence(c: &mut Open, claim: MapRootClaim, note: &str, size: u64) -> AuditError {
    let proof = match c.inclusion(claim.index, size).await {
        Ok(hashes) => hashes,
        Err(_) => return AuditError::MapRoot(Box::new(claim)),
    };
    AuditError::Misbehaviour(Box::new(Evidence {
        kind: EvidenceKind::MapRoot,
        old_checkpoint: String::new(),
        new_checkpoint: note.to_owned(),
        proof,
        map_head: Some((claim.index, claim.leaf, claim.computed)),
    }))
}

/// Maps an audit failure to an exit code; writes evidence for misbehaviour.
pub(super) fn audit_error(e: AuditError, vkey: &Verifier, state_dir: Option<&Path>) -> CliError {
    match e {
        AuditError::MapRoot(claim) => CliError::new(
            exit::MISBEHAVIOUR,
            format!("LOG MISBEHAVIOUR: {} (the server would not prove the map head's inclusion, so no evidence file)", AuditError::MapRoot(claim)),
        ),
        AuditError::Invalid(why) => {
            CliError::new(exit::VERIFY_FAILED, format!("audit FAILED: {why}"))
        }
        AuditError::Misbehaviour(evidence) => {
            let summary = evidence
                .check(vkey)
                .unwrap_or_else(|e| format!("unconfirmed: {e}"));
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let path = state_dir
                .unwrap_or(Path::new("."))
                .join(format!("evidence-{ms}.txt"));
            let written = std::fs::write(&path, evidence.format(vkey, &summary));
            let saved = match written {
                Ok(()) => format!("evidence written to {}", path.display()),
                Err(err) => format!("could not write evidence to {}: {err}", path.display()),
            };
            CliError::new(
                exit::MISBEHAVIOUR,
                format!("LOG MISBEHAVIOUR: {summary}; {saved}"),
            )
        }
    }
}
