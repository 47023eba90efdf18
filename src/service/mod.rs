//! gRPC handlers for `accord.v1.RegistryService`. Each handler converts the request,
//! calls the sequencer or the [`Reader`], and converts the answer; errors
//! become statuses in one place ([`error`]). Work that grows with the
//! request (pages of entries, listings that need many rows) runs on the
//! blocking pool, off the async executor; bounded reads (proofs, an
//! organization, a default page of signatories) and a single submission's
//! verification and answer run inline, where a handoff would cost more than
//! the work (BENCHMARKS.md), and SubmitBatch verifies on all cores.

pub mod access;
pub mod convert;
pub mod convert_operator;
pub mod counts;
pub mod error;
pub mod json;
pub mod limiter;
pub mod name_cache;
pub mod queries;
pub mod reader;
pub mod registry_proof;
pub mod watch;

use crate::proto::{self, registry_service_server::RegistryService as RegistryApi};
use error::ApiError;
pub use reader::Reader;
use std::time::{SystemTime, UNIX_EPOCH};
use tonic::{Request, Response, Status};

pub struct RegistryService {
    reader: Reader,
    stopping: tokio::sync::watch::Receiver<bool>,
    /// For the per-key limit on statements of unverified organizations.
    access: access::Access,
}

impl RegistryService {
    /// `stopping` turns true when the server shuts down: long-lived streams
    /// then end, so graceful shutdown does not wait for them forever.
    pub fn new(
        reader: Reader,
        stopping: tokio::sync::watch::Receiver<bool>,
        access: access::Access,
    ) -> Self {
        RegistryService {
            reader,
            stopping,
            access,
        }
    }

    /// The per-key allowance: statements by keys of organizations the
    /// operator has not verified (new ones included) are rate-limited;
    /// verified organizations and operator statements are not.
    fn key_allowance(
        &self,
        signed: &crate::core::entry::Signed,
        exempt: bool,
    ) -> Result<(), ApiError> {
        if exempt || signed.is_operator_statement() {
            return Ok(());
        }
        let key = signed.signers()[0];
        // Two point reads, no need to hold off commits: a verification
        // committed a moment ago may or may not count yet.
        use crate::core::registry::{RegistryRead, StoredRegistry};
        let stored = StoredRegistry(crate::storage::Records(self.reader.storage.as_ref()));
        let verified =
            (stored.organization_by_key(&key)?).is_some_and(|o| o.verification().is_some());
        if verified {
            Ok(())
        } else {
            self.access.admit_key(key)
        }
    }

    /// Runs `f` with the reader right here, on the async worker. Only for
    /// work bounded to a few dozen local reads: handing such work to
    /// the blocking pool cost more than the work (proofs at 1M entries:
    /// 8–11k/s through the pool; BENCHMARKS.md has the figures after).
    fn inline<T>(&self, f: impl FnOnce(&Reader) -> Result<T, ApiError>) -> Result<T, Status> {
        Ok(f(&self.reader)?)
    }

    /// Waits until the registry has been rebuilt after a start (registry
    /// queries only; the log itself is served at once).
    async fn registry_ready(&self) -> Result<(), Status> {
        Ok(self
            .reader
            .sequencer
            .registry_ready()
            .await
            .map_err(ApiError::from)?)
    }

    /// Runs `f` with the reader on the blocking pool (work that grows with
    /// the request: pages of entries, listings that need many rows).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, Status> {
        Ok(self.reader.blocking(f).await?)
    }
}

/// Counts statements that fail verification (metrics), passing the result on.
fn verified(result: Result<(), crate::core::Error>) -> Result<(), ApiError> {
    if result.is_err() {
        crate::metrics::METRICS.verify_failures.inc();
    }
    Ok(result?)
}

