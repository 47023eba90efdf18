//! SPEC.md's worked examples are checked here: the test rebuilds every value
//! from the inputs SPEC.md lists and compares it with the value printed in
//! SPEC.md's "Test vectors" section, so the document cannot drift from the
//! code. The keys are TEST FIXTURES (fixed seeds), never used for real logs.
//! The vector leaves also form a log that must pass the full audit (§9:
//! chain, time rule, signatures, registry rules), so no vector can show a
//! leaf that a strict verifier refuses.

use accord::core::checkpoint::{Checkpoint, TreeHead};
use accord::core::endorsement::Endorsement;
use accord::core::entry::{Entry, Signed, GENESIS_PREV};
use accord::core::model::{Region, StakeholderGroup};
use accord::core::note::Signer;
use accord::core::receipt::TlogProof;
use accord::core::registry::MapKey;
use accord::core::registry_proof::{Found, Item, Query, RegistryProof, Subject};
use accord::core::sha256;
use accord::core::statements::{CommitmentRegistration, KeyRotation, Withdrawal};
use ed25519_dalek::{Signer as _, SigningKey};
use std::collections::BTreeMap;

/// Test fixture: organization key seed = bytes 0x00..0x1f.
fn org_key() -> SigningKey {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    SigningKey::from_bytes(&seed)
}

/// The vector log (SPEC.md "Test vectors"), in index order: a valid log
/// under every rule of §5 and §5.4 (checked by `the_vector_log_passes_a_full_audit`).
/// Entry `i` has `integrated_at` = `INTEGRATED_AT[i]` ms.
const INTEGRATED_AT: [u64; 7] = [
    1_763_999_902_000, // 0: commitment registration, signed at 1763999900
    1_764_000_001_234, // 1: endorsement, signed at 1764000000
    1_764_000_102_000, // 2: withdrawal, signed at 1764000100
    1_764_000_203_000, // 3: key rotation, signed at 1764000200
    1_764_000_354_000, // 4: verification, signed at 1764000350
    1_764_000_365_000, // 5: revocation, signed at 1764000360
    1_764_000_365_000, // 6: the map head of entries 0-5 (same batch as 5)
];

