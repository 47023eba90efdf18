//! The registry's answers as JSON for the HTTP API (`http::api`): a
//! conversion of the very `proto` messages the gRPC handlers return, so the
//! two surfaces cannot disagree. Bytes that are identifiers (organization
//! ids, keys, hashes) are lowercase hex, as everywhere in Accord's text
//! output; opaque bytes (leaves, proofs) are standard base64, as in C2SP
//! formats; vocabularies are the CLI's slugs (SPEC.md §2).

use crate::core::model::{Region, StakeholderGroup, VerificationMethod};
use crate::proto;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Value};

fn slug<T>(
    code: i32,
    from: fn(u8) -> Result<T, crate::core::Error>,
    name: fn(T) -> &'static str,
) -> Value {
    u8::try_from(code)
        .ok()
        .and_then(|c| from(c).ok())
        .map_or(Value::Null, |v| Value::from(name(v)))
}

fn group(code: i32) -> Value {
    slug(code, StakeholderGroup::from_code, StakeholderGroup::slug)
}

fn region(code: i32) -> Value {
    slug(code, Region::from_code, Region::slug)
}

fn status(code: i32) -> &'static str {
    if code == proto::SignatoryStatus::Withdrawn as i32 {
        "withdrawn"
    } else {
        "current"
    }
}

/// An empty string is "absent" in proto3; JSON says `null`.
fn optional(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::from(s)
    }
}

pub fn base64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn verification(v: &Option<proto::VerificationState>) -> Value {
    let Some(v) = v else {
        return Value::Null;
    };
    json!({
        "index": v.index,
        "name": v.name,
        "group": group(v.stakeholder_group),
        "country": optional(&v.country),
        "domain": optional(&v.domain),
        "method": slug(v.method, VerificationMethod::from_code, VerificationMethod::slug),
        "evidence_sha256": hex::encode(&v.evidence_sha256),
    })
}

pub fn signatory(s: &proto::Signatory) -> Value {
    json!({
        "organization_id": hex::encode(&s.organization_id),
        "name": s.name,
        "group": group(s.stakeholder_group),
        "region": region(s.region),
        "country": optional(&s.country),
        "domain": optional(&s.domain),
        "status": status(s.status),
        "first_index": s.first_index,
        "endorsed_index": s.endorsed_index,
        "withdrawn_index": s.withdrawn_index,
        "commitment_sha256": hex::encode(&s.commitment_sha256),
        "verified": s.verification.is_some(),
        "verification": verification(&s.verification),
        "flags": s.flags,
    })
}

pub fn signatories(r: &proto::ListSignatoriesResponse) -> Value {
    json!({
        "tree_size": r.tree_size,
        "signatories": r.signatories.iter().map(signatory).collect::<Vec<_>>(),
        "next_page_token": optional(&r.next_page_token),
    })
}

pub fn organization(o: &proto::GetOrganizationResponse) -> Value {
    let standings: Vec<Value> = (o.commitments.iter())
        .map(|s| {
            json!({
                "commitment_id": s.commitment_id,
                "status": status(s.status),
                "endorsed_index": s.endorsed_index,
                "withdrawn_index": s.withdrawn_index,
            })
        })
        .collect();
    json!({
        "tree_size": o.tree_size,
        "organization_id": hex::encode(&o.organization_id),
        "current_public_key": hex::encode(&o.current_public_key),
        "name": o.name,
        "group": group(o.stakeholder_group),
        "region": region(o.region),
        "country": optional(&o.country),
        "domain": optional(&o.domain),
        "history": o.history,
        "commitments": standings,
        "verified": o.verification.is_some(),
        "verification": verification(&o.verification),
        "verification_history": o.verification_history,
        "flags": o.flags,
        "last_signed_at": o.last_signed_at,
        "operator_signed_at": o.operator_signed_at,
    })
}

pub fn checkpoint(c: &proto::GetCheckpointResponse) -> Value {
    json!({
        "tree_size": c.size,
        "root": base64(&c.root),
        "signed_note": c.signed_note,
        "log_signed_note": c.log_signed_note,
    })
}

pub fn registry_proof(p: &proto::GetRegistryProofResponse) -> Value {
    json!({
        "tree_size": p.tree_size,
        "map_head_index": p.map_head_index,
        "proof": p.proof,
    })
}
