//! The data directory: the log's private key and its database.
//!
//! ```text
//! DATA/log.key        the checkpoint signing key, C2SP signer-key form, mode 0600
//! DATA/operator.pem   the operator key (PKCS#8 PEM, mode 0600): signs commitment registrations
//! DATA/admin.token    the bearer token for operator-only requests (hex, mode 0600)
//! DATA/db/            the log files and the records store, db/records/ (storage::local_store)
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
/// The operator key signs commitment registrations; it is distinct from the
/// log key so that the checkpoint key never signs anything but checkpoints.
pub const OPERATOR_KEY_FILE: &str = "operator.pem";
pub const DB_DIR: &str = "db";
/// The bearer token that operator-only requests must carry.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads a private key file, refusing one that every user of the machine can
/// read or write (mode `o+r` or `o+w`): a key others may have copied no
/// longer proves who signed. Group access is left to the operator.
pub(crate) fn read_private(path: &Path) -> Result<String, ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let file = fs::File::open(path).map_err(io_err(path))?;
    let mode = file.metadata().map_err(io_err(path))?.permissions().mode();
    if mode & 0o006 != 0 {
        return Err(ServerError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "this file holds a secret and is open to every user (mode {:o}); run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            )),
        });
    }
    std::io::read_to_string(file).map_err(io_err(path))
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_DIR)
}

/// Loads the log key from `dir`, refusing it if `origin` names another log.
pub fn load_key(dir: &Path, origin: Option<&str>) -> Result<Signer, ServerError> {
    let path = dir.join(KEY_FILE);
    let text = read_private(&path)?;
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
    write_private_atomic(dir, KEY_FILE, &format!("{}\n", signer.to_private_string()))?;
    Ok((signer, true))
}

/// Writes `DIR/NAME` with mode 0600 from the start: to a temporary file,
/// fsync, rename, fsync the directory. A crash leaves either no file or a
/// complete one, never a partial secret.
pub(crate) fn write_private_atomic(
    dir: &Path,
    name: &str,
    contents: &str,
) -> Result<(), ServerError> {
    let (tmp, path) = (dir.join(format!("{name}.tmp")), dir.join(name));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Reads the admin token (operators send it as `authorization: Bearer …`),
/// refusing an empty file or one open to every user.
pub fn read_admin_token(path: &Path) -> Result<String, ServerError> {
    let token = read_private(path)?.trim().to_owned();
    if token.is_empty() || token.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(ServerError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(
                "the admin token must be one line of printable ASCII without spaces",
            ),
        });
    }
    Ok(token)
}

/// The admin token of the log in `dir`, created on first start: 32 random
/// bytes in hex (256 bits, beyond guessing), mode 0600.
pub fn ensure_admin_token(dir: &Path) -> Result<String, ServerError> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    if !path.exists() {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        write_private_atomic(dir, ADMIN_TOKEN_FILE, &format!("{}\n", hex::encode(bytes)))?;
    }
    read_admin_token(&path)
}

/// Writes a new Ed25519 key as PKCS#8 v1 PEM — byte-for-byte the layout
/// `openssl genpkey -algorithm ed25519` writes — with mode 0600, refusing to
/// overwrite an existing file.
pub fn write_new_key(path: &Path) -> Result<ed25519_dalek::SigningKey, ServerError> {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
    let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
    let pem = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(Default::default())
    .map_err(|e| ServerError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(pem.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io_err(path))?;
    Ok(key)
}

/// Reads a PKCS#8 PEM Ed25519 private key (ours or OpenSSL's).
pub fn read_key(path: &Path) -> Result<ed25519_dalek::SigningKey, ServerError> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let text = read_private(path)?;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&text).map_err(|e| ServerError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(format!("not an Ed25519 PKCS#8 PEM private key: {e}")),
    })
}

/// The operator key of the log in `dir`, created on first start.
pub fn ensure_operator_key(dir: &Path) -> Result<ed25519_dalek::SigningKey, ServerError> {
    let path = dir.join(OPERATOR_KEY_FILE);
    if path.exists() {
        read_key(&path)
    } else {
        write_new_key(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keys_are_created_private_and_refused_when_open_to_everyone() {
        let dir = tempfile::tempdir().unwrap();
        let (_, created) = ensure_key(dir.path(), Some("test.example/log")).unwrap();
        assert!(created);
        let log_key = dir.path().join(KEY_FILE);
        let operator = dir.path().join(OPERATOR_KEY_FILE);
        ensure_operator_key(dir.path()).unwrap();
        assert_eq!((mode(&log_key), mode(&operator)), (0o600, 0o600));
        let token = ensure_admin_token(dir.path()).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(ensure_admin_token(dir.path()).unwrap(), token, "kept");
        let token_file = dir.path().join(ADMIN_TOKEN_FILE);
        assert_eq!(mode(&token_file), 0o600);
        chmod(&token_file, 0o604);
        let msg = ensure_admin_token(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("open to every user"), "{msg}");

        for (path, open) in [(&log_key, 0o644), (&operator, 0o602)] {
            chmod(path, open);
            let err = if path == &log_key {
                load_key(dir.path(), None).map(|_| ()).unwrap_err()
            } else {
                read_key(path).map(|_| ()).unwrap_err()
            };
            let msg = err.to_string();
            assert!(
                msg.contains("open to every user") && msg.contains("chmod 600"),
                "{msg}"
            );
            // Group access is the operator's choice.
            chmod(path, 0o640);
        }
        load_key(dir.path(), None).unwrap();
        read_key(&operator).unwrap();
    }
}