/// Every vector value by name, and the seven vector leaves in index order.
fn vector_log() -> (BTreeMap<&'static str, String>, Vec<Vec<u8>>) {
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
    let org_id = accord::core::statements::organization_id(&key.verifying_key().to_bytes());
    let new_key = SigningKey::from_bytes(&[0x07; 32]);
    let operator = SigningKey::from_bytes(&[0x0b; 32]);
    let registration = CommitmentRegistration {
        commitment_id: "global-commitment-dts".into(),
        version: "1".into(),
        title: "Global Commitment on Digital Trust and Security".into(),
        text_sha256: sha256(b"example commitment text\n"),
        url: Some("https://example.org/gcdts".into()),
        signed_at: 1_763_999_900,
        public_key: operator.verifying_key().to_bytes(),
    };
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
    let statements = [
        Signed::Commitment {
            signature: operator.sign(&registration.signed_message()).to_bytes(),
            registration,
        },
        Signed::Endorsement {
            endorsement: e,
            signature,
        },
        Signed::Withdrawal {
            signature: key.sign(&withdrawal.signed_message()).to_bytes(),
            withdrawal,
        },
        Signed::KeyRotation {
            old_signature: key.sign(&rm).to_bytes(),
            new_signature: new_key.sign(&rm).to_bytes(),
            rotation,
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
    // Entry 6: the map head of the registry of entries 0-5 (§5.7, §5.8).
    let mut registry = accord::core::registry::Registry::new();
    for (i, s) in statements.iter().enumerate() {
        registry.apply(i as u64, s).expect("a valid vector log");
    }
    let mut map = accord::core::map::MemoryMap::default();
    let pairs: Vec<_> = (registry.map_keys().iter())
        .map(|k| (k.hash(), sha256(&registry.map_value(k).unwrap())))
        .collect();
    let map_root = map.set_all(pairs.iter().map(|(k, v)| (k, v)));
    let map_head = Signed::MapHead(accord::core::map_head::MapHead {
        size: 6,
        root: map_root,
    });
    let signatory_key = MapKey::Signatory(org_id, "global-commitment-dts".into());
    let signatory_value = registry.map_value(&signatory_key).unwrap();
    let organization_value = registry.map_value(&MapKey::Organization(org_id)).unwrap();
    let mut prev = GENESIS_PREV;
    let mut leaves = Vec::new();
    let mut hashes = Vec::new();
    let mut nodes = std::collections::HashMap::new();
    for (i, signed) in statements.into_iter().chain([map_head]).enumerate() {
        let e = Entry {
            index: i as u64,
            integrated_at_ms: INTEGRATED_AT[i],
            prev_leaf_hash: prev,
            signed,
        };
        prev = e.leaf_hash();
        hashes.push(prev);
        leaves.push(e.to_leaf());
    }
    let mut frontier = accord::core::frontier::Frontier::new();
    for h in &hashes {
        frontier.push(*h, |n| {
            nodes.insert((n.level, n.index), n.hash);
        });
    }
    let (leaf, leaf_hash) = (&leaves[1], hashes[1]);
    let log = Signer::from_seed("accord.example/log", &[0x42; 32]).unwrap();
    let note = |size: usize| {
        let mut root = accord::core::merkle::EMPTY_ROOT;
        let mut frontier = accord::core::frontier::Frontier::new();
        for h in &hashes[..size] {
            frontier.push(*h, |_| {});
            root = frontier.root();
        }
        Checkpoint {
            origin: log.name.clone(),
            head: TreeHead {
                size: size as u64,
                root,
            },
        }
        .sign(&log)
        .unwrap()
    };
    // The receipt of the endorsement (index 1) in the tree of entries 0-1:
    // its proof is entry 0's leaf hash.
    let checkpoint = note(2);
    let receipt = TlogProof {
        extra: None,
        index: 1,
        proof: vec![hashes[0]],
        checkpoint: checkpoint.clone(),
    }
    .format();
    accord::verifier::verify_receipt(leaf, &receipt, &log.verifier())
        .expect("the example receipt verifies");
    // The registry proof of the organization's standing on the Global
    // Commitment (withdrawn) at the whole vector log (size 7).
    // §13: the tlog-witness request that takes a witness from `checkpoint`
    // (size 2) to `log-checkpoint` (size 7), which the witness rules accept,
    // and the witness fixture's cosignature line of it at time 1764000400.
    let proof_2_7 = accord::core::merkle::consistency_proof(2, 7, &NodeMap(nodes.clone())).unwrap();
    let mut witness_request = "old 2\n".to_owned();
    for h in &proof_2_7 {
        witness_request += &format!(
            "{}\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h)
        );
    }
    witness_request += &format!("\n{}", note(7));
    let request = accord::core::witness::parse_request(&witness_request).unwrap();
    let head = accord::core::witness::open(&request.checkpoint, &log.verifier()).unwrap();
    let two = accord::core::checkpoint::Checkpoint::open(&checkpoint, &log.verifier()).unwrap();
    accord::core::witness::decide(Some((2, two.head.root)), &request, &head)
        .expect("the witness at size 2 accepts the example request");
    let witness =
        accord::core::cosignature::Cosigner::from_seed("witness.example/w1", &[7; 32]).unwrap();
    let cosignature = witness.cosign(&head.text, 1_764_000_400);
    assert_eq!(
        witness
            .verifier()
            .verify_line(&head.text, cosignature.trim_end())
            .unwrap(),
        Some(1_764_000_400)
    );
    // §12: the vector log's one (partial) level-0 hash tile.
    let mut tiler = accord::core::tile_tree::Tiler::new();
    for h in &hashes {
        tiler.push(*h, |_, _| unreachable!("7 leaves complete no tile"));
    }
    let (tile, tile_bytes) = tiler.partial()[0];
    assert_eq!(tile.path(), "tile/0/000.p/7");
    let tile_hex = hex::encode(tile_bytes);
    let inclusion = accord::core::merkle::inclusion_proof(6, 7, &NodeMap(nodes)).unwrap();
    let path = map.prove(&signatory_key.hash());
    let registry_proof = RegistryProof {
        query: Query {
            subject: Subject::Organization(org_id),
            commitment: Some("global-commitment-dts".into()),
        },
        index: 6,
        inclusion,
        map_head: leaves[6].clone(),
        items: vec![Item {
            siblings: path.siblings,
            found: Found::Present(signatory_value.clone()),
        }],
        checkpoint: note(7),
    };
    let verdict = registry_proof
        .verify(&log.verifier())
        .expect("the example proof verifies");
    assert!(
        verdict.describe().starts_with("withdrawn: "),
        "{}",
        verdict.describe()
    );
    assert_eq!(
        RegistryProof::parse(&registry_proof.format()).unwrap(),
        registry_proof
    );
    // Every officially assigned ISO 3166-1 alpha-2 code, one line per first letter.
    let mut country_codes = String::new();
    for a in b'A'..=b'Z' {
        let line: Vec<String> = (b'A'..=b'Z')
            .map(|b| String::from_utf8(vec![a, b]).unwrap())
            .filter(|c| accord::core::country::is_assigned(c))
            .collect();
        if !line.is_empty() {
            country_codes += &(line.join(" ") + "\n");
        }
    }
    let values = BTreeMap::from([
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
        ("leaf", hex::encode(leaf)),
        ("leaf-hash", hex::encode(leaf_hash)),
        ("organization-id", hex::encode(org_id)),
        ("commitment-leaf", hex::encode(&leaves[0])),
        ("withdrawal-leaf", hex::encode(&leaves[2])),
        ("key-rotation-leaf", hex::encode(&leaves[3])),
        ("verification-leaf", hex::encode(&leaves[4])),
        ("revocation-leaf", hex::encode(&leaves[5])),
        ("map-head-leaf", hex::encode(&leaves[6])),
        ("map-root", hex::encode(map_root)),
        ("signatory-map-key", hex::encode(signatory_key.to_bytes())),
        ("signatory-key-hash", hex::encode(signatory_key.hash())),
        ("signatory-value", hex::encode(&signatory_value)),
        ("organization-value", hex::encode(&organization_value)),
        (
            "map-empty-hash",
            hex::encode(accord::core::map::empty_hash()),
        ),
        ("registry-proof", registry_proof.format()),
        (
            "node-hash",
            hex::encode(accord::core::merkle::node_hash(&leaf_hash, &leaf_hash)),
        ),
        ("empty-root", hex::encode(accord::core::merkle::EMPTY_ROOT)),
        ("log-vkey", log.verifier().to_string()),
        ("checkpoint", checkpoint),
        ("receipt", receipt),
        ("log-checkpoint", note(leaves.len())),
        ("country-codes", country_codes),
        ("witness-request", witness_request),
        ("cosignature-line", cosignature),
        ("tile-0-000.p-7", tile_hex),
    ]);
    (values, leaves)
}

/// Merkle nodes by (level, index), for inclusion proofs of the vector log.
struct NodeMap(std::collections::HashMap<(u32, u64), [u8; 32]>);

impl accord::core::merkle::NodeSource for NodeMap {
    type Error = std::convert::Infallible;
    fn node(&self, level: u32, index: u64) -> Result<[u8; 32], Self::Error> {
        Ok(self.0[&(level, index)])
    }
}

/// Computes every vector value, by name.
fn computed() -> BTreeMap<&'static str, String> {
    vector_log().0
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

/// Signs a checkpoint of `leaves` with the vector log key, then audits them
/// from an empty log: chain, time rule, strict signatures and registry rules.
fn audit(leaves: &[Vec<u8>]) -> Result<(), accord::verifier::audit::AuditError> {
    use accord::verifier::audit::{AuditState, Auditor};
    let log = Signer::from_seed("accord.example/log", &[0x42; 32]).unwrap();
    let mut frontier = accord::core::frontier::Frontier::new();
    for leaf in leaves {
        frontier.push(accord::core::merkle::leaf_hash(leaf), |_| {});
    }
    let note = Checkpoint {
        origin: log.name.clone(),
        head: TreeHead {
            size: leaves.len() as u64,
            root: frontier.root(),
        },
    }
    .sign(&log)
    .unwrap();
    let mut auditor = Auditor::begin(AuditState::genesis(), &note, &[], &log.verifier())?;
    auditor.feed(leaves)?;
    auditor.finish().map(|_| ())
}

#[test]
fn the_vector_log_passes_a_full_audit() {
    let (values, leaves) = vector_log();
    audit(&leaves).expect("the vector leaves are a valid log");
    // And the published size-7 checkpoint is that log's.
    let log = Signer::from_seed("accord.example/log", &[0x42; 32]).unwrap();
    let mut auditor = accord::verifier::audit::Auditor::begin(
        accord::verifier::audit::AuditState::genesis(),
        &values["log-checkpoint"],
        &[],
        &log.verifier(),
    )
    .unwrap();
    auditor.feed(&leaves).unwrap();
    auditor
        .finish()
        .expect("log-checkpoint covers the vector log");
}

/// The verification leaf SPEC.md showed until 2026-11: signed_at
/// 1764000350, integrated at 1764000005000 ms, 45 s beyond the 300 s
/// allowance. A strict auditor must refuse it (time rule, §5).
const OLD_VERIFICATION_LEAF: &str = "\
010500000000000000040000019ab697fb8894212c082d3a7990e6c3858e062f\
9f29ba79b528447d799ff2a1807b00c0632c00000092c2dbfdb637461277c604\
9906e689cd41a15a6a2c2ada89234c94b757e4d87cc80015476f7665726e6d65\
6e74206f66204573746f6e69610100024545000b76616c69747375732e656501\
fa62cf26ab23cc952373da688b0d71de21690334db8fae8f3d29e2711b9c3d8a\
000000006924825e66be7e332c7a453332bd9d0a7f7db055f5c5ef1a06ada66d\
98b39fb6810c473a01f43ce00eb17b4139e1a78945532743aaac075b47c9c83c\
344cdd896767954f0f45a6b7b583e9eb2baecabfba041a25d43eac7744e69147\
d3e4b588c9ad70f801";

#[test]
fn the_auditor_refuses_the_old_verification_leaf() {
    let (_, leaves) = vector_log();
    let mut log = leaves[..4].to_vec();
    log.push(hex::decode(OLD_VERIFICATION_LEAF).unwrap());
    let err = audit(&log)
        .expect_err("a leaf breaking the time rule")
        .to_string();
    assert!(
        err.contains("entry 4") && err.contains("signed_at") && err.contains("ahead"),
        "{err}"
    );
}

#[test]
fn reserved_country_codes_are_refused() {
    use accord::core::country::is_assigned;
    assert!(is_assigned("GB") && is_assigned("EE"));
    // Exceptionally reserved (UK, EU, UN), transitionally reserved (AN, CS),
    // user-assigned (XK, AA, ZZ): not officially assigned.
    for code in ["UK", "EU", "UN", "AN", "CS", "XK", "AA", "ZZ"] {
        assert!(!is_assigned(code), "{code}");
    }
}
