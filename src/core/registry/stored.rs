//! Reading the registry back from its stored records (`records.rs` has
//! the layout): point reads for the rules and the queries, and the two
//! scans the queries need (a commitment's listing, every commitment).

use super::map_values::{organization_value, KeyValue};
use super::records::{
    listing_key, listing_prefix, parse_names, parse_organization, parse_versions, signatory_of,
    RecordStore, FORMAT, FORMAT_KEY,
};
use super::source::{KeyUse, RegistryRead};
use super::{MapKey, Organization, Signatory, Version};
use crate::core::encoding::Reader;
use crate::core::{Error, Hash};
use std::collections::BTreeSet;

/// The registry read from stored records (see the module doc).
pub struct StoredRegistry<S>(pub S);

impl<S: RecordStore> StoredRegistry<S> {
    fn get<T>(
        &self,
        key: &MapKey,
        parse: impl FnOnce(&[u8]) -> Result<T, Error>,
    ) -> Result<Option<T>, S::Error> {
        match self.0.record(&key.to_bytes())? {
            None => Ok(None),
            Some(bytes) => parse(&bytes)
                .map(Some)
                .map_err(|e| S::corrupt(format!("registry record {key:?}: {e}"))),
        }
    }

    /// The map value under `key` (what a registry proof shows): the record
    /// itself, or an organization record's leading part.
    pub fn map_value(&self, key: &MapKey) -> Result<Option<Vec<u8>>, S::Error> {
        match key {
            MapKey::Organization(id) => Ok(self.organization(id)?.map(|o| organization_value(&o))),
            _ => self.0.record(&key.to_bytes()),
        }
    }

    /// True once the records are complete (see [`FORMAT_KEY`]).
    pub fn complete(&self) -> Result<bool, S::Error> {
        Ok(self.0.record(FORMAT_KEY)?.as_deref() == Some(FORMAT))
    }

    /// Up to `limit` signatories of `commitment` in listing order from
    /// first endorsement `from` on: `(first_index, organization)`, verified
    /// organizations only if `verified`, else every one.
    pub fn listing(
        &self,
        commitment: &str,
        verified: bool,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Hash)>, S::Error> {
        let part = if verified { b'v' } else { b'o' };
        let prefix = listing_prefix(part, commitment);
        let rows = self
            .0
            .scan(&prefix, &listing_key(part, commitment, from), limit)?;
        rows.into_iter()
            .map(|(k, v)| {
                let first = k[prefix.len()..].try_into().map(u64::from_be_bytes);
                match (first, <Hash>::try_from(&v[..])) {
                    (Ok(first), Ok(org)) => Ok((first, org)),
                    _ => Err(S::corrupt(format!("a listing record of {commitment:?}"))),
                }
            })
            .collect()
    }

    /// The registered commitments with their versions, by id.
    pub fn commitments(&self) -> Result<Vec<(String, Vec<Version>)>, S::Error> {
        let rows = self.0.scan(&[4], &[4], usize::MAX)?;
        let mut out = rows
            .into_iter()
            .map(|(k, v)| {
                let mut r = Reader::new(&k[1..]);
                let id = r.str("commitment id").map(str::to_owned);
                match (id, parse_versions(&v)) {
                    (Ok(id), Ok(versions)) => Ok((id, versions)),
                    _ => Err(S::corrupt("a commitment record".into())),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

impl<S: RecordStore> RegistryRead for StoredRegistry<S> {
    type Error = S::Error;
    fn organization(&self, id: &Hash) -> Result<Option<Organization>, S::Error> {
        self.get(&MapKey::Organization(*id), |b| parse_organization(id, b))
    }
    fn key_use(&self, key: &[u8; 32]) -> Result<Option<KeyUse>, S::Error> {
        self.get(&MapKey::Key(*key), |b| {
            let v = KeyValue::parse(b)?;
            Ok(KeyUse {
                org: v.organization,
                retired_at: v.retired_at,
            })
        })
    }
    fn versions(&self, commitment: &str) -> Result<Option<Vec<Version>>, S::Error> {
        self.get(&MapKey::Commitment(commitment.to_owned()), parse_versions)
    }
    fn signatory(&self, org: &Hash, commitment: &str) -> Result<Option<Signatory>, S::Error> {
        let key = MapKey::Signatory(*org, commitment.to_owned());
        self.get(&key, |b| signatory_of(org, b))
    }
    fn signatories_of(&self, org: &Hash) -> Result<Vec<(String, Signatory)>, S::Error> {
        let prefix = [&[2u8][..], org].concat();
        let rows = self.0.scan(&prefix, &prefix, usize::MAX)?;
        rows.into_iter()
            .map(|(k, v)| {
                let mut r = Reader::new(&k[prefix.len()..]);
                let c = r.str("commitment id").map(str::to_owned);
                match (c, signatory_of(org, &v)) {
                    (Ok(c), Ok(s)) => Ok((c, s)),
                    _ => Err(S::corrupt("a signatory record".into())),
                }
            })
            .collect()
    }
    fn verified_under(&self, name_key: &str) -> Result<Option<BTreeSet<Hash>>, S::Error> {
        self.get(&MapKey::Name(name_key.to_owned()), parse_names)
    }
    fn operator_key(&self) -> Result<Option<[u8; 32]>, S::Error> {
        self.get(&MapKey::Operator, |b| {
            let mut r = Reader::new(b);
            let key = r.array("operator key")?;
            r.finish("operator record")?;
            Ok(key)
        })
    }
}
