//! One log line per gRPC request at debug level: method, gRPC status and
//! latency. A tower layer around every service, so handlers stay free of
//! logging. The status is the `grpc-status` header of trailers-only answers
//! (every error of a unary call); answers whose status travels in the
//! trailers (successes, streams) are logged as 0.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLog;

impl<S> tower::Layer<S> for RequestLog {
    type Service = Logged<S>;
    fn layer(&self, inner: S) -> Logged<S> {
        Logged(inner)
    }
}

#[derive(Clone, Debug)]
pub struct Logged<S>(S);

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Logged<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Boxed<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return Box::pin(self.0.call(req));
        }
        let method = req.uri().path().to_owned();
        let started = Instant::now();
        let answer = self.0.call(req);
        Box::pin(async move {
            let res = answer.await;
            let status = match &res {
                Ok(r) => (r.headers().get("grpc-status"))
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_owned(),
                Err(_) => "transport error".to_owned(),
            };
            let ms = format!("{:.3}", started.elapsed().as_secs_f64() * 1000.0);
            tracing::debug!(%method, grpc_status = %status, %ms, "request");
            res
        })
    }
}
