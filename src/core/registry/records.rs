//! The registry as stored records: what storage holds instead of a
//! registry in memory, and how to read it back.
//!
//! Why this layout: the registry map (`map_values.rs`) already gives every
//! part of the registry a key and a canonical value, so a record is stored
//! under its map key's bytes, and its value is the map value — except an
//! organization's, which also keeps the full lists of its entries (the map
//! value holds only the first and the latest, which a proof needs; readers
//! of `GetOrganization` want them all). Two listing indexes give
//! `ListSignatories` its order without scanning everyone:
//!
//! | key                                   | value                     |
//! |---------------------------------------|---------------------------|
//! | map key bytes (type 1–6 ‖ fields)     | the record                |
//! | `o` ‖ str(commitment) ‖ first:u64     | organization id (every signatory, by first endorsement) |
//! | `v` ‖ str(commitment) ‖ first:u64     | organization id (verified organizations only) |
//! | `F`                                   | format `1`: the records are complete (written last) |
//!
//! Integers are big-endian so keys sort by them. Records change only in
//! the sequencer's batch commit, with the entries and the map.

use super::map_values::{organization_value, SignatoryValue};
use super::{
    MapKey, OperatorRecord, Organization, Profile, Registry, Signatory, Verified, Version,
};
use crate::core::encoding::{Reader, Writer};
use crate::core::model::{Region, StakeholderGroup, VerificationMethod};
use crate::core::{Error, Hash};
use std::collections::BTreeSet;

/// The key of the format marker; its value is [`FORMAT`].
pub const FORMAT_KEY: &[u8] = b"F";
pub const FORMAT: &[u8] = &[1];

/// A write of the registry's records: `(key, Some(value))` sets, `None` removes.
pub type RecordWrite = (Vec<u8>, Option<Vec<u8>>);

/// Stored records, `(key, value)`, in key order.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Where the records are read from (storage implements it).
pub trait RecordStore {
    type Error;
    fn record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Records whose key starts with `prefix`, from key `from` on (≥ prefix),
    /// in key order, at most `limit`.
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Rows, Self::Error>;
    /// A record that does not decode: the database is corrupt.
    fn corrupt(why: String) -> Self::Error;
}

/// A reference reads as what it refers to (a writer lends its cache).
impl<T: RecordStore + ?Sized> RecordStore for &T {
    type Error = T::Error;
    fn record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        (**self).record(key)
    }
    fn scan(&self, prefix: &[u8], from: &[u8], limit: usize) -> Result<Rows, Self::Error> {
        (**self).scan(prefix, from, limit)
    }
    fn corrupt(why: String) -> Self::Error {
        T::corrupt(why)
    }
}

pub(super) fn listing_prefix(part: u8, commitment: &str) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(part).str(commitment);
    w.finish()
}

pub(super) fn listing_key(part: u8, commitment: &str, first: u64) -> Vec<u8> {
    let mut k = listing_prefix(part, commitment);
    k.extend_from_slice(&first.to_be_bytes());
    k
}

