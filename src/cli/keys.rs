//! Organization keys as PKCS#8 PEM files, interchangeable with OpenSSL
//! (`openssl genpkey -algorithm ed25519 -out org.pem`).

use super::CliError;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes a new key (mode 0600, refusing to overwrite) and prints the public key in hex.
pub fn keygen(out: &Path) -> Result<(), CliError> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    // PKCS#8 v1 without the optional public key: byte-for-byte the layout
    // OpenSSL writes, so every tool reads it.
    let pem = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(Default::default())
    .map_err(|e| CliError::usage(format!("encoding key: {e}")))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", out.display())))?;
    f.write_all(pem.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())))?;
    println!("{}", hex::encode(key.verifying_key().as_bytes()));
    Ok(())
}

pub fn read_key(path: &Path) -> Result<SigningKey, CliError> {
    let text = String::from_utf8(super::read_file(path)?)
        .map_err(|_| CliError::usage(format!("{}: not a PEM file", path.display())))?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        CliError::usage(format!(
            "{}: not an Ed25519 PKCS#8 PEM private key: {e}",
            path.display()
        ))
    })
}
