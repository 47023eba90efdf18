//! Reading the registry's records one at a time, wherever they live.
//!
//! Why: the registry is kept in storage (one record per map key, see
//! `records.rs`), not in memory; the sequencer copies the few records a
//! batch touches into a projection (`project.rs`) and applies the rules
//! there, and readers look records up one by one. The in-memory
//! [`Registry`] (what an auditor rebuilds from the log) answers the same
//! reads, so one set of rules serves both.

use super::{Organization, Registry, Signatory, Version};
use crate::core::Hash;
use std::collections::BTreeSet;
use std::convert::Infallible;

/// Which organization a public key belongs to (current or retired key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUse {
    pub org: Hash,
    /// The rotation entry that retired the key, if it was rotated away.
    pub retired_at: Option<u64>,
}

/// Point reads of the registry's records, as of one tree size.
pub trait RegistryRead {
    type Error;
    fn organization(&self, id: &Hash) -> Result<Option<Organization>, Self::Error>;
    fn key_use(&self, key: &[u8; 32]) -> Result<Option<KeyUse>, Self::Error>;
    /// A commitment's registered versions, `None` if it is not registered.
    fn versions(&self, commitment: &str) -> Result<Option<Vec<Version>>, Self::Error>;
    fn signatory(&self, org: &Hash, commitment: &str) -> Result<Option<Signatory>, Self::Error>;
    /// Every commitment `org` ever endorsed, with its standing on it.
    fn signatories_of(&self, org: &Hash) -> Result<Vec<(String, Signatory)>, Self::Error>;
    /// The organizations verified under a name's conflict key (`None` if
    /// no organization was ever verified under it).
    fn verified_under(&self, name_key: &str) -> Result<Option<BTreeSet<Hash>>, Self::Error>;
    fn operator_key(&self) -> Result<Option<[u8; 32]>, Self::Error>;

    /// The organization that `key` identifies (current or retired key).
    fn organization_by_key(&self, key: &[u8; 32]) -> Result<Option<Organization>, Self::Error> {
        match self.key_use(key)? {
            Some(k) => self.organization(&k.org),
            None => Ok(None),
        }
    }
}

impl RegistryRead for Registry {
    type Error = Infallible;
    fn organization(&self, id: &Hash) -> Result<Option<Organization>, Infallible> {
        Ok(self.organizations.get(id).cloned())
    }
    fn key_use(&self, key: &[u8; 32]) -> Result<Option<KeyUse>, Infallible> {
        Ok(self.keys.get(key).copied())
    }
    fn versions(&self, commitment: &str) -> Result<Option<Vec<Version>>, Infallible> {
        Ok(self.commitments.get(commitment).map(|c| c.versions.clone()))
    }
    fn signatory(&self, org: &Hash, commitment: &str) -> Result<Option<Signatory>, Infallible> {
        let c = self.commitments.get(commitment);
        Ok(c.and_then(|c| c.signatories.get(org)).cloned())
    }
    fn signatories_of(&self, org: &Hash) -> Result<Vec<(String, Signatory)>, Infallible> {
        Ok((self.commitments.iter())
            .filter_map(|(id, c)| Some((id.clone(), c.signatories.get(org)?.clone())))
            .collect())
    }
    fn verified_under(&self, name_key: &str) -> Result<Option<BTreeSet<Hash>>, Infallible> {
        Ok(self.verified_names.get(name_key).cloned())
    }
    fn operator_key(&self) -> Result<Option<[u8; 32]>, Infallible> {
        Ok(self.operator_key)
    }
}

/// What an `Infallible` read gives, unwrapped.
pub(super) fn sure<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(t) => t,
        Err(never) => match never {},
    }
}
