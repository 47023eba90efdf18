//! Wiring: data directory → storage → sequencer → gRPC service, served on a
//! caller-supplied listener until `shutdown` resolves.

pub mod config;
pub mod datadir;
pub mod ecosystem;
pub mod endpoint;
pub mod logging;
pub mod memory;
pub mod metrics_http;
pub mod request_log;

use crate::core::note::Signer;
use crate::metrics::Listener;
use crate::proto::registry_service_server::RegistryServiceServer;
use crate::sequencer::{Sequencer, SequencerError};
use crate::service::RegistryService;
use crate::storage::{LocalStorage, PgStorage, Storage, StorageError};
pub use config::{Config, ConfigError, DEFAULT_DATA_DIR, DEFAULT_LISTEN};
pub use endpoint::{Endpoint, TlsFiles};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

/// Origin of a log created without `--origin`. It is also the checkpoint
/// key's name; pick your own (e.g. `registry.example.org/accord`) for a real
/// deployment.
pub const DEFAULT_ORIGIN: &str = "accord.example/log";
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("log key {}: {source}", path.display())]
    Key {
        path: PathBuf,
        source: crate::core::Error,
    },
    #[error("refusing to start: {0}")]
    WrongLog(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Sequencer(#[from] SequencerError),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Largest request or reply. A SubmitBatch of 1000 statements is ≈ 0.5 MiB
/// and a page of 1000 entries about the same; 4 MiB (tonic's default, made
/// explicit) leaves room for long statements and refuses anything absurd.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Requests one connection may have in progress; more wait their turn, so a
/// single client cannot occupy every worker. 256 is above the concurrency at
/// which unary submissions peak (128–256 streams, BENCHMARKS.md).
pub const MAX_STREAMS_PER_CONNECTION: usize = 256;
/// A request still unanswered after this is cancelled (DEADLINE_EXCEEDED):
/// twice the longest wait a request can make (registry queries wait up to
/// 30 s for the start-up rebuild). Streams are bounded by their own rules.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How long shutdown waits for the witnessing task to release its lease
/// (one statement; a database out of reach must not hold the stop up).
const WITNESSING_STOP: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves the log in `config.data` on `listener` until `shutdown`.
/// Creates the data directory and log key on first start.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    // Check the TLS files first: a configuration mistake must not leave a
    // half-created data directory behind (a key without a database is
    // refused later as a possibly deleted log).
    config.validate()?;
    memory::start_trimming();
    let descriptors = crate::net::descriptor_limit();
    let limits = config.limits(descriptors);
    if config.max_connections > 0
        && config.max_connections > crate::net::budget::auto_max_connections(descriptors)
    {
        tracing::warn!(
            "max_connections {} leaves too few of the {descriptors} descriptors for the rest of the \
             process: accepts may fail (EMFILE) until connections close",
            config.max_connections
        );
    }
    let tls = (config.tls().as_ref())
        .map(|files| endpoint::tls_config(files, limits.first_request_timeout))
        .transpose()?;
    let given_operator = config.operator_key.as_deref().map(datadir::read_key);
    let given_token = config.admin_token.as_deref().map(datadir::read_admin_token);
    let (given_operator, given_token) = (given_operator.transpose()?, given_token.transpose()?);
    let key_existed = config.data.join(datadir::KEY_FILE).exists();
    let (signer, created) = datadir::ensure_key(&config.data, config.origin.as_deref())?;
    if created {
        tracing::info!(
            "created log {:?}: key in {}",
            signer.name,
            config.data.join(datadir::KEY_FILE).display()
        );
    }
    tracing::info!("verifier key: {}", signer.verifier());
    let operator = match given_operator {
        Some(key) => key,
        None => datadir::ensure_operator_key(&config.data)?,
    };
    let token = match given_token {
        Some(token) => token,
        None => datadir::ensure_admin_token(&config.data)?,
    };
    let mut endpoint = Endpoint::new(Some(&token), config.rate_limit());
    endpoint.access = endpoint.access.with_key_limit(config.key_rate_limit());
    endpoint.tls = tls;
    endpoint.limits = limits;
    endpoint.keepalive = config.keepalive();
    if let Some(addr) = &config.metrics_listen {
        let (metrics, bound) = bind_option("metrics_listen", addr).await?;
        tracing::info!("metrics on http://{bound}/metrics");
        endpoint.metrics = Some(metrics);
    }
    if let Some(path) = &config.witness_policy {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::Io {
            path: path.clone(),
            source: e,
        })?;
        let bad = |why: String| {
            ServerError::Config(ConfigError(format!(
                "witness_policy: {}: {why}",
                path.display()
            )))
        };
        let policy = crate::core::policy::Policy::parse(&text).map_err(|e| bad(e.to_string()))?;
        crate::witnessing::check_policy(&policy, &signer.verifier()).map_err(bad)?;
        tracing::info!(
            "witness policy {}: {} witness(es)",
            path.display(),
            policy.witnesses.len()
        );
        endpoint.witness_policy = Some(policy);
    }
    if let Some(addr) = &config.http_listen {
        let (http, bound) = bind_option("http_listen", addr).await?;
        tracing::info!("tiles on http://{bound}/checkpoint");
        endpoint.http = Some(http);
    }
    tracing::info!("{}", endpoint::describe(&config));
    tracing::info!("{}", endpoint::describe_limits(&limits, descriptors));
    let opening = std::time::Instant::now();
    let (storage, place): (Arc<dyn Storage>, String) = match &config.storage.url {
        Some(url) => {
            let url = url.clone();
            let opts = crate::storage::postgres::ConnectOptions {
                ca_file: config.storage.ca_file.clone(),
                password_file: config.storage.password_file.clone(),
            };
            // The driver blocks: open it off the async workers.
            let opened = tokio::task::spawn_blocking(move || PgStorage::open_with(&url, &opts))
                .await
                .map_err(|e| StorageError::Postgres(format!("opening: {e}")))??;
            (Arc::new(opened), "the PostgreSQL database".to_owned())
        }
        None => {
            let db = datadir::db_path(&config.data);
            let opened = LocalStorage::open_with_cache(&db, config.cache_mb << 20)?;
            (Arc::new(opened), format!("the database {}", db.display()))
        }
    };
    // The key says a log exists; a database without one was deleted,
    // emptied or damaged beyond recovery. Starting a fresh log under
    // the same key would fork it: refuse.
    let meta = {
        let s = storage.clone();
        tokio::task::spawn_blocking(move || s.meta())
            .await
            .map_err(|e| StorageError::Postgres(format!("reading the log's metadata: {e}")))??
    };
    if key_existed && meta.is_none() {
        return Err(ServerError::WrongLog(format!(
            "{} holds the key of log {:?}, but {place} holds no log (deleted, emptied or damaged). \
             Restore the database from a backup. Only if the very first start of this log was interrupted, \
             remove the data directory to create a new log.",
            config.data.display(),
            signer.name,
        )));
    }
    tracing::info!(
        "database opened in {:.2} s",
        opening.elapsed().as_secs_f64()
    );
    run_with(
        listener,
        storage,
        signer,
        operator.verifying_key().to_bytes(),
        endpoint,
        shutdown,
    )
    .await
}

