//! `accord witness`: run a tlog-witness (`crate::witness`) until Ctrl-C or
//! SIGTERM. Prints its verifier key (one line, `name+keyid+base64(0x04 ‖
//! key)`) first on every start, for log operators to put in their policy.

use super::CliError;
use crate::core::note::Verifier;
use crate::server::config::{LogFormat, LogLevel};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct WitnessArgs {
    /// Data directory: the witness key and the latest checkpoint of each log.
    #[arg(
        long,
        value_name = "DIR",
        env = "ACCORD_WITNESS_DATA",
        default_value = "./accord-witness"
    )]
    data: PathBuf,
    /// Address to listen on (HTTP; put TLS in front for the Internet).
    #[arg(
        long,
        value_name = "ADDR",
        env = "ACCORD_WITNESS_LISTEN",
        default_value = "127.0.0.1:7380"
    )]
    listen: String,
    /// A log to witness: its verifier key (vkey; its name is the log's origin). Repeat for more logs.
    #[arg(long = "log", value_name = "VKEY", required = true)]
    logs: Vec<String>,
    /// The witness's name (key name), fixed when its key is created [default: witness-<hex>.accord.invalid]
    #[arg(long)]
    name: Option<String>,
}

pub async fn run(args: WitnessArgs) -> Result<(), CliError> {
    let usage = |e: String| CliError::usage(e);
    let logs = (args.logs.iter())
        .map(|v| Verifier::parse(v).map_err(|e| usage(format!("--log {v:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let cosigner = crate::witness::state::ensure_key(&args.data, args.name.as_deref())
        .map_err(|e| usage(e.to_string()))?;
    out!("{}", cosigner.verifier());
    crate::server::logging::init(LogFormat::Human, LogLevel::Info);
    let store = crate::witness::state::Store::open(&args.data).map_err(|e| usage(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| usage(format!("listen: cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(|e| usage(e.to_string()))?;
    tracing::info!(
        "witness {} listening on http://{addr}/add-checkpoint for {} log(s): {}",
        cosigner.name,
        logs.len(),
        logs.iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let witness = Arc::new(crate::witness::Witness::new(cosigner, logs, store));
    axum::serve(listener, crate::witness::router(witness))
        .with_graceful_shutdown(super::serve::shutdown_signal())
        .await
        .map_err(|e| usage(format!("witness stopped: {e}")))
}
