//! `accord witness`: run a tlog-witness (`crate::witness`) until Ctrl-C or
//! SIGTERM. Prints its verifier key (one line, `name+keyid+base64(0x04 ‖
//! key)`) first on every start, for log operators to put in their policy.

use super::CliError;
use crate::core::note::Verifier;
use crate::metrics::Listener;
use crate::server::config::{LogFormat, LogLevel};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct WitnessArgs {
    /// A TOML file with any of the options below (`data`, `listen`,
    /// `logs` = [vkeys…], `name`, `rate`); flags and environment win.
    #[arg(long, value_name = "FILE", env = "ACCORD_WITNESS_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: the witness key and the latest checkpoint of each log [default: ./accord-witness].
    #[arg(long, value_name = "DIR", env = "ACCORD_WITNESS_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on (HTTP; put TLS in front for the Internet) [default: 127.0.0.1:7380].
    #[arg(long, value_name = "ADDR", env = "ACCORD_WITNESS_LISTEN")]
    listen: Option<String>,
    /// A log to witness: its verifier key (vkey; its name is the log's origin). Repeat for more logs; added to the config file's.
    #[arg(long = "log", value_name = "VKEY")]
    logs: Vec<String>,
    /// The witness's name (key name), fixed when its key is created [default: witness-<hex>.accord.invalid]
    #[arg(long)]
    name: Option<String>,
    /// add-checkpoint requests per second per client address (burst: twice
    /// as many; loopback clients are not limited) [default: 20].
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
}

/// The config file of `accord witness --config`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessConfig {
    data: Option<PathBuf>,
    listen: Option<String>,
    #[serde(default)]
    logs: Vec<String>,
    name: Option<String>,
    rate: Option<f64>,
}

pub async fn run(args: WitnessArgs) -> Result<(), CliError> {
    let usage = |e: String| CliError::usage(e);
    let file = match &args.config {
        None => WitnessConfig::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("--config {}: {e}", path.display())))?;
            toml::from_str(&text).map_err(|e| {
                usage(format!(
                    "--config {}: {}",
                    path.display(),
                    e.to_string().trim_end()
                ))
            })?
        }
    };
    let data = (args.data.or(file.data)).unwrap_or_else(|| PathBuf::from("./accord-witness"));
    let listen = (args.listen.or(file.listen)).unwrap_or_else(|| "127.0.0.1:7380".into());
    let name = args.name.or(file.name);
    let rate = (args.rate.or(file.rate)).unwrap_or(crate::witness::DEFAULT_RATE.per_second);
    if !(rate.is_finite() && rate > 0.0) {
        return Err(usage(format!(
            "rate: must be a positive number, got {rate}"
        )));
    }
    let mut logs = Vec::new();
    for v in file.logs.iter().chain(&args.logs) {
        let key = Verifier::parse(v).map_err(|e| usage(format!("log {v:?}: {e}")))?;
        if logs.iter().any(|k: &Verifier| k.name == key.name) {
            return Err(usage(format!("log {}: given twice", key.name)));
        }
        logs.push(key);
    }
    if logs.is_empty() {
        return Err(usage(
            "give at least one log to witness (--log VKEY, or logs in --config)".into(),
        ));
    }
    let cosigner = crate::witness::state::ensure_key(&data, name.as_deref())
        .map_err(|e| usage(e.to_string()))?;
    out!("{}", cosigner.verifier());
    crate::server::logging::init(LogFormat::Human, LogLevel::Info);
    let store = crate::witness::state::Store::open(&data).map_err(|e| usage(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| usage(format!("listen: cannot listen on {listen}: {e}")))?;
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
    // The connection limits of every Accord listener (first-request and
    // idle timeouts, per-address and global caps, accept back-off).
    let budget = crate::net::Budget::new(crate::net::Limits::default());
    let incoming = crate::net::Incoming::new(listener, Listener::Witness, budget);
    let rate = crate::witness::RateLimit {
        per_second: rate,
        burst: 2.0 * rate,
        ..crate::witness::DEFAULT_RATE
    };
    let app = crate::witness::router(witness, rate)
        .into_make_service_with_connect_info::<crate::net::ConnInfo>();
    axum::serve(incoming, app)
        .with_graceful_shutdown(super::serve::shutdown_signal())
        .await
        .map_err(|e| usage(format!("witness stopped: {e}")))
}
