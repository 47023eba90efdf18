//! `accord init`: a new log — its three key files in the data directory,
//! and the empty log itself (a signed checkpoint of size 0) in its
//! database — without serving it. For servers that share a PostgreSQL
//! database: each gets a copy of the key files, and none of them finds a
//! key without a log (which `serve` refuses: it would fork a log whose
//! database was lost). Run again, it changes nothing.

use super::CliError;
use crate::server::datadir;
use crate::storage::{LocalStorage, PgStorage, Storage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct InitArgs {
    #[arg(long, default_value = crate::server::DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// The log's origin (its name in checkpoints) [default: accord.example/log]
    #[arg(long)]
    origin: Option<String>,
    /// Create the log in this PostgreSQL database instead of the local store under --data
    #[arg(long = "storage", value_name = "URL", env = "ACCORD_STORAGE_URL")]
    storage: Option<String>,
    #[command(flatten)]
    access: super::serve::StorageAccess,
}

fn fail(why: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("init: {why}"))
}

pub async fn run(args: InitArgs) -> Result<(), CliError> {
    let data: &Path = &args.data;
    let (signer, _) = datadir::ensure_key(data, args.origin.as_deref()).map_err(fail)?;
    let operator = datadir::ensure_operator_key(data).map_err(fail)?;
    datadir::ensure_admin_token(data).map_err(fail)?;
    let vkey = signer.verifier();
    let storage: Arc<dyn Storage> = tokio::task::block_in_place(|| match &args.storage {
        Some(url) => {
            let opts = args.access.options();
            Ok(Arc::new(PgStorage::open_with(url, &opts).map_err(fail)?) as Arc<dyn Storage>)
        }
        None => {
            let local = LocalStorage::open(&datadir::db_path(data))
                .map_err(|e| fail(format!("{e} (is a server running on it?)")))?;
            Ok::<Arc<dyn Storage>, CliError>(Arc::new(local))
        }
    })?;
    // A sequencer's start creates the empty log (or checks the one there
    // is: another log's database is refused); then it stops.
    let (sequencer, thread) =
        crate::sequencer::Sequencer::start(storage, signer, operator.verifying_key().to_bytes())
            .map_err(fail)?;
    let ready = sequencer.registry_ready().await;
    drop(sequencer);
    let _ = tokio::task::block_in_place(|| thread.join());
    ready.map_err(fail)?;
    out!("{vkey}");
    Ok(())
}
