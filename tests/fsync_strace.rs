//! The commit path reaches the disk: a real `accord serve` runs under
//! `strace -f`, one statement is submitted, and before its answer arrives
//! the server has called fdatasync(2) on the records store's journal
//! (`DB/records/N.jnl`) and on the log files beside it (leaves and Merkle
//! nodes).
//!
//! `LocalStorage::commit` relies on fjall's write batch with
//! `PersistMode::SyncData` to fdatasync the journal before it returns
//! (read in fjall 3.1's source: `Journal::persist`, `File::sync_data`);
//! this test checks that it does, so a fjall update that weakened it
//! would be caught.
//!
//! Skips (saying so) when strace is missing, unless ACCORD_REQUIRE_STRACE
//! is set, as `.ci/run` does after installing it.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// The lines of the trace that are an fdatasync or fsync of `file`.
fn syncs_of(trace: &str, file: &str) -> Vec<String> {
    let needle = format!("<{file}>");
    trace
        .lines()
        .filter(|l| is_sync(l) && l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

fn is_sync(line: &str) -> bool {
    line.contains("fdatasync(") || line.contains("fsync(")
}

/// True for a line syncing a journal of the records store in `records`.
fn journal_sync(line: &str, records: &str) -> bool {
    line.contains("fdatasync(") && line.contains(&format!("<{records}/")) && line.contains(".jnl>")
}

/// Sends SIGTERM to the traced server when dropped.
struct StopTracee(Option<String>);

impl Drop for StopTracee {
    fn drop(&mut self) {
        if let Some(pid) = &self.0 {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_follows_an_fdatasync_of_the_data_file() {
    if Command::new("strace").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("ACCORD_REQUIRE_STRACE").is_none(),
            "strace is required (ACCORD_REQUIRE_STRACE is set) but not found"
        );
        eprintln!("SKIPPED: strace not found; the fsync check needs it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace_path = dir.path().join("trace");
    let mut cmd = Command::new("strace");
    // -y names each descriptor's file; -qq and signal=none drop notices.
    cmd.args(["-f", "-qq", "-y", "-e", "signal=none", "-e"])
        .arg("trace=fsync,fdatasync,sync_file_range")
        .arg("-o")
        .arg(&trace_path)
        .arg(env!("CARGO_BIN_EXE_accord"))
        .arg("serve")
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]);
    let server = ServeProcess::spawn(cmd).expect("accord serve under strace");
    // strace ignores SIGTERM while it runs a program with -o, so stop the
    // server itself (then strace exits); declared after `server`, this runs
    // first, also when an assertion fails.
    let _stop = StopTracee(
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", server.child.id()))
            .expect("strace's children")
            .split_whitespace()
            .next()
            .map(str::to_owned),
    );
    let db_dir = accord::server::datadir::db_path(&data);
    let db_dir = db_dir.canonicalize().unwrap_or(db_dir);
    let records = db_dir.join(accord::storage::records_db::RECORDS_DIR);
    let (db_dir, records) = (db_dir.to_str().unwrap(), records.to_str().unwrap());

    let mut c = {
        let mut tries = 0;
        loop {
            match accord::proto::registry_service_client::RegistryServiceClient::connect(
                server.url(),
            )
            .await
            {
                Ok(c) => break c,
                Err(_) if tries < 250 => tries += 1,
                Err(e) => panic!("no server: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let operator = accord::server::datadir::read_key(&data.join("operator.pem")).unwrap();
    let token = admin_token(&data);
    // Start-up is done; what follows in the trace is this submission's.
    let before = std::fs::read_to_string(&trace_path).unwrap();
    let answer = c
        .submit(with_token(&registration(&operator), &token))
        .await
        .expect("the registration is accepted");
    // strace writes each line when the traced call returns, before the
    // tracee goes on, so everything done before the answer is in the file.
    let after = std::fs::read_to_string(&trace_path).unwrap();
    let new = after.get(before.len()..).unwrap_or_default();
    // Where in the trace the journal's last fdatasync is (the
    // submission's commit, the last thing before the answer): the log
    // files' must come before it (the count it commits says they hold
    // the entries).
    let records_sync = new
        .lines()
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| journal_sync(l, records))
        .unwrap_or_else(|| {
            panic!(
                "entry {} was answered without an fdatasync of a journal in {records}; trace since start-up:\n{new}",
                answer.get_ref().index
            )
        });
    // The log's leaves and nodes live in files of their own beside it
    // (`storage/log_files.rs`): each was fdatasynced before the answer too.
    for name in [
        accord::storage::log_files::LEAVES,
        accord::storage::log_files::LEAF_ENDS,
        accord::storage::log_files::NODES,
    ] {
        let file = format!("{db_dir}/{name}");
        assert!(
            syncs_of(new, &file)
                .iter()
                .any(|l| l.contains("fdatasync(")),
            "answered without an fdatasync of {file}; trace since start-up:\n{new}"
        );
        let first = new
            .lines()
            .position(|l| l.contains("fdatasync(") && l.contains(&format!("<{file}>")));
        assert!(
            first.is_some_and(|at| at < records_sync),
            "{file} was not fdatasynced before the records store's journal; trace since start-up:\n{new}"
        );
    }
    // Start-up made the files it created durable: their directory was
    // fsynced.
    assert!(
        !syncs_of(&before, db_dir).is_empty(),
        "no fsync of the directory {db_dir} at start-up:\n{before}"
    );
}
