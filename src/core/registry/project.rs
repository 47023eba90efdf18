//! Projections of the registry: the few records one statement reads and
//! writes, copied into a small registry of their own.
//!
//! Why: the map head of a batch must be committed with the batch, so the
//! sequencer needs the map values *after* the batch before the commit,
//! while readers must keep seeing the registry as of the published
//! checkpoint until it. Applying the batch to a projection (the real rules,
//! on copies of the touched records) gives those values without touching
//! the shared registry; the sequencer checks them against the real
//! registry once it applies the batch after the commit.

use super::{Commitment, Registry};
use crate::core::entry::Signed;
use crate::core::names::conflict_keys;
use crate::core::Hash;

impl Registry {
    /// An empty projection whose next entry is `size`.
    pub fn projection(size: u64, from: &Registry) -> Registry {
        Registry {
            size,
            operator_key: from.operator_key,
            ..Registry::default()
        }
    }

    /// Copies from `from` what applying `signed` reads or writes, keeping
    /// what this projection already holds (earlier statements of the same
    /// batch may have changed it). Then `apply` on the projection follows
    /// the same rules, and `map_value` gives the same values, for every key
    /// of [`Registry::changed_map_keys`].
    pub fn absorb(&mut self, from: &Registry, signed: &Signed) {
        let org_of = |key: &[u8; 32]| {
            (from.keys.get(key))
                .map_or_else(|| crate::core::statements::organization_id(key), |k| k.org)
        };
        match signed {
            Signed::Endorsement { endorsement: e, .. } => {
                let org = org_of(&e.public_key);
                self.copy_key(from, &e.public_key);
                self.copy_organization(from, &org);
                self.copy_signatory(from, &e.commitment_id, &org);
            }
            Signed::Withdrawal { withdrawal: w, .. } => {
                self.copy_key(from, &w.public_key);
                self.copy_organization(from, &w.organization_id);
                self.copy_signatory(from, &w.commitment_id, &w.organization_id);
            }
            Signed::KeyRotation { rotation: r, .. } => {
                self.copy_key(from, &r.old_public_key);
                self.copy_key(from, &r.new_public_key);
                self.copy_organization(from, &r.organization_id);
            }
            Signed::Commitment {
                registration: c, ..
            } => {
                self.copy_commitment(from, &c.commitment_id);
            }
            Signed::Verification {
                verification: v, ..
            } => {
                self.copy_organization(from, &v.organization_id);
                self.copy_names(from, &v.organization_id, conflict_keys(&v.name));
            }
            Signed::Revocation { revocation: r, .. } => {
                self.copy_organization(from, &r.organization_id);
                self.copy_names(from, &r.organization_id, vec![]);
            }
            Signed::MapHead(_) => {}
        }
    }

    fn copy_key(&mut self, from: &Registry, key: &[u8; 32]) {
        if let Some(k) = from.keys.get(key) {
            self.keys.entry(*key).or_insert(*k);
        }
    }

    fn copy_organization(&mut self, from: &Registry, id: &Hash) {
        if let Some(o) = from.organizations.get(id) {
            self.organizations.entry(*id).or_insert_with(|| o.clone());
        }
    }

    /// The commitment's versions (without its signatories, which the rules
    /// of one statement never read beyond the organization's own).
    fn copy_commitment(&mut self, from: &Registry, id: &str) -> Option<&mut Commitment> {
        let c = from.commitments.get(id)?;
        Some(
            (self.commitments.entry(id.to_owned())).or_insert_with(|| Commitment {
                versions: c.versions.clone(),
                ..Commitment::default()
            }),
        )
    }

    fn copy_signatory(&mut self, from: &Registry, commitment: &str, org: &Hash) {
        let theirs = (from.commitments.get(commitment)).and_then(|c| c.signatories.get(org));
        let theirs = theirs.cloned();
        if let Some(c) = self.copy_commitment(from, commitment) {
            if let Some(s) = theirs {
                c.signatories.entry(*org).or_insert(s);
            }
        }
    }

    /// The sets of verified organizations under the organization's current
    /// verified name and under `new` (a verification's new name).
    fn copy_names(&mut self, from: &Registry, org: &Hash, new: Vec<String>) {
        let old = (from.organizations.get(org))
            .and_then(|o| o.verification())
            .map(|v| conflict_keys(&v.name))
            .unwrap_or_default();
        for name in old.into_iter().chain(new) {
            if let Some(set) = from.verified_names.get(&name) {
                self.verified_names
                    .entry(name)
                    .or_insert_with(|| set.clone());
            }
        }
    }
}
