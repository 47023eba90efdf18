//! `accord bench`: a load generator. It signs every request before the clock
//! starts (signing is the clients' cost, not the log's), then sends them over
//! C concurrent streams and reports throughput and latency percentiles.
//! Bounded in count and time; refuses non-loopback targets unless told.

use super::{client, CliError};
use crate::core::endorsement::Endorsement;
use crate::core::entry::Signed;
use crate::core::model::{Region, StakeholderGroup};
use crate::proto;
use ed25519_dalek::{Signer as _, SigningKey};
use rand_core::{OsRng, RngCore};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(long)]
    server: String,
    /// What to send: `unary` (signed submissions, one per call),
    /// `batch` (SubmitBatch calls of --batch-size), or the registry queries
    /// `list` (ListSignatories first page), `org` (GetOrganization),
    /// `proof` (GetInclusionProof of random entries at the current size) and
    /// `registry-proof` (GetRegistryProof of listed organizations' standing
    /// on global-commitment-dts).
    #[arg(long, default_value = "unary")]
    mode: String,
    /// Statements per SubmitBatch call in `--mode batch` (at most 1000).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Number of requests to send (statements, in the submit modes).
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// Concurrent request streams.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Send at most this many requests per second (open loop: request i
    /// leaves at i/RATE s), to measure latency below the peak; 0 = as fast
    /// as the streams go.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Stop sending after this many seconds, whatever is left.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
    /// Allow a server that is not on the loopback interface.
    #[arg(long)]
    allow_remote: bool,
}

/// Refuses targets other than 127.0.0.0/8, ::1 and localhost.
fn check_loopback(url: &str) -> Result<(), CliError> {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or("");
    let host = host
        .rsplit_once(':')
        .map_or(host, |(h, _)| h)
        .trim_matches(['[', ']']);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "{host} is not a loopback address; pass --allow-remote to load a remote server"
        )))
    }
}

/// `n` endorsements, each by its own fresh key, signed on all cores.
pub fn generate(n: u64) -> Vec<Signed> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut run = [0u8; 8];
    OsRng.fill_bytes(&mut run);
    let run = hex::encode(run);
    let make = |i: u64| {
        let key = SigningKey::generate(&mut OsRng);
        let e = Endorsement {
            commitment_id: "global-commitment-dts".into(),
            // The example commitment as README registers it.
            commitment_sha256: crate::core::sha256(include_bytes!(
                "../../commitments/global-commitment-dts.txt"
            )),
            organization_name: format!("Benchmark organization {run}-{i}"),
            stakeholder_group: StakeholderGroup::ALL[i as usize % 6],
            region: Region::ALL[i as usize % 6],
            country: None,
            domain: None,
            statement: None,
            signed_at: now,
            public_key: key.verifying_key().to_bytes(),
        };
        let signature = key.sign(&e.signed_message()).to_bytes();
        Signed::Endorsement {
            endorsement: e,
            signature,
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()) as u64;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads as usize)
                        .map(make)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let parts: Vec<Vec<Signed>> = handles
            .into_iter()
            .map(|h| h.join().expect("signer thread"))
            .collect();
        // Interleave back into index order.
        (0..n)
            .map(|i| parts[(i % threads) as usize][(i / threads) as usize].clone())
            .collect()
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    if !args.allow_remote {
        check_loopback(&args.server)?;
    }
    // Modes that query first connect now; the others sign first and connect
    // after (a connection that sends nothing for seconds would be closed by
    // the server's first-request deadline).
    let mut client = None;
    let ops: Vec<Op> = match args.mode.as_str() {
        "unary" => tokio::task::spawn_blocking(move || generate(args.requests))
            .await
            .map_err(|e| CliError::usage(e.to_string()))?
            .iter()
            .map(|s| Op::Submit(crate::service::convert::signed_to_proto(s)))
            .collect(),
        "batch" => {
            let size = args.batch_size.clamp(1, crate::service::MAX_BATCH_ITEMS);
            let signed = tokio::task::spawn_blocking(move || generate(args.requests))
                .await
                .map_err(|e| CliError::usage(e.to_string()))?;
            signed
                .chunks(size)
                .map(|c| {
                    Op::Batch(proto::SubmitBatchRequest {
                        items: c
                            .iter()
                            .map(crate::service::convert::signed_to_proto)
                            .collect(),
                    })
                })
                .collect()
        }
        "list" => (0..args.requests).map(|_| Op::List(first_page())).collect(),
        "org" => {
            let c = client.insert(client::connect(&args.server).await?);
            let ids = organization_ids(c, args.requests).await?;
            (0..args.requests as usize)
                .map(|i| Op::Org(ids[i % ids.len()].clone()))
                .collect()
        }
        "proof" => {
            let c = client.insert(client::connect(&args.server).await?);
            inclusion_requests(c, args.requests).await?
        }
        "registry-proof" => {
            use proto::get_organization_request::Key;
            use proto::get_registry_proof_request::Subject;
            let c = client.insert(client::connect(&args.server).await?);
            let ids = organization_ids(c, args.requests).await?;
            (0..args.requests as usize)
                .map(|i| {
                    let Some(Key::OrganizationId(id)) = ids[i % ids.len()].key.clone() else {
                        unreachable!("listed by id")
                    };
                    Op::RegistryProof(proto::GetRegistryProofRequest {
                        subject: Some(Subject::OrganizationId(id)),
                        commitment_id: first_page().commitment_id,
                    })
                })
                .collect()
        }
        other => {
            return Err(CliError::usage(format!(
                "--mode {other:?}: expected unary, batch, list, org, proof or registry-proof"
            )))
        }
    };
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(CliError::usage(format!(
            "--rate {}: expected a number of requests per second, 0 for no limit",
            args.rate
        )));
    }
    let client = match client {
        Some(c) => c,
        None => client::connect(&args.server).await?,
    };
    let queue = Arc::new(std::sync::Mutex::new(ops.into_iter().enumerate()));
    let pace = args.rate;
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (queue, mut client, first_error) =
                (queue.clone(), client.clone(), first_error.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors, mut done) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < deadline {
                    let Some((i, op)) = queue.lock().expect("queue").next() else {
                        break;
                    };
                    if pace > 0.0 {
                        let due = started + Duration::from_secs_f64(i as f64 / pace);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let t = Instant::now();
                    let result = match op {
                        Op::Submit(r) => client.submit(r).await.map(|_| 1),
                        Op::Batch(r) => client.submit_batch(r).await.map(|resp| {
                            let results = resp.into_inner().results;
                            let ok = results
                                .iter()
                                .filter(|r| {
                                    matches!(
                                        r.result,
                                        Some(proto::submit_batch_result::Result::Ok(_))
                                    )
                                })
                                .count();
                            errors += (results.len() - ok) as u64;
                            ok as u64
                        }),
                        Op::List(r) => client.list_signatories(r).await.map(|_| 1),
                        Op::Org(r) => client.get_organization(r).await.map(|_| 1),
                        Op::Proof(r) => client.get_inclusion_proof(r).await.map(|_| 1),
                        Op::RegistryProof(r) => client.get_registry_proof(r).await.map(|_| 1),
                    };
                    match result {
                        Ok(n) => {
                            latencies.push(t.elapsed());
                            done += n;
                        }
                        Err(e) => {
                            errors += 1;
                            first_error
                                .lock()
                                .expect("lock")
                                .get_or_insert_with(|| format!("{:?}: {}", e.code(), e.message()));
                        }
                    }
                }
                (latencies, errors, done)
            })
        })
        .collect();
    let (mut latencies, mut errors, mut done) = (Vec::new(), 0, 0u64);
    for w in workers {
        let (l, e, d) = w.await.map_err(|e| CliError::usage(e.to_string()))?;
        latencies.extend(l);
        errors += e;
        done += d;
    }
    if let Some(e) = first_error.lock().expect("lock").take() {
        eprintln!("first error: {e}");
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    // Successful requests (statements, in the submit modes); latencies are per call.
    let ok = done as f64;
    let (p50, p90, p99) = (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
    );
    let max = latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let rate = ok / elapsed.max(1e-9);
    if args.json {
        out!(
            "{{\"mode\":\"{}\",\"requests\":{},\"ok\":{ok},\"errors\":{errors},\"concurrency\":{},\"rate_limit\":{},\"elapsed_s\":{elapsed:.3},\"throughput_per_sec\":{rate:.1},\"p50_ms\":{p50:.3},\"p90_ms\":{p90:.3},\"p99_ms\":{p99:.3},\"max_ms\":{max:.3}}}",
            args.mode, args.requests, args.concurrency, args.rate
        );
    } else {
        out!(
            "mode {}  requests {}  ok {ok}  errors {errors}  concurrency {}",
            args.mode,
            args.requests,
            args.concurrency
        );
        out!("elapsed {elapsed:.2} s  throughput {rate:.0}/s");
        out!("latency ms: p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  max {max:.2}");
    }
    Ok(())
}

