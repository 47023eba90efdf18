//! The one place where errors become gRPC statuses. Every status message
//! names the field or value at fault, so a client knows what to fix.

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
            ApiError::Sequencer(SequencerError::Busy) => Code::ResourceExhausted,
            ApiError::Sequencer(SequencerError::Rejected(_)) => Code::FailedPrecondition,
            ApiError::Sequencer(_) | ApiError::Storage(_) | ApiError::Task(_) => Code::Internal,
        };
        if code == Code::Internal {
            eprintln!("accord: internal error: {e}");
        }
        let mut status = Status::new(code, e.to_string());
        if code == Code::ResourceExhausted {
            // gRPC's standard retry hint (honoured by clients with a retry
            // policy); the message says the same for people.
            status.metadata_mut().insert(
                "grpc-retry-pushback-ms",
                crate::sequencer::RETRY_AFTER_MS.into(),
            );
        }
        status
    }
}

/// Shorthand for a request-shape error on `field`.
pub fn invalid(field: &'static str, rule: impl Into<String>) -> ApiError {
    ApiError::Invalid(crate::core::Error::invalid(field, rule))
}
