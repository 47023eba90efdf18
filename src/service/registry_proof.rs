//! GetRegistryProof: what the registry says about an organization or a
//! key, with the proof (SPEC.md §8.2). The answer is assembled holding off
//! commits, so the stored values, the stored map, the map head and the
//! checkpoint all reflect the same tree size.

use super::error::{invalid, ApiError};
use super::reader::Reader;
use crate::core::entry::{Entry, Signed};
use crate::core::map::{self, Node};
use crate::core::map_versions::MapAt;
use crate::core::registry::StoredRegistry;
use crate::core::registry_proof::{Found, Item, Query, RegistryProof, Subject};
use crate::proto;
use crate::storage::{Records, StorageError};

/// Parses the request into the question it asks.
pub fn query(req: proto::GetRegistryProofRequest) -> Result<Query, ApiError> {
    use proto::get_registry_proof_request::Subject as S;
    let bytes32 = |field: &'static str, b: Vec<u8>| -> Result<[u8; 32], ApiError> {
        let len = b.len();
        b.try_into()
            .map_err(|_| invalid(field, format!("must be 32 bytes, got {len}")))
    };
    let subject = match req.subject {
        Some(S::OrganizationId(b)) => Subject::Organization(bytes32("organization_id", b)?),
        Some(S::PublicKey(b)) => Subject::Key(bytes32("public_key", b)?),
        None => {
            return Err(invalid(
                "subject",
                "is required (set organization_id or public_key)",
            ))
        }
    };
    let commitment = match req.commitment_id.as_str() {
        "" => None,
        c => {
            crate::core::endorsement::validate_commitment_id(c)?;
            Some(req.commitment_id)
        }
    };
    Ok(Query {
        subject,
        commitment,
    })
}

/// The proof for `query` at the latest checkpoint.
pub fn prove(reader: &Reader, query: Query) -> Result<RegistryProof, ApiError> {
    reader.at_one_size(|r| prove_at_one_size(r, &query))
}

fn prove_at_one_size(reader: &Reader, query: &Query) -> Result<RegistryProof, ApiError> {
    let registry = StoredRegistry(Records(reader.storage.as_ref()));
    let published = reader.latest();
    let size = published.head.size;
    let Some(index) = size.checked_sub(1) else {
        return Err(ApiError::NotFound(
            "the log is empty: there is no registry map to prove against yet".into(),
        ));
    };
    let (leaf, _) = reader.entry(index)?;
    let head = match Entry::from_leaf(&leaf).map(|e| e.signed) {
        Ok(Signed::MapHead(head)) => head,
        _ => {
            return Err(corrupt(format!(
                "entry {index}, the last, is not a map head"
            )))
        }
    };
    let records = Records(reader.storage.as_ref());
    let map = MapAt::new(&records, size);
    let mut values: Vec<Option<Vec<u8>>> = Vec::new();
    let mut items = Vec::new();
    loop {
        let found: Vec<Option<&[u8]>> = values.iter().map(|v| v.as_deref()).collect();
        let Some(key) = query.next_key(&found)? else {
            break;
        };
        let value = registry.map_value(&key)?;
        let path = map::prove(&map, &key.hash())?;
        // The stored map and the registry are written together; a proof
        // that would not verify is a server fault, never served.
        let proven =
            map::verify(&head.root, &key.hash(), &path).map_err(|e| corrupt(e.to_string()))?;
        if proven != value.as_deref().map(crate::core::sha256) {
            return Err(corrupt(format!(
                "the stored map disagrees with the registry on {key:?}"
            )));
        }
        items.push(Item {
            siblings: path.siblings,
            found: match &value {
                Some(v) => Found::Present(v.clone()),
                None => Found::Absent(path.terminal),
            },
        });
        values.push(value);
    }
    let (_, inclusion) = reader.inclusion_proof(index, size)?;
    Ok(RegistryProof {
        query: query.clone(),
        index,
        inclusion,
        map_head: leaf,
        items,
        checkpoint: published.checkpoint.clone(),
    })
}

fn corrupt(why: String) -> ApiError {
    ApiError::Storage(StorageError::Corrupt(why))
}

/// The response: the proof file, and its parts as fields.
pub fn response(p: &RegistryProof) -> proto::GetRegistryProofResponse {
    let mut found: Vec<Option<&[u8]>> = Vec::new();
    let mut items = Vec::new();
    for item in &p.items {
        let key = (p.query.next_key(&found).ok().flatten()).expect("a proof built for its query");
        let (value, other) = match &item.found {
            Found::Present(v) => (Some(&v[..]), None),
            Found::Absent(Node::Leaf { key, value_hash }) => (None, Some((key, value_hash))),
            Found::Absent(_) => (None, None),
        };
        items.push(proto::RegistryProofItem {
            map_key: key.to_bytes(),
            present: value.is_some(),
            value: value.map_or(vec![], <[u8]>::to_vec),
            siblings: item.siblings.iter().map(|h| h.to_vec()).collect(),
            other_key_hash: other.map_or(vec![], |(k, _)| k.to_vec()),
            other_value_hash: other.map_or(vec![], |(_, v)| v.to_vec()),
        });
        found.push(value);
    }
    proto::GetRegistryProofResponse {
        proof: p.format(),
        tree_size: p.index + 1,
        map_head_index: p.index,
        map_head_leaf: p.map_head.clone(),
        inclusion_proof: p.inclusion.iter().map(|h| h.to_vec()).collect(),
        items,
        checkpoint: p.checkpoint.clone(),
    }
}
