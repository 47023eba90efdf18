//! Log entries: the exact bytes of each Merkle leaf (SPEC.md §"Leaf").
//!
//! A leaf wraps one signed statement with what the log adds: its index, the
//! time it was integrated and the leaf hash of the previous entry (the hash
//! chain). A version byte and a kind byte let new kinds join without touching
//! existing leaves.

use super::batch::SigItem;
use super::encoding::{Reader, Writer};
use super::endorsement::Endorsement;
use super::map_head::MapHead;
use super::signature::SIGNATURE_LEN;
use super::statements::{CommitmentRegistration, KeyRotation, Withdrawal};
use super::verification::{Revocation, Verification};
use super::{merkle, names, sha256, Error, Hash};

/// Leaf format version. Bumped only for an incompatible layout change.
pub const LEAF_VERSION: u8 = 1;
/// The previous-leaf hash of entry 0: there is no previous leaf.
pub const GENESIS_PREV: Hash = [0; 32];

/// Entry kinds, by their code in the leaf's kind byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Endorsement = 1,
    Withdrawal = 2,
    KeyRotation = 3,
    Commitment = 4,
    Verification = 5,
    Revocation = 6,
    MapHead = 7,
}

type Sig = [u8; SIGNATURE_LEN];

/// A statement together with the signatures that authorize it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    Endorsement {
        endorsement: Endorsement,
        signature: Sig,
    },
    Withdrawal {
        withdrawal: Withdrawal,
        signature: Sig,
    },
    /// Signed by the old key, then by the new key, over the same message.
    KeyRotation {
        rotation: KeyRotation,
        old_signature: Sig,
        new_signature: Sig,
    },
    /// Signed by the log operator's key.
    Commitment {
        registration: CommitmentRegistration,
        signature: Sig,
    },
    /// Signed by the log operator's key.
    Verification {
        verification: Verification,
        signature: Sig,
    },
    /// Signed by the log operator's key.
    Revocation {
        revocation: Revocation,
        signature: Sig,
    },
    /// Not a statement anyone signs: the log writes it itself, as the last
    /// entry of a batch, and the checkpoints that cover it authenticate it.
    /// No signatures, no submitter; admission never accepts one.
    MapHead(MapHead),
}

impl Signed {
    /// Statements only the log operator may submit (servers also demand the
    /// admin token for them, on top of the operator's signature).
    pub fn is_operator_statement(&self) -> bool {
        matches!(
            self,
            Signed::Commitment { .. } | Signed::Verification { .. } | Signed::Revocation { .. }
        )
    }

    pub fn kind(&self) -> Kind {
        match self {
            Signed::Endorsement { .. } => Kind::Endorsement,
            Signed::Withdrawal { .. } => Kind::Withdrawal,
            Signed::KeyRotation { .. } => Kind::KeyRotation,
            Signed::Commitment { .. } => Kind::Commitment,
            Signed::Verification { .. } => Kind::Verification,
            Signed::Revocation { .. } => Kind::Revocation,
            Signed::MapHead(_) => Kind::MapHead,
        }
    }

    /// The canonical body stored in the leaf (without the domain tag).
    pub fn body(&self) -> Vec<u8> {
        match self {
            Signed::Endorsement { endorsement, .. } => endorsement.body(),
            Signed::Withdrawal { withdrawal, .. } => withdrawal.body(),
            Signed::KeyRotation { rotation, .. } => rotation.body(),
            Signed::Commitment { registration, .. } => registration.body(),
            Signed::Verification { verification, .. } => verification.body(),
            Signed::Revocation { revocation, .. } => revocation.body(),
            Signed::MapHead(head) => head.body(),
        }
    }

    /// The exact bytes that were signed.
    pub fn signed_message(&self) -> Vec<u8> {
        match self {
            Signed::Endorsement { endorsement, .. } => endorsement.signed_message(),
            Signed::Withdrawal { withdrawal, .. } => withdrawal.signed_message(),
            Signed::KeyRotation { rotation, .. } => rotation.signed_message(),
            Signed::Commitment { registration, .. } => registration.signed_message(),
            Signed::Verification { verification, .. } => verification.signed_message(),
            Signed::Revocation { revocation, .. } => revocation.signed_message(),
            // Nobody signs it; its identity is its body.
            Signed::MapHead(head) => head.body(),
        }
    }

    pub fn signatures(&self) -> Vec<Sig> {
        match self {
            Signed::Endorsement { signature, .. }
            | Signed::Withdrawal { signature, .. }
            | Signed::Commitment { signature, .. }
            | Signed::Verification { signature, .. }
            | Signed::Revocation { signature, .. } => vec![*signature],
            Signed::KeyRotation {
                old_signature,
                new_signature,
                ..
            } => vec![*old_signature, *new_signature],
            Signed::MapHead(_) => vec![],
        }
    }

