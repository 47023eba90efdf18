//! SPEC.md's worked examples are checked here: the test rebuilds every value
//! from the inputs SPEC.md lists and compares it with the value printed in
//! SPEC.md's "Test vectors" section, so the document cannot drift from the
//! code. The keys are TEST FIXTURES (fixed seeds), never used for real logs.

use accord::core::checkpoint::{Checkpoint, TreeHead};
use accord::core::endorsement::Endorsement;
use accord::core::entry::{Entry, Signed, GENESIS_PREV};
use accord::core::model::{Region, StakeholderGroup};
use accord::core::note::Signer;
use accord::core::receipt::TlogProof;
use accord::core::sha256;
use accord::core::statements::{CommitmentRegistration, KeyRotation, Withdrawal};
use ed25519_dalek::{Signer as _, SigningKey};
use std::collections::BTreeMap;

/// Test fixture: organization key seed = bytes 0x00..0x1f.
fn org_key() -> SigningKey {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    SigningKey::from_bytes(&seed)
}

/// Computes every vector value, by name.
fn computed() -> BTreeMap<&'static str, String> {
    let key = org_key();
    let e = Endorsement {
        commitment_id: "global-commitment-dts".into(),
        commitment_sha256: sha256(b"example commitment text\n"),
        organization_name: "Government of Estonia".into(),
        stakeholder_group: StakeholderGroup::Government,
        region: Region::EasternEuropean,
        country: Some("EE".into()),
        domain: Some("valitsus.ee".into()),
        statement: Some("Estonia endorses the Global Commitment.".into()),
        signed_at: 1_764_000_000,
        public_key: key.verifying_key().to_bytes(),
    };
    let message = e.signed_message();
    let signature = key.sign(&message).to_bytes();
    let entry = Entry {
        index: 0,
        integrated_at_ms: 1_764_000_001_234,
        prev_leaf_hash: GENESIS_PREV,
        signed: Signed::Endorsement {
            endorsement: e,
            signature,
        },
    };
    let leaf = entry.to_leaf();
    let leaf_hash = entry.leaf_hash();
    // Entries 1-3: one of each other kind, chained after the endorsement.
    let org_id = accord::core::statements::organization_id(&key.verifying_key().to_bytes());
    let new_key = SigningKey::from_bytes(&[0x07; 32]);
    let operator = SigningKey::from_bytes(&[0x0b; 32]);
    let withdrawal = Withdrawal {
        organization_id: org_id,
        commitment_id: "global-commitment-dts".into(),
        signed_at: 1_764_000_100,
        public_key: key.verifying_key().to_bytes(),
    };
    let rotation = KeyRotation {
        organization_id: org_id,
        old_public_key: key.verifying_key().to_bytes(),
        new_public_key: new_key.verifying_key().to_bytes(),
        signed_at: 1_764_000_200,
    };
    let registration = CommitmentRegistration {
        commitment_id: "global-commitment-dts".into(),
        version: "1".into(),
        title: "Global Commitment on Digital Trust and Security".into(),
        text_sha256: sha256(b"example commitment text\n"),
        url: Some("https://example.org/gcdts".into()),
        signed_at: 1_764_000_300,
        public_key: operator.verifying_key().to_bytes(),
    };
    let verification = accord::core::verification::Verification {
        organization_id: org_id,
        name: "Government of Estonia".into(),
        stakeholder_group: accord::core::model::StakeholderGroup::Government,
        country: Some("EE".into()),
        domain: Some("valitsus.ee".into()),
        method: accord::core::model::VerificationMethod::Domain,
        evidence_sha256: sha256(b"example evidence\n"),
        signed_at: 1_764_000_350,
        public_key: operator.verifying_key().to_bytes(),
    };
    let revocation = accord::core::verification::Revocation {
        organization_id: org_id,
        reason: "example revocation".into(),
        signed_at: 1_764_000_360,
        public_key: operator.verifying_key().to_bytes(),
    };
    let rm = rotation.signed_message();
    let others = [
        Signed::Withdrawal {
            signature: key.sign(&withdrawal.signed_message()).to_bytes(),
            withdrawal,
        },
        Signed::KeyRotation {
            old_signature: key.sign(&rm).to_bytes(),
            new_signature: new_key.sign(&rm).to_bytes(),
            rotation,
        },
        Signed::Commitment {
            signature: operator.sign(&registration.signed_message()).to_bytes(),
            registration,
        },
        Signed::Verification {
            signature: operator.sign(&verification.signed_message()).to_bytes(),
            verification,
        },
        Signed::Revocation {
            signature: operator.sign(&revocation.signed_message()).to_bytes(),
            revocation,
        },
    ];
    let mut prev = leaf_hash;
    let mut other_leaves = Vec::new();
    for (i, signed) in others.into_iter().enumerate() {
        let e = Entry {
            index: i as u64 + 1,
            integrated_at_ms: 1_764_000_002_000 + 1000 * i as u64,
            prev_leaf_hash: prev,
            signed,
        };
        e.signed
            .verify(1_764_000_400)
            .expect("vector statements verify");
        prev = e.leaf_hash();
        other_leaves.push(hex::encode(e.to_leaf()));
    }
    let log = Signer::from_seed("accord.example/log", &[0x42; 32]).unwrap();
    let checkpoint = Checkpoint {
        origin: log.name.clone(),
        head: TreeHead {
            size: 1,
            root: leaf_hash,
        },
    }
    .sign(&log)
    .unwrap();
    let receipt = TlogProof {
        extra: None,
        index: 0,
        proof: vec![],
        checkpoint: checkpoint.clone(),
    }
    .format();
    accord::verifier::verify_receipt(&leaf, &receipt, &log.verifier())
        .expect("the example receipt verifies");
    BTreeMap::from([
        (
            "org-public-key",
            hex::encode(key.verifying_key().as_bytes()),
        ),
        (
            "commitment-sha256",
            hex::encode(sha256(b"example commitment text\n")),
        ),
        ("signed-message", hex::encode(&message)),
        ("signature", hex::encode(signature)),
        ("leaf", hex::encode(&leaf)),
        ("leaf-hash", hex::encode(leaf_hash)),
        ("organization-id", hex::encode(org_id)),
        ("withdrawal-leaf", other_leaves[0].clone()),
        ("key-rotation-leaf", other_leaves[1].clone()),
        ("commitment-leaf", other_leaves[2].clone()),
        ("verification-leaf", other_leaves[3].clone()),
        ("revocation-leaf", other_leaves[4].clone()),
        (
            "node-hash",
            hex::encode(accord::core::merkle::node_hash(&leaf_hash, &leaf_hash)),
        ),
        ("empty-root", hex::encode(accord::core::merkle::EMPTY_ROOT)),
        ("log-vkey", log.verifier().to_string()),
        ("checkpoint", checkpoint),
        ("receipt", receipt),
    ])
}

