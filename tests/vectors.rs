//! Conformance: every vector in ../shared/vectors (RFC 6962 inclusion and
//! consistency proofs from transparency-dev/merkle; C2SP signed notes from Go's
//! sumdb/note). Where ../shared is absent (a user's clone) these tests say
//! they skipped and pass.

use accord::core::note::{self, Signer, Verifier};
use accord::core::proof;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn vectors_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} not found (conformance vectors live beside the project in CI)",
            dir.display()
        );
        None
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn b64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap_or("")).expect("vector base64")
}

fn hashes(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map(|a| a.iter().map(b64).collect())
        .unwrap_or_default()
}

fn run_dir(sub: &str, check: impl Fn(&Value) -> bool) -> usize {
    let Some(dir) = vectors_dir() else { return 0 };
    let mut files = Vec::new();
    json_files(&dir.join(sub), &mut files);
    assert!(!files.is_empty(), "no vectors under {sub}");
    for f in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        assert_eq!(check(&v), !want_err, "{}: {}", f.display(), v["desc"]);
    }
    files.len()
}

#[test]
fn rfc6962_inclusion_vectors() {
    let n = run_dir("merkle/testdata/inclusion", |v| {
        let proof = hashes(&v["proof"]);
        let refs: Vec<&[u8]> = proof.iter().map(Vec::as_slice).collect();
        proof::verify_inclusion(
            v["leafIdx"].as_u64().unwrap(),
            v["treeSize"].as_u64().unwrap(),
            &b64(&v["leafHash"]),
            &refs,
            &b64(&v["root"]),
        )
        .is_ok()
    });
    eprintln!("checked {n} inclusion vectors");
}

#[test]
fn rfc6962_consistency_vectors() {
    let n = run_dir("merkle/testdata/consistency", |v| {
        let proof = hashes(&v["proof"]);
        let refs: Vec<&[u8]> = proof.iter().map(Vec::as_slice).collect();
        proof::verify_consistency(
            v["size1"].as_u64().unwrap(),
            v["size2"].as_u64().unwrap(),
            &refs,
            &b64(&v["root1"]),
            &b64(&v["root2"]),
        )
        .is_ok()
    });
    eprintln!("checked {n} consistency vectors");
}

#[test]
fn c2sp_signed_note_vectors() {
    let Some(dir) = vectors_dir() else { return };
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("signed-note.json")).unwrap())
            .unwrap();
    for case in v["valid"].as_array().unwrap() {
        let signer = Signer::parse(case["signer_key"].as_str().unwrap()).unwrap();
        let verifier = Verifier::parse(case["verifier_key"].as_str().unwrap()).unwrap();
        assert_eq!(
            signer.verifier(),
            verifier,
            "signer and verifier keys agree"
        );
        assert_eq!(
            verifier.to_string(),
            case["verifier_key"].as_str().unwrap(),
            "vkey round-trips"
        );
        assert_eq!(
            signer.to_private_string(),
            case["signer_key"].as_str().unwrap()
        );
        let text = case["text"].as_str().unwrap();
        let signed = case["signed_note"].as_str().unwrap();
        // Ed25519 is deterministic, so our note must equal Go's byte for byte.
        assert_eq!(signer.sign(text).unwrap(), signed);
        assert_eq!(note::open(signed, &verifier).unwrap(), text);
        let mut forged = signed.replace("answer", "question");
        assert!(
            note::open(&forged, &verifier).is_err(),
            "altered text must fail"
        );
        forged = signed.replacen("x08go", "x08gp", 1);
        assert!(
            note::open(&forged, &verifier).is_err(),
            "altered signature must fail"
        );
    }
    for case in v["invalid_verifier_keys"].as_array().unwrap() {
        let key = case["key"].as_str().unwrap();
        assert!(
            Verifier::parse(key).is_err(),
            "{key} must be refused: {}",
            case["why"]
        );
    }
}
