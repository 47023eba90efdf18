//! `GET /api/v1/entries/stream?from=N`: new entries as Server-Sent Events,
//! the HTTP counterpart of `WatchEntries` (and fed by the same code,
//! `service::watch`): replay from `from`, then follow the log live. Each
//! event is `event: entry`, `id: <index>`, `data: {"index", "leaf"
//! (base64), "leaf_hash" (hex)}`; a browser's `EventSource` reconnects by
//! itself with `Last-Event-ID`, which resumes after that index. When the
//! server stops the stream (shutting down, or a consumer too slow for the
//! bounded buffer) it sends `event: error` with problem details saying
//! where to resume.

use super::api::{Api, Problem};
use super::api_query::{index, Params};
use crate::net::ConnInfo;
use crate::service::json;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;

pub async fn stream(
    State(api): State<Api>,
    ConnectInfo(c): ConnectInfo<ConnInfo>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    api.admit(&c)?;
    let mut p = Params::parse(query.as_deref(), &["from"])?;
    let from = match p.take("from") {
        Some(n) => index(&n)?,
        None => 0,
    };
    // A reconnecting EventSource says the last id it received.
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let start = match resume {
        Some(id) => index(id)?.saturating_add(1),
        None => from,
    };
    let entries = crate::service::watch::watch(api.reader.clone(), start, api.stopping.clone());
    let events = entries.map(|item| {
        Ok::<_, std::convert::Infallible>(match item {
            Ok(e) => Event::default()
                .event("entry")
                .id(e.index.to_string())
                .data(
                    json!({
                        "index": e.index,
                        "leaf": json::base64(&e.leaf),
                        "leaf_hash": hex::encode(&e.leaf_hash),
                    })
                    .to_string(),
                ),
            // The stream's last item: where to resume, as problem details.
            Err(status) => Event::default()
                .event("error")
                .data(Problem::body(&status).to_string()),
        })
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
