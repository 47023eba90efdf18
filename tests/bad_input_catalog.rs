//! The bad-input catalog, second part (the first is tests/bad_input.rs):
//! signature malleability, text fields with newlines and control characters,
//! absurd values, registry refusals, oversized requests and every read RPC's
//! out-of-range or malformed arguments. Each gets its precise status naming
//! the field; nothing is appended; the server stays healthy. The table of
//! statuses is in SPEC.md (gRPC API).

mod common;

use accord::core::endorsement::Endorsement;
use accord::core::entry::Signed;
use accord::core::statements::{organization_id, Withdrawal};
use accord::proto::{self, get_organization_request::Key};
use common::*;
use ed25519_dalek::Signer as _;
use tonic::Code;

/// ℓ, the order of the Ed25519 base point, little-endian (RFC 8032 §5.1).
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// A signed endorsement by organization key `i`, edited before signing.
fn signed(i: u32, edit: impl Fn(&mut Endorsement)) -> Signed {
    let key = org_key(i);
    let mut e = endorsement(&key, &format!("Catalog organization {i}"));
    edit(&mut e);
    sign(&key, e)
}

/// The request for `s` with its signature replaced by `f(signature)`.
/// A signed withdrawal of the Global Commitment by organization `i`'s key.
fn withdrawal(i: u32) -> Signed {
    let key = org_key(i);
    let w = Withdrawal {
        organization_id: organization_id(&key.verifying_key().to_bytes()),
        commitment_id: "global-commitment-dts".into(),
        signed_at: now(),
        public_key: key.verifying_key().to_bytes(),
    };
    let signature = key.sign(&w.signed_message()).to_bytes();
    Signed::Withdrawal {
        withdrawal: w,
        signature,
    }
}

fn with_signature(s: &Signed, f: impl Fn(&mut [u8; 64])) -> proto::SubmitRequest {
    let Signed::Endorsement {
        endorsement,
        signature,
    } = s
    else {
        unreachable!()
    };
    let mut sig = *signature;
    f(&mut sig);
    request(&Signed::Endorsement {
        endorsement: endorsement.clone(),
        signature: sig,
    })
}

