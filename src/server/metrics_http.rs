//! The Prometheus endpoint: `GET /metrics` over HTTP on its own port, so
//! scrapers need no gRPC and metrics never share the API's limits. Served
//! by axum through the same [`Incoming`] as every listener (caps, deadlines,
//! accept back-off).

use crate::metrics::METRICS;
use crate::net::{ConnInfo, Incoming, TrackRequests};
use crate::sequencer::Sequencer;
use axum::http::{header, StatusCode};
use axum::routing::get;

/// OpenMetrics text (what `prometheus-client` writes; Prometheus scrapes it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The routes: `/metrics`, and a 404 that says what is served here.
pub fn router(sequencer: Sequencer) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let body = METRICS.render(sequencer.queue_len());
                async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], body) }
            }),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, CONTENT_TYPE)],
                "only /metrics is served here\n",
            )
        })
        .layer(TrackRequests)
}

/// Serves until `stopping` turns true.
pub async fn serve(
    incoming: Incoming,
    sequencer: Sequencer,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let app = router(sequencer).into_make_service_with_connect_info::<ConnInfo>();
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(incoming, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("metrics endpoint stopped: {e}");
    }
}
