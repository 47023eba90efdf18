//! The one place where errors become gRPC statuses. Every status message
//! names the field or value at fault, so a client knows what to fix.

use crate::metrics::{Outcome, METRICS};
use crate::sequencer::SequencerError;
use crate::storage::StorageError;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field breaks a rule, a signature fails, or bytes are malformed.
    #[error("{0}")]
    Invalid(#[from] crate::core::Error),
    /// A request that asks for something past the end of the log.
    #[error("{0}")]
    OutOfRange(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Sequencer(#[from] SequencerError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An operator-only request without credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Credentials that do not grant what the request needs.
    #[error("{0}")]
    PermissionDenied(String),
    /// A client (address) or signing key is over its rate (service::access).
    #[error("{who} is over its rate of {per_second} requests/s; retry in {retry_after_ms} ms")]
    RateLimited {
        who: String,
        per_second: f64,
        retry_after_ms: u64,
    },
    /// A blocking task panicked or was cancelled: a bug, not bad input.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        let code = match &e {
            ApiError::Invalid(_) => Code::InvalidArgument,
            ApiError::OutOfRange(_) => Code::OutOfRange,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::Sequencer(SequencerError::Stopped(_)) => Code::Unavailable,
            ApiError::Sequencer(SequencerError::Busy) | ApiError::RateLimited { .. } => {
                Code::ResourceExhausted
            }
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::PermissionDenied(_) => Code::PermissionDenied,
            ApiError::Sequencer(SequencerError::Rejected(_)) => Code::FailedPrecondition,
            ApiError::Storage(e) | ApiError::Sequencer(SequencerError::Storage(e))
                if e.transient() =>
            {
                Code::Unavailable
            }
            ApiError::Sequencer(_) | ApiError::Storage(_) | ApiError::Task(_) => Code::Internal,
        };
        if code == Code::Internal {
            tracing::error!("internal error: {e}");
        }
        let retry_after_ms = match &e {
            ApiError::RateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
            ApiError::Sequencer(SequencerError::Busy) => Some(crate::sequencer::RETRY_AFTER_MS),
            _ => None,
        };
        let mut status = Status::new(code, e.to_string());
        if let Some(ms) = retry_after_ms {
            // gRPC's standard retry hint (honoured by clients with a retry
            // policy); the message says the same for people.
            status
                .metadata_mut()
                .insert("grpc-retry-pushback-ms", ms.into());
        }
        status
    }
}

/// The HTTP status of a gRPC code (the canonical mapping of
/// google.rpc.Code), for the HTTP API's problem details: the HTTP surface
/// says what the gRPC surface says.
pub fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Cancelled => 499,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

impl ApiError {
    /// How a submission that failed with this error is counted in metrics.
    pub fn outcome(&self) -> Outcome {
        match self {
            ApiError::Invalid(_) => Outcome::Invalid,
            ApiError::Sequencer(SequencerError::Rejected(_)) => Outcome::Rejected,
            ApiError::Sequencer(SequencerError::Busy) | ApiError::RateLimited { .. } => {
                Outcome::Busy
            }
            ApiError::Unauthenticated(_) | ApiError::PermissionDenied(_) => Outcome::Unauthorized,
            _ => Outcome::Failed,
        }
    }
}

/// Counts one submission's result (and its latency since `started`).
pub fn record(result: &Result<crate::sequencer::Accepted, ApiError>, started: std::time::Instant) {
    let outcome = match result {
        Ok(a) if a.duplicate => Outcome::Duplicate,
        Ok(_) => Outcome::Accepted,
        Err(e) => e.outcome(),
    };
    METRICS.submitted(outcome);
    METRICS
        .admission_seconds
        .observe(started.elapsed().as_secs_f64());
}

/// Shorthand for a request-shape error on `field`.
pub fn invalid(field: &'static str, rule: impl Into<String>) -> ApiError {
    ApiError::Invalid(crate::core::Error::invalid(field, rule))
}
