//! `accord serve --storage postgres://…`: a real server keeping its log in
//! the test PostgreSQL (several servers on one database:
//! `postgres_instances.rs`). The demo log is served, audited from scratch,
//! kept across a restart, and a data directory holding another log's key
//! is refused on that database; `accord init --storage` makes a log that
//! servers with copied keys start on. Skipped without PostgreSQL (see
//! `common::PgDb`).

mod common;

use common::{accord_ok, PgDb, ServeProcess};

#[test]
fn a_log_on_postgres_serves_audits_and_survives_a_restart() {
    let Some(db) = PgDb::create("accord serve --storage") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = ServeProcess::on_postgres(&data, &db.url).expect("serves on PostgreSQL");
    let url = server.url();
    accord_ok(
        dir,
        &["demo", "--server", &url, "--data", data.to_str().unwrap()],
    );
    let vkey = accord::server::datadir::load_key(&data, None)
        .expect("the key stays in --data")
        .verifier()
        .to_string();
    let rows = common::json_rows(dir, &url, "global-commitment-dts");
    assert!(rows.len() > 20, "the demo registry, read from PostgreSQL");
    let audited = accord_ok(
        dir,
        &["audit", "--server", &url, "--vkey", &vkey, "--quiet"],
    );
    assert!(audited.contains("entries"), "{audited}");
    assert!(server.terminate().success(), "SIGTERM stops it cleanly");

    // A restart reads the same log back, and accepts more.
    let server = ServeProcess::on_postgres(&data, &db.url).expect("restarts on PostgreSQL");
    assert_eq!(
        common::json_rows(dir, &server.url(), "global-commitment-dts").len(),
        rows.len()
    );
    drop(server);

    // Another log's key on this database: refused, nothing written.
    let other = dir.join("other");
    let refused = ServeProcess::on_postgres(&other, &db.url)
        .err()
        .expect("another log's key is refused");
    assert!(refused.contains("belongs to another log"), "{refused}");
}

/// `accord init --storage`: the log made before any server runs (keys in
/// --data, the empty log in the database), so that servers given a copy of
/// the keys start on it; a key whose database holds no log is still
/// refused (it would fork a lost log).
#[test]
fn init_makes_a_log_that_servers_with_copied_keys_start_on() {
    let Some(db) = PgDb::create("accord init --storage") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vkey = accord_ok(dir, &["init", "--data", "keys", "--storage", &db.url]);
    // Run again: nothing changes.
    assert_eq!(
        accord_ok(dir, &["init", "--data", "keys", "--storage", &db.url]),
        vkey
    );
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["log.key", "operator.pem", "admin.token"] {
        std::fs::copy(dir.join("keys").join(file), copy.join(file)).unwrap();
    }
    let server = ServeProcess::on_postgres(&copy, &db.url).expect("starts on the new log");
    let cp = accord_ok(dir, &["checkpoint", "--server", &server.url()]);
    assert!(cp.contains("\n0\n"), "the empty log: {cp}");
    drop(server);

    let Some(empty) = PgDb::create("a key without its log") else {
        return;
    };
    let refused = ServeProcess::on_postgres(&copy, &empty.url)
        .err()
        .expect("keys without their log are refused");
    assert!(refused.contains("holds no log"), "{refused}");
}
