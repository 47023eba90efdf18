//! `accord serve --storage postgres://…`: a real server keeping its log in
//! the test PostgreSQL (one instance; several instances on one database are
//! not built yet). The demo log is served, audited from scratch, kept
//! across a restart, and a data directory holding another log's key is
//! refused on that database. Skipped without PostgreSQL (see
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
