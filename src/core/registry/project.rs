//! Projections of the registry: the few records a batch reads and writes,
//! copied into a small registry of their own.
//!
//! Why: the registry lives in storage (`records.rs`), and a batch's
//! entries, its map head, the map and the changed records must be
//! committed together. The sequencer copies what each statement reads or
//! writes from the stored registry into a projection, decides and applies
//! the statement there (the real rules, on copies), and then writes the
//! projection's changed records and map values in the batch's commit.
//! Readers keep seeing the stored registry as of the published checkpoint
//! until then.

use super::{Commitment, Registry, RegistryRead};
use crate::core::entry::Signed;
use crate::core::names::conflict_keys;
use crate::core::Hash;

impl Registry {
    /// An empty projection of `from` whose next entry is `size`.
    pub fn projection<R: RegistryRead>(size: u64, from: &R) -> Result<Registry, R::Error> {
        Ok(Registry {
            size,
            operator_key: from.operator_key()?,
            ..Registry::default()
        })
    }

    /// Copies from `from` what applying `signed` reads or writes, keeping
    /// what this projection already holds (earlier statements of the same
    /// batch may have changed it). Then `footprint`, `check` and `apply` on
    /// the projection follow the same rules as on the whole registry, and
    /// `map_value` and `record_writes` give the same values, for every key
    /// of [`Registry::changed_map_keys`].
    pub fn absorb<R: RegistryRead>(&mut self, from: &R, signed: &Signed) -> Result<(), R::Error> {
        match signed {
            Signed::Endorsement { endorsement: e, .. } => {
                self.copy_key(from, &e.public_key)?;
                match self.keys.get(&e.public_key) {
                    Some(k) => {
                        let org = k.org;
                        self.copy_organization(from, &org)?;
                        self.copy_signatory(from, &e.commitment_id, &org)?;
                    }
                    // An unknown key is a new organization's first key: an
                    // organization's id is the hash of its first key, whose
                    // record stays (retired keys too), so there is no
                    // organization or standing to read.
                    None => {
                        self.copy_commitment(from, &e.commitment_id)?;
                    }
                }
            }
            Signed::Withdrawal { withdrawal: w, .. } => {
                self.copy_key(from, &w.public_key)?;
                self.copy_organization(from, &w.organization_id)?;
                self.copy_signatory(from, &w.commitment_id, &w.organization_id)?;
            }
            Signed::KeyRotation { rotation: r, .. } => {
                self.copy_key(from, &r.old_public_key)?;
                self.copy_key(from, &r.new_public_key)?;
                self.copy_organization(from, &r.organization_id)?;
            }
            Signed::Commitment {
                registration: c, ..
            } => {
                self.copy_commitment(from, &c.commitment_id)?;
            }
            Signed::Verification {
                verification: v, ..
            } => {
                self.copy_organization(from, &v.organization_id)?;
                self.copy_standings(from, &v.organization_id)?;
                self.copy_names(from, &v.organization_id, conflict_keys(&v.name))?;
            }
            Signed::Revocation { revocation: r, .. } => {
                self.copy_organization(from, &r.organization_id)?;
                self.copy_standings(from, &r.organization_id)?;
                self.copy_names(from, &r.organization_id, vec![])?;
            }
            Signed::MapHead(_) => {}
        }
        Ok(())
    }

    fn copy_key<R: RegistryRead>(&mut self, from: &R, key: &[u8; 32]) -> Result<(), R::Error> {
        if !self.keys.contains_key(key) {
            if let Some(k) = from.key_use(key)? {
                self.keys.insert(*key, k);
            }
        }
        Ok(())
    }

    fn copy_organization<R: RegistryRead>(&mut self, from: &R, id: &Hash) -> Result<(), R::Error> {
        if !self.organizations.contains_key(id) {
            if let Some(o) = from.organization(id)? {
                self.organizations.insert(*id, o);
            }
        }
        Ok(())
    }

    /// The commitment's versions (without its signatories, which the rules
    /// of one statement never read beyond the organization's own).
    fn copy_commitment<R: RegistryRead>(
        &mut self,
        from: &R,
        id: &str,
    ) -> Result<Option<&mut Commitment>, R::Error> {
        if !self.commitments.contains_key(id) {
            let Some(versions) = from.versions(id)? else {
                return Ok(None);
            };
            let c = Commitment {
                versions,
                ..Commitment::default()
            };
            self.commitments.insert(id.to_owned(), c);
        }
        Ok(self.commitments.get_mut(id))
    }

    fn copy_signatory<R: RegistryRead>(
        &mut self,
        from: &R,
        commitment: &str,
        org: &Hash,
    ) -> Result<(), R::Error> {
        let Some(c) = self.copy_commitment(from, commitment)? else {
            return Ok(());
        };
        if c.signatories.contains_key(org) {
            return Ok(());
        }
        if let Some(s) = from.signatory(org, commitment)? {
            let c = self.commitments.get_mut(commitment).expect("copied above");
            c.signatories.insert(*org, s);
        }
        Ok(())
    }

    /// Every commitment `org` endorsed, with its standing: a change of its
    /// verification changes its place in all of their listings.
    fn copy_standings<R: RegistryRead>(&mut self, from: &R, org: &Hash) -> Result<(), R::Error> {
        for (commitment, _) in from.signatories_of(org)? {
            self.copy_signatory(from, &commitment, org)?;
        }
        Ok(())
    }

    /// The sets of verified organizations under the organization's current
    /// verified name and under `new` (a verification's new name).
    fn copy_names<R: RegistryRead>(
        &mut self,
        from: &R,
        org: &Hash,
        new: Vec<String>,
    ) -> Result<(), R::Error> {
        let old = (self.organizations.get(org))
            .and_then(|o| o.verification())
            .map(|v| conflict_keys(&v.name))
            .unwrap_or_default();
        for name in old.into_iter().chain(new) {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.verified_names.entry(name)
            {
                if let Some(set) = from.verified_under(slot.key())? {
                    slot.insert(set);
                }
            }
        }
        Ok(())
    }
}
