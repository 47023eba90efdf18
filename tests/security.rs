//! The endpoint's protections, against real servers on 127.0.0.1: TLS with
//! a real rustls client and the real CLI, the admin token on operator
//! statements, and the per-client rate limit.

mod common;

use accord::proto::{self, registry_service_client::RegistryServiceClient};
use accord::server::Endpoint;
use accord::service::access::RateLimit;
use accord::storage::Storage;
use common::*;
use ed25519_dalek::Signer as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::Code;

/// Copies the TLS fixtures (tests/fixtures/tls, NOT SECRET) into `dir`, the
/// key with mode `key_mode` (git does not keep modes).
fn tls_fixtures(dir: &Path, key_mode: u32) -> (PathBuf, PathBuf, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let copy = |name: &str| {
        let to = dir.join(name);
        std::fs::copy(src.join(name), &to).unwrap();
        to
    };
    let (cert, key, ca) = (copy("server.pem"), copy("server.key"), copy("ca.pem"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(key_mode)).unwrap();
    (cert, key, ca)
}

async fn tls_client(
    url: &str,
    ca: Option<&Path>,
) -> Result<RegistryServiceClient<Channel>, String> {
    let tls = match ca {
        Some(ca) => {
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()))
        }
        None => ClientTlsConfig::new().with_native_roots(),
    };
    let channel = Channel::from_shared(url.to_owned())
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(RegistryServiceClient::new(channel))
}

