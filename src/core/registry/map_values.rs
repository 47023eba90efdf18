//! The registry as (key, value) pairs for the authenticated map
//! (`core::map`): what services ask about, each under its own key, with a
//! canonical value encoding (big-endian integers, `u16`-prefixed strings, an
//! optional string empty when absent, as everywhere in SPEC.md).
//!
//! SPEC.md §5.8 defines these bytes; the log commits to their map's root
//! in map-head entries (`core::map_head`). The sequencer maintains the map
//! statement by statement from [`Registry::changed_map_keys`]; tests check
//! that this equals the map of every pair computed from scratch.

use super::{Organization, Registry, Signatory, Status};
use crate::core::encoding::{Reader, Writer};
use crate::core::entry::Signed;
use crate::core::names::conflict_keys;
use crate::core::statements::organization_id;
use crate::core::{Error, Hash};
use sha2::{Digest, Sha256};

const KEY_TAG: &[u8] = b"accord/v1/map-key\0";

/// What a map key is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MapKey {
    /// An organization's record: current key, profile, verification.
    Organization(Hash),
    /// An organization's standing on one commitment.
    Signatory(Hash, String),
    /// Which organization a key (current or retired) belongs to.
    Key([u8; 32]),
    /// A commitment's registered versions.
    Commitment(String),
    /// The organizations verified under a name's conflict key (what a
    /// verifier needs to derive `name-conflict` without one record per pair).
    Name(String),
    /// The operator key (the first commitment registration's).
    Operator,
}

impl MapKey {
    /// The key's bytes: a type byte, then its fields.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            MapKey::Organization(id) => w.u8(1).raw(id),
            MapKey::Signatory(org, c) => w.u8(2).raw(org).str(c),
            MapKey::Key(k) => w.u8(3).raw(k),
            MapKey::Commitment(c) => w.u8(4).str(c),
            MapKey::Name(n) => w.u8(5).str(n),
            MapKey::Operator => w.u8(6),
        };
        w.finish()
    }

    /// Its position in the map: `SHA-256("accord/v1/map-key" ‖ 0x00 ‖ bytes)`.
    pub fn hash(&self) -> Hash {
        let mut h = Sha256::new();
        h.update(KEY_TAG);
        h.update(self.to_bytes());
        h.finalize().into()
    }
}

fn opt(w: &mut Writer, s: &Option<String>) {
    w.str(s.as_deref().unwrap_or(""));
}

pub(super) fn organization_value(o: &Organization) -> Vec<u8> {
    let mut w = Writer::with_capacity(256);
    let p = &o.profile;
    w.raw(&o.current_key).str(&p.name).u8(p.group.code());
    w.u8(p.region.code());
    opt(&mut w, &p.country);
    opt(&mut w, &p.domain);
    let first = o.history.first().copied().unwrap_or(0);
    let latest = o.history.last().copied().unwrap_or(0);
    w.u64(first).u64(latest).raw(&o.latest_statement);
    w.u64(o.last_signed_at);
    match &o.operator {
        None => w.u8(0),
        Some(op) => {
            w.u8(1).u64(op.signed_at).raw(&op.statement);
            w.u64(op.history.last().copied().unwrap_or(0));
            match &op.verification {
                None => w.u8(0),
                Some(v) => {
                    w.u8(1).u64(v.index).str(&v.name).u8(v.group.code());
                    opt(&mut w, &v.country);
                    opt(&mut w, &v.domain);
                    w.u8(v.method.code())
                        .raw(&v.evidence_sha256)
                        .u64(v.signed_at)
                }
            }
        }
    };
    w.finish()
}

fn signatory_value(s: &Signatory) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    let status = match s.status {
        Status::Current => 1,
        Status::Withdrawn => 2,
    };
    w.u8(status).u64(s.first_index).u64(s.endorsed_index);
    match s.withdrawn_index {
        Some(i) => w.u8(1).u64(i),
        None => w.u8(0),
    };
    w.raw(&s.text_sha256);
    w.finish()
}

impl Registry {
    /// The value under `key` now, or `None` if the registry has none.
    pub fn map_value(&self, key: &MapKey) -> Option<Vec<u8>> {
        let mut w = Writer::default();
        match key {
            MapKey::Organization(id) => return self.organizations.get(id).map(organization_value),
            MapKey::Signatory(org, c) => {
                let s = self.commitments.get(c)?.signatories.get(org)?;
                return Some(signatory_value(s));
            }
            MapKey::Key(k) => {
                let use_ = self.keys.get(k)?;
                w.raw(&use_.org);
                match use_.retired_at {
                    Some(i) => w.u8(1).u64(i),
                    None => w.u8(0),
                };
            }
            MapKey::Commitment(c) => {
                let versions = &self.commitments.get(c)?.versions;
                w.u32(versions.len() as u32);
                for v in versions {
                    w.str(&v.version).str(&v.title).raw(&v.text_sha256);
                    opt(&mut w, &v.url);
                    w.u64(v.index).raw(&v.statement);
                }
            }
            MapKey::Name(n) => {
                // A name nobody is verified under any more keeps its key
                // with an empty set: the map never deletes.
                let orgs = self.verified_names.get(n)?;
                w.u32(orgs.len() as u32);
                for org in orgs {
                    w.raw(org);
                }
            }
            MapKey::Operator => {
                w.raw(&self.operator_key?);
            }
        }
        Some(w.finish())
    }