/// Serves a log kept in any [`Storage`] (tests use the in-memory one);
/// commitment registrations must be signed by `operator_key` and come with
/// the `endpoint`'s admin token.
pub async fn run_with(
    listener: TcpListener,
    storage: Arc<dyn Storage>,
    signer: Signer,
    operator_key: [u8; 32],
    endpoint: Endpoint,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let opening = std::time::Instant::now();
    let (sequencer, writer) = Sequencer::start(storage.clone(), signer, operator_key)?;
    let size = sequencer.latest().head.size;
    crate::metrics::METRICS.tree_size.set(size as i64);
    // Until now connections waited in the listen backlog; say when they are
    // served (operators and BENCHMARKS.md time restarts by this line). A
    // closed stdout (a supervisor that stopped reading) is not an error.
    tracing::info!(
        "serving a log of {} entries (opened and checked in {:.2} s)",
        sequencer.latest().head.size,
        opening.elapsed().as_secs_f64()
    );
    // Streams (WatchEntries) end when shutdown begins; otherwise graceful
    // shutdown would wait for them forever.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    };
    let extras =
        ecosystem::routes(sequencer.status(), stopping.clone()).map_err(|e| ServerError::Io {
            path: "reflection".into(),
            source: std::io::Error::other(e),
        })?;
    // One budget for every listener: descriptors are a process-wide resource.
    let budget = crate::net::Budget::new(endpoint.limits);
    if let Some(metrics) = endpoint.metrics {
        let incoming = crate::net::Incoming::new(metrics, Listener::Metrics, budget.clone());
        tokio::spawn(metrics_http::serve(
            incoming,
            sequencer.clone(),
            stopping.clone(),
        ));
    }
    let mut reader = crate::service::reader::Reader::new(storage.clone(), sequencer.clone());
    reader.max_examined = endpoint.list_scan_limit.max(1);
    let mut witnessing = None;
    if let Some(policy) = endpoint.witness_policy {
        reader.witness_policy = Some(policy.source.as_str().into());
        // A witness round now (start-up), then after each new checkpoint.
        let (cosigned, task) =
            crate::witnessing::start(policy, storage, &sequencer, stopping.clone());
        reader.cosigned = Some(cosigned);
        witnessing = Some(task);
    }
    // From here the reader (service, HTTP, witnessing) holds the handles:
    // the writer thread stops once they are all gone (see below).
    drop(sequencer);
    if let Some(http) = endpoint.http {
        let incoming = crate::net::Incoming::new(http, Listener::Http, budget.clone());
        tokio::spawn(crate::http::serve(
            incoming,
            reader.clone(),
            endpoint.access.clone(),
            stopping.clone(),
        ));
    }
    let service = RegistryService::new(reader, stopping, endpoint.access.clone());
    let incoming = crate::net::Incoming::new(listener, Listener::Grpc, budget).into_stream();
    let (keepalive_interval, keepalive_timeout) = endpoint.keepalive;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = endpoint.tls {
        builder = builder.tls_config(tls)?;
    }
    let registry = RegistryServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let served = builder
        .concurrency_limit_per_connection(MAX_STREAMS_PER_CONNECTION)
        .timeout(REQUEST_TIMEOUT)
        .http2_keepalive_interval(Some(keepalive_interval))
        .http2_keepalive_timeout(Some(keepalive_timeout))
        .layer(crate::net::TrackRequests)
        .layer(request_log::RequestLog)
        .add_routes(extras)
        .add_service(InterceptedService::new(registry, endpoint.access))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    // The router (and with it every sequencer handle) is dropped now; the
    // writer thread drains its queue and exits. Wait for it so that an
    // in-flight batch finishes its commit before we return.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    // The witnessing task releases its lease (another server sharing the
    // database takes over at once); a round in flight is not waited for
    // longer than this: the lease then expires by itself.
    if let Some(task) = witnessing {
        let _ = tokio::time::timeout(WITNESSING_STOP, task).await;
    }
    Ok(served?)
}

/// Binds the listener of configuration `option` (an address), naming the
/// option if it cannot; returns it with the address it got.
async fn bind_option(
    option: &str,
    addr: &str,
) -> Result<(TcpListener, std::net::SocketAddr), ServerError> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        ServerError::Config(ConfigError(format!(
            "{option}: cannot listen on {addr}: {e}"
        )))
    })?;
    let bound = listener.local_addr().map_err(|e| ServerError::Io {
        path: addr.into(),
        source: e,
    })?;
    Ok((listener, bound))
}
