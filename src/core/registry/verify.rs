//! The registry rules for operator verification (SPEC.md §5.5–§5.6):
//! who may verify, in what order, and what the registry shows for it —
//! including `name-conflict`, the flag that keeps an impersonator from
//! hiding among real signatories.

use super::{refuse, Admission, Organization, Registry, RegistryRead, RuleError};
use crate::core::model::{StakeholderGroup, VerificationMethod};
use crate::core::names::{conflict_keys, NameFacts};
use crate::core::verification::{Revocation, Verification};
use crate::core::Hash;
use std::sync::Arc;

/// An organization's current verification by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The verification entry.
    pub index: u64,
    pub name: String,
    pub group: StakeholderGroup,
    pub country: Option<String>,
    pub domain: Option<String>,
    pub method: VerificationMethod,
    pub evidence_sha256: Hash,
    pub signed_at: u64,
}

/// The operator's statements about one organization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorRecord {
    /// The current verification, if any.
    pub verification: Option<Verified>,
    /// Indices of the verifications and revocations, ascending.
    pub history: Vec<u64>,
    /// `signed_at` and statement hash of the latest of them: the operator's
    /// statements about one organization are ordered like its own.
    pub signed_at: u64,
    pub statement: Hash,
}

impl Organization {
    pub fn verification(&self) -> Option<&Verified> {
        self.operator.as_ref()?.verification.as_ref()
    }

    pub fn verification_history(&self) -> &[u64] {
        self.operator.as_ref().map_or(&[], |o| &o.history)
    }

    /// The operator's next statement about it must be signed after this.
    pub fn operator_signed_at(&self) -> u64 {
        self.operator.as_ref().map_or(0, |o| o.signed_at)
    }
}

impl Registry {
    /// What verifications and revocations share: the operator's key, a
    /// known organization, idempotency and strict order per organization.
    pub(super) fn check_operator_statement(
        &self,
        org: &Hash,
        key: &[u8; 32],
        signed_at: u64,
        statement: &Hash,
    ) -> Result<Admission, RuleError> {
        match self.operator_key {
            None => {
                return refuse(
                    "public_key",
                    "the log has no operator key yet (its first commitment registration sets it)",
                )
            }
            Some(op) if op != *key => return refuse("public_key", "is not the log operator's key"),
            Some(_) => {}
        }
        let Some(o) = self.organizations.get(org) else {
            return refuse(
                "organization_id",
                format!("no organization {}", hex::encode(org)),
            );
        };
        let (latest, latest_signed_at, latest_index) =
            o.operator.as_deref().map_or(([0; 32], 0, None), |r| {
                (r.statement, r.signed_at, r.history.last().copied())
            });
        if let Some(index) = latest_index.filter(|_| *statement == latest) {
            return Ok(Admission::Duplicate(index));
        }
        if signed_at <= latest_signed_at {
            return refuse(
                "signed_at",
                format!(
                    "{signed_at} is not after the operator's latest statement about this organization (signed at {latest_signed_at})"
                ),
            );
        }
        Ok(Admission::New)
    }

    fn operator_record(&mut self, org: &Hash) -> &mut OperatorRecord {
        let o = self.organizations.get_mut(org).expect("checked");
        o.operator.get_or_insert_with(Box::default)
    }

    fn operator_touch(&mut self, org: &Hash, index: u64, signed_at: u64, statement: Hash) {
        let record = self.operator_record(org);
        record.history.push(index);
        record.signed_at = signed_at;
        record.statement = statement;
    }

    fn unlist_name(&mut self, org: &Hash) {
        let Some(old) = self.organizations[org].verification() else {
            return;
        };
        // An emptied set stays: the registry map never deletes a key.
        for key in conflict_keys(&old.name) {
            if let Some(set) = self.verified_names.get_mut(&key) {
                set.remove(org);
            }
        }
    }

