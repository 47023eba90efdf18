//! Identity assurance end to end: an impersonator (same name, another key)
//! is shown unverified with `name-conflict`; operator verification and
//! revocation change the state; `accord audit` recomputes it from the log
//! and agrees with the server; the rules refuse what they must.

mod common;

use accord::core::entry::Signed;
use accord::core::model::{StakeholderGroup, VerificationMethod};
use accord::core::verification::{Revocation, Verification};
use accord::proto::{self, get_organization_request::Key};
use accord::storage::MemoryStorage;
use common::*;
use ed25519_dalek::{Signer as _, SigningKey};
use std::sync::Arc;
use tonic::Code;

fn verification(org: [u8; 32], name: &str, signed_at: u64, by: &SigningKey) -> Signed {
    let verification = Verification {
        organization_id: org,
        name: name.into(),
        stakeholder_group: StakeholderGroup::Government,
        country: Some("EE".into()),
        domain: None,
        method: VerificationMethod::OfficialLetter,
        evidence_sha256: accord::core::sha256(b"scan of the letter"),
        signed_at,
        public_key: by.verifying_key().to_bytes(),
    };
    let signature = by.sign(&verification.signed_message()).to_bytes();
    Signed::Verification {
        verification,
        signature,
    }
}

fn revocation(org: [u8; 32], signed_at: u64, by: &SigningKey) -> Signed {
    let revocation = Revocation {
        organization_id: org,
        reason: "impersonation reported".into(),
        signed_at,
        public_key: by.verifying_key().to_bytes(),
    };
    let signature = by.sign(&revocation.signed_message()).to_bytes();
    Signed::Revocation {
        revocation,
        signature,
    }
}

type Client = proto::registry_service_client::RegistryServiceClient<tonic::transport::Channel>;

