//! The README's first session, run through the real `accord` binary:
//! serve → keygen → endorse → checkpoint → verify, plus signing with OpenSSL
//! (SPEC.md §3.3) where the `openssl` command exists.

mod common;

use std::path::Path;
use std::process::Command;

use common::{accord_ok as ok, run_accord as accord};

#[test]
fn first_session_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = common::ServeProcess::start(&dir.join("data"), &[]).unwrap();
    let url = server.url();
    let digest = hex::encode(accord::core::sha256(b"Commitment text\n"));

    // The operator registers the commitment (entry 0) with the key `serve`
    // made; entry 1 is that batch's map head.
    std::fs::write(dir.join("commitment.txt"), b"Commitment text\n").unwrap();
    let registered = ok(
        dir,
        &[
            "commitment",
            "register",
            "--server",
            &url,
            "--data",
            "data",
            "--id",
            "global-commitment-dts",
            "--title",
            "Global Commitment on Digital Trust and Security",
            "--text",
            "commitment.txt",
        ],
    );
    assert_eq!(registered.trim(), "0");

    let pubkey = ok(dir, &["keygen", "--out", "org.pem"]);
    assert_eq!(pubkey.trim().len(), 64, "prints the public key in hex");
    let mode = std::fs::metadata(dir.join("org.pem")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let index = ok(
        dir,
        &[
            "endorse",
            "--server",
            &url,
            "--key",
            "org.pem",
            "--commitment",
            "global-commitment-dts",
            "--commitment-sha256",
            &digest,
            "--org",
            "Government of Uruguay",
            "--group",
            "government",
            "--region",
            "grulac",
            "--country",
            "UY",
            "--out",
            "uruguay",
        ],
    );
    // Entry 2, followed by its map head: the checkpoint's size is 4.
    assert_eq!(index.trim(), "2");
    let checkpoint = ok(dir, &["checkpoint", "--server", &url]);
    assert!(
        checkpoint.starts_with("accord.example/log\n4\n"),
        "{checkpoint}"
    );
    let vkey = ok(dir, &["log-key", "--data", "data"]);
    let verified = ok(
        dir,
        &[
            "verify",
            "--vkey",
            vkey.trim(),
            "--entry",
            "uruguay.entry",
            "--proof",
            "uruguay.tlog-proof",
        ],
    );
    assert!(verified.starts_with("OK: entry 2"), "{verified}");

    // A tampered entry fails with exit code 1.
    let mut leaf = std::fs::read(dir.join("uruguay.entry")).unwrap();
    let last = leaf.len() - 1;
    leaf[last] ^= 1;
    std::fs::write(dir.join("bad.entry"), leaf).unwrap();
    let bad = accord(
        dir,
        &[
            "verify",
            "--vkey",
            vkey.trim(),
            "--entry",
            "bad.entry",
            "--proof",
            "uruguay.tlog-proof",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));

    // A bad field is refused before anything is sent, naming the field.
    let refused = accord(
        dir,
        &[
            "endorse",
            "--server",
            &url,
            "--key",
            "org.pem",
            "--commitment",
            "global-commitment-dts",
            "--commitment-sha256",
            &digest,
            "--org",
            "X",
            "--group",
            "government",
            "--region",
            "grulac",
            "--country",
            "ZZ",
            "--out",
            "x",
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("country"));

    openssl_signing(dir, &url, &digest, vkey.trim());
    load_generator(dir, &url);
}

/// `accord bench`, a short bounded run in the submit and proof modes (no timing is
/// asserted: only that it works and reports what it promises).
fn load_generator(dir: &Path, url: &str) {
    // bench endorses the example text of commitments/, registered as version 2.
    let text = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/commitments/global-commitment-dts.txt"
    );
    ok(
        dir,
        &[
            "commitment",
            "register",
            "--server",
            url,
            "--data",
            "data",
            "--id",
            "global-commitment-dts",
            "--version",
            "2",
            "--title",
            "Global Commitment on Digital Trust and Security",
            "--text",
            text,
        ],
    );
    // `proof` runs last: it asks for proofs of the entries the others added.
    for mode in ["unary", "batch", "proof"] {
        let out = ok(
            dir,
            &[
                "bench",
                "--server",
                url,
                "--mode",
                mode,
                "--requests",
                "300",
                "--concurrency",
                "4",
                "--batch-size",
                "50",
                "--max-seconds",
                "60",
                // Paced (open loop): 300 requests over about 0.1 s.
                "--rate",
                "3000",
                "--json",
            ],
        );
        for field in [
            "requests",
            "errors",
            "elapsed_s",
            "throughput_per_sec",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms",
        ] {
            assert!(
                out.contains(&format!("\"{field}\":")),
                "{mode}: {field} missing in {out}"
            );
        }
        assert!(
            out.contains("\"requests\":300,\"ok\":300,\"errors\":0"),
            "{mode}: {out}"
        );
    }
    let remote = accord(
        dir,
        &[
            "bench",
            "--server",
            "http://192.0.2.1:50051",
            "--requests",
            "1",
        ],
    );
    assert_eq!(
        remote.status.code(),
        Some(2),
        "non-loopback targets are refused"
    );
}

