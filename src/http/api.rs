//! The JSON read API (`/api/v1/…` on `--http-listen`): the same answers as
//! the gRPC service, for services and browsers without a gRPC client. Each
//! handler converts its query to the `proto` request the gRPC handler takes,
//! calls the same service function (`service::queries`,
//! `service::registry_proof`, the `Reader`), and converts the `proto`
//! answer to JSON (`service::json`). Errors are RFC 9457 problem details
//! whose HTTP status is mapped from the gRPC code the same error gets
//! there (`service::error::http_status`). Reads are public: any origin may
//! read them (CORS), within the same per-client rate limit as gRPC.

use super::api_query::{hex32, index, Params};
use crate::net::ConnInfo;
use crate::proto;
use crate::service::access::Access;
use crate::service::error::{http_status, invalid, ApiError};
use crate::service::reader::Reader;
use crate::service::{json, queries, registry_proof};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{json, Value};

/// Every route, as the OpenAPI document names it (`http::openapi` and its
/// test keep the two in step).
pub const ROUTES: [&str; 8] = [
    "/api/v1/checkpoint",
    "/api/v1/entries/{index}",
    "/api/v1/entries/stream",
    "/api/v1/commitments",
    "/api/v1/commitments/{id}/signatories",
    "/api/v1/organizations/{id}",
    "/api/v1/registry-proof",
    "/api/v1/openapi.json",
];

#[derive(Clone)]
pub struct Api {
    pub reader: Reader,
    access: Access,
    /// Turns true when the server stops: streams say where to resume.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// An error as RFC 9457 problem details (`application/problem+json`).
pub struct Problem(pub tonic::Status);

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Problem {
        Problem(e.into())
    }
}

impl Problem {
    /// The problem-details object of a status.
    pub fn body(s: &tonic::Status) -> Value {
        let code = http_status(s.code());
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": code,
            "detail": s.message(),
        })
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let code = http_status(self.0.code());
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Problem::body(&self.0);
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let pushback = self.0.metadata().get("grpc-retry-pushback-ms");
        if let Some(ms) = pushback.and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000)));
        }
        response
    }
}

type Answer = Result<Response, Problem>;

fn ok(value: Value) -> Answer {
    let mut response = value.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

impl Api {
    /// The per-client rate limit, shared with gRPC.
    pub fn admit(&self, conn: &ConnInfo) -> Result<(), Problem> {
        Ok(self.access.admit(conn.remote.ip())?)
    }

    /// Runs `f` on the blocking pool (storage reads, scans).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, Problem> {
        Ok(self.reader.blocking(f).await?)
    }

    /// Registry answers wait for the registry after a start, as on gRPC.
    async fn registry_ready(&self) -> Result<(), Problem> {
        Ok((self.reader.sequencer.registry_ready().await).map_err(ApiError::from)?)
    }
}

async fn checkpoint(State(api): State<Api>, ConnectInfo(c): ConnectInfo<ConnInfo>) -> Answer {
    api.admit(&c)?;
    ok(json::checkpoint(&api.reader.checkpoint_response()))
}

/// An entry with its inclusion proof in the checkpoint served (the
/// cosigned one under a witness policy), which comes along.
async fn entry(
    State(api): State<Api>,
    ConnectInfo(c): ConnectInfo<ConnInfo>,
    Path(at): Path<String>,
) -> Answer {
    api.admit(&c)?;
    let at = index(&at)?;
    let (note, size, _) = api.reader.checkpoint();
    let (leaf, hash, proof) = api
        .blocking(move |r| {
            let (leaf, hash) = r.entry(at)?;
            let (_, proof) = r.inclusion_proof(at, size)?;
            Ok((leaf, hash, proof))
        })
        .await?;
    #[cfg(feature = "test-corrupt-proof")]
    let proof = corrupt_for_tests(at, proof);
    ok(json!({
        "index": at,
        "leaf": json::base64(&leaf),
        "leaf_hash": hex::encode(hash),
        "tree_size": size,
        "inclusion_proof": proof.iter().map(|h| json::base64(h)).collect::<Vec<_>>(),
        "checkpoint": note,
    }))
}

#[cfg(all(feature = "test-corrupt-proof", not(debug_assertions)))]
compile_error!("the test-corrupt-proof feature is for test builds only, never a release build");

/// Test builds only (with the registry-proof swap above: for the
/// organization `ACCORD_TEST_WRONG_PROOF_FOR`, the proof of
/// `ACCORD_TEST_WRONG_PROOF_FROM`): a wrong proof for the entry `ACCORD_TEST_CORRUPT_ENTRY`
/// names (its first hash's first byte flipped; a one-entry log's empty
/// proof gains a hash), which any verifier must refuse.
#[cfg(feature = "test-corrupt-proof")]
fn corrupt_for_tests(at: u64, mut proof: Vec<crate::core::Hash>) -> Vec<crate::core::Hash> {
    let target = std::env::var("ACCORD_TEST_CORRUPT_ENTRY").ok();
    if target.and_then(|t| t.parse().ok()) == Some(at) {
        match proof.first_mut() {
            Some(h) => h[0] ^= 1,
            None => proof.push([0; 32]),
        }
    }
    proof
}

