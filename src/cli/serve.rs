//! `accord serve`: run the log until Ctrl-C or SIGTERM.

use super::CliError;
use crate::server::{self, Config};
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
    let config = Config {
        data_dir: args.data,
        origin: args.origin,
        operator_key: args.operator_key,
    };
    server::run(listener, config, shutdown_signal())
        .await
        .map_err(fail)
}