/// SPEC.md §3.3: a key made by OpenSSL, a message signed by OpenSSL.
fn openssl_signing(dir: &Path, url: &str, digest: &str, vkey: &str) {
    let run = |args: &[&str]| Command::new("openssl").args(args).current_dir(dir).output();
    if !run(&["version"]).is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: openssl not installed; OpenSSL signing not exercised");
        return;
    }
    assert!(
        run(&["genpkey", "-algorithm", "ed25519", "-out", "ossl.pem"])
            .unwrap()
            .status
            .success()
    );
    let der = run(&["pkey", "-in", "ossl.pem", "-pubout", "-outform", "DER"])
        .unwrap()
        .stdout;
    let public = hex::encode(&der[der.len() - 32..]);
    let fields = [
        "--commitment",
        "global-commitment-dts",
        "--commitment-sha256",
        digest,
        "--org",
        "Microsoft",
        "--group",
        "private-sector",
        "--region",
        "global",
        "--signed-at",
        "1764000000",
    ];
    let mut args = vec![
        "endorse",
        "--public-key",
        &public,
        "--message-out",
        "msg.bin",
    ];
    args.extend(fields);
    ok(dir, &args);
    let signed = run(&[
        "pkeyutl", "-sign", "-inkey", "ossl.pem", "-rawin", "-in", "msg.bin", "-out", "sig.bin",
    ])
    .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let mut args = vec![
        "endorse",
        "--server",
        url,
        "--public-key",
        &public,
        "--signature",
        "sig.bin",
        "--out",
        "ms",
    ];
    args.extend(fields);
    // After Uruguay (2) and its map head (3): entry 4.
    assert_eq!(ok(dir, &args).trim(), "4");
    ok(
        dir,
        &[
            "verify",
            "--vkey",
            vkey,
            "--entry",
            "ms.entry",
            "--proof",
            "ms.tlog-proof",
        ],
    );
    // accord also reads the OpenSSL key file directly; the same statement is a duplicate.
    let mut args = vec![
        "endorse", "--server", url, "--key", "ossl.pem", "--out", "ms2",
    ];
    args.extend(fields);
    assert_eq!(ok(dir, &args).trim(), "4");
}

/// The keys of `accord signatories --json`, in order: a contract with the
/// scripts that read it (README, "Stable output"). New keys go at the end.
const SIGNATORY_KEYS: [&str; 13] = [
    "organization_id",
    "name",
    "group",
    "region",
    "country",
    "status",
    "first_index",
    "endorsed_index",
    "withdrawn_index",
    "verified",
    "verification_index",
    "flags",
    "tree_size",
];

