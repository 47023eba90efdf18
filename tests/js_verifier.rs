//! The page's JavaScript verifier (src/http/pages/verify*.js, what readers'
//! browsers run) agrees with the Rust and Python verifiers: under node it
//! checks SPEC.md's vectors (every leaf, checkpoint, receipt, map vector,
//! the registry proof and its answer, cosignatures and policies, strict
//! Ed25519 refusals), ../shared/vectors when present, and map proofs over
//! random keys judged by `core::map`. (tests/registry_proofs.rs also runs
//! it on the demo log's proofs and their tamperings; tests/browser.rs runs
//! it in Chromium.) Skipped without node ≥ 20 unless ACCORD_REQUIRE_NODE.

mod common;

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_javascript_verifier_agrees_on_the_spec_vectors() {
    if !common::node_ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let cases = work.path().join("map-cases.json");
    std::fs::write(&cases, common::map_proof_cases(11).to_string()).unwrap();
    let shared = Path::new(ROOT).join("../shared/vectors");
    let shared = if shared.is_dir() {
        shared.to_string_lossy().into_owned()
    } else {
        eprintln!("SKIPPED: ../shared/vectors not found (the JavaScript verifier runs SPEC.md's vectors only)");
        "-".to_owned()
    };
    let out = Command::new("node")
        .arg(Path::new(ROOT).join("tests/js/vectors.mjs"))
        .arg(Path::new(ROOT).join("SPEC.md"))
        .arg(&shared)
        .arg(&cases)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    eprintln!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ALL AGREE"), "{text}");
    for group in [
        "checkpoints and vkey",
        "the vector log's seven entries",
        "registry map and registry proof",
        "cosignatures and policies",
        "strict Ed25519",
        "map-proof cases",
    ] {
        assert!(text.contains(group), "{group} checked: {text}");
    }
}
