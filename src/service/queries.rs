//! Registry queries: the signatory listing and organization records, read
//! from the stored registry (`core::registry::records`) while holding off
//! commits. Every answer names the tree size it reflects and the entry
//! indices it derives from, so each fact can be proven with an inclusion
//! proof (and each record with a registry proof).

use super::convert_operator::state_to_proto;
use super::error::{invalid, ApiError};
use super::name_cache::NameCache;
use super::reader::Reader;
use crate::core::model::{Region, StakeholderGroup};
use crate::core::registry::StoredRegistry;
use crate::core::registry::{flags_in, Organization, RegistryRead, Signatory, Status};
use crate::proto;
use crate::storage::{Records, Storage, StorageError};

type Stored<'a> = StoredRegistry<Records<'a, dyn Storage>>;

fn missing(what: String) -> ApiError {
    ApiError::Storage(StorageError::Corrupt(format!(
        "registry record missing: {what}"
    )))
}

/// Default and largest page of ListSignatories. 1000 records ≈ 200 KiB.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;
/// Listing rows one call examines at most. A call holds off commits for
/// its whole scan (one tree size per answer), and a filter that matches
/// little (a rare name at 1M organizations) could otherwise scan them all.
/// Each row costs an organization read (≈ 3–5 µs warm at 1M), so a call
/// holds commits for ≈ 50 ms at most. It then answers with the rows found
/// so far — possibly none — and a token to continue after the last row
/// examined.
pub const MAX_EXAMINED: usize = 10_000;

fn status(s: Status) -> i32 {
    match s {
        Status::Current => proto::SignatoryStatus::Current as i32,
        Status::Withdrawn => proto::SignatoryStatus::Withdrawn as i32,
    }
}

fn signatory(
    r: &Stored,
    names: &NameCache,
    s: &Signatory,
    org: &Organization,
) -> Result<proto::Signatory, ApiError> {
    let p = &org.profile;
    Ok(proto::Signatory {
        organization_id: org.id.to_vec(),
        name: p.name.clone(),
        stakeholder_group: i32::from(p.group.code()),
        region: i32::from(p.region.code()),
        country: p.country.clone().unwrap_or_default(),
        domain: p.domain.clone().unwrap_or_default(),
        status: status(s.status),
        first_index: s.first_index,
        endorsed_index: s.endorsed_index,
        withdrawn_index: s.withdrawn_index,
        commitment_sha256: s.text_sha256.to_vec(),
        verification: org.verification().map(state_to_proto),
        flags: flags_in(r, org, &mut |n| names.get(n))?,
    })
}

/// Where a page starts: listings show verified organizations first ("v"),
/// then the others ("u"), each in first-endorsement order; the token names
/// the part and the last position shown.
fn parse_token(token: &str) -> Result<(bool, Option<u64>), ApiError> {
    let bad = || invalid("page_token", "is not a token from a previous page");
    if token.is_empty() {
        return Ok((true, None));
    }
    let (part, at) = token.split_at(token.find(|c: char| c.is_ascii_digit()).ok_or_else(bad)?);
    let at = Some(at.parse().map_err(|_| bad())?);
    match part {
        "v" => Ok((true, at)),
        "u" => Ok((false, at)),
        _ => Err(bad()),
    }
}

pub fn list_signatories(
    reader: &Reader,
    req: proto::ListSignatoriesRequest,
) -> Result<proto::ListSignatoriesResponse, ApiError> {
    reader
        .at_one_size(|r| list_at_one_size(r, &req, r.max_examined))
        .map(|(answer, _)| answer)
}

/// Listing rows [`list_signatories_inline`] examines at most: a default
/// page and a few rows skipped on the way (withdrawn organizations, and
/// in the second part the verified ones, listed first). Warm, a row costs
/// ≈ 1–2 µs (its records in the record cache); with its ≈ 5 records in
/// the records store's or the OS's cache ≈ 15–25 µs (measured with redb),
/// so ≈ 3 ms for 128 rows; reads
/// from the disk itself (after a restart) take longer.
pub const INLINE_EXAMINED: usize = 128;
// A full default page needs DEFAULT_PAGE + 1 matching rows.
const _: () = assert!(INLINE_EXAMINED > DEFAULT_PAGE as usize);

