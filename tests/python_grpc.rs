//! A real third-party client — Python grpcio with grpcio-health-checking and
//! grpcio-reflection — calls health, lists services through reflection and
//! submits an endorsement using only reflected descriptors. Skipped (with a
//! message) without python3 and those packages, unless
//! ACCORD_REQUIRE_PYTHON=1 (`.ci/run` installs them and sets it).

mod common;

use accord::core::entry::Signed;
use base64::Engine as _;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn python_ready() -> bool {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import grpc, grpc_health.v1, grpc_reflection.v1alpha, google.protobuf",
        ])
        .output();
    let ok = probe.as_ref().is_ok_and(|o| o.status.success());
    if !ok && std::env::var("ACCORD_REQUIRE_PYTHON").as_deref() == Ok("1") {
        panic!("python3 with grpcio, grpcio-health-checking and grpcio-reflection is required: {probe:?}");
    }
    ok
}

/// The endorsement as protobuf JSON (proto3 JSON mapping: bytes in base64).
fn as_json(signed: &Signed) -> serde_json::Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let Signed::Endorsement {
        endorsement: e,
        signature,
    } = signed
    else {
        unreachable!()
    };
    serde_json::json!({ "endorsement": {
        "endorsement": {
            "commitmentId": e.commitment_id,
            "commitmentSha256": b64(&e.commitment_sha256),
            "organizationName": e.organization_name,
            "stakeholderGroup": "STAKEHOLDER_GROUP_GOVERNMENT",
            "region": "REGION_WESTERN_EUROPEAN_AND_OTHERS",
            "country": e.country.clone().unwrap_or_default(),
            "domain": e.domain.clone().unwrap_or_default(),
            "statement": e.statement.clone().unwrap_or_default(),
            "signedAt": e.signed_at.to_string(),
            "publicKey": b64(&e.public_key),
        },
        "signature": b64(signature),
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_uses_health_reflection_and_submits() {
    if !python_ready() {
        eprintln!(
            "SKIPPED: python3 with grpcio, grpcio-health-checking, grpcio-reflection not found"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = ServeProcess::start(&data, &[]).unwrap();
    let operator = accord::server::datadir::read_key(&data.join("operator.pem")).unwrap();
    let mut c =
        accord::proto::registry_service_client::RegistryServiceClient::connect(server.url())
            .await
            .unwrap();
    c.submit(with_token(&registration(&operator), &admin_token(&data)))
        .await
        .unwrap();

    // endorsement() fills Government / Western European and Others.
    let key = org_key(42);
    let signed = sign(&key, endorsement(&key, "Submitted from Python"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/grpc_client.py");
    let mut child = Command::new("python3")
        .args([script, &server.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_vec(&as_json(&signed)).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(seen["health"]["(server)"], "SERVING", "{seen}");
    assert_eq!(
        seen["health"]["accord.v1.RegistryService"], "SERVING",
        "{seen}"
    );
    // Each reflection version lists the services and itself.
    let versions = [
        ("services", "grpc.reflection.v1alpha.ServerReflection"),
        ("services_v1", "grpc.reflection.v1.ServerReflection"),
    ];
    for (version, own) in versions {
        let listed = seen[version].as_array().unwrap();
        for service in ["accord.v1.RegistryService", "grpc.health.v1.Health", own] {
            assert!(
                listed.iter().any(|s| s == service),
                "{version} {service}: {seen}"
            );
        }
    }
    assert!(seen["methods"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "WatchEntries"));
    // Entry 0 is the registration, entry 1 its map head; the endorsement's
    // map head (entry 3) ends the checkpoint of the answer.
    assert_eq!(seen["index"], 2, "{seen}");
    let checkpoint = seen["checkpoint"].as_str().unwrap();
    assert_eq!(checkpoint.lines().nth(1), Some("4"), "{seen}");
    let head = c
        .get_entry(accord::proto::GetEntryRequest { index: 3 })
        .await
        .unwrap()
        .into_inner()
        .leaf;
    assert!(is_map_head(&head));
    // What Python submitted is the statement Rust signed, byte for byte.
    let leaf = c
        .get_entry(accord::proto::GetEntryRequest { index: 2 })
        .await
        .unwrap()
        .into_inner()
        .leaf;
    assert_eq!(
        accord::core::entry::Entry::from_leaf(&leaf).unwrap().signed,
        signed
    );
}
