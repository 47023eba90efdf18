//! The HTTP read surface (`accord serve --http-listen ADDR`): the log as
//! C2SP tlog-tiles (https://c2sp.org/tlog-tiles) — `/checkpoint`, hash
//! tiles `/tile/<L>/<N>[.p/<W>]` and entry bundles
//! `/tile/entries/<N>[.p/<W>]` — so auditors, mirrors and caches read it
//! without gRPC. Handlers convert, call the same `Reader` the gRPC service
//! uses, and convert back; `status` is the one place errors become HTTP
//! statuses. Served by axum through the same `Incoming` as every listener.

pub mod api;
mod api_query;
mod api_stream;
mod openapi;
pub mod pages;
mod tiles;

use crate::net::{ConnInfo, Incoming, TrackRequests};
use crate::service::reader::Reader;
use crate::storage::StorageError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `text/plain; charset=utf-8`: the checkpoint and every error.
const TEXT: &str = "text/plain; charset=utf-8";
/// Tiles and bundles never change once served (a partial tile of width W
/// is the same W hashes forever): cache them for a year, immutable.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The checkpoint moves with every batch: "SHOULD prevent caching beyond
/// a few seconds" (tlog-tiles); we allow none.
const NO_CACHE: &str = "no-cache";

/// What goes wrong in a request, and the status it gets.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the server is stopping")]
    Task,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = match &self {
            HttpError::NotFound(_) => StatusCode::NOT_FOUND,
            HttpError::Storage(e) if e.transient() => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Storage(_) | HttpError::Task => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("internal error (HTTP): {self}");
        }
        let headers = [
            (header::CONTENT_TYPE, TEXT),
            (header::CACHE_CONTROL, NO_CACHE),
        ];
        (status, headers, format!("{self}\n")).into_response()
    }
}

/// The routes over `reader`: tiles and the JSON API.
pub fn router(
    reader: Reader,
    access: crate::service::access::Access,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> axum::Router {
    let checkpoint = reader.clone();
    let pages = pages::router(reader.clone(), access.clone());
    let api = api::router(reader.clone(), access, stopping);
    axum::Router::new()
        .route(
            "/checkpoint",
            get(move || async move {
                let (text, _, _) = checkpoint.checkpoint();
                let headers = [(header::CONTENT_TYPE, TEXT), (header::CACHE_CONTROL, NO_CACHE)];
                (headers, text)
            }),
        )
        .route(
            "/tile/{*path}",
            get(
                move |axum::extract::Path(path): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap| {
                    let reader = reader.clone();
                    let gzip = accepts_gzip(&headers);
                    async move { tile(reader, path, gzip).await }
                },
            ),
        )
        .merge(api)
        .merge(pages)
        // Every route is a GET: nothing needs a body, so none is read past 16 KiB.
        .layer(axum::extract::DefaultBodyLimit::max(16 << 10))
        .fallback(|| async {
            HttpError::NotFound("no such route; served here: /checkpoint, /tile/<L>/<N>[.p/<W>], /tile/entries/<N>[.p/<W>] (c2sp.org/tlog-tiles), and the JSON API described at /api/v1/openapi.json".into())
        })
        .layer(TrackRequests)
}

/// True if the client takes `gzip` (`Accept-Encoding`; `q=0` refuses it).
fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    (headers.get_all(header::ACCEPT_ENCODING).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let gzip = parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"));
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
            gzip && q > 0.0
        })
}

async fn tile(reader: Reader, path: String, gzip: bool) -> Result<Response, HttpError> {
    let path = format!("tile/{path}");
    let tile =
        crate::core::tiles::Tile::parse(&path).map_err(|e| HttpError::NotFound(e.to_string()))?;
    // "Entry bundles SHOULD be compressed at the HTTP layer" (tlog-tiles):
    // gzip when the client takes it; hash tiles are random bytes.
    let gzip = gzip && tile.kind == crate::core::tiles::Kind::Entries;
    // A tile is up to 256 storage reads (level 0 and bundles: one range read),
    // and compressing a bundle ≈ 1 ms: off the async workers.
    let bytes = tokio::task::spawn_blocking(move || {
        let bytes = tiles::read(&reader, tile)?;
        Ok::<_, HttpError>(if gzip { tiles::gzip(&bytes) } else { bytes })
    })
    .await
    .map_err(|_| HttpError::Task)??;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if tile.kind == crate::core::tiles::Kind::Entries {
        // Caches keep one copy per encoding.
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    Ok(response)
}

/// Serves until `stopping` turns true.
pub async fn serve(
    incoming: Incoming,
    reader: Reader,
    access: crate::service::access::Access,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let app =
        router(reader, access, stopping.clone()).into_make_service_with_connect_info::<ConnInfo>();
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(incoming, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("HTTP endpoint stopped: {e}");
    }
}