async fn commitments(State(api): State<Api>, ConnectInfo(c): ConnectInfo<ConnInfo>) -> Answer {
    api.admit(&c)?;
    api.registry_ready().await?;
    let (tree_size, all) = api.blocking(queries::commitments).await?;
    let all: Vec<Value> = (all.iter())
        .map(|(id, versions)| {
            let versions: Vec<Value> = (versions.iter())
                .map(|v| {
                    json!({
                        "version": v.version,
                        "title": v.title,
                        "text_sha256": hex::encode(v.text_sha256),
                        "url": v.url,
                        "index": v.index,
                    })
                })
                .collect();
            json!({ "id": id, "versions": versions })
        })
        .collect();
    ok(json!({ "tree_size": tree_size, "commitments": all }))
}

async fn signatories(
    State(api): State<Api>,
    ConnectInfo(c): ConnectInfo<ConnInfo>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    api.admit(&c)?;
    let mut p = Params::parse(
        query.as_deref(),
        &[
            "group",
            "region",
            "country",
            "status",
            "name",
            "verified_only",
            "page_size",
            "page_token",
        ],
    )?;
    let req = proto::ListSignatoriesRequest {
        commitment_id: id,
        stakeholder_group: p.group()?,
        region: p.region()?,
        country: p.take("country").unwrap_or_default(),
        status: p.status()?,
        name_contains: p.take("name").unwrap_or_default(),
        page_size: p.number("page_size")?.unwrap_or(0),
        page_token: p.take("page_token").unwrap_or_default(),
        verified_only: p.flag("verified_only")?,
    };
    api.registry_ready().await?;
    let answer = queries::list_signatories_answer(&api.reader, req).await?;
    ok(json::signatories(&answer))
}

/// By organization id, else by any of its keys (both are 64 hex digits).
async fn organization(
    State(api): State<Api>,
    ConnectInfo(c): ConnectInfo<ConnInfo>,
    Path(id): Path<String>,
) -> Answer {
    api.admit(&c)?;
    let bytes = hex32(&id, "organization")?;
    api.registry_ready().await?;
    let answer = api
        .blocking(move |r| queries::organization_by_id_or_key(r, bytes))
        .await?;
    ok(json::organization(&answer))
}

/// `?organization_id=HEX` or `?public_key=HEX`, and `&commitment=ID` (none:
/// the organization's record).
async fn registry_proof(
    State(api): State<Api>,
    ConnectInfo(c): ConnectInfo<ConnInfo>,
    RawQuery(query): RawQuery,
) -> Answer {
    use proto::get_registry_proof_request::Subject;
    api.admit(&c)?;
    let mut p = Params::parse(
        query.as_deref(),
        &["organization_id", "public_key", "commitment"],
    )?;
    let subject = match (p.take("organization_id"), p.take("public_key")) {
        #[cfg(feature = "test-corrupt-proof")]
        (Some(id), None)
            if Some(&id) == std::env::var("ACCORD_TEST_WRONG_PROOF_FOR").ok().as_ref() =>
        {
            // Test builds only: a valid proof about another organization.
            let other = std::env::var("ACCORD_TEST_WRONG_PROOF_FROM").unwrap_or_default();
            Subject::OrganizationId(hex32(&other, "organization_id")?.to_vec())
        }
        (Some(id), None) => Subject::OrganizationId(hex32(&id, "organization_id")?.to_vec()),
        (None, Some(key)) => Subject::PublicKey(hex32(&key, "public_key")?.to_vec()),
        _ => {
            return Err(invalid(
                "organization_id",
                "give exactly one of organization_id and public_key",
            )
            .into())
        }
    };
    let query = registry_proof::query(proto::GetRegistryProofRequest {
        subject: Some(subject),
        commitment_id: p.take("commitment").unwrap_or_default(),
    })?;
    api.registry_ready().await?;
    let proof = api
        .blocking(move |r| registry_proof::prove(r, query))
        .await?;
    ok(json::registry_proof(&registry_proof::response(&proof)))
}

async fn openapi() -> Answer {
    ok(super::openapi::document())
}

/// A CORS preflight (a page elsewhere that sends `Last-Event-ID`, say):
/// GET from anywhere, for a day; `cors` adds the origin.
async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Last-Event-ID"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

/// Public data: any web page may read it.
async fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Retry-After"),
    );
    response
}

/// The API's routes (merged into the HTTP listener's router).
pub fn router(
    reader: Reader,
    access: Access,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> axum::Router {
    axum::Router::new()
        .route(ROUTES[0], get(checkpoint).options(preflight))
        .route(ROUTES[1], get(entry).options(preflight))
        .route(ROUTES[2], get(super::api_stream::stream).options(preflight))
        .route(ROUTES[3], get(commitments).options(preflight))
        .route(ROUTES[4], get(signatories).options(preflight))
        .route(ROUTES[5], get(organization).options(preflight))
        .route(ROUTES[6], get(registry_proof).options(preflight))
        .route(ROUTES[7], get(openapi).options(preflight))
        .with_state(Api {
            reader,
            access,
            stopping,
        })
        .layer(axum::middleware::map_response(cors))
}
