//! The auditor's state directory: a lock file (runs take turns), the state
//! (replaced atomically), and `entries`, the auditor's own copy of every
//! verified leaf, from which it rebuilds the registry on the next run.

use super::CliError;
use crate::core::note::Verifier;
use crate::verifier::audit::AuditState;
use std::io::{Read, Write};
use std::path::Path;

fn state_err(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("audit state {}: {e}", path.display()))
}

/// An exclusive lock on `DIR/lock`, held until dropped. A second auditor on
/// the same state waits for the first to finish rather than racing it.
pub fn lock_state(dir: &Path) -> Result<std::fs::File, CliError> {
    std::fs::create_dir_all(dir).map_err(|e| state_err(dir, e))?;
    let path = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| state_err(&path, e))?;
    f.lock().map_err(|e| state_err(&path, e))?;
    Ok(f)
}

/// Loads the saved state and rebuilds its registry from the saved entries;
/// returns it with the open entries file, truncated to exactly the state's
/// entries (a run that failed after appending leaves extra ones behind).
pub fn load_state(dir: &Path, vkey: &Verifier) -> Result<(AuditState, std::fs::File), CliError> {
    let path = dir.join("state");
    let mut state = match std::fs::read_to_string(&path) {
        Ok(text) => AuditState::decode(&text, vkey).map_err(|e| state_err(&path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => AuditState::genesis(),
        Err(e) => return Err(state_err(&path, e)),
    };
    let entries_path = dir.join("entries");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&entries_path)
        .map_err(|e| state_err(&entries_path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| state_err(&entries_path, e))?;
    let (mut leaves, mut at) = (Vec::new(), 0usize);
    while (leaves.len() as u64) < state.head.size {
        let len = bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize);
        let leaf = len.and_then(|l| bytes.get(at + 4..at + 4 + l));
        let Some(leaf) = leaf else {
            return Err(state_err(&entries_path, "holds fewer entries than the state; delete the state directory to audit from scratch"));
        };
        leaves.push(leaf);
        at += 4 + leaf.len();
    }
    state
        .replay(leaves)
        .map_err(|e| state_err(&entries_path, e))?;
    file.set_len(at as u64)
        .map_err(|e| state_err(&entries_path, e))?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))
        .map_err(|e| state_err(&entries_path, e))?;
    Ok((state, file))
}

/// Appends verified leaves to the entries file (`u32` length, then bytes).
pub fn append_entries(file: &mut std::fs::File, leaves: &[Vec<u8>]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(leaves.iter().map(|l| l.len() + 4).sum());
    for leaf in leaves {
        buf.extend_from_slice(&(leaf.len() as u32).to_be_bytes());
        buf.extend_from_slice(leaf);
    }
    file.write_all(&buf)
}

/// Writes the state atomically: temp file, fsync, rename, fsync the directory.
/// A crash leaves either the old state or the new one, never a torn file.
pub fn save_state(dir: &Path, text: &str) -> Result<(), CliError> {
    let (tmp, path) = (dir.join("state.tmp"), dir.join("state"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| state_err(&path, e))
}
