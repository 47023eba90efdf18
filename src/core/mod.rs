//! The pure heart of Accord: canonical encodings, hashing, Merkle math,
//! signed notes and signature rules.
//!
//! Nothing here performs I/O, spawns tasks or reads the clock (callers pass
//! "now" in), so every function is deterministic and can be reimplemented from
//! SPEC.md alone. The verifier uses only this module.

pub mod batch;
pub mod checkpoint;
pub mod cosignature;
pub mod country;
pub mod encoding;
pub mod endorsement;
pub mod entry;
pub mod frontier;
pub mod map;
pub mod map_arena;
pub mod map_batch;
pub mod map_head;
pub mod map_tiles;
pub mod map_versions;
pub mod merkle;
pub mod model;
pub mod names;
pub mod note;
pub mod policy;
pub mod proof;
pub mod receipt;
pub mod registry;
pub mod registry_proof;
pub mod signature;
#[cfg(test)]
mod signature_equivalence;
pub mod statements;
pub mod tile_tree;
pub mod tiles;
pub mod verification;
pub mod witness;

/// A SHA-256 digest: leaf hashes, node hashes, roots, commitment digests.
pub type Hash = [u8; 32];

/// Everything that can be wrong with data handed to the core. Each variant
/// names *what* is wrong so the service can return a precise status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A submitted field breaks a rule of SPEC.md ("Validation rules").
    #[error("{field}: {rule}")]
    InvalidField { field: &'static str, rule: String },
    /// Bytes that do not parse as the canonical encoding they claim to be.
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: String },
    /// A signature (organization's or log's) that does not verify strictly.
    #[error("signature: {0}")]
    Signature(String),
    /// A Merkle proof that does not lead to the expected root.
    #[error("proof: {0}")]
    Proof(String),
}

impl Error {
    pub fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        Error::InvalidField {
            field,
            rule: rule.into(),
        }
    }
    pub fn malformed(what: &'static str, why: impl Into<String>) -> Self {
        Error::Malformed {
            what,
            why: why.into(),
        }
    }
    pub fn proof(why: impl Into<String>) -> Self {
        Error::Proof(why.into())
    }
}

/// SHA-256 of `data`: the one hash function of every format.
pub fn sha256(data: &[u8]) -> Hash {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}
