//! The server's configuration: one struct, filled from a TOML file
//! (`--config`), then `ACCORD_*` environment variables, then flags — each
//! later source overriding the earlier (the layering is in `cli/serve.rs`).
//! `deploy/accord.example.toml` documents every option with its default; a
//! test checks that it parses to exactly [`Config::default`].

use super::endpoint::{TlsFiles, DEFAULT_KEY_RATE, DEFAULT_RATE_LIMIT};
use crate::net::budget::{
    DEFAULT_FIRST_REQUEST_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_PER_ADDRESS,
};
use crate::net::Limits;
use crate::service::access::RateLimit;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// HTTP/2 keepalive: a ping after this long without frames from the client…
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// …which must be answered within this, or the connection is closed: a
/// vanished peer's connection is gone within 80 s.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Default data directory and listen address, as documented in README.md.
pub const DEFAULT_DATA_DIR: &str = "./accord-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// How log lines are written (to stdout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event (colours on a terminal).
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The least severe events logged. `debug` adds one line per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory: log key, operator key, admin token, database.
    pub data: PathBuf,
    /// Address `accord serve` listens on for gRPC.
    pub listen: String,
    /// The log's origin (checkpoint key name); only used to create a log,
    /// and checked against an existing one.
    pub origin: Option<String>,
    /// Operator key (PKCS#8 PEM); default DATA/operator.pem, created.
    pub operator_key: Option<PathBuf>,
    /// Admin token file; default DATA/admin.token, created.
    pub admin_token: Option<PathBuf>,
    /// TLS certificate chain and key (PEM); both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Requests per second per client address; 0 turns limiting off.
    pub rate_limit: f64,
    /// Burst size; default 2 × rate_limit.
    pub rate_burst: Option<f64>,
    /// Limit loopback clients too.
    pub rate_limit_loopback: bool,
    /// Statements per second per signing key of an unverified organization;
    /// 0 turns it off.
    pub key_rate_limit: f64,
    /// Burst size per key.
    pub key_rate_burst: f64,
    /// Address of the Prometheus metrics endpoint (HTTP, `/metrics`); off if unset.
    pub metrics_listen: Option<String>,
    /// Address of the HTTP read endpoint (tlog-tiles: `/checkpoint`,
    /// `/tile/…`); off if unset.
    pub http_listen: Option<String>,
    /// A C2SP tlog-policy file: the witnesses to ask for cosignatures and
    /// the quorum a checkpoint needs before it is served as the checkpoint.
    pub witness_policy: Option<PathBuf>,
    /// Seconds a new connection has to finish its handshake (TLS, HTTP/2
    /// preface) and send its first request.
    pub first_request_timeout: f64,
    /// Seconds a connection may stay open with no request in progress.
    pub idle_timeout: f64,
    /// Seconds between HTTP/2 keepalive pings on a quiet connection.
    pub keepalive_interval: f64,
    /// Seconds a keepalive ping may go unanswered before the connection closes.
    pub keepalive_timeout: f64,
    /// Connections open at once over all listeners; 0 = derived from the
    /// process's descriptor limit.
    pub max_connections: usize,
    /// Connections open at once per client address (IPv6: per /64); 0 = no cap.
    pub max_connections_per_address: usize,
    /// Apply the per-address connection cap to loopback clients too.
    pub connection_limit_loopback: bool,
    /// The records store's block cache in MiB (fjall; the registry and the
    /// map are read through it).
    pub cache_mb: u64,
    /// Where the log is kept: the local store under `data`
    /// (default), or PostgreSQL (`[storage] url = "postgres://…"`).
    pub storage: StorageConfig,
    pub log_format: LogFormat,
    pub log_level: LogLevel,
}

/// The `[storage]` table.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// A libpq URL (`postgres://user@host:port/db?sslmode=…`): keep the log
    /// in PostgreSQL instead of the local store. `None`: the local store
    /// under the data directory (`storage::local_store`).
    pub url: Option<String>,
    /// Root certificates (PEM) the database's certificate must chain to
    /// (libpq's `sslrootcert`; makes `prefer`/`require` verify it).
    pub ca_file: Option<std::path::PathBuf>,
    /// A file whose first line is the database password, for a URL
    /// without one (else libpq's `PGPASSFILE` or `~/.pgpass` is read).
    pub password_file: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data: DEFAULT_DATA_DIR.into(),
            listen: DEFAULT_LISTEN.into(),
            origin: None,
            operator_key: None,
            admin_token: None,
            tls_cert: None,
            tls_key: None,
            rate_limit: DEFAULT_RATE_LIMIT.per_second,
            rate_burst: None,
            rate_limit_loopback: false,
            key_rate_limit: DEFAULT_KEY_RATE.per_second,
            key_rate_burst: DEFAULT_KEY_RATE.burst,
            metrics_listen: None,
            http_listen: None,
            witness_policy: None,
            first_request_timeout: DEFAULT_FIRST_REQUEST_TIMEOUT.as_secs_f64(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT.as_secs_f64(),
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL.as_secs_f64(),
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT.as_secs_f64(),
            max_connections: 0,
            max_connections_per_address: DEFAULT_PER_ADDRESS,
            cache_mb: crate::storage::local_store::DEFAULT_CACHE_MB,
            storage: StorageConfig::default(),
            connection_limit_loopback: false,
            log_format: LogFormat::Human,
            log_level: LogLevel::Info,
        }
    }
}