/// A JSON object with its keys in the order they were written
/// (`serde_json::Value` sorts them).
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Ordered, M::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// README's "Stable output" paragraph names the same keys in the same order.
#[test]
fn readme_states_the_signatories_json_contract() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let paragraph = readme
        .split("\n\n")
        .find(|p| p.starts_with("**Stable output.**"))
        .expect("README has a \"Stable output\" paragraph")
        .replace('\n', " ");
    assert!(
        paragraph.contains("accord signatories --json"),
        "{paragraph}"
    );
    assert!(paragraph.contains("only add"), "{paragraph}");
    let list = paragraph
        .split_once("in this order:")
        .and_then(|(_, rest)| rest.split_once(". "))
        .expect("the key list")
        .0;
    let named: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    assert_eq!(named, SIGNATORY_KEYS, "{paragraph}");
}

/// `accord signatories --json` against the demo registry (verified,
/// unverified, flagged, withdrawn rows) plus a name that needs escaping:
/// every line is one object with exactly SIGNATORY_KEYS, in order, and the
/// value types README promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatories_json_keeps_its_keys_and_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = common::ServeProcess::start(&data, &[]).unwrap();
    let url = server.url();
    ok(dir, &["demo", "--server", &url, "--data", "data"]);

    // An organization whose name needs JSON escaping.
    let tricky = "Ministère \"Ω\" \\ Test\u{2028}Lab";
    let key = common::org_key(7);
    let mut e = common::endorsement(&key, tricky);
    e.commitment_sha256 =
        accord::core::sha256(include_bytes!("../commitments/global-commitment-dts.txt"));
    e.country = None;
    let mut c = accord::proto::registry_service_client::RegistryServiceClient::connect(url.clone())
        .await
        .unwrap();
    c.submit(common::request(&common::sign(&key, e)))
        .await
        .unwrap();

    let mut rows = Vec::new();
    for commitment in ["global-commitment-dts", "paris-call"] {
        let out = ok(
            dir,
            &[
                "signatories",
                "--server",
                &url,
                "--commitment",
                commitment,
                "--status",
                "all",
                "--json",
            ],
        );
        assert!(out.ends_with('\n'), "{out}");
        for line in out.lines() {
            let Ordered(row) = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
            let keys: Vec<&str> = row.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, SIGNATORY_KEYS, "{line}");
            rows.push(row.into_iter().collect::<serde_json::Map<_, _>>());
        }
    }
    assert!(rows.len() > 10, "the demo registry: {rows:?}");

    let index_or_null = |v: &serde_json::Value| v.is_u64() || v.is_null();
    for r in &rows {
        let id = r["organization_id"].as_str().unwrap();
        assert!(
            id.len() == 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{r:?}"
        );
        for text in ["name", "group", "region", "country"] {
            assert!(r[text].is_string(), "{text}: {r:?}");
        }
        assert!(
            ["current", "withdrawn"].contains(&r["status"].as_str().unwrap()),
            "{r:?}"
        );
        for n in ["first_index", "endorsed_index", "tree_size"] {
            assert!(r[n].is_u64(), "{n}: {r:?}");
        }
        assert!(index_or_null(&r["withdrawn_index"]), "{r:?}");
        assert!(index_or_null(&r["verification_index"]), "{r:?}");
        let verified = r["verified"].as_bool().unwrap();
        assert_eq!(r["verification_index"].is_u64(), verified, "{r:?}");
        let flags = r["flags"].as_array().unwrap();
        assert!(flags.iter().all(|f| f.is_string()), "{r:?}");
        assert_eq!(flags.iter().any(|f| f == "unverified"), !verified, "{r:?}");
    }
    // Every kind of row appears, so every value type above was seen.
    let some = |f: &dyn Fn(&serde_json::Map<String, serde_json::Value>) -> bool| rows.iter().any(f);
    assert!(some(&|r| r["verified"] == true));
    assert!(some(
        &|r| r["status"] == "withdrawn" && r["withdrawn_index"].is_u64()
    ));
    assert!(some(&|r| r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "name-conflict")));
    assert!(some(&|r| r["name"] == tricky && r["country"] == ""));
}

/// A reader that goes away (`accord … | head -1`) does not make a command
/// panic on EPIPE: it finishes its work (here: the key file) and exits 0.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["keygen", "--out"])
        .arg(dir.path().join("k.pem"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is written
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(dir.path().join("k.pem").exists());
}
