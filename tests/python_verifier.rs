//! The second-language verifier (verifiers/python, written from SPEC.md)
//! checks receipts and consistency proofs produced by the Rust server. Skipped
//! where python3 with `cryptography` is missing, unless ACCORD_REQUIRE_PYTHON
//! is set (as .ci/run does), in which case its absence is a failure.

mod common;

use accord::core::entry::Signed;
use accord::proto;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use common::*;
use std::path::Path;
use std::process::Command;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/verifiers/python/accord_verify.py"
);

fn python(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_verifies_what_the_rust_server_produces() {
    if !python_ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let server = TestServer::start(data.path()).await;
    std::fs::write(dir.join("vkey"), server.verifier().to_string()).unwrap();
    let mut c = server.client().await;
    let mut checkpoints = Vec::new();
    for i in 0..13u32 {
        let key = org_key(i);
        let mut e = endorsement(
            &key,
            &format!("Organisation n\u{b0}{i} \u{2014} Soci\u{e9}t\u{e9} civile"),
        );
        e.statement =
            (i % 2 == 0).then(|| "Line one.\nLine two: \u{201c}quoted\u{201d}.".to_owned());
        e.domain = (i % 3 == 0).then(|| "example.org".to_owned());
        let resp = c
            .submit(request(&sign(&key, e)))
            .await
            .unwrap()
            .into_inner();
        write_receipt(
            dir,
            &format!("r{i}"),
            &resp.leaf,
            resp.index,
            &resp.inclusion_proof,
            &resp.checkpoint,
        );
        checkpoints.push(resp.checkpoint);
    }
    // The other kinds: a withdrawal (r13) and a key rotation (r14), and the
    // commitment registration at entry 0 (r15), each with its receipt.
    let later = now() + 1;
    let (k0, k1, k2) = (org_key(0), org_key(1), org_key(500));
    let withdrawal = accord::core::statements::Withdrawal {
        organization_id: accord::core::statements::organization_id(&k0.verifying_key().to_bytes()),
        commitment_id: "global-commitment-dts".into(),
        signed_at: later,
        public_key: k0.verifying_key().to_bytes(),
    };
    let rotation = accord::core::statements::KeyRotation {
        organization_id: accord::core::statements::organization_id(&k1.verifying_key().to_bytes()),
        old_public_key: k1.verifying_key().to_bytes(),
        new_public_key: k2.verifying_key().to_bytes(),
        signed_at: later,
    };
    use ed25519_dalek::Signer as _;
    let m = rotation.signed_message();
    // The operator's verification of organization 3 and its revocation (r16, r17).
    let operator = accord::server::datadir::read_key(&data.path().join("operator.pem")).unwrap();
    let org3 = accord::core::statements::organization_id(&org_key(3).verifying_key().to_bytes());
    let verification = accord::core::verification::Verification {
        organization_id: org3,
        name: "Organisation n\u{b0}3 \u{2014} Soci\u{e9}t\u{e9} civile".into(),
        stakeholder_group: accord::core::model::StakeholderGroup::CivilSociety,
        country: None,
        domain: Some("example.org".into()),
        method: accord::core::model::VerificationMethod::Domain,
        evidence_sha256: accord::core::sha256(b"the proof file as fetched"),
        signed_at: later,
        public_key: operator.verifying_key().to_bytes(),
    };
    let revocation = accord::core::verification::Revocation {
        organization_id: org3,
        reason: "domain sold \u{2014} proof gone".into(),
        signed_at: later + 1,
        public_key: operator.verifying_key().to_bytes(),
    };
    let statements = [
        Signed::Withdrawal {
            signature: k0.sign(&withdrawal.signed_message()).to_bytes(),
            withdrawal,
        },
        Signed::KeyRotation {
            old_signature: k1.sign(&m).to_bytes(),
            new_signature: k2.sign(&m).to_bytes(),
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
    let token = admin_token(data.path());
    for (n, s) in statements.iter().enumerate() {
        let resp = c.submit(with_token(s, &token)).await.unwrap().into_inner();
        let n = if n < 2 { 13 + n } else { 14 + n }; // r15 is entry 0
        write_receipt(
            dir,
            &format!("r{n}"),
            &resp.leaf,
            resp.index,
            &resp.inclusion_proof,
            &resp.checkpoint,
        );
    }
    let cp = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    let entry0 = c
        .get_entry(proto::GetEntryRequest { index: 0 })
        .await
        .unwrap()
        .into_inner();
    let proof0 = c
        .get_inclusion_proof(proto::GetInclusionProofRequest {
            leaf: Some(proto::get_inclusion_proof_request::Leaf::Index(0)),
            tree_size: cp.size,
        })
        .await
        .unwrap()
        .into_inner();
    write_receipt(dir, "r15", &entry0.leaf, 0, &proof0.hashes, &cp.signed_note);
    for i in 0..18 {
        let (ok, out) = python(
            dir,
            &[
                "receipt",
                "--vkey",
                "vkey",
                "--entry",
                &format!("r{i}.entry"),
                "--proof",
                &format!("r{i}.tlog-proof"),
            ],
        );
        assert!(ok, "receipt {i}: {out}");
    }
    // Tampering is caught: a flipped byte in the entry, and a receipt for another entry.
    let mut leaf = std::fs::read(dir.join("r4.entry")).unwrap();
    leaf[60] ^= 1;
    std::fs::write(dir.join("bad.entry"), leaf).unwrap();
    assert!(
        !python(
            dir,
            &[
                "receipt",
                "--vkey",
                "vkey",
                "--entry",
                "bad.entry",
                "--proof",
                "r4.tlog-proof"
            ]
        )
        .0
    );
    assert!(
        !python(
            dir,
            &[
                "receipt",
                "--vkey",
                "vkey",
                "--entry",
                "r5.entry",
                "--proof",
                "r4.tlog-proof"
            ]
        )
        .0
    );

    // Consistency between the checkpoints of the 4th and 13th endorsements
    // (sizes 10 and 28: each submission alone adds its entry and a map
    // head), and a wrong proof.
    let size_of = |note: &str| -> u64 { note.lines().nth(1).unwrap().parse().unwrap() };
    let (old_size, new_size) = (size_of(&checkpoints[3]), size_of(&checkpoints[12]));
    assert_eq!((old_size, new_size), (10, 28));
    let cons = c
        .get_consistency_proof(proto::GetConsistencyProofRequest { old_size, new_size })
        .await
        .unwrap()
        .into_inner();
    let lines: String = cons.hashes.iter().map(|h| B64.encode(h) + "\n").collect();
    std::fs::write(dir.join("old"), &checkpoints[3]).unwrap();
    std::fs::write(dir.join("new"), &checkpoints[12]).unwrap();
    std::fs::write(dir.join("proof"), &lines).unwrap();
    let (ok, out) = python(
        dir,
        &[
            "consistency",
            "--vkey",
            "vkey",
            "--old",
            "old",
            "--new",
            "new",
            "--proof",
            "proof",
        ],
    );
    assert!(ok, "{out}");
    let wrong = lines
        .lines()
        .skip(1)
        .fold(B64.encode([0xff; 32]) + "\n", |acc, l| acc + l + "\n");
    std::fs::write(dir.join("proof"), wrong).unwrap();
    assert!(
        !python(
            dir,
            &[
                "consistency",
                "--vkey",
                "vkey",
                "--old",
                "old",
                "--new",
                "new",
                "--proof",
                "proof"
            ]
        )
        .0
    );
    server.stop().await;
}

fn write_receipt(
    dir: &Path,
    name: &str,
    leaf: &[u8],
    index: u64,
    proof: &[Vec<u8>],
    checkpoint: &str,
) {
    std::fs::write(dir.join(format!("{name}.entry")), leaf).unwrap();
    std::fs::write(
        dir.join(format!("{name}.tlog-proof")),
        receipt_text(index, proof, checkpoint),
    )
    .unwrap();
}

/// The registry map's definition (core::map) implemented again in Python
/// (verifiers/python): every proof of membership and absence the Rust map
/// produces verifies there to the same answer, and tampered proofs fail
/// there too.
#[test]
fn python_verifies_registry_map_proofs_the_same_way() {
    if !python_ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("cases.json");
    std::fs::write(&file, common::map_proof_cases(5).to_string()).unwrap();
    let program = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import accord_verify as av
doc = json.load(open(sys.argv[2]))
root = bytes.fromhex(doc["root"])
n = 0
for c in doc["cases"]:
    t = c["terminal"]
    terminal = None if t is None else (bytes.fromhex(t[0]), bytes.fromhex(t[1]))
    try:
        got = av.verify_map_proof(root, bytes.fromhex(c["key"]), [bytes.fromhex(s) for s in c["siblings"]], terminal)
        got = "absent" if got is None else got.hex()
    except av.VerifyError:
        got = "fail"
    if got != c["expect"]:
        sys.exit(f"case {n}: expected {c['expect']}, got {got}")
    n += 1
print(f"{n} cases agree")
"#;
    let out = Command::new("python3")
        .args(["-c", program])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/verifiers/python"))
        .arg(&file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("cases agree"), "{text}");
}

/// SPEC.md's worked registry proof (§8.2, vector `registry-proof`) verifies
/// in Python to the same statement as in Rust, and a copy with one byte
/// changed does not.
#[test]
fn python_verifies_the_spec_registry_proof_vector() {
    if !python_ready() {
        return;
    }
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SPEC.md")).unwrap();
    let start =
        spec.find("```vector registry-proof\n").unwrap() + "```vector registry-proof\n".len();
    let text = &spec[start..start + spec[start..].find("```").unwrap()];
    let log = accord::core::note::Signer::from_seed("accord.example/log", &[0x42; 32]).unwrap();
    let rust = accord::core::registry_proof::RegistryProof::parse(text)
        .unwrap()
        .verify(&log.verifier())
        .unwrap()
        .describe();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("vkey"), log.verifier().to_string()).unwrap();
    std::fs::write(dir.join("p"), text).unwrap();
    let (ok, out) = python(dir, &["registry-proof", "--vkey", "vkey", "--proof", "p"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim_end(), rust);
    assert!(rust.starts_with("withdrawn: "), "{rust}");
    std::fs::write(dir.join("p"), text.replacen("index 6", "index 5", 1)).unwrap();
    assert!(!python(dir, &["registry-proof", "--vkey", "vkey", "--proof", "p"]).0);
}