async fn size(c: &mut RegistryServiceClient<Channel>) -> u64 {
    let cp = c.get_checkpoint(proto::GetCheckpointRequest {}).await;
    cp.unwrap().into_inner().size
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_tls_clients_that_trust_the_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (cert, key, ca) = tls_fixtures(tmp.path(), 0o600);
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());

    // A private key every user can read is refused at start, by name.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = ServeProcess::start(&data, &["--tls-cert", cert_s, "--tls-key", key_s])
        .err()
        .expect("refused");
    assert!(
        err.contains("open to every user") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A certificate file that is not PEM is named too.
    let err = ServeProcess::start(&data, &["--tls-cert", key_s, "--tls-key", key_s])
        .err()
        .expect("refused");
    assert!(err.contains("--tls-cert: not a PEM certificate"), "{err}");

    let server = ServeProcess::start(&data, &["--tls-cert", cert_s, "--tls-key", key_s]).unwrap();
    let url = format!("https://{}", server.addr);

    // A rustls client that trusts the test CA: reads and submits.
    let mut c = tls_client(&url, Some(&ca)).await.unwrap();
    let operator = accord::server::datadir::read_key(&data.join("operator.pem")).unwrap();
    c.submit(with_token(&registration(&operator), &admin_token(&data)))
        .await
        .unwrap();
    let key = org_key(1);
    let signed = sign(&key, endorsement(&key, "Over TLS"));
    // Entry 1 is the registration's map head; this entry's map head is 3.
    assert_eq!(
        c.submit(request(&signed)).await.unwrap().into_inner().index,
        2
    );

    // The CLI over TLS, trusting the CA with --ca.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["checkpoint", "--server", &url, "--ca", ca.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().nth(1), Some("4"), "{stdout}");

    // A client that does not trust the certificate refuses the connection…
    let untrusted = tls_client(&url, None).await;
    assert!(untrusted.is_err(), "connected without trusting the CA");
    // …and a plaintext client gets no answer from the TLS port.
    let plain = match RegistryServiceClient::connect(format!("http://{}", server.addr)).await {
        Ok(mut p) => p
            .get_checkpoint(proto::GetCheckpointRequest {})
            .await
            .is_ok(),
        Err(_) => false,
    };
    assert!(!plain, "a plaintext client was answered on the TLS port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_statements_need_the_admin_token() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(tmp.path()).await;
    let mut c = server.client().await;
    let operator = accord::server::datadir::read_key(&tmp.path().join("operator.pem")).unwrap();
    let mut paris = match registration(&operator) {
        accord::core::entry::Signed::Commitment { registration, .. } => registration,
        _ => unreachable!(),
    };
    paris.commitment_id = "paris-call".into();
    let signature = operator.sign(&paris.signed_message()).to_bytes();
    let signed = accord::core::entry::Signed::Commitment {
        registration: paris,
        signature,
    };
    let before = size(&mut c).await;

    let none = c.submit(request(&signed)).await.unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated, "{none:?}");
    assert!(
        none.message().contains("authorization: Bearer"),
        "{}",
        none.message()
    );
    let wrong = c
        .submit(with_token(&signed, "not-the-token"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::PermissionDenied, "{wrong:?}");
    let batch = c
        .submit_batch(proto::SubmitBatchRequest {
            items: vec![request(&signed)],
        })
        .await
        .unwrap()
        .into_inner();
    match batch.results[0].result.as_ref().unwrap() {
        proto::submit_batch_result::Result::Error(e) => {
            assert_eq!(e.code, Code::Unauthenticated as i32, "{}", e.message)
        }
        ok => panic!("accepted without the token: {ok:?}"),
    }
    // Nothing was appended; the CLI with a wrong token file is refused too.
    assert_eq!(size(&mut c).await, before);
    std::fs::write(tmp.path().join("commitment.txt"), "Paris Call\n").unwrap();
    let wrong = tmp.path().join("wrong.token");
    std::fs::write(&wrong, "0123abcd\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["commitment", "register", "--server", &server.url, "--data"])
        .arg(tmp.path())
        .args([
            "--admin-token",
            "wrong.token",
            "--id",
            "paris-call",
            "--title",
            "Paris Call",
        ])
        .args(["--text", "commitment.txt"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("PermissionDenied"),
        "{stderr}"
    );
    assert_eq!(size(&mut c).await, before);

    // With the token: accepted. Endorsements never need it (the log is open).
    // Each is its own batch, so each is followed by its map head.
    let token = admin_token(tmp.path());
    let paris = c.submit(with_token(&signed, &token)).await.unwrap();
    assert_eq!(paris.into_inner().index, before);
    let key = org_key(7);
    let open = c
        .submit(request(&sign(&key, endorsement(&key, "Open"))))
        .await
        .unwrap();
    assert_eq!(open.into_inner().index, before + 2);
    assert_eq!(size(&mut c).await, before + 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_an_admin_token_refuses_operator_statements() {
    let storage = Arc::new(accord::storage::MemoryStorage::new());
    let server = MemServer::start_with(storage, log_signer(), Endpoint::default()).await;
    let mut c = server.client().await;
    let signed = registration(&operator_fixture());
    for req in [
        tonic::Request::new(request(&signed)),
        with_token(&signed, ADMIN_TOKEN_FIXTURE),
    ] {
        let status = c.submit(req).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    assert_eq!(size(&mut c).await, 0);
    server.stop().await;
}

fn limited(per_second: f64, burst: f64, loopback: bool) -> Endpoint {
    let limit = RateLimit {
        per_second,
        burst,
        loopback,
    };
    Endpoint::new(Some(ADMIN_TOKEN_FIXTURE), Some(limit))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_is_refused_with_a_retry_hint() {
    let storage = Arc::new(accord::storage::MemoryStorage::new());
    let server = MemServer::start_with(storage, log_signer(), limited(2.0, 5.0, true)).await;
    let mut c = server.client().await;
    let checkpoint = || proto::GetCheckpointRequest {};
    // The burst (5) passes; the next request is refused at once with a hint.
    for _ in 0..5 {
        c.get_checkpoint(checkpoint()).await.unwrap();
    }
    let refused = c.get_checkpoint(checkpoint()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("2 requests/s"),
        "{}",
        refused.message()
    );
    let hint: u64 = refused
        .metadata()
        .get("grpc-retry-pushback-ms")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=500).contains(&hint), "retry in {hint} ms");
    // A refused submission appends nothing.
    let key = org_key(3);
    let status = c
        .submit(request(&sign(&key, endorsement(&key, "Flood"))))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(server.storage.meta().unwrap().map_or(0, |m| m.size), 0);
    // After the hinted wait, the client is served again.
    tokio::time::sleep(Duration::from_millis(hint + 50)).await;
    c.get_checkpoint(checkpoint()).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_clients_are_not_limited_unless_asked() {
    let storage = Arc::new(accord::storage::MemoryStorage::new());
    let server = MemServer::start_with(storage, log_signer(), limited(1.0, 1.0, false)).await;
    let mut c = server.client().await;
    for _ in 0..50 {
        c.get_checkpoint(proto::GetCheckpointRequest {})
            .await
            .unwrap();
    }
    server.stop().await;
}
