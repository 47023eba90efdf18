//! The witness's durable state in its data directory:
//!
//! ```text
//! DIR/witness.key                   its cosigning key (PRIVATE+KEY+name+id+base64(0x04 ‖ seed)), 0600
//! DIR/logs/<sha256(origin) hex>     per log: the latest checkpoint it cosigned, as served
//!                                   (the log's signature and its cosignature)
//! ```
//!
//! Each file is replaced atomically (temporary file, fsync, rename, fsync
//! of the directory), so a crash leaves the old checkpoint or the new one.

use crate::core::cosignature::Cosigner;
use crate::core::{sha256, Hash};
use crate::server::datadir::write_private_atomic;
use crate::server::ServerError;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use rand_core::{OsRng, RngCore};
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "witness.key";
const LOGS_DIR: &str = "logs";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Loads the cosigning key from `dir`, creating it (named `name`, or
/// `witness-<8 hex of the key>.accord.invalid`) on first start.
pub fn ensure_key(dir: &Path, name: Option<&str>) -> Result<Cosigner, ServerError> {
    let path = dir.join(KEY_FILE);
    let bad_key = |e| ServerError::Key {
        path: path.clone(),
        source: e,
    };
    if path.exists() {
        let text = crate::server::datadir::read_private(&path)?;
        let cosigner = Cosigner::parse(&text).map_err(bad_key)?;
        if name.is_some_and(|n| n != cosigner.name) {
            return Err(ServerError::Config(crate::server::ConfigError(format!(
                "name: this witness's key is named {:?}; a new name needs a new key (another data directory)",
                cosigner.name
            ))));
        }
        return Ok(cosigner);
    }
    std::fs::create_dir_all(dir.join(LOGS_DIR)).map_err(io_err(dir))?;
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let derived = {
        let probe = Cosigner::from_seed("probe", &seed).map_err(bad_key)?;
        format!(
            "witness-{}.accord.invalid",
            &hex::encode(probe.verifier().key.as_bytes())[..8]
        )
    };
    let cosigner = Cosigner::from_seed(name.unwrap_or(&derived), &seed).map_err(bad_key)?;
    // Commit point: the key file appears whole or not at all; a crash
    // before leaves no key, and the next start creates another.
    write_private_atomic(
        dir,
        KEY_FILE,
        &format!("{}\n", cosigner.to_private_string()),
    )?;
    Ok(cosigner)
}

/// The latest cosigned checkpoints, one file per log.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, ServerError> {
        let dir = dir.join(LOGS_DIR);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Store { dir })
    }

    fn file(origin: &str) -> String {
        hex::encode(sha256(origin.as_bytes()))
    }

    /// The latest cosigned checkpoint of `origin` (the note), if any.
    pub fn latest(&self, origin: &str) -> Result<Option<String>, ServerError> {
        let path = self.dir.join(Self::file(origin));
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The note stored under `origin_hash` (the monitoring path's name).
    pub fn by_hash(&self, origin_hash: &str) -> Result<Option<String>, ServerError> {
        let name_ok = origin_hash.len() == 64
            && origin_hash
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !name_ok {
            return Ok(None);
        }
        match std::fs::read_to_string(self.dir.join(origin_hash)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&self.dir)(e)),
        }
    }

    /// Replaces `origin`'s latest checkpoint, durably.
    pub fn store(&self, origin: &str, note: &str) -> Result<(), ServerError> {
        write_private_atomic(&self.dir, &Self::file(origin), note)
    }
}

/// `(size, root)` of a stored note (written by us: its first lines are a
/// checkpoint's).
pub fn head_of(note: &str) -> Option<(u64, Hash)> {
    let mut lines = note.split('\n').skip(1);
    let size = lines.next()?.parse().ok()?;
    let root = B64.decode(lines.next()?).ok()?.try_into().ok()?;
    Some((size, root))
}