    /// Marks `org` verified (or not) in every commitment's listing index.
    fn list_verified(&mut self, org: &Hash, verified: bool) {
        for c in self.commitments.values_mut() {
            if let Some(s) = c.signatories.get(org) {
                if verified {
                    c.verified.insert(s.first_index);
                } else {
                    c.verified.remove(&s.first_index);
                }
            }
        }
    }

    /// The order listings show a commitment's signatories in: verified
    /// organizations first, then the others, each by first endorsement.
    pub fn listing_order(&self, commitment: &super::Commitment) -> Vec<Hash> {
        let verified = commitment.verified.iter().map(|i| commitment.order[i]);
        let others = (commitment.order.iter())
            .filter(|(i, _)| !commitment.verified.contains(i))
            .map(|(_, org)| *org);
        verified.chain(others).collect()
    }

    pub(super) fn verify(&mut self, index: u64, v: &Verification, statement: Hash) {
        self.list_verified(&v.organization_id, true);
        self.operator_touch(&v.organization_id, index, v.signed_at, statement);
        self.unlist_name(&v.organization_id);
        for key in conflict_keys(&v.name) {
            (self.verified_names.entry(key).or_default()).insert(v.organization_id);
        }
        self.operator_record(&v.organization_id).verification = Some(Verified {
            index,
            name: v.name.clone(),
            group: v.stakeholder_group,
            country: v.country.clone(),
            domain: v.domain.clone(),
            method: v.method,
            evidence_sha256: v.evidence_sha256,
            signed_at: v.signed_at,
        });
    }

    pub(super) fn revoke(&mut self, index: u64, r: &Revocation, statement: Hash) {
        self.list_verified(&r.organization_id, false);
        self.operator_touch(&r.organization_id, index, r.signed_at, statement);
        self.unlist_name(&r.organization_id);
        self.operator_record(&r.organization_id).verification = None;
    }

    /// `org`'s self-declared name and the name it was verified under.
    fn names(org: &Organization) -> impl Iterator<Item = &String> {
        [Some(&org.profile.name), org.verification().map(|v| &v.name)]
            .into_iter()
            .flatten()
    }

    /// What a reader should know before trusting a record's name (SPEC.md
    /// §5.4 "Flags"): "unverified" (the operator has not vouched for it),
    /// "name-conflict" (its name looks like another, verified
    /// organization's name) and "mixed-script" (a word of its name mixes
    /// scripts the way look-alikes do).
    pub fn flags(&self, org: &Organization) -> Vec<String> {
        self.flags_with(org, &mut |name| Arc::new(NameFacts::of(name)))
    }

    /// [`Registry::flags`] with the facts of each name from `facts` (a
    /// cache: they depend on the name alone).
    pub fn flags_with(
        &self,
        org: &Organization,
        facts: &mut dyn FnMut(&str) -> Arc<NameFacts>,
    ) -> Vec<String> {
        super::source::sure(flags_in(self, org, facts))
    }
}

/// [`Registry::flags`] of `org` in any registry (stored or in memory).
/// "name-conflict": one of its names (self-declared, or the name it was
/// verified under) shares a conflict key with another organization's
/// verified name (SPEC.md §5.4: case, width, spacing, invisible characters
/// and UTS #39 confusables do not tell them apart).
pub fn flags_in<R: RegistryRead>(
    registry: &R,
    org: &Organization,
    facts: &mut dyn FnMut(&str) -> Arc<NameFacts>,
) -> Result<Vec<String>, R::Error> {
    let names: Vec<Arc<NameFacts>> = Registry::names(org).map(|n| facts(n)).collect();
    let mut flags = Vec::new();
    if org.verification().is_none() {
        flags.push("unverified".to_owned());
    }
    let mut conflict = false;
    for key in names.iter().flat_map(|f| &f.conflict_keys) {
        let set = registry.verified_under(key)?;
        if set.is_some_and(|set| set.iter().any(|other| *other != org.id)) {
            conflict = true;
            break;
        }
    }
    if conflict {
        flags.push("name-conflict".to_owned());
    }
    if names.iter().any(|f| f.mixed_script) {
        flags.push("mixed-script".to_owned());
    }
    Ok(flags)
}
