//! Connecting to a server and reporting its errors.

use super::{exit, CliError};
use crate::proto::registry_client::RegistryClient;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// How long to wait for a TCP connection, and for any one call: generous for
/// a loaded server, short enough that a wrong address fails quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn connect(url: &str) -> Result<RegistryClient<Channel>, CliError> {
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
    let channel = endpoint.connect().await.map_err(|e| {
        CliError::new(
            exit::SERVER,
            format!("cannot connect to {url}: {}", chain(&e)),
        )
    })?;
    Ok(RegistryClient::new(channel).max_decoding_message_size(64 << 20))
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
