//! `accord serve`: run the log until Ctrl-C or SIGTERM.

use super::CliError;
use crate::server::{self, Config};
use crate::service::access::RateLimit;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Data directory (log key and database).
    #[arg(long, default_value = server::DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = server::DEFAULT_LISTEN)]
    listen: String,
    /// Log origin (also the checkpoint key name); fixed when the log is created.
    #[arg(long)]
    origin: Option<String>,
    /// Operator key (PKCS#8 PEM) for commitment registrations; default DATA/operator.pem, created if missing.
    #[arg(long)]
    operator_key: Option<PathBuf>,
    /// Bearer token file for operator-only requests; default DATA/admin.token, created if missing.
    #[arg(long, value_name = "FILE")]
    admin_token: Option<PathBuf>,
    /// Serve TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (mode 0600).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Requests per second per client IP (IPv6: per /64); 0 turns limiting off.
    #[arg(long, value_name = "N", default_value_t = server::endpoint::DEFAULT_RATE_LIMIT.per_second)]
    rate_limit: f64,
    /// Requests a client may make at once before the rate applies; default 2 × --rate-limit.
    #[arg(long, value_name = "N")]
    rate_burst: Option<f64>,
    /// Limit loopback clients too (by default local tools are not limited).
    #[arg(long)]
    rate_limit_loopback: bool,
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("accord: shutting down (finishing in-flight batches)");
}

pub async fn run(args: ServeArgs) -> Result<(), CliError> {
    let fail = |e: server::ServerError| CliError::usage(e.to_string());
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| CliError::usage(format!("cannot listen on {}: {e}", args.listen)))?;
    println!(
        "listening on {} (data: {})",
        listener
            .local_addr()
            .map_err(|e| CliError::usage(e.to_string()))?,
        args.data.display()
    );
    if !(args.rate_limit.is_finite() && args.rate_limit >= 0.0) {
        return Err(CliError::usage(format!(
            "--rate-limit {}: expected requests per second ≥ 0 (0 = off)",
            args.rate_limit
        )));
    }
    let burst = args.rate_burst.unwrap_or(2.0 * args.rate_limit);
    if !(burst.is_finite() && burst >= 1.0) && args.rate_limit > 0.0 {
        return Err(CliError::usage(format!(
            "--rate-burst {burst}: expected at least 1 request"
        )));
    }
    let config = Config {
        origin: args.origin,
        operator_key: args.operator_key,
        admin_token: args.admin_token,
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert, key)| server::TlsFiles { cert, key }),
        rate_limit: (args.rate_limit > 0.0).then_some(RateLimit {
            per_second: args.rate_limit,
            burst,
            loopback: args.rate_limit_loopback,
        }),
        ..Config::new(args.data)
    };
    server::run(listener, config, shutdown_signal())
        .await
        .map_err(fail)
}
