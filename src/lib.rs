//! Accord: an append-only, hash-chained, publicly verifiable log of signed
//! endorsements. See ARCHITECTURE.md for how the modules fit together.
//!
//! Dependencies point one way: `cli` → `server` → `service` → `sequencer` →
//! `storage` → `core`; `verifier` uses only `core`.

pub mod cli;
pub mod core;
pub mod sequencer;
pub mod server;
pub mod service;
pub mod storage;
pub mod verifier;

/// Code generated from proto/accord.proto.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("accord.v1");
}
