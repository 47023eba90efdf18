//! The `accord` command line. The argument names are a contract (README.md
//! and acceptance checks call them); each subcommand lives in its own module.

/// `println!` for command output. When the reader goes away (`accord
/// signatories … | head -1`) the rest of the output is dropped and the
/// command finishes its work (a receipt still gets written) and its exit
/// status, instead of panicking on EPIPE; any other write error ends the
/// command with status 1. (SIGPIPE stays ignored, as Rust sets it, so a
/// gRPC connection that breaks is an error to report, not a silent death.)
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("accord: error: cannot write the output: {e}");
                std::process::exit(1);
            }
        }
    }};
}

pub mod audit;
mod audit_files;
mod audit_registry;
mod audit_source;
mod backup;
pub mod bench;
mod client;
mod demo;
mod domain;
mod endorse;
mod init;
mod keys;
mod migrate;
mod mirror;
mod prove;
pub(crate) mod registry;
mod serve;
mod tile_walk;
mod tiles_reader;
mod verify;
mod verify_org;
mod witness;
mod witnessed;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "accord",
    version,
    about = "A publicly verifiable registry of signed endorsements"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// CA certificate (PEM) to trust for https:// servers instead of the system's roots.
    #[arg(long, global = true, value_name = "PEM", env = "ACCORD_CA")]
    pub ca: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the log server (creates the data directory and log key on first start).
    Serve(Box<serve::ServeArgs>),
    /// Run a tlog-witness for the logs given (creates its key on first start; prints its vkey).
    Witness(witness::WitnessArgs),
    /// Create a new log without serving it: its keys (log.key, operator.pem, admin.token) in --data, the empty log in its database (--storage URL, or the local store under --data); print its verifier key. For servers that share a PostgreSQL database, which each get a copy of the keys.
    Init(init::InitArgs),
    /// Print the log's verifier key (C2SP vkey form), one line.
    LogKey {
        #[arg(long, default_value = crate::server::DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
    /// Generate an organization key: PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign an endorsement, submit it, and save the receipt (PREFIX.entry, PREFIX.tlog-proof).
    Endorse(Box<endorse::EndorseArgs>),
    /// Print the log's latest signed checkpoint exactly as signed.
    Checkpoint {
        #[arg(long)]
        server: String,
    },
    /// Verify a receipt (or, with --registry-proof, a registry proof) offline; exit 0 only if everything verifies.
    Verify(verify::VerifyArgs),
    /// Fetch a proof of an organization's (or key's) standing on a commitment: current, withdrawn or absent.
    Prove(prove::ProveArgs),
    /// Verify the whole log (or only what is new, with --state) against the log key.
    Audit(audit::AuditArgs),
    /// Copy (or extend) the log's tiles into a directory for any static web server, verified against its signed checkpoint.
    Mirror(mirror::MirrorArgs),
    /// Commitments catalog (operator).
    #[command(subcommand)]
    Commitment(registry::CommitmentCommand),
    /// Withdraw the organization's endorsement of a commitment.
    Withdraw {
        #[arg(long)]
        server: String,
        /// The organization's current key.
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        commitment: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Replace the organization's key (signed by the current and the new key).
    RotateKey {
        #[arg(long)]
        server: String,
        #[arg(long)]
        key: PathBuf,
        /// The new key (make it with `accord keygen`).
        #[arg(long)]
        new_key: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the signatories of a commitment (table, or JSON lines with --json).
    Signatories(registry::SignatoriesArgs),
    /// Show an organization (by id or by a current or former public key, hex).
    Org {
        #[arg(long)]
        server: String,
        id: String,
    },
    /// Rebuild the registry from the stored log and report the rate (server stopped).
    Reindex {
        #[arg(long, default_value = crate::server::DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
    /// Fill a fresh log with demonstration data (the Roundtable 4 champions and key constituents).
    Demo {
        #[arg(long)]
        server: String,
        /// The server's data directory (for the operator key and admin token).
        #[arg(long, default_value = crate::server::DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
    /// Load generator: pre-signs N endorsements, sends them over C streams, reports rates and latencies.
    Bench(bench::BenchArgs),
    /// Operator: sign and submit a verification of an organization (checks the domain proof first for --method domain).
    VerifyOrg(Box<verify_org::VerifyArgs>),
    /// Operator: revoke the verification of an organization (e.g. an impersonation found later).
    UnverifyOrg {
        #[command(flatten)]
        operator: verify_org::Operator,
        #[arg(long)]
        org: String,
        /// Why, in a sentence (goes in the log).
        #[arg(long)]
        reason: String,
    },
    /// Check that an organization's domain vouches for its current key on this log (https://DOMAIN/.well-known/accord.txt).
    CheckDomain {
        #[arg(long)]
        server: String,
        /// The organization id (hex).
        org: String,
        /// The domain to check; default: the one the organization declared.
        #[arg(long)]
        domain: Option<String>,
        #[command(flatten)]
        fetch: verify_org::FetchArgs,
    },
    /// Print the .well-known/accord.txt an organization publishes on its domain.
    DomainProof {
        #[arg(long)]
        server: String,
        /// The organization's current key.
        #[arg(long)]
        key: PathBuf,
    },
    /// Ask a server's grpc.health.v1 service; exit 0 only if it is SERVING (for probes).
    Health {
        #[arg(long)]
        server: String,
        /// The service to ask about; "" is the whole server.
        #[arg(long, default_value = "")]
        service: String,
    },
    /// Save a verified, consistent snapshot of a log (entries + signed checkpoint; not the keys): from a running server, or the data directory of a stopped one.
    Backup {
        #[arg(
            long,
            conflicts_with = "data",
            required_unless_present = "data",
            requires = "vkey"
        )]
        server: Option<String>,
        /// The log's verifier key (with --server): the snapshot is checked against it.
        #[arg(long)]
        vkey: Option<String>,
        /// A stopped server's data directory (its log.key checks the snapshot).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Copy a stopped server's local log into an empty PostgreSQL database (checked against its signed checkpoint; the keys stay in the data directory).
    Migrate {
        /// The stopped server's data directory (keys and local database).
        #[arg(long = "from-data")]
        from_data: PathBuf,
        /// The target database's URL (postgres://USER@HOST/DB).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        access: serve::StorageAccess,
    },
    /// Rebuild a data directory's database from a backup (copy the log's keys into it first).
    Restore {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long, default_value = crate::server::DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
    /// Re-check a misbehaviour evidence file written by `accord audit`.
    CheckEvidence {
        #[arg(long)]
        vkey: String,
        #[arg(long)]
        evidence: PathBuf,
    },
}

/// A command failure: its message and the process exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

/// Exit codes (documented in README.md).
pub mod exit {
    /// Something did not verify.
    pub const VERIFY_FAILED: i32 = 1;
    /// Bad arguments or unreadable input files.
    pub const USAGE: i32 = 2;
    /// The server could not be reached or refused the request.
    pub const SERVER: i32 = 3;
    /// `audit`: the log presented inconsistent checkpoints (evidence written).
    pub const MISBEHAVIOUR: i32 = 4;
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(exit::USAGE, message)
    }
}

pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
}

pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    if let Some(ca) = cli.ca {
        let _ = client::CA_FILE.set(ca);
    }
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Witness(args) => witness::run(args).await,
        Command::Init(args) => init::run(args).await,
        Command::LogKey { data } => {
            let signer = crate::server::datadir::load_key(&data, None)
                .map_err(|e| CliError::usage(e.to_string()))?;
            out!("{}", signer.verifier());
            Ok(())
        }
        Command::Keygen { out } => keys::keygen(&out),
        Command::Endorse(args) => endorse::run(*args).await,
        Command::Checkpoint { server } => {
            let mut c = client::connect(&server).await?;
            let cp = c
                .get_checkpoint(crate::proto::GetCheckpointRequest {})
                .await
                .map_err(client::status)?;
            print!("{}", cp.into_inner().signed_note);
            Ok(())
        }
        Command::Verify(args) => verify::run(args),
        Command::Prove(args) => prove::prove(args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Mirror(args) => mirror::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Commitment(cmd) => registry::commitment(cmd).await,
        Command::Demo { server, data } => demo::run(&server, &data).await,
        Command::Reindex { data } => reindex(&data),
        Command::Health { server, service } => health(&server, service).await,
        Command::VerifyOrg(args) => verify_org::verify(*args).await,
        Command::UnverifyOrg {
            operator,
            org,
            reason,
        } => verify_org::unverify(operator, org, reason).await,
        Command::CheckDomain {
            server,
            org,
            domain,
            fetch,
        } => verify_org::check_domain(&server, &org, domain, &fetch)
            .await
            .map(drop),
        Command::DomainProof { server, key } => verify_org::domain_proof(&server, &key).await,
        Command::Backup {
            server,
            vkey,
            data,
            out,
        } => {
            let source = match (&server, &vkey, &data) {
                (Some(url), Some(vkey), _) => backup::Source::Server { url, vkey },
                (_, _, Some(dir)) => backup::Source::Data(dir),
                _ => {
                    return Err(CliError::usage(
                        "give --server URL --vkey VKEY, or --data DIR",
                    ))
                }
            };
            backup::backup(source, &out).await
        }
        Command::Migrate {
            from_data,
            to,
            access,
        } => migrate::run(&from_data, &to, &access.options()).await,
        Command::Restore { input, data } => {
            tokio::task::block_in_place(|| backup::restore(&input, &data))
        }
        Command::Withdraw {
            server,
            key,
            commitment,
            out,
        } => registry::withdraw(server, key, commitment, out).await,
        Command::RotateKey {
            server,
            key,
            new_key,
            out,
        } => registry::rotate(server, key, new_key, out).await,
        Command::Signatories(args) => registry::signatories(args).await,
        Command::Org { server, id } => registry::org(server, id).await,
        Command::CheckEvidence { vkey, evidence } => verify::check_evidence(&vkey, &evidence),
    }
}

async fn health(server: &str, service: String) -> Result<(), CliError> {
    use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};
    let channel = client::channel(server).await?;
    let answer = HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest { service })
        .await
        .map_err(client::status)?
        .into_inner();
    let status = ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown);
    out!("{}", status.as_str_name());
    if status == ServingStatus::Serving {
        Ok(())
    } else {
        Err(CliError::new(
            exit::SERVER,
            format!("{server} is not serving"),
        ))
    }
}