/// Reads the ```vector NAME blocks of SPEC.md.
fn documented() -> BTreeMap<String, String> {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SPEC.md")).unwrap();
    let mut out = BTreeMap::new();
    let mut rest = spec.as_str();
    while let Some(start) = rest.find("```vector ") {
        let after = &rest[start + "```vector ".len()..];
        let (name, body) = after.split_once('\n').unwrap();
        let end = body.find("```").expect("closed block");
        out.insert(name.trim().to_owned(), body[..end].to_owned());
        rest = &body[end + 3..];
    }
    out
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Formats a value as SPEC.md shows it: hex wrapped at 64 columns.
fn display(value: &str) -> String {
    if !is_hex(value) {
        return format!("{}\n", value.trim_end_matches('\n'));
    }
    let lines: Vec<&str> = value
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    lines.join("\n") + "\n"
}

#[test]
fn spec_md_vectors_match_the_code() {
    if std::env::var_os("ACCORD_PRINT_VECTORS").is_some() {
        for (name, value) in computed() {
            println!("```vector {name}\n{}```\n", display(&value));
        }
    }
    let docs = documented();
    for (name, value) in computed() {
        let hexish = is_hex(&value);
        // Hex is wrapped at 64 columns in SPEC.md; texts are verbatim.
        let doc = docs
            .get(name)
            .unwrap_or_else(|| panic!("SPEC.md lacks vector {name}:\n{value}"));
        let (doc_value, value) = if hexish {
            (doc.split_whitespace().collect::<String>(), value)
        } else {
            (
                doc.trim_end_matches('\n').to_owned(),
                value.trim_end_matches('\n').to_owned(),
            )
        };
        assert_eq!(doc_value, value, "SPEC.md vector {name} is out of date");
    }
}
