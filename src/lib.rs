//! Accord: an append-only, hash-chained, publicly verifiable log of signed
//! endorsements. See ARCHITECTURE.md for how the modules fit together.
//!
//! Dependencies point one way: `cli` → `server` → `service` → `sequencer` →
//! `storage` → `core`; `verifier` uses only `core`; `metrics` (atomic
//! counters) is a leaf any layer but `core` and `verifier` may record into;
//! `net` (every listener's connection caps and deadlines) is used by
//! `server`, and by `service` to learn a request's peer address.

pub mod cli;
pub mod core;
pub mod http;
pub mod http_client;
pub mod metrics;
pub mod metrics_witness;
pub mod net;
pub mod sequencer;
pub mod server;
pub mod service;
pub mod storage;
pub mod verifier;
pub mod witness;
pub mod witnessing;

/// Code generated from proto/accord/v1/accord.proto.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("accord.v1");

    /// The compiled descriptors of accord.proto, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/accord_descriptor.bin"));
}