    /// The keys that must have signed, in signature order.
    pub fn signers(&self) -> Vec<[u8; 32]> {
        match self {
            Signed::Endorsement { endorsement, .. } => vec![endorsement.public_key],
            Signed::Withdrawal { withdrawal, .. } => vec![withdrawal.public_key],
            Signed::KeyRotation { rotation, .. } => {
                vec![rotation.old_public_key, rotation.new_public_key]
            }
            Signed::Commitment { registration, .. } => vec![registration.public_key],
            Signed::Verification { verification, .. } => vec![verification.public_key],
            Signed::Revocation { revocation, .. } => vec![revocation.public_key],
            Signed::MapHead(_) => vec![],
        }
    }

    /// The statement's `signed_at` (every signed kind has one; a map head,
    /// signed by nobody, says 0, which every time rule accepts).
    pub fn signed_at(&self) -> u64 {
        match self {
            Signed::Endorsement { endorsement: e, .. } => e.signed_at,
            Signed::Withdrawal { withdrawal: w, .. } => w.signed_at,
            Signed::KeyRotation { rotation: r, .. } => r.signed_at,
            Signed::Commitment {
                registration: c, ..
            } => c.signed_at,
            Signed::Verification {
                verification: v, ..
            } => v.signed_at,
            Signed::Revocation { revocation: r, .. } => r.signed_at,
            Signed::MapHead(_) => 0,
        }
    }

    /// Identity of the statement for deduplication: SHA-256 of the signed
    /// message. Two submissions of the same statement are the same entry even
    /// if their (valid) signatures differ, since Ed25519 signers may randomize.
    pub fn statement_hash(&self) -> Hash {
        sha256(&self.signed_message())
    }

    /// Field rules (SPEC.md §3.1) judged at `now` (Unix seconds), except the
    /// keys' rules, which [`Signed::verify`] checks with the signatures. The
    /// name rule (SPEC.md §3.4) applies from its cutover on
    /// ([`names::strict_at`]), so logs written before it still verify.
    pub fn validate(&self, now: u64) -> Result<(), Error> {
        self.validate_with(now, names::strict_at(now))
    }

    fn validate_with(&self, now: u64, name_rule: bool) -> Result<(), Error> {
        match self {
            Signed::Endorsement { endorsement, .. } => endorsement.validate(now),
            Signed::Withdrawal { withdrawal, .. } => withdrawal.validate(now),
            Signed::KeyRotation { rotation, .. } => rotation.validate(now),
            Signed::Commitment { registration, .. } => registration.validate(now),
            Signed::Verification { verification, .. } => verification.validate(now),
            Signed::Revocation { revocation, .. } => revocation.validate(now),
            Signed::MapHead(_) => Ok(()),
        }?;
        if name_rule {
            self.check_names()?;
        }
        Ok(())
    }

    /// The name rule (SPEC.md §3.4) for every displayed name the statement
    /// carries: no bidirectional controls or invisible characters (ZWNJ and
    /// ZWJ only where RFC 5892 CONTEXTJ allows them), Unicode NFC.
    pub fn check_names(&self) -> Result<(), Error> {
        match self {
            Signed::Endorsement { endorsement, .. } => {
                names::check_name_chars("organization_name", &endorsement.organization_name)
            }
            Signed::Commitment { registration, .. } => {
                names::check_name_chars("version", &registration.version)?;
                names::check_name_chars("title", &registration.title)
            }
            Signed::Verification { verification, .. } => {
                names::check_name_chars("name", &verification.name)
            }
            Signed::Withdrawal { .. }
            | Signed::KeyRotation { .. }
            | Signed::Revocation { .. }
            | Signed::MapHead(_) => Ok(()),
        }
    }

    /// The signatures that authorize this statement, as items to verify
    /// (singly or in a batch: the verdicts are the same).
    pub fn signature_items(&self) -> Vec<SigItem> {
        let message = self.signed_message();
        self.signers()
            .into_iter()
            .zip(self.signatures())
            .map(|(public_key, signature)| SigItem {
                public_key,
                message: message.clone(),
                signature,
            })
            .collect()
    }

