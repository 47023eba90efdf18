//! The one outgoing HTTP client: the log posting checkpoints to its
//! witnesses, and `accord mirror` / `accord audit --tiles` reading tiles.
//! `http://` and `https://` (rustls with the system's roots, the same TLS
//! stack as gRPC), HTTP/1.1 with connection reuse, a timeout per request
//! and a cap on every body read, so a slow or hostile server can neither
//! hang a caller nor fill its memory.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How host names become addresses: the system's resolver, or one fixed
/// address for every name (`check-domain --connect-to`: the request still
/// names the domain, in `Host` and in TLS's SNI).
#[derive(Clone)]
pub enum Resolve {
    System(GaiResolver),
    Fixed(SocketAddr),
}

impl Resolve {
    /// The system's resolver (getaddrinfo on the blocking pool).
    pub fn system() -> Resolve {
        Resolve::System(GaiResolver::new())
    }
}

type Resolved =
    Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower::Service<Name> for Resolve {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolved;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            Resolve::System(gai) => gai.poll_ready(cx),
            Resolve::Fixed(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, name: Name) -> Resolved {
        match self {
            Resolve::System(gai) => {
                let lookup = gai.call(name);
                Box::pin(async move { Ok(lookup.await?.collect::<Vec<_>>().into_iter()) })
            }
            Resolve::Fixed(addr) => {
                let addr = *addr;
                Box::pin(async move { Ok(vec![addr].into_iter()) })
            }
        }
    }
}

/// An answer: status, content type, body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// The body is gzip-encoded (`Content-Encoding: gzip`) and not decoded yet.
    pub gzip: bool,
}

/// Decodes a gzip body of at most `limit` bytes decoded (`Err(None)`: longer).
fn gunzip(bytes: &[u8], limit: usize) -> Result<Bytes, Option<std::io::Error>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Some)?;
    if out.len() > limit {
        return Err(None);
    }
    Ok(Bytes::from(out))
}

#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("bad URL {url:?}: {why}")]
    Url { url: String, why: String },
    #[error("{url}: {why}")]
    Exchange { url: String, why: String },
    #[error("{url}: no answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: the body is longer than {limit} bytes")]
    TooLong { url: String, limit: usize },
    #[error("loading the system's TLS root certificates: {0}")]
    Roots(std::io::Error),
}

/// A cheap-to-clone client (connections are pooled and shared).
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector<Resolve>>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose every request (connect, send, read the whole body)
    /// must finish within `timeout`.
    pub fn new(timeout: Duration) -> Result<HttpClient, HttpClientError> {
        Self::resolving(timeout, Resolve::system())
    }

    /// A client that connects to `resolve`'s addresses.
    pub fn resolving(timeout: Duration, resolve: Resolve) -> Result<HttpClient, HttpClientError> {
        let mut http = HttpConnector::new_with_resolver(resolve);
        // The TLS layer above handles https:// URLs.
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(HttpClientError::Roots)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        Ok(HttpClient { inner, timeout })
    }

    /// `GET url`, reading at most `limit` bytes of body (after decoding:
    /// it takes `gzip`, as tlog-tiles asks of clients, and decodes it).
    pub async fn get(&self, url: &str, limit: usize) -> Result<Reply, HttpClientError> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT_ENCODING, "gzip, identity")
            .body(Full::new(Bytes::new()));
        let mut reply = self.send(url, request, limit).await?;
        if reply.gzip {
            reply.body = gunzip(&reply.body, limit).map_err(|why| match why {
                None => HttpClientError::TooLong {
                    url: url.to_owned(),
                    limit,
                },
                Some(e) => HttpClientError::Exchange {
                    url: url.to_owned(),
                    why: format!("bad gzip body: {e}"),
                },
            })?;
            reply.gzip = false;
        }
        Ok(reply)
    }

    /// `POST url` with a `text/plain` body.
    pub async fn post_text(
        &self,
        url: &str,
        body: String,
        limit: usize,
    ) -> Result<Reply, HttpClientError> {
        let request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)));
        self.send(url, request, limit).await
    }

    async fn send(
        &self,
        url: &str,
        request: Result<http::Request<Full<Bytes>>, http::Error>,
        limit: usize,
    ) -> Result<Reply, HttpClientError> {
        let request = request.map_err(|e| HttpClientError::Url {
            url: url.to_owned(),
            why: e.to_string(),
        })?;
        let scheme = request.uri().scheme_str();
        if !matches!(scheme, Some("http" | "https")) {
            return Err(HttpClientError::Url {
                url: url.to_owned(),
                why: "only http:// and https:// URLs are supported".into(),
            });
        }
        let exchange = async {
            let failed = |e: &dyn std::fmt::Display| HttpClientError::Exchange {
                url: url.to_owned(),
                why: e.to_string(),
            };
            let response = self.inner.request(request).await.map_err(|e| {
                // hyper's Display hides the cause (refused, TLS, DNS…).
                use std::error::Error;
                let cause = e.source().map_or(String::new(), |s| format!(": {s}"));
                failed(&format!("{e}{cause}"))
            })?;
            let status = response.status().as_u16();
            let content_type = (response.headers().get(http::header::CONTENT_TYPE))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let gzip = (response.headers().get(http::header::CONTENT_ENCODING))
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        HttpClientError::TooLong {
                            url: url.to_owned(),
                            limit,
                        }
                    } else {
                        failed(&e)
                    }
                })?
                .to_bytes();
            Ok(Reply {
                status,
                content_type,
                body,
                gzip,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| HttpClientError::Timeout {
                url: url.to_owned(),
                secs: self.timeout.as_secs(),
            })?
    }
}
