//! The README's first session, run through the real `accord` binary:
//! serve → keygen → endorse → checkpoint → verify, plus signing with OpenSSL
//! (SPEC.md §3.3) where the `openssl` command exists.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const ACCORD: &str = env!("CARGO_BIN_EXE_accord");

fn accord(dir: &Path, args: &[&str]) -> Output {
    Command::new(ACCORD)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run accord")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = accord(dir, args);
    assert!(
        out.status.success(),
        "accord {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn first_session_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = common::ServeProcess::start(&dir.join("data"), &[]).unwrap();
    let url = server.url();
    let digest = hex::encode(accord::core::sha256(b"Commitment text\n"));

    // The operator registers the commitment (entry 0) with the key `serve` made.
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
    assert_eq!(index.trim(), "1");
    let checkpoint = ok(dir, &["checkpoint", "--server", &url]);
    assert!(
        checkpoint.starts_with("accord.example/log\n2\n"),
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
    assert!(verified.starts_with("OK: entry 1"), "{verified}");

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
    assert_eq!(ok(dir, &args).trim(), "2");
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
    assert_eq!(ok(dir, &args).trim(), "2");
}
