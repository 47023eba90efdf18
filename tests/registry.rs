//! The signatory registry end to end: every entry kind, every rejection the
//! registry rules define, and the queries, against a real server.

mod common;

use accord::core::entry::Signed;
use accord::core::statements::{organization_id, CommitmentRegistration, KeyRotation, Withdrawal};
use accord::proto::{self, get_organization_request::Key};
use common::*;
use ed25519_dalek::{Signer as _, SigningKey};
use std::sync::Arc;
use tonic::Code;

fn withdrawal(key: &SigningKey, org: [u8; 32], signed_at: u64) -> Signed {
    let withdrawal = Withdrawal {
        organization_id: org,
        commitment_id: "global-commitment-dts".into(),
        signed_at,
        public_key: key.verifying_key().to_bytes(),
    };
    let signature = key.sign(&withdrawal.signed_message()).to_bytes();
    Signed::Withdrawal {
        withdrawal,
        signature,
    }
}

fn rotation(old: &SigningKey, new: &SigningKey, org: [u8; 32], signed_at: u64) -> Signed {
    let rotation = KeyRotation {
        organization_id: org,
        old_public_key: old.verifying_key().to_bytes(),
        new_public_key: new.verifying_key().to_bytes(),
        signed_at,
    };
    let m = rotation.signed_message();
    Signed::KeyRotation {
        old_signature: old.sign(&m).to_bytes(),
        new_signature: new.sign(&m).to_bytes(),
        rotation,
    }
}

fn endorse_at(key: &SigningKey, name: &str, signed_at: u64) -> Signed {
    let mut e = endorsement(key, name);
    e.signed_at = signed_at;
    sign(key, e)
}

