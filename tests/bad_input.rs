//! Bad input: every rule violation gets a precise status naming the field,
//! and nothing is appended.

mod common;

use accord::proto;
use common::*;
use tonic::Code;

/// A weak key: the identity point (small order), canonical encoding.
const IDENTITY_POINT: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
};

type Mutation = Box<dyn Fn(&mut proto::SubmitRequest)>;

fn endorsement_mut(f: impl Fn(&mut proto::Endorsement) + 'static) -> Mutation {
    Box::new(move |req| {
        let Some(proto::submit_request::Statement::Endorsement(s)) = &mut req.statement else {
            unreachable!()
        };
        f(s.endorsement.as_mut().unwrap());
    })
}

/// Builds a validly *signed* request whose endorsement has `edit` applied
/// before signing, so the field rule (not the signature) is what fails.
fn signed_with(edit: impl Fn(&mut accord::core::endorsement::Endorsement)) -> proto::SubmitRequest {
    let key = org_key(1);
    let mut e = endorsement(&key, "Government of Uruguay");
    edit(&mut e);
    request(&sign(&key, e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_violation_is_precise_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut client = server.client().await;
    // The registration (entry 0) and its map head (entry 1).
    let before = tree_size(&mut client).await;
    assert_eq!(before, 2);

    let cases: Vec<(&str, proto::SubmitRequest, &str)> = vec![
        (
            "wrong signature",
            {
                let mut r = signed_with(|_| {});
                let Some(proto::submit_request::Statement::Endorsement(s)) = &mut r.statement
                else {
                    unreachable!()
                };
                s.signature[10] ^= 1;
                r
            },
            "signature",
        ),
        (
            "signature by another key",
            {
                let mut r = signed_with(|_| {});
                let other = request(&sign(
                    &org_key(2),
                    endorsement(&org_key(1), "Government of Uruguay"),
                ));
                let (
                    Some(proto::submit_request::Statement::Endorsement(s)),
                    Some(proto::submit_request::Statement::Endorsement(o)),
                ) = (&mut r.statement, other.statement)
                else {
                    unreachable!()
                };
                s.signature = o.signature;
                r
            },
            "signature",
        ),
        (
            "short signature",
            {
                let mut r = signed_with(|_| {});
                endorsement_sig(&mut r, vec![0; 10]);
                r
            },
            "signature: must be 64 bytes",
        ),
        (
            "weak key",
            signed_with(|e| e.public_key = IDENTITY_POINT),
            "public_key: is a weak",
        ),
        (
            "non-canonical key",
            signed_with(|e| {
                e.public_key = [0xff; 32];
                e.public_key[31] = 0x7f;
            }),
            "public_key",
        ),
        (
            "future time",
            signed_with(|e| e.signed_at = now() + 3600),
            "signed_at",
        ),
        (
            "bad commitment id",
            signed_with(|e| e.commitment_id = "Global Commitment".into()),
            "commitment_id",
        ),
        (
            "empty commitment id",
            signed_with(|e| e.commitment_id = String::new()),
            "commitment_id",
        ),
        (
            "empty name",
            signed_with(|e| e.organization_name = String::new()),
            "organization_name: must be 1-200",
        ),
        (
            "long name",
            signed_with(|e| e.organization_name = "x".repeat(201)),
            "organization_name: must be 1-200 characters, got 201",
        ),
        (
            "control char in name",
            signed_with(|e| e.organization_name = "Bad\u{7}Name".into()),
            "organization_name: must not contain control",
        ),
        (
            "padded name",
            signed_with(|e| e.organization_name = " Padded".into()),
            "organization_name: must not start or end",
        ),
        (
            "unknown country",
            signed_with(|e| e.country = Some("XX".into())),
            "country",
        ),
        (
            "lowercase country",
            signed_with(|e| e.country = Some("nl".into())),
            "country",
        ),
        (
            "bad domain",
            signed_with(|e| e.domain = Some("https://gov.nl/".into())),
            "domain",
        ),
        (
            "long statement",
            signed_with(|e| e.statement = Some("y".repeat(2001))),
            "statement: must be 1-2000 characters, got 2001",
        ),
    ];
    let proto_cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "short digest",
            endorsement_mut(|e| e.commitment_sha256.truncate(31)),
            "commitment_sha256: must be 32 bytes",
        ),
        (
            "missing group",
            endorsement_mut(|e| e.stakeholder_group = 0),
            "stakeholder_group: is required",
        ),
        (
            "unknown group",
            endorsement_mut(|e| e.stakeholder_group = 99),
            "stakeholder_group: unknown code",
        ),
        (
            "missing region",
            endorsement_mut(|e| e.region = 0),
            "region: is required",
        ),
        (
            "unknown region",
            endorsement_mut(|e| e.region = 7),
            "region: unknown code",
        ),
        (
            "negative time",
            endorsement_mut(|e| e.signed_at = -5),
            "signed_at",
        ),
        (
            "short key",
            endorsement_mut(|e| e.public_key.truncate(31)),
            "public_key: must be 32 bytes",
        ),
        (
            "no endorsement",
            Box::new(|r: &mut proto::SubmitRequest| {
                let Some(proto::submit_request::Statement::Endorsement(s)) = &mut r.statement
                else {
                    unreachable!()
                };
                s.endorsement = None;
            }),
            "endorsement: is required",
        ),
        (
            "no statement",
            Box::new(|r: &mut proto::SubmitRequest| r.statement = None),
            "statement: is required",
        ),
    ];
    let mut all = cases;
    for (name, mutate, want) in proto_cases {
        let mut r = signed_with(|_| {});
        mutate(&mut r);
        all.push((name, r, want));
    }
    for (name, req, want) in all {
        let status = client.submit(req).await.expect_err(name);
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
        assert!(
            status.message().contains(want),
            "{name}: message {:?} should contain {want:?}",
            status.message()
        );
    }
    assert_eq!(
        tree_size(&mut client).await,
        before,
        "nothing was appended, not even a map head"
    );

    // A valid submission still works afterwards: the next entry, then its
    // map head.
    let ok = client
        .submit(signed_with(|_| {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.index, before);
    assert_eq!(tree_size(&mut client).await, before + 2);
    server.stop().await;
}

fn endorsement_sig(r: &mut proto::SubmitRequest, sig: Vec<u8>) {
    let Some(proto::submit_request::Statement::Endorsement(s)) = &mut r.statement else {
        unreachable!()
    };
    s.signature = sig;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_reads_get_precise_statuses() {
    use proto::get_inclusion_proof_request::Leaf;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut c = server.client().await;
    let key = org_key(9);
    c.submit(request(&sign(&key, endorsement(&key, "Academia One"))))
        .await
        .unwrap();
    // The registration, its map head, the endorsement, its map head.
    assert_eq!(tree_size(&mut c).await, 4);
    let last = c.get_entry(proto::GetEntryRequest { index: 3 }).await;
    assert!(is_map_head(&last.unwrap().into_inner().leaf));

    let (c1, m1) = code(c.get_entry(proto::GetEntryRequest { index: 4 }).await);
    assert_eq!(c1, Code::OutOfRange, "{m1}");
    let (c2, _) = code(
        c.get_entries(proto::GetEntriesRequest { start: 5, end: 9 })
            .await,
    );
    assert_eq!(c2, Code::OutOfRange);
    let (c3, m3) = code(
        c.get_entries(proto::GetEntriesRequest { start: 0, end: 0 })
            .await,
    );
    assert_eq!(c3, Code::InvalidArgument);
    assert!(m3.contains("end"), "{m3}");
    let proof = |leaf, tree_size| proto::GetInclusionProofRequest { leaf, tree_size };
    let (c4, _) = code(
        c.get_inclusion_proof(proof(Some(Leaf::LeafHash(vec![7; 32])), 0))
            .await,
    );
    assert_eq!(c4, Code::NotFound);
    let (c5, m5) = code(
        c.get_inclusion_proof(proof(Some(Leaf::LeafHash(vec![7; 3])), 0))
            .await,
    );
    assert_eq!(c5, Code::InvalidArgument);
    assert!(m5.contains("leaf_hash"), "{m5}");
    let (c6, _) = code(c.get_inclusion_proof(proof(Some(Leaf::Index(0)), 5)).await);
    assert_eq!(c6, Code::OutOfRange);
    let (c7, _) = code(c.get_inclusion_proof(proof(None, 0)).await);
    assert_eq!(c7, Code::InvalidArgument);
    let (c8, m8) = code(
        c.get_consistency_proof(proto::GetConsistencyProofRequest {
            old_size: 0,
            new_size: 1,
        })
        .await,
    );
    assert_eq!(c8, Code::InvalidArgument);
    assert!(m8.contains("old_size"), "{m8}");
    let (c9, _) = code(
        c.get_consistency_proof(proto::GetConsistencyProofRequest {
            old_size: 1,
            new_size: 5,
        })
        .await,
    );
    assert_eq!(c9, Code::OutOfRange);
    server.stop().await;
}

/// The status of a call that must fail: `(code, message)`.
fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    let s = r.expect_err("must fail");
    (s.code(), s.message().to_owned())
}
