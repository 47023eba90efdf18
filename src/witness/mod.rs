//! `accord witness`: a C2SP tlog-witness (https://c2sp.org/tlog-witness)
//! for any log whose key it is given, Accord's or another's. It cosigns a
//! checkpoint (`cosignature/v1`, `core::cosignature`) only if it is
//! consistent with the latest one it cosigned for that log, and stores
//! that checkpoint durably before answering, so it never signs two
//! inconsistent views: the defence against a log showing different
//! histories to different people. The rules are in `core::witness`; this
//! module is the HTTP surface and the state.

pub mod state;

use crate::core::cosignature::Cosigner;
use crate::core::note::Verifier;
use crate::core::witness::{self, Refusal};
use crate::net::ConnInfo;
pub use crate::service::access::RateLimit;
use crate::service::limiter::Limiter;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Request bodies are a checkpoint and at most 63 hashes: 64 KiB is ample.
const MAX_BODY: usize = 64 << 10;
const TEXT: &str = "text/plain; charset=utf-8";

pub struct Witness {
    pub cosigner: Cosigner,
    /// The logs it witnesses, by origin (a log's key name is its origin).
    pub logs: HashMap<String, Verifier>,
    store: state::Store,
    /// Held from reading a log's latest checkpoint to storing the new one:
    /// the spec's atomic check-and-persist (no rollback by a racing request).
    writing: Mutex<()>,
}

impl Witness {
    pub fn new(cosigner: Cosigner, logs: Vec<Verifier>, store: state::Store) -> Witness {
        let logs = logs.into_iter().map(|v| (v.name.clone(), v)).collect();
        Witness {
            cosigner,
            logs,
            store,
            writing: Mutex::new(()),
        }
    }

    /// Handles an `add-checkpoint` body: the cosignature line(s) to return,
    /// or the refusal.
    pub fn add_checkpoint(&self, body: &str, now: u64) -> Result<String, WitnessError> {
        let request = witness::parse_request(body)?;
        let origin = witness::origin(&request.checkpoint)?;
        let log = (self.logs.get(origin)).ok_or_else(|| Refusal::UnknownLog(origin.to_owned()))?;
        let head = witness::open(&request.checkpoint, log)?;
        let _one_at_a_time = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let latest = self.store.latest(&head.origin)?;
        let latest_head = match &latest {
            None => None,
            Some(note) => Some(state::head_of(note).ok_or_else(|| {
                WitnessError::State(format!(
                    "the stored checkpoint of {:?} is damaged",
                    head.origin
                ))
            })?),
        };
        witness::decide(latest_head, &request, &head)?;
        let cosignature = self.cosigner.cosign(&head.text, now);
        // Keep the log's own signature(s) and add ours: what the
        // monitoring endpoint serves.
        let note = format!("{}{cosignature}", request.checkpoint);
        // Commit point: the new checkpoint is durable before the
        // cosignature leaves. A crash before leaves the previous one (the
        // log retries and gets a 409 with its size, or a cosignature).
        self.store.store(&head.origin, &note)?;
        Ok(cosignature)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("witness state: {0}")]
    State(String),
    #[error(transparent)]
    Io(#[from] crate::server::ServerError),
}

impl IntoResponse for WitnessError {
    fn into_response(self) -> Response {
        match self {
            WitnessError::Refused(Refusal::Conflict(size)) => (
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, "text/x.tlog.size")],
                format!("{size}\n"),
            )
                .into_response(),
            WitnessError::Refused(r) => {
                let status = StatusCode::from_u16(r.status()).expect("a valid status");
                (status, [(header::CONTENT_TYPE, TEXT)], format!("{r}\n")).into_response()
            }
            other => {
                tracing::error!("witness: {other}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, TEXT)],
                    format!("{other}\n"),
                )
                    .into_response()
            }
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Per client address: a log sends one request per checkpoint round (one
/// round at a time, a round-trip each), so 20 a second with a burst of 40
/// is ample for a busy log and stops one client from keeping the witness
/// fsyncing for nobody else. Loopback clients are exempt (local logs and
/// tests), as on the gRPC listener.
pub const DEFAULT_RATE: RateLimit = RateLimit {
    per_second: 20.0,
    burst: 40.0,
    loopback: false,
};

/// `POST /add-checkpoint` and the monitoring `GET /<sha256(origin)>/checkpoint`.
pub fn router(witness: Arc<Witness>, rate: RateLimit) -> axum::Router {
    let adding = witness.clone();
    let limiter = Limiter::new(rate, IpAddr::from([0u8; 4]));
    axum::Router::new()
        .route(
            "/add-checkpoint",
            post(
                move |ConnectInfo(conn): ConnectInfo<ConnInfo>, body: Bytes| {
                    let witness = adding.clone();
                    let limiter = limiter.clone();
                    async move {
                        let ip = conn.remote.ip();
                        if rate.loopback || !ip.is_loopback() {
                            if let Err(wait_ms) = limiter.take(ip) {
                                crate::metrics::METRICS.rate_limited.inc();
                                let secs = wait_ms.div_ceil(1000).to_string();
                                return (
                                    StatusCode::TOO_MANY_REQUESTS,
                                    [
                                        (header::CONTENT_TYPE, TEXT.to_owned()),
                                        (header::RETRY_AFTER, secs),
                                    ],
                                    "too many requests from this address; retry later\n",
                                )
                                    .into_response();
                            }
                        }
                        let Ok(body) = String::from_utf8(body.to_vec()) else {
                            return WitnessError::from(Refusal::BadRequest(
                                "the body is not UTF-8".into(),
                            ))
                            .into_response();
                        };
                        // File writes and fsync: off the async workers.
                        let done = tokio::task::spawn_blocking(move || {
                            witness.add_checkpoint(&body, unix_now())
                        })
                        .await;
                        match done {
                            Ok(Ok(lines)) => {
                                ([(header::CONTENT_TYPE, TEXT)], lines).into_response()
                            }
                            Ok(Err(e)) => e.into_response(),
                            Err(_) => WitnessError::State("the witness is stopping".into())
                                .into_response(),
                        }
                    }
                },
            ),
        )
        .route(
            "/{origin_hash}/checkpoint",
            get(move |Path(origin_hash): Path<String>| async move {
                match witness.store.by_hash(&origin_hash) {
                    Ok(Some(note)) => (
                        [
                            (header::CONTENT_TYPE, TEXT),
                            (header::CACHE_CONTROL, "no-cache"),
                        ],
                        note,
                    )
                        .into_response(),
                    Ok(None) => (
                        StatusCode::NOT_FOUND,
                        "this witness has cosigned no checkpoint of that log\n",
                    )
                        .into_response(),
                    Err(e) => WitnessError::from(e).into_response(),
                }
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(crate::net::TrackRequests)
}
