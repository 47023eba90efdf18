//! The gRPC ecosystem's standard services next to ours: `grpc.health.v1`
//! (load balancers, Kubernetes probes, `accord health`) and server
//! reflection in both versions (v1 for buf curl and grpcurl, v1alpha for
//! Python grpcio's reflection client), so generic tools work without our
//! .proto file.

use crate::sequencer::Loading;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic_health::ServingStatus;

/// The service name health checks ask about ("" means the whole server).
pub const REGISTRY_SERVICE: &str = "accord.v1.RegistryService";

/// Health and reflection services. Health says SERVING while the log
/// accepts work, NOT_SERVING once storage failed (the sequencer stopped)
/// or shutdown began, so traffic drains to other replicas.
pub fn routes(
    mut status: watch::Receiver<Loading>,
    mut stopping: watch::Receiver<bool>,
) -> Result<Routes, tonic_reflection::server::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        loop {
            let failed = matches!(
                *status.borrow_and_update(),
                Loading::Failed(_) | Loading::Unreachable(_)
            );
            let serving = if failed || *stopping.borrow_and_update() {
                ServingStatus::NotServing
            } else {
                ServingStatus::Serving
            };
            for name in ["", REGISTRY_SERVICE] {
                reporter.set_service_status(name, serving).await;
            }
            // Both senders gone: the server has stopped.
            tokio::select! {
                r = status.changed() => if r.is_err() { break },
                r = stopping.changed() => if r.is_err() { break },
            }
        }
    });
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    Ok(Routes::new(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?))
}
