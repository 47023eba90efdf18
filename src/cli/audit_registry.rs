//! The auditor's registry check: the signatory set recomputed from the log
//! alone (SPEC.md §5.4–§5.6) must equal what the server's ListSignatories
//! says — who endorses what, each organization's verification state and
//! flags, and the order (verified organizations first).

use super::{client, exit, CliError};
use crate::core::registry::{Registry, Status};
use crate::proto;
use std::collections::BTreeMap;

/// One signatory as both sides describe it: organization, status, first,
/// endorsed and withdrawn indices, verification entry, flags.
type Row = (
    Vec<u8>,
    i32,
    u64,
    u64,
    Option<u64>,
    Option<u64>,
    Vec<String>,
);

/// Compares every commitment's full listing (all statuses, all pages) with
/// `registry`. Returns a one-line note; fails with exit code 1 on a
/// disagreement. Skips (and says so) if the log grew during the audit, since
/// the listing then reflects entries this run did not verify.
pub async fn compare(
    c: &mut proto::registry_service_client::RegistryServiceClient<tonic::transport::Channel>,
    registry: &Registry,
) -> Result<String, CliError> {
    let mut checked = 0usize;
    for (id, commitment) in &registry.commitments {
        let mut req = proto::ListSignatoriesRequest {
            commitment_id: id.clone(),
            status: proto::SignatoryStatus::All as i32,
            page_size: 1000,
            ..Default::default()
        };
        let mut served: Vec<Row> = Vec::new();
        loop {
            let page = c
                .list_signatories(req.clone())
                .await
                .map_err(client::status)?
                .into_inner();
            if page.tree_size != registry.size {
                return Ok(format!(
                    "signatories: not compared (the log grew to {} during the audit; run again)",
                    page.tree_size
                ));
            }
            served.extend(page.signatories.into_iter().map(|s| {
                (
                    s.organization_id,
                    s.status,
                    s.first_index,
                    s.endorsed_index,
                    s.withdrawn_index,
                    s.verification.map(|v| v.index),
                    s.flags,
                )
            }));
            if page.next_page_token.is_empty() {
                break;
            }
            req.page_token = page.next_page_token;
        }
        let derived: Vec<Row> = registry
            .listing_order(commitment)
            .iter()
            .map(|org| {
                let s = &commitment.signatories[org];
                let record = &registry.organizations[org];
                let status = match s.status {
                    Status::Current => proto::SignatoryStatus::Current,
                    Status::Withdrawn => proto::SignatoryStatus::Withdrawn,
                } as i32;
                (
                    org.to_vec(),
                    status,
                    s.first_index,
                    s.endorsed_index,
                    s.withdrawn_index,
                    record.verification().map(|v| v.index),
                    registry.flags(record),
                )
            })
            .collect();
        if served != derived {
            let served_map: BTreeMap<_, _> = served.iter().map(|r| (&r.0, r)).collect();
            let first_diff = derived
                .iter()
                .find(|r| served_map.get(&r.0) != Some(r))
                .map_or("an extra or reordered signatory".to_string(), |r| {
                    format!("organization {}", hex::encode(&r.0))
                });
            return Err(CliError::new(
                exit::VERIFY_FAILED,
                format!("audit FAILED: ListSignatories for {id:?} disagrees with the registry derived from the log ({first_diff})"),
            ));
        }
        checked += derived.len();
    }
    Ok(format!(
        "signatories: {} records in {} commitments agree with the registry derived from the log",
        checked,
        registry.commitments.len()
    ))
}