    /// One line for people: who says what.
    pub fn describe(&self) -> String {
        match self {
            Signed::Endorsement { endorsement: e, .. } => {
                format!("{:?} endorses {}", e.organization_name, e.commitment_id)
            }
            Signed::Withdrawal { withdrawal: w, .. } => format!(
                "organization {} withdraws from {}",
                hex::encode(w.organization_id),
                w.commitment_id
            ),
            Signed::KeyRotation { rotation: r, .. } => format!(
                "organization {} rotates its key to {}",
                hex::encode(r.organization_id),
                hex::encode(r.new_public_key)
            ),
            Signed::Commitment {
                registration: c, ..
            } => {
                format!(
                    "the operator registers {} version {:?}",
                    c.commitment_id, c.version
                )
            }
            Signed::Verification {
                verification: v, ..
            } => format!(
                "the operator verifies organization {} as {:?} ({})",
                hex::encode(v.organization_id),
                v.name,
                v.method.slug()
            ),
            Signed::Revocation { revocation: r, .. } => format!(
                "the operator revokes its verification of organization {}: {}",
                hex::encode(r.organization_id),
                r.reason
            ),
            Signed::MapHead(h) => format!(
                "the log's registry map after {} entries has root {}",
                h.size,
                hex::encode(h.root)
            ),
        }
    }

    /// Field rules plus strict signature verification: what admission and
    /// audit both require of every entry.
    pub fn verify(&self, now: u64) -> Result<(), Error> {
        self.validate(now)?;
        self.signature_items().iter().try_for_each(SigItem::verify)
    }

    /// What admission requires: [`Signed::verify`] with the name rule
    /// (SPEC.md §3.4) applied whatever the date, so nothing admitted by this
    /// version breaks it, before or after the cutover.
    pub fn verify_admission(&self, now: u64) -> Result<(), Error> {
        self.validate_with(now, true)?;
        self.signature_items().iter().try_for_each(SigItem::verify)
    }
}

/// One log entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: u64,
    /// Unix time in milliseconds when the sequencer integrated the entry.
    pub integrated_at_ms: u64,
    /// Leaf hash of entry `index - 1`, or [`GENESIS_PREV`] for entry 0.
    pub prev_leaf_hash: Hash,
    pub signed: Signed,
}

impl Entry {
    /// The leaf bytes: the input of the RFC 6962 leaf hash.
    pub fn to_leaf(&self) -> Vec<u8> {
        Self::leaf_bytes(
            self.index,
            self.integrated_at_ms,
            &self.prev_leaf_hash,
            &self.signed,
        )
    }

    /// The leaf bytes of an entry from its parts, without building an
    /// [`Entry`] (the sequencer would otherwise copy every statement).
    pub fn leaf_bytes(
        index: u64,
        integrated_at_ms: u64,
        prev_leaf_hash: &Hash,
        signed: &Signed,
    ) -> Vec<u8> {
        let body = signed.body();
        let sigs = signed.signatures();
        let mut w = Writer::with_capacity(60 + body.len() + sigs.len() * SIGNATURE_LEN);
        w.u8(LEAF_VERSION)
            .u8(signed.kind() as u8)
            .u64(index)
            .u64(integrated_at_ms)
            .raw(prev_leaf_hash)
            .u32(u32::try_from(body.len()).expect("bodies are a few KiB"))
            .raw(&body)
            .u8(sigs.len() as u8);
        for s in &sigs {
            w.raw(s);
        }
        w.finish()
    }

