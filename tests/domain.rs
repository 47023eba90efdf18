//! Domain proofs against a local HTTP server on 127.0.0.1 (tests never reach
//! the internet; plain HTTP only with the hidden test flag): a proof for the
//! organization's current key on this log verifies and lets the operator
//! sign a domain verification; a proof for another log origin or another key
//! is refused, and nothing is appended.

mod common;

use accord::proto::{self, get_organization_request::Key};
use common::*;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `GET /.well-known/accord.txt` for Host `proof.example` with
/// whatever `body` holds at the time; anything else is a 404.
async fn website(body: Arc<Mutex<String>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                // The request names the domain (with --connect-to's port).
                let ok = req.starts_with("GET /.well-known/accord.txt HTTP/1.")
                    && (req.lines())
                        .any(|l| l.to_ascii_lowercase().starts_with("host: proof.example"));
                let text = body.lock().unwrap().clone();
                let reply = if ok {
                    format!("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n{text}")
                } else {
                    "HTTP/1.0 404 Not Found\r\n\r\n".to_owned()
                };
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

fn accord(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_vouches_only_for_the_current_key_on_this_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = ServeProcess::start(&data, &[]).unwrap();
    let url = server.url();
    let mut c = proto::registry_service_client::RegistryServiceClient::connect(url.clone())
        .await
        .unwrap();
    let operator = accord::server::datadir::read_key(&data.join("operator.pem")).unwrap();
    c.submit(with_token(&registration(&operator), &admin_token(&data)))
        .await
        .unwrap();

    // The organization (its key in a file, as an organization keeps it)
    // endorses, naming its domain.
    let key_file = tmp.path().join("org.pem");
    let key = accord::server::datadir::write_new_key(&key_file).unwrap();
    let mut e = endorsement(&key, "Proof Example Foundation");
    e.domain = Some("proof.example".into());
    c.submit(request(&sign(&key, e))).await.unwrap();
    let org = accord::core::statements::organization_id(&key.verifying_key().to_bytes());
    let (org_hex, key_hex) = (
        hex::encode(org),
        hex::encode(key.verifying_key().to_bytes()),
    );

    // `domain-proof` prints what to publish: SPEC.md §11, byte for byte.
    let out = accord(&[
        "domain-proof",
        "--server",
        &url,
        "--key",
        key_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", said(&out));
    let expected = format!("accord-domain-proof/v1\naccord.example/log {org_hex} {key_hex}\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let body = Arc::new(Mutex::new(expected.clone()));
    let site = website(body.clone()).await;
    let via_site = ["--connect-to", &site, "--insecure-http-for-tests"];
    let check = |extra: &[&str]| {
        let mut args = vec!["check-domain", "--server", &url, &org_hex];
        args.extend_from_slice(extra);
        accord(&args)
    };
    let out = check(&via_site);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("vouches"), "{}", said(&out));

    // Without the test flag the check insists on HTTPS, which this local
    // plain-HTTP server cannot give.
    let out = check(&["--connect-to", &site]);
    assert!(
        !out.status.success(),
        "plain HTTP accepted without the test flag"
    );

    // Refused: a proof for another log, for another key, or no proof at all.
    let other_key = hex::encode(org_key(77).verifying_key().to_bytes());
    for (text, why) in [
        (
            format!("accord-domain-proof/v1\nother.example/log {org_hex} {key_hex}\n"),
            "another log",
        ),
        (
            format!(
                "accord-domain-proof/v1\n# rotated\naccord.example/log {org_hex} {other_key}\n"
            ),
            "another key",
        ),
        ("accord-domain-proof/v1\n".to_owned(), "does not name"),
        (
            format!("accord-domain-proof/v2\naccord.example/log {org_hex} {key_hex}\n"),
            "first line",
        ),
    ] {
        *body.lock().unwrap() = text;
        let out = check(&via_site);
        assert_eq!(out.status.code(), Some(1), "{why}: {}", said(&out));
        assert!(said(&out).contains(why), "{why}: {}", said(&out));
    }

    // The operator's domain verification runs the same check first: refused
    // while the file is wrong (nothing appended), signed once it is right.
    std::fs::write(tmp.path().join("evidence.txt"), &expected).unwrap();
    let data_s = data.to_str().unwrap();
    let evidence = tmp.path().join("evidence.txt");
    let verify = || {
        let mut args = vec![
            "verify-org",
            "--server",
            &url,
            "--data",
            data_s,
            "--org",
            &org_hex,
        ];
        args.extend_from_slice(&[
            "--method",
            "domain",
            "--evidence",
            evidence.to_str().unwrap(),
        ]);
        args.extend_from_slice(&via_site);
        accord(&args)
    };
    let size = |c: &mut proto::registry_service_client::RegistryServiceClient<_>| {
        let mut c = c.clone();
        async move {
            c.get_checkpoint(proto::GetCheckpointRequest {})
                .await
                .unwrap()
                .into_inner()
                .size
        }
    };
    let before = size(&mut c).await;
    let out = verify();
    assert!(!out.status.success(), "{}", said(&out));
    assert_eq!(size(&mut c).await, before);
    *body.lock().unwrap() = expected;
    let out = verify();
    assert!(out.status.success(), "{}", said(&out));
    let record = c
        .get_organization(proto::GetOrganizationRequest {
            key: Some(Key::OrganizationId(org.to_vec())),
        })
        .await
        .unwrap()
        .into_inner();
    let v = record.verification.expect("verified");
    assert_eq!((v.domain.as_str(), v.method), ("proof.example", 1));
    assert!(record.flags.is_empty(), "{:?}", record.flags);

    // And the operator can take it back.
    let out = accord(&[
        "unverify-org",
        "--server",
        &url,
        "--data",
        data_s,
        "--org",
        &org_hex,
        "--reason",
        "the domain changed hands",
    ]);
    assert!(out.status.success(), "{}", said(&out));
    let out = accord(&["org", "--server", &url, &org_hex]);
    assert!(said(&out).contains("verified     NO"), "{}", said(&out));
}
