//! Domain proofs (SPEC.md §11): an organization shows it controls its
//! website's domain by publishing `https://DOMAIN/.well-known/accord.txt`
//! naming the log (origin), its organization id and its current key. This
//! module fetches that file — HTTPS with the system's roots, no redirects,
//! at most 64 KiB — and checks it.

use super::CliError;
use crate::http_client::{HttpClient, HttpClientError, Resolve};
use std::time::Duration;

pub const WELL_KNOWN_PATH: &str = "/.well-known/accord.txt";
pub const HEADER: &str = "accord-domain-proof/v1";
/// A proof file is a few lines; 64 KiB bounds what a hostile server can send.
const MAX_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach the domain. Tests serve the file from 127.0.0.1 over plain
/// HTTP; only they set these (the CLI flags are hidden and say so).
#[derive(Debug, Clone, Default)]
pub struct Fetch {
    /// Connect here instead of resolving the domain (HOST:PORT).
    pub connect_to: Option<String>,
    /// Plain HTTP instead of HTTPS: for tests only.
    pub insecure_http: bool,
}

/// One `ORIGIN ORGANIZATION-ID PUBLIC-KEY` line of a proof file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub origin: String,
    pub organization_id: [u8; 32],
    pub public_key: [u8; 32],
}

/// Parses a proof file strictly: the header line, then records; blank lines
/// and `#` comments are ignored; anything else is an error naming the line.
pub fn parse(text: &str) -> Result<Vec<Record>, String> {
    let mut lines = text.split('\n');
    if lines.next().map(|l| l.trim_end_matches('\r')) != Some(HEADER) {
        return Err(format!("the first line must be {HEADER:?}"));
    }
    let hex32 = |s: &str| -> Option<[u8; 32]> { hex::decode(s).ok()?.try_into().ok() };
    let mut records = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let record = match fields[..] {
            [origin, org, key] => hex32(org).zip(hex32(key)).map(|(o, k)| Record {
                origin: origin.to_owned(),
                organization_id: o,
                public_key: k,
            }),
            _ => None,
        };
        records.push(record.ok_or_else(|| {
            format!(
                "line {}: expected \"ORIGIN ORGANIZATION-ID PUBLIC-KEY\" (hex)",
                n + 2
            )
        })?);
    }
    Ok(records)
}

/// Whether `domain`'s proof file vouches for this organization and key on
/// the log named `origin`. `Err` explains a missing or malformed file.
pub async fn check(
    domain: &str,
    origin: &str,
    org: &[u8; 32],
    key: &[u8; 32],
    how: &Fetch,
) -> Result<Result<(), String>, CliError> {
    let text = fetch(domain, how).await?;
    let records = parse(&text).map_err(|e| {
        CliError::new(
            super::exit::VERIFY_FAILED,
            format!("{domain}{WELL_KNOWN_PATH}: {e}"),
        )
    })?;
    let ours: Vec<&Record> = records
        .iter()
        .filter(|r| r.organization_id == *org)
        .collect();
    Ok(
        if ours
            .iter()
            .any(|r| r.origin == origin && r.public_key == *key)
        {
            Ok(())
        } else if ours.iter().any(|r| r.public_key == *key) {
            Err(format!(
                "{domain} names this key for another log, not {origin:?}"
            ))
        } else if !ours.is_empty() {
            Err(format!(
                "{domain} names another key for this organization, not its current key"
            ))
        } else {
            Err(format!(
                "{domain} does not name organization {}",
                hex::encode(org)
            ))
        },
    )
}

/// GETs the proof file through the shared client (`http_client`): HTTPS
/// with the system's roots, redirects not followed, 64 KiB at most, one
/// timeout for the whole exchange.
async fn fetch(domain: &str, how: &Fetch) -> Result<String, CliError> {
    let fail = |why: String| {
        CliError::new(
            super::exit::SERVER,
            format!("{domain}{WELL_KNOWN_PATH}: {why}"),
        )
    };
    let scheme = if how.insecure_http { "http" } else { "https" };
    let (resolve, authority) = match &how.connect_to {
        None => (Resolve::system(), domain.to_owned()),
        Some(to) => {
            let addr = (tokio::net::lookup_host(to).await.ok())
                .and_then(|mut a| a.next())
                .ok_or_else(|| fail(format!("--connect-to {to:?}: not an address")))?;
            (Resolve::Fixed(addr), format!("{domain}:{}", addr.port()))
        }
    };
    let client = HttpClient::resolving(TIMEOUT, resolve).map_err(|e| fail(e.to_string()))?;
    let url = format!("{scheme}://{authority}{WELL_KNOWN_PATH}");
    let reply = client.get(&url, MAX_BYTES).await.map_err(|e| match e {
        HttpClientError::TooLong { .. } => fail("the answer is larger than 64 KiB".into()),
        e => fail(e.to_string()),
    })?;
    if reply.status != 200 {
        return Err(fail(format!(
            "HTTP status {} (redirects are not followed)",
            reply.status
        )));
    }
    String::from_utf8(reply.body.to_vec()).map_err(|_| fail("the answer is not UTF-8 text".into()))
}

/// The proof file an organization publishes for itself on one log.
pub fn proof_file(origin: &str, org: &[u8; 32], key: &[u8; 32]) -> String {
    format!(
        "{HEADER}\n{origin} {} {}\n",
        hex::encode(org),
        hex::encode(key)
    )
}
