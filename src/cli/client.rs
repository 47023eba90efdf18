//! Connecting to a server and reporting its errors.

use super::{exit, CliError};
use crate::proto::registry_service_client::RegistryServiceClient;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::Request;

/// The CA certificate to trust for `https://` servers (`--ca` or `ACCORD_CA`,
/// set once at start); without it, the system's roots.
pub static CA_FILE: OnceLock<PathBuf> = OnceLock::new();

fn tls() -> Result<ClientTlsConfig, CliError> {
    let Some(path) = CA_FILE.get() else {
        return Ok(ClientTlsConfig::new().with_native_roots());
    };
    let pem = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("--ca {}: {e}", path.display())))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(CliError::usage(format!(
            "--ca {}: not a PEM certificate",
            path.display()
        )));
    }
    Ok(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
}

/// Reads an admin token file (operator commands send it with their requests).
pub fn admin_token(path: &Path) -> Result<String, CliError> {
    crate::server::datadir::read_admin_token(path).map_err(|e| {
        CliError::usage(format!(
            "{e} (operator commands need the server's admin token; see --admin-token)"
        ))
    })
}

/// A request carrying `authorization: Bearer <token>` if a token is given.
pub fn with_token<T>(message: T, token: Option<&str>) -> Result<Request<T>, CliError> {
    let mut req = Request::new(message);
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| CliError::usage("the admin token is not a valid header value"))?;
        req.metadata_mut()
            .insert(crate::service::access::AUTHORIZATION, value);
    }
    Ok(req)
}

/// How long to wait for a TCP connection, and for any one call: generous for
/// a loaded server, short enough that a wrong address fails quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A connected gRPC client.
pub type Client = RegistryServiceClient<Channel>;

pub async fn connect(url: &str) -> Result<RegistryServiceClient<Channel>, CliError> {
    Ok(RegistryServiceClient::new(channel(url).await?).max_decoding_message_size(64 << 20))
}

/// A connection to `url` (http:// or https://) for any gRPC client.
pub async fn channel(url: &str) -> Result<Channel, CliError> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(CliError::usage(format!(
            "--server {url:?}: expected a URL such as http://127.0.0.1:50051"
        )));
    }
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| CliError::usage(format!("--server {url:?}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .timeout(CALL_TIMEOUT);
    let endpoint = if url.starts_with("https://") {
        endpoint
            .tls_config(tls()?)
            .map_err(|e| CliError::usage(format!("--server {url:?}: TLS: {}", chain(&e))))?
    } else {
        endpoint
    };
    let channel = endpoint.connect().await.map_err(|e| {
        CliError::new(
            exit::SERVER,
            format!("cannot connect to {url}: {}", chain(&e)),
        )
    })?;
    Ok(channel)
}

/// A failed call, with the server's status code and message.
pub fn status(s: tonic::Status) -> CliError {
    CliError::new(
        exit::SERVER,
        format!("server refused: {:?}: {}", s.code(), s.message()),
    )
}

/// An error with its causes: tonic's transport errors say little on their own
/// ("transport error"); the cause says what happened ("Connection refused").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out += &format!(": {c}");
        cause = c.source();
    }
    out
}