/// A configuration that cannot be used; the message names the option.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The defaults for a data directory.
    pub fn new(data: impl Into<PathBuf>) -> Config {
        Config {
            data: data.into(),
            ..Config::default()
        }
    }

    /// Parses a TOML configuration; unknown keys and wrong types are
    /// refused with the key's name and line.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string().trim_end().replace('\n', " ")))
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("--config {}: {e}", path.display())))?;
        Config::from_toml(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Checks what types alone cannot: ranges and options that go together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |option: &str, why: String| Err(ConfigError(format!("{option}: {why}")));
        if let Some(url) = &self.storage.url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return bad(
                    "storage.url",
                    "must be a PostgreSQL URL (postgres://user@host:port/database)".into(),
                );
            }
        }
        if !(1..=1 << 20).contains(&self.cache_mb) {
            return bad(
                "cache_mb",
                format!("must be between 1 and 1048576 (MiB), got {}", self.cache_mb),
            );
        }
        if !(self.rate_limit.is_finite() && self.rate_limit >= 0.0) {
            return bad(
                "rate_limit",
                format!(
                    "{} is not a rate ≥ 0 (0 turns limiting off)",
                    self.rate_limit
                ),
            );
        }
        if let Some(b) = self.rate_burst {
            if !(b.is_finite() && b >= 1.0) {
                return bad("rate_burst", format!("{b} is not a burst ≥ 1"));
            }
        }
        if !(self.key_rate_limit.is_finite() && self.key_rate_limit >= 0.0) {
            return bad(
                "key_rate_limit",
                format!("{} is not a rate ≥ 0 (0 turns it off)", self.key_rate_limit),
            );
        }
        if !(self.key_rate_burst.is_finite() && self.key_rate_burst >= 1.0) {
            return bad(
                "key_rate_burst",
                format!("{} is not a burst ≥ 1", self.key_rate_burst),
            );
        }
        for (option, secs) in [
            ("first_request_timeout", self.first_request_timeout),
            ("idle_timeout", self.idle_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("keepalive_timeout", self.keepalive_timeout),
        ] {
            // Between a millisecond and a day: beyond, a typo, not a choice.
            if !(secs.is_finite() && (0.001..=86_400.0).contains(&secs)) {
                return bad(
                    option,
                    format!("{secs} is not a number of seconds in 0.001–86400"),
                );
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad(
                "tls_cert/tls_key",
                "give both the certificate chain and its key, or neither".into(),
            );
        }
        for (option, value) in [
            ("listen", Some(&self.listen)),
            ("metrics_listen", self.metrics_listen.as_ref()),
            ("http_listen", self.http_listen.as_ref()),
        ] {
            if let Some(v) = value {
                if v.rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .is_none()
                {
                    return bad(option, format!("{v:?} is not HOST:PORT"));
                }
            }
        }
        if self
            .origin
            .as_deref()
            .is_some_and(|o| !crate::core::note::valid_key_name(o))
        {
            return bad(
                "origin",
                "must be a valid key name: no spaces or '+', not empty".into(),
            );
        }
        Ok(())
    }

    /// The per-client limit, or `None` when off.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        (self.rate_limit > 0.0).then(|| RateLimit {
            per_second: self.rate_limit,
            burst: self.rate_burst.unwrap_or(2.0 * self.rate_limit).max(1.0),
            loopback: self.rate_limit_loopback,
        })
    }

    /// The per-key limit on unverified organizations, or `None` when off.
    pub fn key_rate_limit(&self) -> Option<RateLimit> {
        (self.key_rate_limit > 0.0).then(|| RateLimit {
            per_second: self.key_rate_limit,
            burst: self.key_rate_burst.max(1.0),
            loopback: self.rate_limit_loopback,
        })
    }

    /// The connection limits; `descriptors` is the process's descriptor
    /// limit, from which `max_connections = 0` derives the global cap.
    pub fn limits(&self, descriptors: u64) -> Limits {
        let max_connections = match self.max_connections {
            0 => crate::net::budget::auto_max_connections(descriptors),
            n => n,
        };
        Limits {
            first_request_timeout: Duration::from_secs_f64(self.first_request_timeout),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout),
            per_address: self.max_connections_per_address,
            limit_loopback: self.connection_limit_loopback,
            max_connections,
        }
    }

    /// HTTP/2 keepalive ping interval and timeout.
    pub fn keepalive(&self) -> (Duration, Duration) {
        (
            Duration::from_secs_f64(self.keepalive_interval),
            Duration::from_secs_f64(self.keepalive_timeout),
        )
    }

    pub fn tls(&self) -> Option<TlsFiles> {
        let (cert, key) = (self.tls_cert.clone()?, self.tls_key.clone()?);
        Some(TlsFiles { cert, key })
    }
}
