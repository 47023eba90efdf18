//! `accord migrate --from-data DIR --to postgres://…`: a stopped server's
//! sled log copied into PostgreSQL, checked against its signed checkpoint;
//! the migrated log serves the same registry, passes `accord audit`, and
//! keeps accepting entries; a target that holds a log (this one or
//! another) is refused. Skipped without PostgreSQL.

mod common;

use accord::proto::registry_service_client::RegistryServiceClient;
use common::{accord_ok, demo_log, org_key, run_accord, sign, PgDb, ServeProcess};

fn migrate(dir: &std::path::Path, data: &str, url: &str) -> std::process::Output {
    run_accord(dir, &["migrate", "--from-data", data, "--to", url])
}

#[test]
fn a_sled_log_migrates_to_postgres_and_serves_on() {
    let Some(db) = PgDb::create("accord migrate") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (server, url) = demo_log(dir);
    let before = common::json_rows(dir, &url, "global-commitment-dts");
    let vkey = std::fs::read_to_string(dir.join("vkey")).unwrap();
    let vkey = vkey.trim();

    // A running server's database is locked: refused, nothing copied.
    let busy = migrate(dir, "data", &db.url);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("still running"),
        "{busy:?}"
    );
    assert!(server.terminate().success());

    let out = migrate(dir, "data", &db.url);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        said.contains("root matches the signed checkpoint"),
        "{said}"
    );

    // The same log on PostgreSQL: same registry, audits, accepts entries.
    let pg = ServeProcess::on_postgres(&dir.join("data"), &db.url).expect("serves on PostgreSQL");
    let after = common::json_rows(dir, &pg.url(), "global-commitment-dts");
    assert_eq!(after, before, "the registry reads the same");
    accord_ok(
        dir,
        &["audit", "--server", &pg.url(), "--vkey", vkey, "--quiet"],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = include_bytes!("../commitments/global-commitment-dts.txt");
    let key = org_key(77);
    let mut e = common::endorsement(&key, "Migrated Ministry");
    e.commitment_sha256 = accord::core::sha256(text);
    let reply = rt.block_on(async {
        let mut c = RegistryServiceClient::connect(pg.url()).await.unwrap();
        c.submit(common::request(&sign(&key, e))).await
    });
    let reply = reply
        .expect("the migrated log accepts entries")
        .into_inner();
    assert!(!reply.duplicate);
    assert_eq!(
        common::json_rows(dir, &pg.url(), "global-commitment-dts").len(),
        before.len() + 1
    );
    drop(pg);

    // Into a database that holds this log already: refused.
    let again = migrate(dir, "data", &db.url);
    assert!(!again.status.success());
    let why = String::from_utf8_lossy(&again.stderr);
    assert!(why.contains("holds this log already"), "{why}");

    // Another log into it: refused too.
    let other = dir.join("other");
    let (other_server, _) = demo_log(&other);
    drop(other_server);
    let foreign = migrate(&other, "data", &db.url);
    assert!(!foreign.status.success());
    let why = String::from_utf8_lossy(&foreign.stderr);
    assert!(why.contains("holds another log"), "{why}");
}
