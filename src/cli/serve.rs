//! `accord serve`: run the log until Ctrl-C or SIGTERM.
//!
//! Every option comes from, in increasing precedence: the TOML file named by
//! `--config`, an `ACCORD_*` environment variable, the flag. Unset options
//! keep the defaults of [`Config::default`].

use super::CliError;
use crate::server::config::{LogFormat, LogLevel};
use crate::server::{self, Config};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (every option: deploy/accord.example.toml).
    #[arg(long, value_name = "FILE", env = "ACCORD_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (keys, admin token and database) [default: ./accord-data]
    #[arg(long, value_name = "DIR", env = "ACCORD_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50051]
    #[arg(long, value_name = "ADDR", env = "ACCORD_LISTEN")]
    listen: Option<String>,
    /// Log origin (also the checkpoint key name); fixed when the log is created.
    #[arg(long, env = "ACCORD_ORIGIN")]
    origin: Option<String>,
    /// Operator key (PKCS#8 PEM) for commitment registrations; default DATA/operator.pem, created if missing.
    #[arg(long, value_name = "FILE", env = "ACCORD_OPERATOR_KEY")]
    operator_key: Option<PathBuf>,
    /// Bearer token file for operator-only requests; default DATA/admin.token, created if missing.
    #[arg(long, value_name = "FILE", env = "ACCORD_ADMIN_TOKEN")]
    admin_token: Option<PathBuf>,
    /// Serve TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PEM", env = "ACCORD_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (mode 0600).
    #[arg(long, value_name = "PEM", env = "ACCORD_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Requests per second per client IP (IPv6: per /64); 0 turns limiting off [default: 100]
    #[arg(long, value_name = "N", env = "ACCORD_RATE_LIMIT")]
    rate_limit: Option<f64>,
    /// Requests a client may make at once before the rate applies [default: 2 × --rate-limit]
    #[arg(long, value_name = "N", env = "ACCORD_RATE_BURST")]
    rate_burst: Option<f64>,
    /// Limit loopback clients too (by default local tools are not limited).
    #[arg(long, value_name = "BOOL", env = "ACCORD_RATE_LIMIT_LOOPBACK", num_args = 0..=1, default_missing_value = "true")]
    rate_limit_loopback: Option<bool>,
    /// Statements per second per signing key of an unverified organization; 0 turns it off [default: 1]
    #[arg(long, value_name = "N", env = "ACCORD_KEY_RATE_LIMIT")]
    key_rate_limit: Option<f64>,
    /// Statements such a key may make at once before --key-rate-limit applies [default: 10]
    #[arg(long, value_name = "N", env = "ACCORD_KEY_RATE_BURST")]
    key_rate_burst: Option<f64>,
    /// Serve Prometheus metrics over HTTP at ADDR/metrics (e.g. 127.0.0.1:9090).
    #[arg(long, value_name = "ADDR", env = "ACCORD_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Serve the log over HTTP as tlog-tiles at ADDR (/checkpoint, /tile/…), e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR", env = "ACCORD_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// Witness policy (C2SP tlog-policy): ask its witnesses to cosign each checkpoint; serve the latest cosigned by its quorum.
    #[arg(long, value_name = "FILE", env = "ACCORD_WITNESS_POLICY")]
    witness_policy: Option<PathBuf>,
    /// Seconds a new connection has to finish its handshake and send its first request [default: 5]
    #[arg(long, value_name = "SECONDS", env = "ACCORD_FIRST_REQUEST_TIMEOUT")]
    first_request_timeout: Option<f64>,
    /// Seconds a connection may stay open with no request in progress [default: 120]
    #[arg(long, value_name = "SECONDS", env = "ACCORD_IDLE_TIMEOUT")]
    idle_timeout: Option<f64>,
    /// Seconds between HTTP/2 keepalive pings on a quiet connection [default: 60]
    #[arg(long, value_name = "SECONDS", env = "ACCORD_KEEPALIVE_INTERVAL")]
    keepalive_interval: Option<f64>,
    /// Seconds a keepalive ping may go unanswered before the connection closes [default: 20]
    #[arg(long, value_name = "SECONDS", env = "ACCORD_KEEPALIVE_TIMEOUT")]
    keepalive_timeout: Option<f64>,
    /// Connections open at once over all listeners; 0 = derived from the descriptor limit [default: 0]
    #[arg(long, value_name = "N", env = "ACCORD_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Connections open at once per client address (IPv6: per /64); 0 = no cap [default: 128]
    #[arg(long, value_name = "N", env = "ACCORD_MAX_CONNECTIONS_PER_ADDRESS")]
    max_connections_per_address: Option<usize>,
    /// Apply the per-address connection cap to loopback clients too.
    #[arg(long, value_name = "BOOL", env = "ACCORD_CONNECTION_LIMIT_LOOPBACK", num_args = 0..=1, default_missing_value = "true")]
    connection_limit_loopback: Option<bool>,
    /// The records store's block cache in MiB (fjall: registry and map
    /// records are read through it) [default: 64]
    #[arg(long, value_name = "MIB", env = "ACCORD_CACHE_MB")]
    cache_mb: Option<u64>,
    /// Keep the log in PostgreSQL (a libpq URL, postgres://user@host/db)
    /// instead of the local store under --data, which still holds the keys
    #[arg(long = "storage", value_name = "URL", env = "ACCORD_STORAGE_URL")]
    storage_url: Option<String>,
    #[command(flatten)]
    storage_access: StorageAccess,
    /// Log lines as readable text or JSON [default: human]
    #[arg(long, value_enum, env = "ACCORD_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// Least severe events logged; debug adds a line per request [default: info]
    #[arg(long, value_enum, env = "ACCORD_LOG_LEVEL")]
    log_level: Option<LogLevel>,
}

