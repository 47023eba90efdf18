//! The server's network face: TLS and the access interceptor (admin token,
//! per-client rate limit), built from the configuration.

use super::ServerError;
use crate::service::access::{Access, AdminToken, RateLimit};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Identity, ServerTlsConfig};

/// A TLS handshake not finished after this is dropped, so clients that open
/// connections and stall cannot pile up (a handshake takes milliseconds; 10 s
/// leaves room for slow links).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The default per-client limit for remote clients: 100 requests/s with
/// bursts of 200. A remote auditor reading pages of 1000 entries then gets
/// 100k entries/s (4× the measured audit rate) and a bulk submitter 100
/// SubmitBatch calls of 1000 statements per second (10× the measured commit
/// rate), so only request floods are held back. Loopback is not limited.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 100.0,
    burst: 200.0,
    loopback: false,
};

/// The default per-key limit on statements by unverified organizations (not
/// applied to the operator's requests, which carry the admin token — bulk
/// imports — nor to loopback clients unless `rate_limit_loopback`): an
/// organization makes a handful of statements a year (endorse, withdraw,
/// rotate), so 1 per second with bursts of 10 never hinders one, while a
/// spammer needs a new key — and a new organization in every listing, marked
/// unverified — for every ten statements.
pub const DEFAULT_KEY_RATE: RateLimit = RateLimit {
    per_second: 1.0,
    burst: 10.0,
    loopback: false,
};

/// PEM certificate chain and private key for `--tls-cert` / `--tls-key`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What [`super::run_with`] puts in front of the service, and beside it.
pub struct Endpoint {
    pub access: Access,
    pub tls: Option<ServerTlsConfig>,
    /// Where to serve Prometheus metrics (HTTP), if anywhere.
    pub metrics: Option<tokio::net::TcpListener>,
}

impl Default for Endpoint {
    /// Plaintext, no admin token (operator statements refused), no limit.
    fn default() -> Endpoint {
        Endpoint {
            access: Access::new(None, None),
            tls: None,
            metrics: None,
        }
    }
}

impl Endpoint {
    pub fn new(admin_token: Option<&str>, limit: Option<RateLimit>) -> Endpoint {
        Endpoint {
            access: Access::new(admin_token.map(AdminToken::new), limit),
            tls: None,
            metrics: None,
        }
    }
}

fn bad(path: &Path, why: String) -> ServerError {
    ServerError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(why),
    }
}

/// Reads and checks the certificate chain and key, so that a wrong file is
/// named at start rather than failing every handshake later.
pub fn tls_config(files: &TlsFiles) -> Result<ServerTlsConfig, ServerError> {
    let cert = std::fs::read_to_string(&files.cert).map_err(|e| bad(&files.cert, e.to_string()))?;
    if !cert.contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad(
            &files.cert,
            "--tls-cert: not a PEM certificate chain (no BEGIN CERTIFICATE)".into(),
        ));
    }
    let key = super::datadir::read_private(&files.key)?;
    if !key.contains("PRIVATE KEY-----") {
        return Err(bad(
            &files.key,
            "--tls-key: not a PEM private key (no BEGIN … PRIVATE KEY)".into(),
        ));
    }
    Ok(ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .timeout(TLS_HANDSHAKE_TIMEOUT))
}

/// One line saying how the endpoint is protected, for the start-up output.
/// It names where secrets are, never the secrets.
pub fn describe(config: &super::Config) -> String {
    let transport = match &config.tls() {
        Some(t) => format!("TLS ({})", t.cert.display()),
        None => "plaintext (no --tls-cert)".into(),
    };
    let token = (config.admin_token.clone())
        .unwrap_or_else(|| config.data.join(super::datadir::ADMIN_TOKEN_FILE));
    let limit = match config.rate_limit() {
        Some(l) => format!(
            "{}/s per client, bursts of {}{}",
            l.per_second,
            l.burst,
            if l.loopback { "" } else { ", loopback exempt" }
        ),
        None => "off".into(),
    };
    format!(
        "transport: {transport}; admin token in {}; rate limit: {limit}",
        token.display()
    )
}
