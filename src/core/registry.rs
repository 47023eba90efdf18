//! The registry rules (SPEC.md §5.4): how the log's entries, in order,
//! determine organizations, their keys, the commitments and who currently
//! endorses what. The sequencer applies them to admit entries; the auditor
//! applies them to recompute the signatory set from the log alone. Pure and
//! deterministic: the same entries always give the same registry.

use super::endorsement::Endorsement;
use super::entry::Signed;
use super::model::{Region, StakeholderGroup};
use super::statements::organization_id;
use super::Hash;
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod map_values;
mod project;
mod records;
mod source;
mod stored;
mod verify;
pub use map_values::{KeyValue, MapKey, OrganizationValue, SignatoryValue};
pub use records::{RecordStore, RecordWrite, Rows, FORMAT, FORMAT_KEY};
pub use source::{KeyUse, RegistryRead};
pub use stored::StoredRegistry;
pub use verify::{flags_in, OperatorRecord, Verified};

/// A statement the registry refuses, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct RuleError {
    pub field: &'static str,
    pub rule: String,
}

fn refuse<T>(field: &'static str, rule: impl Into<String>) -> Result<T, RuleError> {
    Err(RuleError {
        field,
        rule: rule.into(),
    })
}

/// What an organization last said about itself (its latest endorsement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub group: StakeholderGroup,
    pub region: Region,
    pub country: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: Hash,
    pub current_key: [u8; 32],
    pub profile: Profile,
    pub last_signed_at: u64,
    /// Indices of every entry of this organization, ascending.
    pub history: Vec<u64>,
    /// Statement hash of the latest entry (identical resubmission is idempotent).
    pub latest_statement: Hash,
    /// The operator's statements about it (SPEC.md §5.5): `None` until the
    /// first. Most organizations never get one, so it costs a pointer
    /// rather than ≈ 200 bytes each (the registry is most of the RSS).
    pub operator: Option<Box<OperatorRecord>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Current,
    Withdrawn,
}

/// An organization's standing on one commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatory {
    pub organization: Hash,
    pub status: Status,
    /// First endorsement of this commitment by this organization: the
    /// signatory's stable position in listings.
    pub first_index: u64,
    /// Latest endorsement, and the withdrawal after it (if withdrawn).
    pub endorsed_index: u64,
    pub withdrawn_index: Option<u64>,
    /// Digest of the commitment text endorsed at `endorsed_index`.
    pub text_sha256: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    pub title: String,
    pub text_sha256: Hash,
    pub url: Option<String>,
    pub index: u64,
    pub statement: Hash,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commitment {
    pub versions: Vec<Version>,
    /// first_index → organization, for stable ordered listing.
    pub order: BTreeMap<u64, Hash>,
    pub signatories: HashMap<Hash, Signatory>,
    /// first_index of the signatories whose organization is verified:
    /// listings show these first without scanning everyone.
    pub verified: BTreeSet<u64>,
}

/// What admission decided about a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Append it as a new entry.
    New,
    /// Identical to an entry already logged, which is still current: answer with it.
    Duplicate(u64),
}

/// A part of the registry one statement's admission depends on or changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    Key([u8; 32]),
    /// The organization's record and its standing on every commitment.
    Organization(Hash),
    /// A commitment's catalog of versions.
    Commitment(String),
    /// Which key may register commitments.
    Operator,
}