impl RegistryService {
    /// One statement's way in: decode, the admin token for operator
    /// statements, verification (≈ 50 µs, inline: a blocking-pool handoff
    /// cost more than the work, see BENCHMARKS.md), then the sequencer.
    async fn admit(
        &self,
        req: proto::SubmitRequest,
        caller: Option<access::Caller>,
        exempt: bool,
    ) -> Result<crate::sequencer::Accepted, ApiError> {
        let signed = convert::signed_from_proto(req)?;
        if signed.is_operator_statement() {
            access::authorize(caller)?;
        }
        verified(signed.verify_admission(unix_now()))?;
        self.key_allowance(&signed, exempt)?;
        Ok(self.reader.sequencer.submit(signed).await?)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Most items per SubmitBatch call: bounds one request (≈ 0.5 MiB of
/// statements) and its share of a sequencer batch (4096).
pub const MAX_BATCH_ITEMS: usize = 1000;

/// The reply to an accepted statement: its leaf and the inclusion proof to
/// the checkpoint that includes it (O(log n) storage reads).
fn answer(
    r: &Reader,
    accepted: &crate::sequencer::Accepted,
) -> Result<proto::SubmitResponse, ApiError> {
    let (index, size) = (accepted.index, accepted.published.head.size);
    Ok(proto::SubmitResponse {
        index,
        leaf_hash: accepted.leaf_hash.to_vec(),
        leaf: match &accepted.leaf {
            Some(leaf) => leaf.clone(),
            None => r.entry(index)?.0,
        },
        checkpoint: accepted.published.checkpoint.clone(),
        inclusion_proof: hashes(r.inclusion_proof(index, size)?.1),
        duplicate: accepted.duplicate,
    })
}

fn hashes(v: Vec<crate::core::Hash>) -> Vec<Vec<u8>> {
    v.into_iter().map(|h| h.to_vec()).collect()
}

#[tonic::async_trait]
impl RegistryApi for RegistryService {
    async fn submit(
        &self,
        req: Request<proto::SubmitRequest>,
    ) -> Result<Response<proto::SubmitResponse>, Status> {
        let started = std::time::Instant::now();
        let caller = req.extensions().get::<access::Caller>().copied();
        let exempt = req.extensions().get::<access::KeyLimitExempt>().is_some();
        let accepted = self.admit(req.into_inner(), caller, exempt).await;
        error::record(&accepted, started);
        Ok(Response::new(answer(&self.reader, &accepted?)?))
    }

    async fn submit_batch(
        &self,
        req: Request<proto::SubmitBatchRequest>,
    ) -> Result<Response<proto::SubmitBatchResponse>, Status> {
        let started = std::time::Instant::now();
        let caller = req.extensions().get::<access::Caller>().copied();
        let exempt = req.extensions().get::<access::KeyLimitExempt>().is_some();
        let items = req.into_inner().items;
        if items.len() > MAX_BATCH_ITEMS {
            let n = items.len();
            return Err(error::invalid(
                "items",
                format!("at most {MAX_BATCH_ITEMS} per call, got {n}"),
            )
            .into());
        }
        // Convert and verify every item on all cores; a bad item only
        // fails itself.
        let now = unix_now();
        let checked = self
            .blocking(move |_| {
                Ok(crate::verifier::parallel::map(&items, |item| {
                    let signed = convert::signed_from_proto(item.clone())?;
                    if signed.is_operator_statement() {
                        access::authorize(caller)?;
                    }
                    verified(signed.verify_admission(now))?;
                    Ok::<_, ApiError>(signed)
                }))
            })
            .await?;
        // Queue all valid items at once: the sequencer commits them together.
        let mut results: Vec<Option<Result<_, ApiError>>> =
            (0..checked.len()).map(|_| None).collect();
        let mut queued = tokio::task::JoinSet::new();
        for (i, item) in checked.into_iter().enumerate() {
            match item.and_then(|signed| self.key_allowance(&signed, exempt).map(|()| signed)) {
                Ok(signed) => {
                    let sequencer = self.reader.sequencer.clone();
                    queued.spawn(async move { (i, sequencer.submit(signed).await) });
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        while let Some(done) = queued.join_next().await {
            let (i, r) = done.map_err(|e| Status::internal(e.to_string()))?;
            results[i] = Some(r.map_err(ApiError::from));
        }
        for r in results.iter().flatten() {
            error::record(r, started);
        }
        let results = self
            .blocking(move |r| {
                Ok(results
                    .into_iter()
                    .map(|res| {
                        let result =
                            match res.expect("every item decided").and_then(|a| answer(r, &a)) {
                                Ok(ok) => proto::submit_batch_result::Result::Ok(ok),
                                Err(e) => {
                                    let status = Status::from(e);
                                    proto::submit_batch_result::Result::Error(proto::ItemError {
                                        code: status.code() as i32,
                                        message: status.message().to_owned(),
                                    })
                                }
                            };
                        proto::SubmitBatchResult {
                            result: Some(result),
                        }
                    })
                    .collect())
            })
            .await?;
        Ok(Response::new(proto::SubmitBatchResponse { results }))
    }

    async fn get_entry(
        &self,
        req: Request<proto::GetEntryRequest>,
    ) -> Result<Response<proto::GetEntryResponse>, Status> {
        let index = req.into_inner().index;
        let (leaf, hash) = self.inline(move |r| r.entry(index))?;
        Ok(Response::new(proto::GetEntryResponse {
            index,
            leaf,
            leaf_hash: hash.to_vec(),
        }))
    }

    async fn get_entries(
        &self,
        req: Request<proto::GetEntriesRequest>,
    ) -> Result<Response<proto::GetEntriesResponse>, Status> {
        let proto::GetEntriesRequest { start, end } = req.into_inner();
        let entries = self.blocking(move |r| r.entries(start, end)).await?;
        let entries = entries
            .into_iter()
            .map(|(index, leaf, hash)| proto::Entry {
                index,
                leaf,
                leaf_hash: hash.to_vec(),
            })
            .collect();
        Ok(Response::new(proto::GetEntriesResponse { entries }))
    }

    async fn get_checkpoint(
        &self,
        _: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        Ok(Response::new(self.reader.checkpoint_response()))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<proto::GetInclusionProofRequest>,
    ) -> Result<Response<proto::GetInclusionProofResponse>, Status> {
        use proto::get_inclusion_proof_request::Leaf;
        let req = req.into_inner();
        let (leaf, tree_size) = (req.leaf, req.tree_size);
        let (index, size, proof) = self.inline(move |r| {
            let index = match leaf {
                Some(Leaf::Index(i)) => i,
                Some(Leaf::LeafHash(h)) => r.index_of(&h)?,
                None => {
                    return Err(error::invalid(
                        "leaf",
                        "is required (set index or leaf_hash)",
                    ))
                }
            };
            let (size, proof) = r.inclusion_proof(index, tree_size)?;
            Ok((index, size, proof))
        })?;
        Ok(Response::new(proto::GetInclusionProofResponse {
            index,
            tree_size: size,
            hashes: hashes(proof),
        }))
    }

    async fn get_consistency_proof(
        &self,
        req: Request<proto::GetConsistencyProofRequest>,
    ) -> Result<Response<proto::GetConsistencyProofResponse>, Status> {
        let proto::GetConsistencyProofRequest { old_size, new_size } = req.into_inner();
        let (new, proof) = self.inline(move |r| r.consistency_proof(old_size, new_size))?;
        Ok(Response::new(proto::GetConsistencyProofResponse {
            old_size,
            new_size: new,
            hashes: hashes(proof),
        }))
    }

    async fn list_signatories(
        &self,
        req: Request<proto::ListSignatoriesRequest>,
    ) -> Result<Response<proto::ListSignatoriesResponse>, Status> {
        let req = req.into_inner();
        self.registry_ready().await?;
        let resp = queries::list_signatories_answer(&self.reader, req).await?;
        Ok(Response::new(resp))
    }

    async fn get_organization(
        &self,
        req: Request<proto::GetOrganizationRequest>,
    ) -> Result<Response<proto::GetOrganizationResponse>, Status> {
        let req = req.into_inner();
        self.registry_ready().await?;
        let resp = self.inline(move |r| queries::get_organization(r, req))?;
        Ok(Response::new(resp))
    }

    async fn get_registry_proof(
        &self,
        req: Request<proto::GetRegistryProofRequest>,
    ) -> Result<Response<proto::GetRegistryProofResponse>, Status> {
        let query = registry_proof::query(req.into_inner())?;
        self.registry_ready().await?;
        // Two map paths and an inclusion proof: ≈ 60 reads, bounded.
        let proof = self.inline(move |r| registry_proof::prove(r, query))?;
        Ok(Response::new(registry_proof::response(&proof)))
    }

    type WatchEntriesStream = watch::EntryStream;

    async fn watch_entries(
        &self,
        req: Request<proto::WatchEntriesRequest>,
    ) -> Result<Response<Self::WatchEntriesStream>, Status> {
        Ok(Response::new(watch::watch(
            self.reader.clone(),
            req.into_inner().start,
            self.stopping.clone(),
        )))
    }
}