    /// Parses leaf bytes strictly: known version and kind, exact signature
    /// count for the kind, no trailing bytes.
    pub fn from_leaf(leaf: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(leaf);
        let version = r.u8("leaf version")?;
        if version != LEAF_VERSION {
            return Err(Error::malformed(
                "leaf",
                format!("unknown version {version}"),
            ));
        }
        let kind = r.u8("leaf kind")?;
        let index = r.u64("leaf index")?;
        let integrated_at_ms = r.u64("leaf integrated_at")?;
        let prev_leaf_hash = r.array("leaf prev_leaf_hash")?;
        let body_len = r.u32("leaf body length")? as usize;
        let body = r.take(body_len, "leaf body")?;
        let count = r.u8("leaf signature count")?;
        let mut sigs = Vec::with_capacity(count as usize);
        for _ in 0..count {
            sigs.push(r.array::<SIGNATURE_LEN>("leaf signature")?);
        }
        r.finish("leaf")?;
        let signed = match (kind, sigs.as_slice()) {
            (1, &[signature]) => Signed::Endorsement {
                endorsement: Endorsement::parse_body(body)?,
                signature,
            },
            (2, &[signature]) => Signed::Withdrawal {
                withdrawal: Withdrawal::parse_body(body)?,
                signature,
            },
            (3, &[old_signature, new_signature]) => Signed::KeyRotation {
                rotation: KeyRotation::parse_body(body)?,
                old_signature,
                new_signature,
            },
            (4, &[signature]) => Signed::Commitment {
                registration: CommitmentRegistration::parse_body(body)?,
                signature,
            },
            (5, &[signature]) => Signed::Verification {
                verification: Verification::parse_body(body)?,
                signature,
            },
            (6, &[signature]) => Signed::Revocation {
                revocation: Revocation::parse_body(body)?,
                signature,
            },
            (7, &[]) => Signed::MapHead(MapHead::parse_body(body)?),
            (7, _) => {
                return Err(Error::malformed(
                    "leaf",
                    format!("a map head carries no signature, found {count}"),
                ))
            }
            (1 | 2 | 4 | 5 | 6, _) => {
                return Err(Error::malformed(
                    "leaf",
                    format!("kind {kind} carries 1 signature, found {count}"),
                ))
            }
            (3, _) => {
                return Err(Error::malformed(
                    "leaf",
                    format!("a key rotation carries 2 signatures, found {count}"),
                ))
            }
            (k, _) => return Err(Error::malformed("leaf", format!("unknown kind {k}"))),
        };
        if let Signed::MapHead(head) = &signed {
            if head.size != index {
                return Err(Error::malformed(
                    "leaf",
                    format!(
                        "a map head reflects the entries before it: size {} at index {index}",
                        head.size
                    ),
                ));
            }
        }
        Ok(Entry {
            index,
            integrated_at_ms,
            prev_leaf_hash,
            signed,
        })
    }

    /// RFC 6962 leaf hash of this entry's leaf bytes.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.to_leaf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Region, StakeholderGroup};

    fn entry() -> Entry {
        let endorsement = Endorsement {
            commitment_id: "paris-call".into(),
            commitment_sha256: [7; 32],
            organization_name: "Internet Society".into(),
            stakeholder_group: StakeholderGroup::TechnicalCommunity,
            region: Region::Global,
            country: None,
            domain: Some("internetsociety.org".into()),
            statement: None,
            signed_at: 1_700_000_000,
            public_key: [9; 32],
        };
        Entry {
            index: 41,
            integrated_at_ms: 1_700_000_000_500,
            prev_leaf_hash: [3; 32],
            signed: Signed::Endorsement {
                endorsement,
                signature: [5; 64],
            },
        }
    }

    #[test]
    fn the_name_rule_applies_from_its_cutover_and_always_at_admission() {
        let mut e = entry();
        let Signed::Endorsement { endorsement, .. } = &mut e.signed else {
            unreachable!()
        };
        endorsement.organization_name = "Government of \u{202E}ainotsE".into();
        let before = names::STRICT_NAMES_FROM_MS / 1000 - 1;
        // Logged before the cutover: still valid (SPEC.md §3.4).
        e.signed.validate(before).unwrap();
        let err = e.signed.validate(before + 1).unwrap_err().to_string();
        assert!(err.starts_with("organization_name: U+202E"), "{err}");
        let err = e.signed.verify_admission(1_700_000_000).unwrap_err();
        assert!(err.to_string().starts_with("organization_name: U+202E"));
    }

    #[test]
    fn leaf_round_trips() {
        let e = entry();
        assert_eq!(Entry::from_leaf(&e.to_leaf()).unwrap(), e);
    }

    #[test]
    fn malformed_leaves_are_rejected() {
        let leaf = entry().to_leaf();
        let mut trailing = leaf.clone();
        trailing.push(0);
        assert!(Entry::from_leaf(&trailing).is_err(), "trailing bytes");
        assert!(
            Entry::from_leaf(&leaf[..leaf.len() - 1]).is_err(),
            "truncated"
        );
        let mut version = leaf.clone();
        version[0] = 2;
        assert!(Entry::from_leaf(&version).is_err(), "unknown version");
        let mut kind = leaf.clone();
        kind[1] = 9;
        assert!(Entry::from_leaf(&kind).is_err(), "unknown kind");
        // Two signatures on an endorsement: append one and bump the count.
        let mut two = leaf.clone();
        let count_at = two.len() - 65;
        two[count_at] = 2;
        two.extend_from_slice(&[5; 64]);
        assert!(Entry::from_leaf(&two).is_err(), "wrong signature count");
    }

    #[test]
    fn absent_and_empty_optionals_do_not_collide() {
        let mut e = entry();
        let Signed::Endorsement { endorsement, .. } = &mut e.signed else {
            unreachable!()
        };
        endorsement.statement = Some(String::new());
        assert!(
            endorsement.validate(2_000_000_000).is_err(),
            "Some(\"\") is not a second encoding of None"
        );
    }
}