async fn refused(
    c: &mut proto::registry_service_client::RegistryServiceClient<tonic::transport::Channel>,
    s: &Signed,
    field: &str,
) {
    // With the admin token: these are refusals by the registry's rules.
    let status = c
        .submit(with_token(s, ADMIN_TOKEN_FIXTURE))
        .await
        .expect_err("must be refused");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().starts_with(field),
        "{field}: {}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_and_every_rejection() {
    let server = MemServer::start(
        Arc::new(accord::storage::MemoryStorage::new()),
        log_signer(),
    )
    .await;
    let mut c = server.client().await;
    let t = now() - 1000;
    let (k1, k2) = (org_key(1), org_key(2));
    let org = organization_id(&k1.verifying_key().to_bytes());

    // Unknown commitment, and a digest that matches no registered version.
    let mut e = endorsement(&k1, "Government of Estonia");
    e.commitment_id = "paris-call".into();
    refused(&mut c, &sign(&k1, e), "commitment_id").await;
    let mut e = endorsement(&k1, "Government of Estonia");
    e.commitment_sha256 = [9; 32];
    refused(&mut c, &sign(&k1, e), "commitment_sha256").await;

    // Each statement below is submitted alone, so it is its own batch: it
    // takes the next index and its map head the one after (entry 1 is the
    // registration's map head).
    // Endorse (entry 2), then the identical statement again is idempotent.
    let first = endorse_at(&k1, "Government of Estonia", t);
    assert_eq!(
        c.submit(request(&first)).await.unwrap().into_inner().index,
        2
    );
    let again = c.submit(request(&first)).await.unwrap().into_inner();
    assert!(again.duplicate && again.index == 2);
    // An older statement (not later than the latest) is a replay.
    refused(
        &mut c,
        &endorse_at(&k1, "Government of Estonia (old)", t - 5),
        "signed_at",
    )
    .await;

    // Withdraw (entry 4); withdrawing again is refused; re-endorse (entry 6).
    assert_eq!(
        c.submit(request(&withdrawal(&k1, org, t + 1)))
            .await
            .unwrap()
            .into_inner()
            .index,
        4
    );
    refused(&mut c, &withdrawal(&k1, org, t + 2), "commitment_id").await;
    refused(&mut c, &first, "signed_at").await; // the first endorsement replayed after the withdrawal
    assert_eq!(
        c.submit(request(&endorse_at(&k1, "Government of Estonia", t + 3)))
            .await
            .unwrap()
            .into_inner()
            .index,
        6
    );

    // Rotate to k2 (entry 8); the old key can no longer act; the new one can.
    assert_eq!(
        c.submit(request(&rotation(&k1, &k2, org, t + 4)))
            .await
            .unwrap()
            .into_inner()
            .index,
        8
    );
    refused(
        &mut c,
        &endorse_at(&k1, "Government of Estonia", t + 5),
        "public_key",
    )
    .await;
    refused(&mut c, &withdrawal(&k1, org, t + 5), "public_key").await;
    let w = c
        .submit(request(&withdrawal(&k2, org, t + 6)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.index, 10);
    // A rotation to a key some organization already uses is refused.
    let k3 = org_key(3);
    c.submit(request(&endorse_at(&k3, "Microsoft", t)))
        .await
        .unwrap();
    refused(&mut c, &rotation(&k2, &k3, org, t + 7), "new_public_key").await;
    // Statements about another organization with one's own key are refused.
    refused(&mut c, &withdrawal(&k3, org, t + 8), "public_key").await;

    // Commitment registrations: only by the operator key; versions are unique.
    let stranger = org_key(99);
    let mut reg = registration(&stranger);
    let Signed::Commitment {
        registration: r, ..
    } = &mut reg
    else {
        unreachable!()
    };
    r.version = "2".into();
    let signature = stranger.sign(&r.signed_message()).to_bytes();
    let forged = Signed::Commitment {
        registration: r.clone(),
        signature,
    };
    refused(&mut c, &forged, "public_key").await;
    let operator = operator_fixture();
    let paris = CommitmentRegistration {
        commitment_id: "paris-call".into(),
        version: "2018".into(),
        title: "Paris Call for Trust and Security in Cyberspace".into(),
        text_sha256: accord::core::sha256(b"Paris Call\n"),
        url: Some("https://pariscall.international/en/".into()),
        signed_at: t,
        public_key: operator.verifying_key().to_bytes(),
    };
    let signature = operator.sign(&paris.signed_message()).to_bytes();
    let paris_signed = Signed::Commitment {
        registration: paris.clone(),
        signature,
    };
    c.submit(with_token(&paris_signed, ADMIN_TOKEN_FIXTURE))
        .await
        .unwrap();
    let mut dup = paris.clone();
    dup.text_sha256 = [1; 32];
    let signature = operator.sign(&dup.signed_message()).to_bytes();
    refused(
        &mut c,
        &Signed::Commitment {
            registration: dup,
            signature,
        },
        "version",
    )
    .await;

    // Queries: the organization by id and by its old key.
    let by_id = c
        .get_organization(proto::GetOrganizationRequest {
            key: Some(Key::OrganizationId(org.to_vec())),
        })
        .await
        .unwrap()
        .into_inner();
    // The organization's own entries; the map heads between them are not its.
    assert_eq!(by_id.history, vec![2, 4, 6, 8, 10]);
    assert_eq!(
        by_id.current_public_key,
        k2.verifying_key().to_bytes().to_vec()
    );
    assert_eq!(
        by_id.commitments[0].status,
        proto::SignatoryStatus::Withdrawn as i32
    );
    assert_eq!(by_id.commitments[0].withdrawn_index, Some(10));
    let by_old_key = c
        .get_organization(proto::GetOrganizationRequest {
            key: Some(Key::PublicKey(k1.verifying_key().to_bytes().to_vec())),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_old_key.organization_id, org.to_vec());
    let list = |status: proto::SignatoryStatus| proto::ListSignatoriesRequest {
        commitment_id: "global-commitment-dts".into(),
        status: status as i32,
        ..Default::default()
    };
    let current = c
        .list_signatories(list(proto::SignatoryStatus::Current))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        current
            .signatories
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["Microsoft"]
    );
    let all = c
        .list_signatories(list(proto::SignatoryStatus::All))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.signatories.len(), 2);
    assert_eq!(
        all.signatories[0].first_index, 2,
        "stable order: by first endorsement"
    );
    assert_eq!(
        all.tree_size,
        c.get_checkpoint(proto::GetCheckpointRequest {})
            .await
            .unwrap()
            .into_inner()
            .size
    );
    let unknown = c
        .list_signatories(proto::ListSignatoriesRequest {
            commitment_id: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // The auditor recomputes the registry from the log alone, twice (the
    // second run rebuilds it from its saved copy of the entries), and finds
    // that the listings agree.
    let state = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let vkey = log_signer().verifier();
        let summary = accord::cli::audit::audit(&server.url, &vkey, Some(state.path()), false)
            .await
            .unwrap();
        assert!(
            summary
                .signatories
                .contains("2 records in 2 commitments agree"),
            "{}",
            summary.signatories
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_and_pages() {
    let server = MemServer::start(
        Arc::new(accord::storage::MemoryStorage::new()),
        log_signer(),
    )
    .await;
    let mut c = server.client().await;
    for i in 0..25u32 {
        let key = org_key(1000 + i);
        let mut e = endorsement(&key, &format!("Ministry {i}"));
        e.country = Some(if i % 5 == 0 { "UY" } else { "NL" }.into());
        c.submit(request(&sign(&key, e))).await.unwrap();
    }
    let mut req = proto::ListSignatoriesRequest {
        commitment_id: "global-commitment-dts".into(),
        page_size: 10,
        ..Default::default()
    };
    let mut names = Vec::new();
    loop {
        let page = c.list_signatories(req.clone()).await.unwrap().into_inner();
        assert!(page.signatories.len() <= 10);
        names.extend(page.signatories.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    assert_eq!(
        names,
        (0..25).map(|i| format!("Ministry {i}")).collect::<Vec<_>>()
    );
    let uy = proto::ListSignatoriesRequest {
        commitment_id: "global-commitment-dts".into(),
        country: "UY".into(),
        name_contains: "MINISTRY 1".into(),
        ..Default::default()
    };
    let page = c.list_signatories(uy).await.unwrap().into_inner();
    assert_eq!(
        page.signatories
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["Ministry 10", "Ministry 15"]
    );
    let too_big = proto::ListSignatoriesRequest {
        commitment_id: "global-commitment-dts".into(),
        page_size: 1001,
        ..Default::default()
    };
    let status = c.list_signatories(too_big).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("page_size"));
    server.stop().await;
}

/// An unfiltered default page is first tried on the async worker,
/// examining at most `INLINE_EXAMINED` rows; one that must look further
/// (here past 130 withdrawn organizations) is answered in full on the
/// blocking pool, not cut at that limit: the current organizations past
/// it come in the first answer, with no token to follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_past_the_inline_limit_is_answered_whole() {
    use accord::service::queries::INLINE_EXAMINED;
    let server = MemServer::start(
        Arc::new(accord::storage::MemoryStorage::new()),
        log_signer(),
    )
    .await;
    let mut c = server.client().await;
    let (n, withdrawn) = (INLINE_EXAMINED as u32 + 12, INLINE_EXAMINED as u32 + 2);
    for i in 0..n {
        let key = org_key(3000 + i);
        let e = endorsement(&key, &format!("Bureau {i}"));
        let at = e.signed_at;
        c.submit(request(&sign(&key, e))).await.unwrap();
        if i < withdrawn {
            let org = organization_id(&key.verifying_key().to_bytes());
            c.submit(request(&withdrawal(&key, org, at + 1)))
                .await
                .unwrap();
        }
    }
    let names = |page: &proto::ListSignatoriesResponse| {
        (page.signatories.iter())
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };
    let req = proto::ListSignatoriesRequest {
        commitment_id: "global-commitment-dts".into(),
        ..Default::default()
    };
    let page = c.list_signatories(req.clone()).await.unwrap().into_inner();
    let current: Vec<_> = (withdrawn..n).map(|i| format!("Bureau {i}")).collect();
    assert_eq!(names(&page), current);
    assert_eq!(page.next_page_token, "", "nothing left to examine");
    // Within the limit the answer is a full page and its token.
    let all = proto::ListSignatoriesRequest {
        status: proto::SignatoryStatus::All as i32,
        ..req
    };
    let page = c.list_signatories(all).await.unwrap().into_inner();
    assert_eq!(page.signatories.len(), 100, "the default page");
    assert_eq!(page.signatories[0].name, "Bureau 0");
    assert!(!page.next_page_token.is_empty());
    server.stop().await;
}

/// One ListSignatories call examines a bounded number of listing rows (it
/// holds off commits while it scans): a filter that matches little answers
/// with short or empty pages and a token, and following the tokens gives
/// exactly the full answer, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sparse_filter_is_answered_in_bounded_steps() {
    let mut endpoint = accord::server::Endpoint::new(Some(common::ADMIN_TOKEN_FIXTURE), None);
    endpoint.list_scan_limit = 4;
    let storage = Arc::new(accord::storage::MemoryStorage::new());
    let server = MemServer::start_with(storage, log_signer(), endpoint).await;
    let mut c = server.client().await;
    let registration = common::with_token(
        &common::registration(&common::operator_fixture()),
        common::ADMIN_TOKEN_FIXTURE,
    );
    c.submit(registration).await.unwrap();
    for i in 0..25u32 {
        let key = org_key(2000 + i);
        c.submit(request(&sign(
            &key,
            endorsement(&key, &format!("Agency {i}")),
        )))
        .await
        .unwrap();
    }
    let all = |name: &str| {
        let mut c = c.clone();
        let mut req = proto::ListSignatoriesRequest {
            commitment_id: "global-commitment-dts".into(),
            name_contains: name.into(),
            page_size: 10,
            ..Default::default()
        };
        async move {
            let (mut names, mut calls, mut empty) = (Vec::new(), 0, 0);
            loop {
                let page = c.list_signatories(req.clone()).await.unwrap().into_inner();
                calls += 1;
                assert!(page.signatories.len() <= 4, "at most 4 rows examined");
                if page.signatories.is_empty() && !page.next_page_token.is_empty() {
                    empty += 1;
                }
                names.extend(page.signatories.into_iter().map(|s| s.name));
                if page.next_page_token.is_empty() {
                    return (names, calls, empty);
                }
                req.page_token = page.next_page_token;
            }
        }
    };
    let (names, calls, _) = all("").await;
    assert_eq!(
        names,
        (0..25).map(|i| format!("Agency {i}")).collect::<Vec<_>>()
    );
    assert!(calls >= 7, "{calls} calls for 25 rows, 4 at a time");
    let (names, calls, empty) = all("agency 23").await;
    assert_eq!(names, ["Agency 23"]);
    assert!(
        calls >= 6 && empty >= 4,
        "{calls} calls, {empty} empty pages"
    );
    server.stop().await;
}