fn read_opt(r: &mut Reader, field: &'static str) -> Result<Option<String>, Error> {
    let s = r.str(field)?;
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

fn indices(w: &mut Writer, list: &[u64]) {
    w.u32(list.len() as u32);
    for i in list {
        w.u64(*i);
    }
}

fn read_indices(r: &mut Reader, field: &'static str) -> Result<Vec<u64>, Error> {
    let n = r.u32(field)?;
    (0..n).map(|_| r.u64(field)).collect()
}

/// An organization's record: its map value, then its entries and the
/// operator's statements about it.
pub fn organization_record(o: &Organization) -> Vec<u8> {
    let mut w = Writer::with_capacity(320);
    w.raw(&organization_value(o));
    indices(&mut w, &o.history);
    indices(&mut w, o.verification_history());
    w.finish()
}

pub fn parse_organization(id: &Hash, bytes: &[u8]) -> Result<Organization, Error> {
    let mut r = Reader::new(bytes);
    let current_key = r.array("current_key")?;
    let name = r.str("name")?.to_owned();
    let group = StakeholderGroup::from_code(r.u8("group")?)?;
    let region = Region::from_code(r.u8("region")?)?;
    let (country, domain) = (read_opt(&mut r, "country")?, read_opt(&mut r, "domain")?);
    let _first_and_latest = (r.u64("first")?, r.u64("latest")?);
    let latest_statement = r.array("latest_statement")?;
    let last_signed_at = r.u64("last_signed_at")?;
    let operator = match r.u8("operator")? {
        0 => None,
        _ => {
            let signed_at = r.u64("operator signed_at")?;
            let statement = r.array("operator statement")?;
            let _latest = r.u64("operator latest")?;
            let verification = match r.u8("verification")? {
                0 => None,
                _ => Some(Verified {
                    index: r.u64("verification index")?,
                    name: r.str("verification name")?.to_owned(),
                    group: StakeholderGroup::from_code(r.u8("verification group")?)?,
                    country: read_opt(&mut r, "verification country")?,
                    domain: read_opt(&mut r, "verification domain")?,
                    method: VerificationMethod::from_code(r.u8("verification method")?)?,
                    evidence_sha256: r.array("verification evidence")?,
                    signed_at: r.u64("verification signed_at")?,
                }),
            };
            Some(Box::new(OperatorRecord {
                verification,
                history: Vec::new(),
                signed_at,
                statement,
            }))
        }
    };
    let history = read_indices(&mut r, "history")?;
    let operator_history = read_indices(&mut r, "operator history")?;
    r.finish("organization record")?;
    let mut org = Organization {
        id: *id,
        current_key,
        profile: Profile {
            name,
            group,
            region,
            country,
            domain,
        },
        last_signed_at,
        history,
        latest_statement,
        operator,
    };
    if let Some(op) = org.operator.as_mut() {
        op.history = operator_history;
    }
    Ok(org)
}

pub(super) fn parse_versions(bytes: &[u8]) -> Result<Vec<Version>, Error> {
    let mut r = Reader::new(bytes);
    let n = r.u32("versions")?;
    let versions = (0..n)
        .map(|_| {
            Ok(Version {
                version: r.str("version")?.to_owned(),
                title: r.str("title")?.to_owned(),
                text_sha256: r.array("text_sha256")?,
                url: read_opt(&mut r, "url")?,
                index: r.u64("index")?,
                statement: r.array("statement")?,
            })
        })
        .collect::<Result<_, Error>>()?;
    r.finish("commitment record")?;
    Ok(versions)
}

pub(super) fn parse_names(bytes: &[u8]) -> Result<BTreeSet<Hash>, Error> {
    let mut r = Reader::new(bytes);
    let n = r.u32("organizations")?;
    let set = (0..n)
        .map(|_| r.array::<32>("organization"))
        .collect::<Result<_, _>>()?;
    r.finish("name record")?;
    Ok(set)
}

pub(super) fn signatory_of(org: &Hash, bytes: &[u8]) -> Result<Signatory, Error> {
    let v = SignatoryValue::parse(bytes)?;
    Ok(Signatory {
        organization: *org,
        status: v.status,
        first_index: v.first_index,
        endorsed_index: v.endorsed_index,
        withdrawn_index: v.withdrawn_index,
        text_sha256: v.text_sha256,
    })
}

impl Registry {
    /// The record writes that store what `keys` (the map keys a batch
    /// changed) now hold, with the listing indexes they affect:
    /// - a signatory first listed at `since` or later (new in the batch)
    ///   gets its order entry;
    /// - a signatory written for a verified organization gets its verified
    ///   entry (an unverified organization has none: a revocation removes
    ///   them all);
    /// - every signatory of the organizations in `relisted` (whose
    ///   verification the batch changed; a projection then holds all
    ///   their signatories) gets its verified entry set or removed.
    ///
    /// Writing only these keeps an endorsement at three records and one
    /// index entry (sled's inserts are most of the writer's time).
    pub fn record_writes(
        &self,
        keys: &[MapKey],
        relisted: &[Hash],
        since: u64,
    ) -> Vec<RecordWrite> {
        let mut out = Vec::with_capacity(keys.len() * 2);
        let verified =
            |org: &Hash| (self.organizations.get(org)).is_some_and(|o| o.verification().is_some());
        let entry = |s: &Signatory| Some(s.organization.to_vec());
        for key in keys {
            if let MapKey::Signatory(org, c) = key {
                let s = self.commitments.get(c).and_then(|x| x.signatories.get(org));
                if let Some(s) = s {
                    if s.first_index >= since {
                        out.push((listing_key(b'o', c, s.first_index), entry(s)));
                    }
                    if verified(org) {
                        out.push((listing_key(b'v', c, s.first_index), entry(s)));
                    }
                }
            }
            let value = match key {
                MapKey::Organization(id) => self.organizations.get(id).map(organization_record),
                _ => self.map_value(key),
            };
            if let Some(value) = value {
                out.push((key.to_bytes(), Some(value)));
            }
        }
        for org in relisted {
            for (c, commitment) in &self.commitments {
                if let Some(s) = commitment.signatories.get(org) {
                    let v = listing_key(b'v', c, s.first_index);
                    out.push((v, entry(s).filter(|_| verified(org))));
                }
            }
        }
        out
    }

    /// Every record of this registry, the format marker last (building
    /// the stored registry from a replay: start-up of an older database,
    /// `accord reindex`).
    pub fn all_records(&self) -> Vec<RecordWrite> {
        let mut out = self.record_writes(&self.map_keys(), &[], 0);
        out.push((FORMAT_KEY.to_vec(), Some(FORMAT.to_vec())));
        out
    }
}
