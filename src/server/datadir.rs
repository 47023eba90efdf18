//! The data directory: the log's private key and its database.
//!
//! ```text
//! DATA/log.key   the checkpoint signing key, C2SP signer-key form, mode 0600
//! DATA/db/       the sled database
//! ```
//! The key's name is the log's origin, so the key file alone fixes which log
//! a directory holds; the database repeats origin and verifier key and the
//! sequencer refuses a mismatch.

use super::ServerError;
use crate::core::note::Signer;
use rand_core::{OsRng, RngCore};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "log.key";
pub const DB_DIR: &str = "db";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io {
        path: path.to_owned(),
        source,
    }
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_DIR)
}

/// Loads the log key from `dir`, refusing it if `origin` names another log.
pub fn load_key(dir: &Path, origin: Option<&str>) -> Result<Signer, ServerError> {
    let path = dir.join(KEY_FILE);
    let text = fs::read_to_string(&path).map_err(io_err(&path))?;
    let signer = Signer::parse(&text).map_err(|e| ServerError::Key {
        path: path.clone(),
        source: e,
    })?;
    match origin {
        Some(o) if o != signer.name => Err(ServerError::WrongLog(format!(
            "{} holds log {:?}, not {o:?}; use another --data directory for a new log",
            dir.display(),
            signer.name
        ))),
        _ => Ok(signer),
    }
}

/// Returns the log key, creating the directory and a new key on first start.
/// The `bool` is true when the key was created now.
pub fn ensure_key(dir: &Path, origin: Option<&str>) -> Result<(Signer, bool), ServerError> {
    let path = dir.join(KEY_FILE);
    if path.exists() {
        return Ok((load_key(dir, origin)?, false));
    }
    if db_path(dir).exists() {
        return Err(ServerError::WrongLog(format!(
            "{} has a database but no {KEY_FILE}: restore the key instead of creating a new log",
            dir.display()
        )));
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let signer =
        Signer::from_seed(origin.unwrap_or(super::DEFAULT_ORIGIN), &seed).map_err(|e| {
            ServerError::Key {
                path: path.clone(),
                source: e,
            }
        })?;
    // Write to a temporary file with 0600 from the start, fsync, then rename:
    // a crash leaves either no key or a complete one, never a partial key.
    let tmp = dir.join(format!("{KEY_FILE}.tmp"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    writeln!(f, "{}", signer.to_private_string()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok((signer, true))
}