/// Adds ℓ to the little-endian scalar S (bytes 32..64): the same signature
/// equation, a non-canonical S (RFC 8032 §5.1.7 requires S < ℓ).
fn add_ell(sig: &mut [u8; 64]) {
    let mut carry = 0u16;
    for (i, l) in ELL.iter().enumerate() {
        let v = u16::from(sig[32 + i]) + u16::from(*l) + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
}

fn check(name: &str, got: Result<(), tonic::Status>, code: Code, field: &str) {
    let status = got.expect_err(name);
    assert_eq!(status.code(), code, "{name}: {status:?}");
    assert!(
        status.message().contains(field),
        "{name}: {:?} should name {field:?}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_of_malformed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut c = server.client().await;
    // Entry 2 (after the registration and its map head): organization 1, so
    // there is something to replay and query; entry 3 is its map head.
    let first = signed(1, |_| {});
    assert_eq!(
        c.submit(request(&first)).await.unwrap().into_inner().index,
        2
    );
    let size = tree_size(&mut c).await;
    assert_eq!(size, 4);

    let submits: Vec<(&str, proto::SubmitRequest, Code, &str)> = vec![
        (
            "S + ℓ (non-canonical S)",
            with_signature(&signed(2, |_| {}), add_ell),
            Code::InvalidArgument,
            "signature",
        ),
        (
            "S all ones",
            with_signature(&signed(2, |_| {}), |s| s[32..].fill(0xff)),
            Code::InvalidArgument,
            "signature",
        ),
        (
            "small-order R",
            with_signature(&signed(2, |_| {}), |s| {
                s[..32].copy_from_slice(&{
                    let mut r = [0u8; 32];
                    r[0] = 1;
                    r
                });
                s[32..].fill(0)
            }),
            Code::InvalidArgument,
            "signature",
        ),
        (
            "signature over other bytes",
            with_signature(&signed(2, |_| {}), |s| {
                *s = org_key(2).sign(b"something else").to_bytes()
            }),
            Code::InvalidArgument,
            "signature",
        ),
        (
            "newline in name",
            request(&signed(2, |e| e.organization_name = "Line\nbreak".into())),
            Code::InvalidArgument,
            "organization_name",
        ),
        (
            "carriage return in name",
            request(&signed(2, |e| e.organization_name = "Line\rbreak".into())),
            Code::InvalidArgument,
            "organization_name",
        ),
        // The name rule (SPEC §3.4): nothing that displays as another name.
        (
            "right-to-left override in name",
            request(&signed(2, |e| {
                e.organization_name = "Government of \u{202E}ainotsE".into()
            })),
            Code::InvalidArgument,
            "organization_name: U+202E",
        ),
        (
            "zero-width space in name",
            request(&signed(2, |e| {
                e.organization_name = "Govern\u{200B}ment".into()
            })),
            Code::InvalidArgument,
            "organization_name: U+200B",
        ),
        (
            "zero-width joiner between Latin letters in name",
            request(&signed(2, |e| {
                e.organization_name = "Govern\u{200D}ment".into()
            })),
            Code::InvalidArgument,
            "organization_name: U+200D",
        ),
        (
            "name not in NFC",
            request(&signed(2, |e| e.organization_name = "Cafe\u{301}".into())),
            Code::InvalidArgument,
            "organization_name: is not in Unicode normalization form C",
        ),
        // A line feed is allowed in the statement (SPEC §3.1); a carriage return is not.
        (
            "carriage return in statement",
            request(&signed(2, |e| e.statement = Some("We\r\nendorse".into()))),
            Code::InvalidArgument,
            "statement",
        ),
        (
            "control character in domain",
            request(&signed(2, |e| e.domain = Some("gov\u{1}.nl".into()))),
            Code::InvalidArgument,
            "domain",
        ),
        (
            "newline in commitment id",
            request(&signed(2, |e| {
                e.commitment_id = "global\ncommitment".into()
            })),
            Code::InvalidArgument,
            "commitment_id",
        ),
        (
            "oversized commitment id",
            request(&signed(2, |e| e.commitment_id = "a".repeat(10_000))),
            Code::InvalidArgument,
            "commitment_id",
        ),
        (
            "oversized domain",
            request(&signed(2, |e| {
                e.domain = Some(format!("{}.nl", "a".repeat(300)))
            })),
            Code::InvalidArgument,
            "domain",
        ),
        (
            "absurd time",
            request(&signed(2, |e| e.signed_at = u64::MAX)),
            Code::InvalidArgument,
            "signed_at",
        ),
        (
            "newline in country",
            request(&signed(2, |e| e.country = Some("N\nL".into()))),
            Code::InvalidArgument,
            "country",
        ),
        (
            "replayed endorsement (older time)",
            request(&signed(1, |e| e.signed_at -= 60)),
            Code::FailedPrecondition,
            "signed_at",
        ),
        (
            "withdrawal for an unknown organization",
            request(&withdrawal(3)),
            Code::FailedPrecondition,
            "organization_id",
        ),
        (
            // Reserved, not officially assigned (SPEC §3.1): GB is the code.
            "reserved country code UK",
            request(&signed(2, |e| e.country = Some("UK".into()))),
            Code::InvalidArgument,
            "country",
        ),
        (
            // The proto's int64 signed_at (SPEC §3.1): negatives are refused
            // for every kind, before the signature is checked.
            "negative signed_at in a withdrawal",
            {
                let mut r = request(&withdrawal(1));
                if let Some(proto::submit_request::Statement::Withdrawal(s)) = &mut r.statement {
                    s.withdrawal.as_mut().unwrap().signed_at = -1;
                }
                r
            },
            Code::InvalidArgument,
            "signed_at: must not be before 1970",
        ),
    ];
    let n_submits = submits.len();
    for (name, req, code, field) in submits {
        check(name, c.submit(req).await.map(|_| ()), code, field);
    }

    let batch_items = (0..1001).map(|_| request(&first)).collect();
    check(
        "SubmitBatch of 1001 items",
        c.submit_batch(proto::SubmitBatchRequest { items: batch_items })
            .await
            .map(|_| ()),
        Code::InvalidArgument,
        "items",
    );
    // Built in protobuf directly: a 5 MiB text cannot even be signed.
    let mut huge = request(&signed(4, |_| {}));
    if let Some(proto::submit_request::Statement::Endorsement(e)) = &mut huge.statement {
        e.endorsement.as_mut().unwrap().statement = "z".repeat(5 << 20);
    }
    check(
        "message over 4 MiB",
        c.submit(huge).await.map(|_| ()),
        Code::OutOfRange,
        "message length too large",
    );

    let list = |edit: &dyn Fn(&mut proto::ListSignatoriesRequest)| {
        let mut r = proto::ListSignatoriesRequest {
            commitment_id: "global-commitment-dts".into(),
            ..Default::default()
        };
        edit(&mut r);
        r
    };
    let reads: Vec<(&str, Result<(), tonic::Status>, Code, &str)> = vec![
        (
            "huge page size",
            c.list_signatories(list(&|r| r.page_size = u32::MAX))
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "page_size",
        ),
        (
            "unknown status",
            c.list_signatories(list(&|r| r.status = 99))
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "status",
        ),
        (
            "unknown group filter",
            c.list_signatories(list(&|r| r.stakeholder_group = 42))
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "stakeholder_group",
        ),
        (
            "forged page token",
            c.list_signatories(list(&|r| r.page_token = "not-a-token".into()))
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "page_token",
        ),
        (
            "unknown commitment",
            c.list_signatories(list(&|r| r.commitment_id = "nope".into()))
                .await
                .map(|_| ()),
            Code::NotFound,
            "commitment_id",
        ),
        (
            "organization id of 31 bytes",
            c.get_organization(proto::GetOrganizationRequest {
                key: Some(Key::OrganizationId(vec![1; 31])),
            })
            .await
            .map(|_| ()),
            Code::InvalidArgument,
            "organization_id",
        ),
        (
            "no organization key",
            c.get_organization(proto::GetOrganizationRequest { key: None })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "key",
        ),
        (
            "entry index overflow",
            c.get_entry(proto::GetEntryRequest { index: u64::MAX })
                .await
                .map(|_| ()),
            Code::OutOfRange,
            "index",
        ),
        (
            "entries start overflow",
            c.get_entries(proto::GetEntriesRequest {
                start: u64::MAX - 1,
                end: u64::MAX,
            })
            .await
            .map(|_| ()),
            Code::OutOfRange,
            "start",
        ),
        (
            "proof index overflow",
            c.get_inclusion_proof(proto::GetInclusionProofRequest {
                leaf: Some(proto::get_inclusion_proof_request::Leaf::Index(u64::MAX)),
                tree_size: 0,
            })
            .await
            .map(|_| ()),
            Code::OutOfRange,
            "index",
        ),
        (
            "consistency old > new",
            c.get_consistency_proof(proto::GetConsistencyProofRequest {
                old_size: 2,
                new_size: 1,
            })
            .await
            .map(|_| ()),
            Code::InvalidArgument,
            "old_size",
        ),
        (
            "consistency beyond the tree",
            c.get_consistency_proof(proto::GetConsistencyProofRequest {
                old_size: 1,
                new_size: u64::MAX,
            })
            .await
            .map(|_| ()),
            Code::OutOfRange,
            "new_size",
        ),
        (
            // SPEC §10: end <= start is checked before start against the tree.
            "entries end before start",
            c.get_entries(proto::GetEntriesRequest { start: 5, end: 3 })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
            "end: must be greater than start",
        ),
        (
            // SPEC §10: old_size > new_size (0 = the latest size) is
            // INVALID_ARGUMENT even when old_size is beyond the tree.
            "consistency old beyond the latest size",
            c.get_consistency_proof(proto::GetConsistencyProofRequest {
                old_size: size + 1,
                new_size: 0,
            })
            .await
            .map(|_| ()),
            Code::InvalidArgument,
            "old_size",
        ),
    ];
    let n_reads = reads.len();
    for (name, got, code, field) in reads {
        check(name, got, code, field);
    }
    assert!(n_submits + n_reads + 2 >= 29, "catalog size");

    // Nothing was appended, and the server still serves and accepts.
    let cp = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cp.size, size, "nothing appended, not even a map head");
    let next = c.submit(request(&signed(5, |_| {}))).await.unwrap();
    assert_eq!(
        next.into_inner().index,
        size,
        "the next entry after the map head"
    );
    server.stop().await;
}