impl ServeArgs {
    /// The configuration: file (if any), then environment and flags on top
    /// (clap already prefers a flag to its environment variable).
    pub fn config(self) -> Result<Config, CliError> {
        let usage = |e: server::ConfigError| CliError::usage(e.to_string());
        let mut c = match &self.config {
            Some(path) => Config::from_file(path).map_err(usage)?,
            None => Config::default(),
        };
        macro_rules! layer {
            (opt $($field:ident),*) => { $( if self.$field.is_some() { c.$field = self.$field; } )* };
            ($($field:ident),*) => { $( if let Some(v) = self.$field { c.$field = v; } )* };
        }
        layer!(
            data,
            listen,
            rate_limit,
            rate_limit_loopback,
            key_rate_limit,
            key_rate_burst,
            first_request_timeout,
            idle_timeout,
            keepalive_interval,
            keepalive_timeout,
            max_connections,
            max_connections_per_address,
            connection_limit_loopback,
            cache_mb,
            log_format,
            log_level
        );
        layer!(opt origin, operator_key, admin_token, tls_cert, tls_key, rate_burst, metrics_listen, http_listen, witness_policy);
        if self.storage_url.is_some() {
            c.storage.url = self.storage_url;
        }
        if self.storage_access.storage_ca.is_some() {
            c.storage.ca_file = self.storage_access.storage_ca;
        }
        if self.storage_access.storage_password_file.is_some() {
            c.storage.password_file = self.storage_access.storage_password_file;
        }
        c.validate().map_err(usage)?;
        Ok(c)
    }
}

pub(super) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests and batches");
}

pub async fn run(args: ServeArgs) -> Result<(), CliError> {
    let config = args.config()?;
    server::logging::init(config.log_format, config.log_level);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| CliError::usage(format!("listen: cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::usage(e.to_string()))?;
    tracing::info!("listening on {addr} (data: {})", config.data.display());
    server::run(listener, config, shutdown_signal())
        .await
        .map_err(|e| CliError::usage(e.to_string()))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// How to reach a PostgreSQL database besides its URL (`serve`, `init`,
/// `migrate`): TLS roots and the password file.
#[derive(clap::Args, Default)]
pub struct StorageAccess {
    /// Root certificates (PEM) the database's TLS certificate must chain to
    #[arg(long = "storage-ca", value_name = "PEM", env = "ACCORD_STORAGE_CA")]
    pub storage_ca: Option<PathBuf>,
    /// A file holding the database password, kept out of the URL (which
    /// `ps` shows); without it PGPASSFILE or ~/.pgpass is read
    #[arg(
        long = "storage-password-file",
        value_name = "FILE",
        env = "ACCORD_STORAGE_PASSWORD_FILE"
    )]
    pub storage_password_file: Option<PathBuf>,
}

impl StorageAccess {
    pub fn options(&self) -> crate::storage::postgres::ConnectOptions {
        crate::storage::postgres::ConnectOptions {
            ca_file: self.storage_ca.clone(),
            password_file: self.storage_password_file.clone(),
        }
    }
}