/// `accord reindex` (server stopped): the repair tool. The registry is
/// derived from the log (SPEC.md §5.4); this replays the whole log,
/// checking every entry against the registry rules, replaces the stored
/// registry with the result, and checks the stored map against the log's
/// last map head (clearing it if it differs, for the next start to rebuild).
fn reindex(data: &std::path::Path) -> Result<(), CliError> {
    use crate::storage::Storage;
    let fail = |e: String| CliError::usage(format!("reindex: {e}"));
    let storage = crate::storage::LocalStorage::open(&crate::server::datadir::db_path(data))
        .map_err(|e| fail(format!("{e} (is the server still running?)")))?;
    let size = storage
        .meta()
        .map_err(|e| fail(e.to_string()))?
        .map_or(0, |m| m.size);
    let started = std::time::Instant::now();
    let registry =
        crate::sequencer::rebuild_registry(&storage, size).map_err(|e| fail(e.to_string()))?;
    let secs = started.elapsed().as_secs_f64();
    let records =
        crate::sequencer::store_registry(&storage, &registry).map_err(|e| fail(e.to_string()))?;
    out!(
        "reindexed {size} entries in {secs:.2} s ({:.0} entries/s): {} organizations, {} commitments; stored {records} registry records in {:.2} s",
        size as f64 / secs.max(1e-9),
        registry.organizations.len(),
        registry.commitments.len(),
        started.elapsed().as_secs_f64() - secs
    );
    // The registry map: it must be the one the log's last map head commits
    // to; if not, clear it, and the next start rebuilds it from the log.
    let Some(last) = size.checked_sub(1) else {
        return Ok(());
    };
    let leaf = (storage.leaf(last).map_err(|e| fail(e.to_string()))?)
        .ok_or_else(|| fail(format!("leaf {last} is missing")))?;
    let entry = crate::core::entry::Entry::from_leaf(&leaf).map_err(|e| fail(e.to_string()))?;
    let crate::core::entry::Signed::MapHead(head) = entry.signed else {
        out!("no map head yet (a log from before them): the next start builds the registry map");
        return Ok(());
    };
    let stored =
        crate::sequencer::stored_map_root(&storage, size).map_err(|e| fail(e.to_string()))?;
    if stored == head.root {
        out!("registry map OK: its root is the one the map head at entry {last} commits to");
    } else {
        let removed = storage.clear_map().map_err(|e| fail(e.to_string()))?;
        out!(
            "registry map did NOT match the map head at entry {last}: cleared {removed} records; the next start rebuilds it from the log and checks it"
        );
    }
    Ok(())
}