/// One request of the load.
enum Op {
    Submit(proto::SubmitRequest),
    Batch(proto::SubmitBatchRequest),
    List(proto::ListSignatoriesRequest),
    Org(proto::GetOrganizationRequest),
    Proof(proto::GetInclusionProofRequest),
    RegistryProof(proto::GetRegistryProofRequest),
}

/// `n` inclusion-proof requests for pseudo-random entries (xorshift, so runs
/// are repeatable) at the log's current size.
async fn inclusion_requests(
    c: &mut crate::proto::registry_service_client::RegistryServiceClient<tonic::transport::Channel>,
    n: u64,
) -> Result<Vec<Op>, CliError> {
    use proto::get_inclusion_proof_request::Leaf;
    let size = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .map_err(client::status)?
        .into_inner()
        .size;
    if size == 0 {
        return Err(CliError::usage(
            "the log is empty: load some entries with --mode batch first",
        ));
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    Ok((0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Op::Proof(proto::GetInclusionProofRequest {
                leaf: Some(Leaf::Index(x % size)),
                tree_size: size,
            })
        })
        .collect())
}

fn first_page() -> proto::ListSignatoriesRequest {
    proto::ListSignatoriesRequest {
        commitment_id: "global-commitment-dts".into(),
        ..Default::default()
    }
}

/// Up to `n` organization ids, from the listing of global-commitment-dts.
async fn organization_ids(
    c: &mut crate::proto::registry_service_client::RegistryServiceClient<tonic::transport::Channel>,
    n: u64,
) -> Result<Vec<proto::GetOrganizationRequest>, CliError> {
    use proto::get_organization_request::Key;
    let mut req = proto::ListSignatoriesRequest {
        page_size: 1000,
        status: proto::SignatoryStatus::All as i32,
        ..first_page()
    };
    let mut ids = Vec::new();
    while (ids.len() as u64) < n {
        let page = c
            .list_signatories(req.clone())
            .await
            .map_err(client::status)?
            .into_inner();
        ids.extend(
            page.signatories
                .into_iter()
                .map(|s| proto::GetOrganizationRequest {
                    key: Some(Key::OrganizationId(s.organization_id)),
                }),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    if ids.is_empty() {
        return Err(CliError::usage(
            "no organizations endorse global-commitment-dts yet: load some with --mode unary",
        ));
    }
    Ok(ids)
}