/// The listing answered right here, on the async worker, when it is an
/// unfiltered page of at most [`DEFAULT_PAGE`] rows found within
/// [`INLINE_EXAMINED`] rows of the local store, with no commit holding
/// off readers; `None` otherwise (larger pages, filters, which may skip
/// many rows, a shared database's network reads, a commit under way):
/// the caller then runs [`list_signatories`] on the blocking pool, and an
/// inline attempt's work is lost. `Some` holds the answer the blocking
/// pool would give (an error, or, if the server's scan limit is at most
/// [`INLINE_EXAMINED`], the same short page and token). Why: the first
/// page is the hottest query, and the blocking pool's two thread
/// hand-offs were a third of its server time (issue 14: p99 0.71 ms at
/// 1M against 0.51).
pub fn list_signatories_inline(
    reader: &Reader,
    req: &proto::ListSignatoriesRequest,
) -> Option<Result<proto::ListSignatoriesResponse, ApiError>> {
    let filtered = !req.name_contains.is_empty()
        || !req.country.is_empty()
        || req.stakeholder_group != 0
        || req.region != 0
        || req.status == proto::SignatoryStatus::Withdrawn as i32;
    if filtered || req.page_size > DEFAULT_PAGE {
        return None;
    }
    let limit = INLINE_EXAMINED.min(reader.max_examined);
    match reader.at_one_size_now(|r| list_at_one_size(r, req, limit))? {
        Ok((_, true)) if limit < reader.max_examined => None,
        Ok((answer, _)) => Some(Ok(answer)),
        Err(e) => Some(Err(e)),
    }
}

/// The listing as both surfaces answer it (gRPC and the JSON API): on the
/// async worker when [`list_signatories_inline`] can, else on the
/// blocking pool.
pub async fn list_signatories_answer(
    reader: &Reader,
    req: proto::ListSignatoriesRequest,
) -> Result<proto::ListSignatoriesResponse, ApiError> {
    match list_signatories_inline(reader, &req) {
        Some(answer) => answer,
        None => reader.blocking(move |r| list_signatories(r, req)).await,
    }
}

/// The listing, examining at most `limit` rows; true if it stopped there
/// with rows left (a larger limit might have answered more).
fn list_at_one_size(
    reader: &Reader,
    req: &proto::ListSignatoriesRequest,
    limit: usize,
) -> Result<(proto::ListSignatoriesResponse, bool), ApiError> {
    let tree_size = reader.latest().head.size;
    let r: Stored = StoredRegistry(Records(reader.storage.as_ref()));
    if r.versions(&req.commitment_id)?.is_none() {
        return Err(ApiError::NotFound(format!(
            "commitment_id: {:?} is not a registered commitment",
            req.commitment_id
        )));
    }
    let page = match req.page_size {
        0 => DEFAULT_PAGE,
        n if n > MAX_PAGE => {
            return Err(invalid(
                "page_size",
                format!("must be at most {MAX_PAGE}, got {n}"),
            ))
        }
        n => n,
    } as usize;
    let (in_verified, after) = parse_token(&req.page_token)?;
    let group = match req.stakeholder_group {
        0 => None,
        g => Some(StakeholderGroup::from_code(
            u8::try_from(g).unwrap_or(u8::MAX),
        )?),
    };
    let region = match req.region {
        0 => None,
        g => Some(Region::from_code(u8::try_from(g).unwrap_or(u8::MAX))?),
    };
    let wanted: &[Status] = match proto::SignatoryStatus::try_from(req.status) {
        Ok(proto::SignatoryStatus::Unspecified | proto::SignatoryStatus::Current) => {
            &[Status::Current]
        }
        Ok(proto::SignatoryStatus::Withdrawn) => &[Status::Withdrawn],
        Ok(proto::SignatoryStatus::All) => &[Status::Current, Status::Withdrawn],
        Err(_) => return Err(invalid("status", format!("unknown value {}", req.status))),
    };
    let needle = req.name_contains.to_lowercase();
    let start = after.map_or(0, |a| a.saturating_add(1));
    // The verified part (unless the token is past it), then the others.
    let mut parts = Vec::new();
    if in_verified {
        parts.push(('v', start));
    }
    if !req.verified_only {
        parts.push(('u', if in_verified { 0 } else { start }));
    }
    let c = &req.commitment_id;
    let chunk = (page + 1).clamp(16, MAX_PAGE as usize + 1);
    let mut out = Vec::with_capacity(page);
    // Tokens as (part, first index), formatted once at the end.
    let (mut next, mut last) = (None, None);
    // The last row examined, how many were, and whether the limit cut the
    // scan short.
    let (mut cursor, mut examined, mut cut) = (None, 0usize, false);
    'parts: for (part, mut from) in parts {
        loop {
            let rows = r.listing(c, part == 'v', from, chunk)?;
            if reader.storage.shared() {
                // Every row's records read up front: on a shared database
                // a probing run (Reader::at_one_size) then notes them all,
                // and they are fetched in one round, not one per row.
                for (_, org_id) in &rows {
                    let _ = r.organization(org_id);
                    let _ = r.signatory(org_id, c);
                }
            }
            for (first, org_id) in &rows {
                if examined == limit {
                    (next, cut) = (cursor, true);
                    break 'parts;
                }
                examined += 1;
                cursor = Some((part, *first));
                let org = (r.organization(org_id)?).ok_or_else(|| missing(hex::encode(org_id)))?;
                let p = &org.profile;
                let keep = (part == 'v' || org.verification().is_none())
                    && group.is_none_or(|g| g == p.group)
                    && region.is_none_or(|g| g == p.region)
                    && (req.country.is_empty() || p.country.as_deref() == Some(&req.country))
                    && (needle.is_empty() || p.name.to_lowercase().contains(&needle));
                if !keep {
                    continue;
                }
                let s = (r.signatory(org_id, c)?)
                    .ok_or_else(|| missing(format!("{} on {c:?}", hex::encode(org_id))))?;
                if !wanted.contains(&s.status) {
                    continue;
                }
                if out.len() == page {
                    next = last;
                    break 'parts;
                }
                debug_assert_eq!(*first, s.first_index);
                out.push(signatory(&r, &reader.names, &s, &org)?);
                last = Some((part, *first));
            }
            match rows.last() {
                Some((first, _)) if rows.len() == chunk => from = first + 1,
                _ => break,
            }
        }
    }
    let answer = proto::ListSignatoriesResponse {
        tree_size,
        signatories: out,
        next_page_token: next.map_or_else(String::new, |(part, at)| format!("{part}{at}")),
    };
    Ok((answer, cut))
}

