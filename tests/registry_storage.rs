//! The registry lives in storage (`core::registry::records`), through the
//! `accord` binary on a real local database: a restart reads it without
//! replaying the log; a database without it (from before, or restored from
//! entries) gets it built once at start; and `accord reindex` rebuilds a
//! damaged one from the log. Every time, the answers are the same.

mod common;

use accord::core::registry::{FORMAT, FORMAT_KEY};
use accord::storage::{Batch, LocalStorage, Storage};
use common::{accord_ok as ok, demo_log, json_rows, ServeProcess};
use std::path::Path;
use std::time::{Duration, Instant};

const COMMITMENTS: [&str; 2] = ["global-commitment-dts", "paris-call"];

/// What the server says about the registry: every signatory of both
/// demo commitments (all statuses), and the full record of each.
fn answers(dir: &Path, url: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in COMMITMENTS {
        for row in json_rows(dir, url, c) {
            let id = row["organization_id"].as_str().unwrap().to_owned();
            out.push(row.to_string());
            out.push(ok(dir, &["org", "--server", url, &id]));
        }
    }
    assert!(out.len() > 20, "the demo registry has signatories");
    out
}

/// Waits (bounded) for the server's line about the registry at start.
fn registry_line(server: &ServeProcess) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let later = server.later.lock().unwrap().clone();
        let found = (server.lines.iter().chain(&later))
            .filter(|l| l.contains("registry"))
            .find(|l| l.contains("accepting submissions"))
            .cloned();
        if let Some(line) = found {
            return line;
        }
        assert!(Instant::now() < deadline, "no registry line at start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn open(data: &Path) -> LocalStorage {
    LocalStorage::open(&accord::server::datadir::db_path(data)).unwrap()
}

#[test]
fn the_registry_is_read_from_storage_built_once_and_repaired_by_reindex() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let (server, url) = demo_log(dir);
    let before = answers(dir, &url);
    drop(server);
    {
        let db = open(&data);
        assert_eq!(
            db.registry_record(FORMAT_KEY).unwrap().as_deref(),
            Some(FORMAT)
        );
        assert!(db.registry_scan(&[], &[], usize::MAX).unwrap().len() > 50);
    }

    // A restart checks the stored registry; it does not replay the log.
    let server = ServeProcess::start(&data, &[]).unwrap();
    let line = registry_line(&server);
    assert!(line.contains("stored registry checked"), "{line}");
    assert_eq!(answers(dir, &server.url()), before);
    drop(server);

    // A database without stored records (written by an earlier version,
    // or restored from its entries) gets them built from the log, once.
    assert!(open(&data).clear_registry().unwrap() > 50);
    let server = ServeProcess::start(&data, &[]).unwrap();
    let line = registry_line(&server);
    assert!(line.contains("registry rebuilt from"), "{line}");
    assert_eq!(answers(dir, &server.url()), before);
    drop(server);
    let server = ServeProcess::start(&data, &[]).unwrap();
    assert!(registry_line(&server).contains("stored registry checked"));
    drop(server);

    // A damaged record (here: every organization record emptied) is
    // corrupt data to the server; `accord reindex` rebuilds the stored
    // registry from the log.
    {
        let db = open(&data);
        let damaged: Vec<_> = (db.registry_scan(&[1], &[1], usize::MAX).unwrap())
            .into_iter()
            .map(|(k, _)| (k, Some(vec![])))
            .collect();
        assert!(damaged.len() > 10);
        db.commit(Batch {
            registry: damaged,
            ..Batch::default()
        })
        .unwrap();
    }
    let server = ServeProcess::start(&data, &[]).unwrap();
    let refused = common::run_accord(
        dir,
        &[
            "signatories",
            "--server",
            &server.url(),
            "--commitment",
            COMMITMENTS[0],
        ],
    );
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && why.contains("corrupt"),
        "{why}"
    );
    drop(server);
    let report = ok(dir, &["reindex", "--data", "data"]);
    assert!(report.contains("registry records"), "{report}");
    let server = ServeProcess::start(&data, &[]).unwrap();
    assert!(registry_line(&server).contains("stored registry checked"));
    assert_eq!(answers(dir, &server.url()), before);
}
