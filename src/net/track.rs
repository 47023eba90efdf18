//! The tower layer that tells a connection's deadlines when requests begin
//! and end: a request counts from its arrival until its response body is
//! finished or dropped, so a long stream (WatchEntries) keeps its
//! connection open however quiet it is.

use super::conn::{ConnInfo, RequestGuard};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Put it in front of every service a listener serves (tonic and axum).
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackRequests;

impl<S> tower::Layer<S> for TrackRequests {
    type Service = Tracked<S>;
    fn layer(&self, inner: S) -> Tracked<S> {
        Tracked(inner)
    }
}

#[derive(Clone, Debug)]
pub struct Tracked<S>(S);

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Tracked<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<GuardedBody<R>>;
    type Error = S::Error;
    type Future = Boxed<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let guard = ConnInfo::of(req.extensions()).map(|c| c.state.begin());
        let answer = self.0.call(req);
        Box::pin(async move {
            let res = answer.await?;
            Ok(res.map(|inner| GuardedBody {
                inner,
                _guard: guard,
            }))
        })
    }
}

/// A response body that ends its request when it is finished or dropped.
pub struct GuardedBody<B> {
    inner: B,
    _guard: Option<RequestGuard>,
}

impl<B: http_body::Body + Unpin> http_body::Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
