//! Organization keys as PKCS#8 PEM files, interchangeable with OpenSSL
//! (`openssl genpkey -algorithm ed25519 -out org.pem`).

use super::CliError;
use crate::server::datadir;
use ed25519_dalek::SigningKey;
use std::path::Path;

/// Writes a new key (mode 0600, refusing to overwrite) and prints the public key in hex.
pub fn keygen(out: &Path) -> Result<(), CliError> {
    let key = datadir::write_new_key(out).map_err(|e| CliError::usage(e.to_string()))?;
    out!("{}", hex::encode(key.verifying_key().as_bytes()));
    Ok(())
}

pub fn read_key(path: &Path) -> Result<SigningKey, CliError> {
    datadir::read_key(path).map_err(|e| CliError::usage(e.to_string()))
}