/// (organization id hex, verified, flags) in listing order.
async fn listing(c: &mut Client, verified_only: bool) -> Vec<(String, bool, Vec<String>)> {
    let req = proto::ListSignatoriesRequest {
        commitment_id: "global-commitment-dts".into(),
        verified_only,
        page_size: 1, // one per page: the order must survive pagination
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut req = req;
    loop {
        let page = c.list_signatories(req.clone()).await.unwrap().into_inner();
        for s in page.signatories {
            out.push((
                hex::encode(&s.organization_id),
                s.verification.is_some(),
                s.flags,
            ));
        }
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
}

async fn flags_of(c: &mut Client, org: [u8; 32]) -> Vec<String> {
    let req = proto::GetOrganizationRequest {
        key: Some(Key::OrganizationId(org.to_vec())),
    };
    c.get_organization(req).await.unwrap().into_inner().flags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_verification_revocation_and_audit() {
    let server = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    let mut c = server.client().await;
    let operator = operator_fixture();
    let t = now();
    let (early, real, fake) = (org_key(1), org_key(2), org_key(3));
    for (key, name) in [
        (&early, "Early Bird Ltd"),
        (&real, "Government of Estonia"),
        (&fake, " government  of ESTONIA ".trim()),
    ] {
        c.submit(request(&sign(key, endorsement(key, name))))
            .await
            .unwrap();
    }
    let id =
        |k: &SigningKey| accord::core::statements::organization_id(&k.verifying_key().to_bytes());
    let (early_id, real_id, fake_id) = (id(&early), id(&real), id(&fake));
    let h = |id: [u8; 32]| hex::encode(id);
    let unverified = vec!["unverified".to_string()];

    // Nobody verified: everyone is marked, nobody conflicts, first-come order.
    assert_eq!(
        listing(&mut c, false).await,
        [
            (h(early_id), false, unverified.clone()),
            (h(real_id), false, unverified.clone()),
            (h(fake_id), false, unverified.clone())
        ]
    );

    // The operator verifies the real one (official letter): it comes first,
    // and the impersonator — same name, other key — is flagged.
    let v = verification(real_id, "Government of Estonia", t, &operator);
    let first = c
        .submit(with_token(&v, ADMIN_TOKEN_FIXTURE))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    let conflict = vec!["unverified".to_string(), "name-conflict".to_string()];
    assert_eq!(
        listing(&mut c, false).await,
        [
            (h(real_id), true, vec![]),
            (h(early_id), false, unverified.clone()),
            (h(fake_id), false, conflict.clone())
        ]
    );
    assert_eq!(listing(&mut c, true).await, [(h(real_id), true, vec![])]);
    assert_eq!(flags_of(&mut c, fake_id).await, conflict);
    // Resubmitting the same verification is answered with its entry.
    let again = c
        .submit(with_token(&v, ADMIN_TOKEN_FIXTURE))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate && again.index == first.index);

    // What the rules refuse (FAILED_PRECONDITION naming the field).
    let refused = |s: tonic::Status, field: &str| {
        assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
        assert!(s.message().starts_with(field), "{field}: {}", s.message());
    };
    let by_stranger = verification(fake_id, "Government of Estonia", t + 1, &fake);
    refused(
        c.submit(with_token(&by_stranger, ADMIN_TOKEN_FIXTURE))
            .await
            .unwrap_err(),
        "public_key",
    );
    let stale = verification(real_id, "Government of Estonia", t - 10, &operator);
    refused(
        c.submit(with_token(&stale, ADMIN_TOKEN_FIXTURE))
            .await
            .unwrap_err(),
        "signed_at",
    );
    let nothing_to_revoke = revocation(fake_id, t + 1, &operator);
    refused(
        c.submit(with_token(&nothing_to_revoke, ADMIN_TOKEN_FIXTURE))
            .await
            .unwrap_err(),
        "organization_id",
    );
    let unknown = verification([7; 32], "Nobody", t + 1, &operator);
    refused(
        c.submit(with_token(&unknown, ADMIN_TOKEN_FIXTURE))
            .await
            .unwrap_err(),
        "organization_id",
    );
    // Operator statements need the admin token, like registrations.
    let status = c
        .submit(request(&revocation(real_id, t + 1, &operator)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // The audit recomputes verification state and flags from the log.
    let vkey = log_signer().verifier().to_string();
    let audit = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["audit", "--server", url, "--vkey", &vkey])
            .output()
            .unwrap()
    };
    let out = audit(&server.url);
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && report.contains("agree"), "{report}");

    // An impersonation discovered later: the operator revokes. Order and
    // flags return to the unverified state; the audit agrees again.
    c.submit(with_token(
        &revocation(real_id, t + 1, &operator),
        ADMIN_TOKEN_FIXTURE,
    ))
    .await
    .unwrap();
    assert_eq!(
        listing(&mut c, false).await,
        [
            (h(early_id), false, unverified.clone()),
            (h(real_id), false, unverified.clone()),
            (h(fake_id), false, unverified.clone())
        ]
    );
    let org = c
        .get_organization(proto::GetOrganizationRequest {
            key: Some(Key::OrganizationId(real_id.to_vec())),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(org.verification.is_none());
    assert_eq!(
        org.verification_history.len(),
        2,
        "verification and revocation entries"
    );
    assert!(audit(&server.url).status.success());

    // The organization is verified, not a key: a rotation keeps it.
    c.submit(with_token(
        &verification(real_id, "Government of Estonia", t + 2, &operator),
        ADMIN_TOKEN_FIXTURE,
    ))
    .await
    .unwrap();
    let new_key = org_key(4);
    let rotation = accord::core::statements::KeyRotation {
        organization_id: real_id,
        old_public_key: real.verifying_key().to_bytes(),
        new_public_key: new_key.verifying_key().to_bytes(),
        signed_at: t + 5,
    };
    let m = rotation.signed_message();
    let rotated = Signed::KeyRotation {
        old_signature: real.sign(&m).to_bytes(),
        new_signature: new_key.sign(&m).to_bytes(),
        rotation,
    };
    c.submit(request(&rotated)).await.unwrap();
    assert_eq!(listing(&mut c, true).await, [(h(real_id), true, vec![])]);
    assert!(audit(&server.url).status.success());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_keys_are_rate_limited_and_verified_ones_are_not() {
    let limit = accord::service::access::RateLimit {
        per_second: 0.5,
        burst: 2.0,
        loopback: true,
    };
    let endpoint = accord::server::Endpoint::new(Some(ADMIN_TOKEN_FIXTURE), None);
    let endpoint = accord::server::Endpoint {
        access: endpoint.access.with_key_limit(Some(limit)),
        ..endpoint
    };
    let server =
        MemServer::start_with(Arc::new(MemoryStorage::new()), log_signer(), endpoint).await;
    let mut c = server.client().await;
    let operator = operator_fixture();
    c.submit(with_token(&registration(&operator), ADMIN_TOKEN_FIXTURE))
        .await
        .unwrap();
    let key = org_key(10);
    let mut e = endorsement(&key, "Busy Org");
    let t = e.signed_at;
    for i in 0..2 {
        e.signed_at = t + i;
        e.statement = Some(format!("Statement {i}"));
        c.submit(request(&sign(&key, e.clone()))).await.unwrap();
    }
    e.signed_at = t + 2;
    let over = c.submit(request(&sign(&key, e.clone()))).await.unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted, "{over:?}");
    assert!(
        over.message()
            .contains(&hex::encode(key.verifying_key().to_bytes())),
        "{}",
        over.message()
    );
    assert!(over.metadata().get("grpc-retry-pushback-ms").is_some());
    // The operator's bulk import (with the admin token) is not limited.
    e.signed_at = t + 3;
    c.submit(with_token(&sign(&key, e.clone()), ADMIN_TOKEN_FIXTURE))
        .await
        .unwrap();
    // Statements in another key's name with bad signatures do not spend
    // that key's allowance (only validly signed statements count).
    let victim = org_key(11);
    for i in 0..5 {
        let mut forged = sign(&victim, endorsement(&victim, "Victim"));
        if let Signed::Endorsement { signature, .. } = &mut forged {
            signature[i] ^= 1;
        }
        let status = c.submit(request(&forged)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    c.submit(request(&sign(&victim, endorsement(&victim, "Victim"))))
        .await
        .unwrap();
    // Once the operator verifies an organization, no limit applies to it.
    let org = accord::core::statements::organization_id(&key.verifying_key().to_bytes());
    c.submit(with_token(
        &verification(org, "Busy Org", now(), &operator),
        ADMIN_TOKEN_FIXTURE,
    ))
    .await
    .unwrap();
    for i in 4..8 {
        e.signed_at = t + i;
        e.statement = Some(format!("Statement {i}"));
        c.submit(request(&sign(&key, e.clone()))).await.unwrap();
    }
    server.stop().await;
}

/// `accord demo` through the real binary: the governments come first,
/// verified; the impersonator is marked; the audit agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_verified_governments_and_a_flagged_impersonator() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = ServeProcess::start(&data, &[]).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let url = server.url();
    run(&["demo", "--server", &url, "--data", data.to_str().unwrap()]);
    let listing = run(&[
        "signatories",
        "--server",
        &url,
        "--commitment",
        "global-commitment-dts",
        "--json",
    ]);
    let rows: Vec<serde_json::Value> = listing
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verified = rows.iter().take_while(|r| r["verified"] == true).count();
    assert!(verified >= 2, "governments first: {listing}");
    assert!(
        rows[verified..].iter().all(|r| r["verified"] == false),
        "{listing}"
    );
    let flagged: Vec<_> = rows
        .iter()
        .filter(|r| {
            r["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "name-conflict")
        })
        .collect();
    assert_eq!(flagged.len(), 1, "{listing}");
    assert_eq!(
        flagged[0]["name"].as_str(),
        rows[0]["name"].as_str().map(str::to_uppercase).as_deref()
    );
    let vkey = accord::server::datadir::load_key(&data, None)
        .unwrap()
        .verifier()
        .to_string();
    run(&["audit", "--server", &url, "--vkey", &vkey, "--quiet"]);
}

/// Issue 13: look-alike names (Cyrillic letters, spacing, case, "rn" for
/// "m") are admitted but flagged `name-conflict` (and `mixed-script` where
/// a word mixes scripts) against a verified name; names that display as
/// something else (bidi controls, zero-width characters, NFD) are refused
/// with INVALID_ARGUMENT naming the field and the code point, and nothing
/// is appended; `accord signatories` shows the flags and `accord audit`
/// derives the same ones from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_names_are_flagged_and_disguised_ones_refused() {
    let server = MemServer::start(Arc::new(MemoryStorage::new()), log_signer()).await;
    let mut c = server.client().await;
    let operator = operator_fixture();
    let t = now();
    let id = |k: &SigningKey| {
        hex::encode(accord::core::statements::organization_id(
            &k.verifying_key().to_bytes(),
        ))
    };
    let real = org_key(20);
    c.submit(request(&sign(
        &real,
        endorsement(&real, "Government of Estonia"),
    )))
    .await
    .unwrap();
    let real_id = accord::core::statements::organization_id(&real.verifying_key().to_bytes());
    c.submit(with_token(
        &verification(real_id, "Government of Estonia", t, &operator),
        ADMIN_TOKEN_FIXTURE,
    ))
    .await
    .unwrap();

    let conflict = ["unverified", "name-conflict"];
    let conflict_mixed = ["unverified", "name-conflict", "mixed-script"];
    let admitted: [(&str, &[&str]); 7] = [
        ("Government of Est\u{43E}nia", &conflict_mixed),
        (
            "G\u{43E}v\u{435}rnm\u{435}nt \u{43E}f \u{415}st\u{43E}ni\u{430}",
            &conflict_mixed,
        ),
        ("GOVERNMENT  of estonia", &conflict),
        ("Govemment of Estonia", &conflict),
        (
            "Ministry of Foreign Affairs / Министерство иностранных дел",
            &["unverified"],
        ),
        ("Ministry/Министерство", &["unverified", "mixed-script"]),
        // Persian with a ZWNJ between joining letters (RFC 5892 A.1).
        ("وزارت امور خارجه می\u{200C}خواهم", &["unverified"]),
    ];
    let mut want = vec![(hex::encode(real_id), true, vec![])];
    for (i, (name, flags)) in admitted.iter().enumerate() {
        let key = org_key(21 + i as u32);
        c.submit(request(&sign(&key, endorsement(&key, name))))
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e:?}"));
        want.push((
            id(&key),
            false,
            flags.iter().map(|f| f.to_string()).collect(),
        ));
    }
    assert_eq!(listing(&mut c, false).await, want);

    // Refused at admission, whatever the date (SPEC.md §3.4).
    let size = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            (c.get_checkpoint(proto::GetCheckpointRequest {}).await)
                .unwrap()
                .into_inner()
                .size
        }
    };
    let before = size(&mut c).await;
    let impostor = org_key(40);
    for (name, message) in [
        (
            "Government of \u{202E}ainotsE",
            "organization_name: U+202E at character 15 is a bidirectional control",
        ),
        (
            "Government of \u{2066}Estonia\u{2069}",
            "organization_name: U+2066 at character 15 is a bidirectional control",
        ),
        (
            "Govern\u{200B}ment of Estonia",
            "organization_name: U+200B at character 7 is an invisible",
        ),
        (
            "Govern\u{200D}ment of Estonia",
            "organization_name: U+200D at character 7 is a zero-width joiner",
        ),
        (
            "Gouvernement de l'E\u{301}tat",
            "organization_name: is not in Unicode normalization form C (NFC); sign its NFC form instead: \"Gouvernement de l'\u{C9}tat\"",
        ),
    ] {
        let status = c
            .submit(request(&sign(&impostor, endorsement(&impostor, name))))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name:?}: {status:?}");
        assert!(
            status.message().starts_with(message),
            "{name:?}: {}",
            status.message()
        );
    }
    // The operator's statements follow the same rule.
    let status = c
        .submit(with_token(
            &verification(real_id, "Government of\u{200F} Estonia", t + 1, &operator),
            ADMIN_TOKEN_FIXTURE,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with("name: U+200F"), "{status:?}");
    assert_eq!(size(&mut c).await, before, "nothing appended");

    // The table shows the warnings in capitals.
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    let table = run(&[
        "signatories",
        "--server",
        &server.url,
        "--commitment",
        "global-commitment-dts",
    ]);
    let line = |needle: &str| {
        table
            .lines()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle:?} in {table}"))
            .to_owned()
    };
    assert!(line("Government of Est\u{43E}nia").contains("UNVERIFIED NAME-CONFLICT MIXED-SCRIPT"));
    assert!(line("Govemment of Estonia").contains("UNVERIFIED NAME-CONFLICT "));
    assert!(!line("Ministry of Foreign Affairs").contains("MIXED-SCRIPT"));

    // The audit derives the same flags from the log.
    let vkey = log_signer().verifier().to_string();
    let report = run(&["audit", "--server", &server.url, "--vkey", &vkey]);
    assert!(report.contains("agree"), "{report}");
    server.stop().await;
}