pub fn get_organization(
    reader: &Reader,
    req: proto::GetOrganizationRequest,
) -> Result<proto::GetOrganizationResponse, ApiError> {
    reader.at_one_size(|r| organization_at_one_size(r, &req))
}

/// `b` as a 32-byte key, or the error that names `field`.
fn key32(b: &[u8], field: &'static str) -> Result<[u8; 32], ApiError> {
    b.try_into()
        .map_err(|_| invalid(field, format!("must be 32 bytes, got {}", b.len())))
}

fn organization_at_one_size(
    reader: &Reader,
    req: &proto::GetOrganizationRequest,
) -> Result<proto::GetOrganizationResponse, ApiError> {
    use proto::get_organization_request::Key;
    let tree_size = reader.latest().head.size;
    let r: Stored = StoredRegistry(Records(reader.storage.as_ref()));
    let org = match &req.key {
        Some(Key::OrganizationId(id)) => r.organization(&key32(id, "organization_id")?)?,
        Some(Key::PublicKey(k)) => r.organization_by_key(&key32(k, "public_key")?)?,
        None => {
            return Err(invalid(
                "key",
                "is required (set organization_id or public_key)",
            ))
        }
    }
    .ok_or_else(|| ApiError::NotFound("no such organization".into()))?;
    let mut standings = r.signatories_of(&org.id)?;
    standings.sort_by(|a, b| a.0.cmp(&b.0));
    let commitments = standings
        .into_iter()
        .map(|(id, s)| proto::Standing {
            commitment_id: id,
            status: status(s.status),
            endorsed_index: s.endorsed_index,
            withdrawn_index: s.withdrawn_index,
        })
        .collect();
    let p = &org.profile;
    Ok(proto::GetOrganizationResponse {
        tree_size,
        organization_id: org.id.to_vec(),
        current_public_key: org.current_key.to_vec(),
        name: p.name.clone(),
        stakeholder_group: i32::from(p.group.code()),
        region: i32::from(p.region.code()),
        country: p.country.clone().unwrap_or_default(),
        domain: p.domain.clone().unwrap_or_default(),
        history: org.history.clone(),
        commitments,
        last_signed_at: org.last_signed_at,
        verification: org.verification().map(state_to_proto),
        flags: flags_in(&r, &org, &mut |n| reader.names.get(n))?,
        verification_history: org.verification_history().to_vec(),
        operator_signed_at: org.operator_signed_at(),
    })
}

/// Commitment ids with their registered versions.
pub type Commitments = Vec<(String, Vec<crate::core::registry::Version>)>;

/// The registered commitments and their versions, at one tree size (the
/// HTTP API's `/commitments`; gRPC clients read them from the log).
pub fn commitments(reader: &Reader) -> Result<(u64, Commitments), ApiError> {
    reader.at_one_size(|reader| {
        let tree_size = reader.latest().head.size;
        let r: Stored = StoredRegistry(Records(reader.storage.as_ref()));
        Ok((tree_size, r.commitments()?))
    })
}

/// `GetOrganization` by 32 bytes that are an organization id or, failing
/// that, one of its current or former keys (the HTTP surfaces take either).
pub fn organization_by_id_or_key(
    reader: &Reader,
    bytes: [u8; 32],
) -> Result<proto::GetOrganizationResponse, ApiError> {
    use proto::get_organization_request::Key;
    let by = |key| get_organization(reader, proto::GetOrganizationRequest { key: Some(key) });
    match by(Key::OrganizationId(bytes.to_vec())) {
        Err(ApiError::NotFound(_)) => by(Key::PublicKey(bytes.to_vec())).map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound(format!(
                "organization: no organization has the id or key {}",
                hex::encode(bytes)
            )),
            e => e,
        }),
        other => other,
    }
}