    /// Every key the registry has a value for, in key order.
    pub fn map_keys(&self) -> Vec<MapKey> {
        let mut keys: Vec<MapKey> = Vec::new();
        keys.extend(
            self.organizations
                .keys()
                .map(|id| MapKey::Organization(*id)),
        );
        for (c, commitment) in &self.commitments {
            keys.push(MapKey::Commitment(c.clone()));
            keys.extend(
                (commitment.signatories.keys()).map(|org| MapKey::Signatory(*org, c.clone())),
            );
        }
        keys.extend(self.keys.keys().map(|k| MapKey::Key(*k)));
        keys.extend(self.verified_names.keys().map(|n| MapKey::Name(n.clone())));
        keys.extend(self.operator_key.map(|_| MapKey::Operator));
        keys.sort();
        keys.dedup();
        keys
    }

    /// The keys whose values applying `signed` (next, and valid) changes;
    /// call it before [`Registry::apply`], then read the values after.
    pub fn changed_map_keys(&self, signed: &Signed) -> Vec<MapKey> {
        let org_of = |key: &[u8; 32]| {
            self.keys
                .get(key)
                .map_or_else(|| organization_id(key), |k| k.org)
        };
        let verified_name_keys = |org: &Hash| -> Vec<MapKey> {
            let old = self.organizations.get(org).and_then(|o| o.verification());
            old.map(|v| conflict_keys(&v.name))
                .unwrap_or_default()
                .into_iter()
                .map(MapKey::Name)
                .collect()
        };
        match signed {
            Signed::Endorsement { endorsement: e, .. } => {
                let org = org_of(&e.public_key);
                vec![
                    MapKey::Organization(org),
                    MapKey::Signatory(org, e.commitment_id.clone()),
                    MapKey::Key(e.public_key),
                ]
            }
            Signed::Withdrawal { withdrawal: w, .. } => vec![
                MapKey::Organization(w.organization_id),
                MapKey::Signatory(w.organization_id, w.commitment_id.clone()),
            ],
            Signed::KeyRotation { rotation: r, .. } => vec![
                MapKey::Organization(r.organization_id),
                MapKey::Key(r.old_public_key),
                MapKey::Key(r.new_public_key),
            ],
            Signed::Commitment {
                registration: c, ..
            } => vec![
                MapKey::Commitment(c.commitment_id.clone()),
                MapKey::Operator,
            ],
            Signed::Verification {
                verification: v, ..
            } => {
                let mut keys = verified_name_keys(&v.organization_id);
                keys.extend(conflict_keys(&v.name).into_iter().map(MapKey::Name));
                keys.push(MapKey::Organization(v.organization_id));
                keys
            }
            Signed::Revocation { revocation: r, .. } => {
                let mut keys = verified_name_keys(&r.organization_id);
                keys.push(MapKey::Organization(r.organization_id));
                keys
            }
            Signed::MapHead(_) => vec![],
        }
    }
}

/// A signatory value, decoded (what a registry proof shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatoryValue {
    pub status: Status,
    pub first_index: u64,
    pub endorsed_index: u64,
    pub withdrawn_index: Option<u64>,
    pub text_sha256: Hash,
}

/// A key value, decoded: the organization and, if rotated away, when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyValue {
    pub organization: Hash,
    pub retired_at: Option<u64>,
}

/// The leading fields of an organization value (the rest is authenticated
/// by the value's hash and not needed to state a proof's answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationValue {
    pub current_key: [u8; 32],
    pub name: String,
}

fn flagged_index(r: &mut Reader, what: &'static str) -> Result<Option<u64>, Error> {
    match r.u8(what)? {
        0 => Ok(None),
        1 => Ok(Some(r.u64(what)?)),
        _ => Err(Error::malformed(what, "flag must be 0 or 1")),
    }
}

impl SignatoryValue {
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let status = match r.u8("signatory status")? {
            1 => Status::Current,
            2 => Status::Withdrawn,
            _ => return Err(Error::malformed("signatory status", "must be 1 or 2")),
        };
        let first_index = r.u64("signatory first_index")?;
        let endorsed_index = r.u64("signatory endorsed_index")?;
        let withdrawn_index = flagged_index(&mut r, "signatory withdrawn_index")?;
        let text_sha256 = r.array("signatory text_sha256")?;
        r.finish("signatory value")?;
        if (status == Status::Withdrawn) != withdrawn_index.is_some() {
            return Err(Error::malformed(
                "signatory value",
                "a withdrawal index exactly when withdrawn",
            ));
        }
        Ok(SignatoryValue {
            status,
            first_index,
            endorsed_index,
            withdrawn_index,
            text_sha256,
        })
    }
}

impl KeyValue {
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let organization = r.array("key organization")?;
        let retired_at = flagged_index(&mut r, "key retired_at")?;
        r.finish("key value")?;
        Ok(KeyValue {
            organization,
            retired_at,
        })
    }
}

impl OrganizationValue {
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let current_key = r.array("organization current_key")?;
        let name = r.str("organization name")?.to_owned();
        Ok(OrganizationValue { current_key, name })
    }
}
