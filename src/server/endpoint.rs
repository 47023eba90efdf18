//! The server's network face: TLS and the access interceptor (admin token,
//! per-client rate limit), built from the configuration.

use super::config::{DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_KEEPALIVE_TIMEOUT};
use super::ServerError;
use crate::net::Limits;
use crate::service::access::{Access, AdminToken, RateLimit};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Identity, ServerTlsConfig};

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
    /// Where to serve the log as tlog-tiles (HTTP), if anywhere.
    pub http: Option<tokio::net::TcpListener>,
    /// The witnesses to ask for cosignatures, and the quorum to publish.
    pub witness_policy: Option<crate::core::policy::Policy>,
    /// Listing rows one ListSignatories call examines at most (tests lower it).
    pub list_scan_limit: usize,
    /// Connection caps and deadlines, for every listener.
    pub limits: Limits,
    /// HTTP/2 keepalive ping interval and timeout.
    pub keepalive: (Duration, Duration),
}

impl Default for Endpoint {
    /// Plaintext, no admin token (operator statements refused), no rate
    /// limit, the default connection limits.
    fn default() -> Endpoint {
        Endpoint::new(None, None)
    }
}

impl Endpoint {
    pub fn new(admin_token: Option<&str>, limit: Option<RateLimit>) -> Endpoint {
        Endpoint {
            access: Access::new(admin_token.map(AdminToken::new), limit),
            tls: None,
            metrics: None,
            http: None,
            witness_policy: None,
            list_scan_limit: crate::service::queries::MAX_EXAMINED,
            limits: Limits::default(),
            keepalive: (DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_KEEPALIVE_TIMEOUT),
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
/// `handshake` bounds the TLS handshake (the connection's first-request
/// deadline bounds it too).
pub fn tls_config(files: &TlsFiles, handshake: Duration) -> Result<ServerTlsConfig, ServerError> {
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
        .timeout(handshake))
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

/// One line saying how many connections are kept and for how long.
pub fn describe_limits(limits: &Limits, descriptors: u64) -> String {
    let per_address = match limits.per_address {
        0 => "no cap per client address".to_owned(),
        n => format!(
            "{n} per client address{}",
            if limits.limit_loopback {
                ""
            } else {
                " (loopback exempt)"
            }
        ),
    };
    format!(
        "connections: at most {} open (descriptor limit {descriptors}), {per_address}; \
         first request within {:.1} s, closed after {:.0} s idle",
        limits.max_connections,
        limits.first_request_timeout.as_secs_f64(),
        limits.idle_timeout.as_secs_f64()
    )
}