/// What a statement's admission reads and what appending it writes (see
/// [`Registry::footprint`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    pub reads: Vec<Resource>,
    pub writes: Vec<Resource>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// Number of entries applied (the tree size this registry reflects).
    pub size: u64,
    /// The key of the first commitment registration; later ones must match.
    pub operator_key: Option<[u8; 32]>,
    pub organizations: HashMap<Hash, Organization>,
    keys: HashMap<[u8; 32], KeyUse>,
    pub commitments: BTreeMap<String, Commitment>,
    /// Conflict keys of verified names (`names::conflict_keys`) → the
    /// organizations verified under them (for `name-conflict`).
    verified_names: HashMap<String, BTreeSet<Hash>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The organization acting with `key`, refusing keys rotated away.
    fn acting_org(
        &self,
        key: &[u8; 32],
        field: &'static str,
    ) -> Result<Option<&Organization>, RuleError> {
        match self.keys.get(key) {
            None => Ok(None),
            Some(KeyUse { org, retired_at: Some(at) }) => refuse(
                field,
                format!("this key was rotated out of organization {} at entry {at} and can no longer act for it", hex::encode(org)),
            ),
            Some(KeyUse { org, retired_at: None }) => Ok(self.organizations.get(org)),
        }
    }

    /// Replay protection shared by every organization statement.
    fn fresh(org: &Organization, signed_at: u64, statement: &Hash) -> Result<Admission, RuleError> {
        if *statement == org.latest_statement {
            return Ok(Admission::Duplicate(
                *org.history.last().expect("an organization has entries"),
            ));
        }
        if signed_at <= org.last_signed_at {
            return refuse(
                "signed_at",
                format!(
                    "{signed_at} is not after the organization's latest entry (signed at {}): replays and out-of-order statements are refused",
                    org.last_signed_at
                ),
            );
        }
        Ok(Admission::New)
    }

    fn org_for(&self, id: &Hash, key: &[u8; 32]) -> Result<&Organization, RuleError> {
        let org = self.organizations.get(id).map_or_else(
            || {
                refuse(
                    "organization_id",
                    format!("no organization {}", hex::encode(id)),
                )
            },
            Ok,
        )?;
        self.acting_org(key, "public_key")?;
        if org.current_key != *key {
            return refuse("public_key", "is not the organization's current key");
        }
        Ok(org)
    }

    /// The resources `signed`'s admission reads and its application writes.
    ///
    /// Why: the sequencer decides a whole batch against the registry as it
    /// was before the batch (one shared copy, changed only after the commit).
    /// That equals deciding the statements one after another exactly when no
    /// statement reads or writes what an earlier one in the batch writes; a
    /// statement that would is held for the next batch.
    pub fn footprint(&self, signed: &Signed) -> Footprint {
        use Resource::{Commitment, Key, Operator, Organization};
        let org_of = |key: &[u8; 32]| {
            self.keys
                .get(key)
                .map_or_else(|| organization_id(key), |k| k.org)
        };
        match signed {
            Signed::Endorsement { endorsement: e, .. } => Footprint {
                reads: vec![Commitment(e.commitment_id.clone())],
                writes: vec![Key(e.public_key), Organization(org_of(&e.public_key))],
            },
            Signed::Withdrawal { withdrawal: w, .. } => Footprint {
                reads: vec![Commitment(w.commitment_id.clone())],
                writes: vec![Key(w.public_key), Organization(w.organization_id)],
            },
            Signed::KeyRotation { rotation: r, .. } => Footprint {
                reads: vec![],
                writes: vec![
                    Key(r.old_public_key),
                    Key(r.new_public_key),
                    Organization(r.organization_id),
                ],
            },
            Signed::Commitment {
                registration: c, ..
            } => Footprint {
                reads: vec![],
                // The operator key is set once, by the first registration,
                // and never changes after.
                writes: match self.operator_key {
                    None => vec![Commitment(c.commitment_id.clone()), Operator],
                    Some(_) => vec![Commitment(c.commitment_id.clone())],
                },
            },
            Signed::Verification {
                verification: v, ..
            } => Footprint {
                reads: vec![Operator],
                writes: vec![Organization(v.organization_id)],
            },
            Signed::Revocation { revocation: r, .. } => Footprint {
                reads: vec![Operator],
                writes: vec![Organization(r.organization_id)],
            },
            // Never admitted (see `check_hashed`): it touches nothing.
            Signed::MapHead(_) => Footprint::default(),
        }
    }

    /// Decides whether `signed` may be appended now, without changing anything.
    pub fn check(&self, signed: &Signed) -> Result<Admission, RuleError> {
        self.check_hashed(signed, &signed.statement_hash())
    }

    /// [`Registry::check`] with the statement hash already computed.
    pub fn check_hashed(&self, signed: &Signed, statement: &Hash) -> Result<Admission, RuleError> {
        let statement = *statement;
        match signed {
            Signed::Endorsement { endorsement: e, .. } => {
                let Some(c) = self.commitments.get(&e.commitment_id) else {
                    return refuse(
                        "commitment_id",
                        format!("{:?} is not a registered commitment", e.commitment_id),
                    );
                };
                if !c
                    .versions
                    .iter()
                    .any(|v| v.text_sha256 == e.commitment_sha256)
                {
                    return refuse(
                        "commitment_sha256",
                        format!(
                            "{} matches no registered version of {:?}",
                            hex::encode(e.commitment_sha256),
                            e.commitment_id
                        ),
                    );
                }
                match self.acting_org(&e.public_key, "public_key")? {
                    Some(org) => Self::fresh(org, e.signed_at, &statement),
                    None => Ok(Admission::New),
                }
            }
            Signed::Withdrawal { withdrawal: w, .. } => {
                let org = self.org_for(&w.organization_id, &w.public_key)?;
                let admission = Self::fresh(org, w.signed_at, &statement)?;
                let endorses = self
                    .commitments
                    .get(&w.commitment_id)
                    .and_then(|c| c.signatories.get(&org.id))
                    .is_some_and(|s| s.status == Status::Current);
                if admission == Admission::New && !endorses {
                    return refuse(
                        "commitment_id",
                        format!(
                            "the organization does not currently endorse {:?}",
                            w.commitment_id
                        ),
                    );
                }
                Ok(admission)
            }
            Signed::KeyRotation { rotation: r, .. } => {
                let org = self.org_for(&r.organization_id, &r.old_public_key)?;
                let admission = Self::fresh(org, r.signed_at, &statement)?;
                if admission == Admission::New && self.keys.contains_key(&r.new_public_key) {
                    return refuse(
                        "new_public_key",
                        "is already used by an organization (keys are never reused)",
                    );
                }
                Ok(admission)
            }
            Signed::Commitment {
                registration: c, ..
            } => {
                if let Some(op) = self.operator_key {
                    if op != c.public_key {
                        return refuse("public_key", "is not the log operator's key (the key of the first commitment registration)");
                    }
                }
                let versions = self
                    .commitments
                    .get(&c.commitment_id)
                    .map_or(&[][..], |x| &x.versions[..]);
                // Registering the same version again (whatever its signed_at)
                // is answered with the existing entry.
                let same = |v: &&Version| {
                    v.version == c.version
                        && v.text_sha256 == c.text_sha256
                        && v.title == c.title
                        && v.url == c.url
                };
                if let Some(v) = versions.iter().find(same) {
                    return Ok(Admission::Duplicate(v.index));
                }
                if versions.iter().any(|v| v.version == c.version) {
                    return refuse(
                        "version",
                        format!(
                            "{:?} of {:?} is already registered",
                            c.version, c.commitment_id
                        ),
                    );
                }
                if versions.iter().any(|v| v.text_sha256 == c.text_sha256) {
                    return refuse(
                        "text_sha256",
                        "this text is already registered as another version",
                    );
                }
                Ok(Admission::New)
            }
            Signed::Verification {
                verification: v, ..
            } => self.check_operator_statement(
                &v.organization_id,
                &v.public_key,
                v.signed_at,
                &statement,
            ),
            Signed::Revocation { revocation: r, .. } => {
                let admission = self.check_operator_statement(
                    &r.organization_id,
                    &r.public_key,
                    r.signed_at,
                    &statement,
                )?;
                let verified = self.organizations[&r.organization_id]
                    .verification()
                    .is_some();
                if admission == Admission::New && !verified {
                    return refuse(
                        "organization_id",
                        "is not verified: there is nothing to revoke",
                    );
                }
                Ok(admission)
            }
            Signed::MapHead(_) => refuse(
                "kind",
                "a map head is written by the log itself, never submitted",
            ),
        }
    }

    /// Applies entry `index` (which must be the next one). Returns
    /// `Duplicate` without changing anything if the statement is already
    /// current: a log never contains that, so auditors treat it as an error.
    pub fn apply(&mut self, index: u64, signed: &Signed) -> Result<Admission, RuleError> {
        self.apply_hashed(index, signed, signed.statement_hash())
    }

    /// [`Registry::apply`] with `statement` = `signed.statement_hash()`
    /// already computed (the sequencer needs it anyway).
    pub fn apply_hashed(
        &mut self,
        index: u64,
        signed: &Signed,
        statement: Hash,
    ) -> Result<Admission, RuleError> {
        if index != self.size {
            return refuse(
                "index",
                format!("expected entry {}, got {index}", self.size),
            );
        }
        if let Signed::MapHead(head) = signed {
            // The registry stays as it is; whether the root is right is the
            // auditor's check (it recomputes the map), not a registry rule.
            if head.size != index {
                return refuse(
                    "size",
                    format!("a map head at entry {index} must say size {index}"),
                );
            }
            self.size = index + 1;
            return Ok(Admission::New);
        }
        let admission = self.check_hashed(signed, &statement)?;
        if admission != Admission::New {
            return Ok(admission);
        }
        match signed {
            Signed::Endorsement { endorsement: e, .. } => self.endorse(index, e, statement),
            Signed::Withdrawal { withdrawal: w, .. } => {
                let org = self.touch(&w.organization_id, index, w.signed_at, statement);
                let s = self.signatory(&w.commitment_id, &org);
                s.status = Status::Withdrawn;
                s.withdrawn_index = Some(index);
            }
            Signed::KeyRotation { rotation: r, .. } => {
                let org = self.touch(&r.organization_id, index, r.signed_at, statement);
                self.keys.insert(
                    r.old_public_key,
                    KeyUse {
                        org,
                        retired_at: Some(index),
                    },
                );
                self.keys.insert(
                    r.new_public_key,
                    KeyUse {
                        org,
                        retired_at: None,
                    },
                );
                self.organizations
                    .get_mut(&org)
                    .expect("exists")
                    .current_key = r.new_public_key;
            }
            Signed::Commitment {
                registration: c, ..
            } => {
                self.operator_key.get_or_insert(c.public_key);
                self.commitments
                    .entry(c.commitment_id.clone())
                    .or_default()
                    .versions
                    .push(Version {
                        version: c.version.clone(),
                        title: c.title.clone(),
                        text_sha256: c.text_sha256,
                        url: c.url.clone(),
                        index,
                        statement,
                    });
            }
            Signed::Verification {
                verification: v, ..
            } => self.verify(index, v, statement),
            Signed::Revocation { revocation: r, .. } => self.revoke(index, r, statement),
            Signed::MapHead(_) => unreachable!("handled above"),
        }
        self.size = index + 1;
        Ok(Admission::New)
    }

    /// Records an entry in the organization's history; returns its id.
    fn touch(&mut self, id: &Hash, index: u64, signed_at: u64, statement: Hash) -> Hash {
        let org = self.organizations.get_mut(id).expect("checked");
        org.history.push(index);
        org.last_signed_at = signed_at;
        org.latest_statement = statement;
        org.id
    }

    fn signatory(&mut self, commitment: &str, org: &Hash) -> &mut Signatory {
        let c = self.commitments.get_mut(commitment).expect("checked");
        c.signatories.get_mut(org).expect("checked")
    }

    fn endorse(&mut self, index: u64, e: &Endorsement, statement: Hash) {
        let profile = Profile {
            name: e.organization_name.clone(),
            group: e.stakeholder_group,
            region: e.region,
            country: e.country.clone(),
            domain: e.domain.clone(),
        };
        let id = match self.keys.get(&e.public_key) {
            Some(k) => k.org,
            None => {
                let id = organization_id(&e.public_key);
                self.keys.insert(
                    e.public_key,
                    KeyUse {
                        org: id,
                        retired_at: None,
                    },
                );
                self.organizations.insert(
                    id,
                    Organization {
                        id,
                        current_key: e.public_key,
                        profile: profile.clone(),
                        last_signed_at: 0,
                        history: Vec::new(),
                        latest_statement: [0; 32],
                        operator: None,
                    },
                );
                id
            }
        };
        self.touch(&id, index, e.signed_at, statement);
        self.organizations.get_mut(&id).expect("exists").profile = profile;
        let c = self.commitments.get_mut(&e.commitment_id).expect("checked");
        let s = c.signatories.entry(id).or_insert_with(|| Signatory {
            organization: id,
            status: Status::Current,
            first_index: index,
            endorsed_index: index,
            withdrawn_index: None,
            text_sha256: e.commitment_sha256,
        });
        s.status = Status::Current;
        s.endorsed_index = index;
        s.withdrawn_index = None;
        s.text_sha256 = e.commitment_sha256;
        c.order.entry(s.first_index).or_insert(id);
        if self.organizations[&id].verification().is_some() {
            c.verified.insert(s.first_index);
        }
    }

    /// The organization that `key` identifies (current or retired key).
    pub fn organization_by_key(&self, key: &[u8; 32]) -> Option<&Organization> {
        self.keys
            .get(key)
            .and_then(|k| self.organizations.get(&k.org))
    }
}
