//! TLS to PostgreSQL follows libpq's `sslmode`, against a real server with
//! TLS on. `.ci/run` gives the test cluster a throwaway CA, a certificate
//! for 127.0.0.1 signed by it, and an unrelated CA; the role `tlsonly` may
//! only connect over TLS (pg_hba), so every connection that succeeds as it
//! proves that TLS was used. Skipped (saying so) without that setup:
//! ACCORD_TEST_POSTGRES_TLS_CA and ACCORD_TEST_POSTGRES_OTHER_CA.

mod common;

use accord::storage::postgres::ConnectOptions;
use accord::storage::PgStorage;
use common::PgDb;

fn open(url: &str, ca: Option<&str>) -> Result<PgStorage, String> {
    let opts = ConnectOptions {
        ca_file: ca.map(Into::into),
        password_file: None,
    };
    PgStorage::open_with(url, &opts).map_err(|e| e.to_string())
}

#[test]
fn tls_to_postgres_follows_sslmode() {
    let vars = (
        std::env::var("ACCORD_TEST_POSTGRES_TLS_CA"),
        std::env::var("ACCORD_TEST_POSTGRES_OTHER_CA"),
    );
    let (Ok(ca), Ok(other)) = vars else {
        assert!(
            std::env::var_os("ACCORD_REQUIRE_POSTGRES").is_none(),
            "ACCORD_TEST_POSTGRES_TLS_CA and _OTHER_CA are required (ACCORD_REQUIRE_POSTGRES is set)"
        );
        eprintln!("SKIPPED: TLS to PostgreSQL (no ACCORD_TEST_POSTGRES_TLS_CA)");
        return;
    };
    let Some(db) = PgDb::create("TLS to PostgreSQL") else {
        return;
    };
    let (_, rest) = db.url.split_once('@').expect("a URL with a user");
    let url = format!("postgres://tlsonly@{rest}");

    // Authenticated: the chain and the name (IP 127.0.0.1), or the chain.
    open(&format!("{url}?sslmode=verify-full"), Some(&ca)).expect("verify-full");
    open(&format!("{url}?sslmode=verify-ca"), Some(&ca)).expect("verify-ca");
    let root = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    open(&root, None).expect("sslrootcert in the URL");
    // Encrypted, not authenticated: require, and prefer (a URL without
    // sslmode), as libpq.
    open(&format!("{url}?sslmode=require"), None).expect("require");
    open(&url, None).expect("prefer, the default, uses TLS when offered");

    // Refused: no TLS for a TLS-only role; a certificate from another CA,
    // also under require once a CA file is given (libpq's rule).
    let plain = open(&format!("{url}?sslmode=disable"), None);
    assert!(plain.is_err(), "the server takes tlsonly over TLS only");
    let wrong = open(&format!("{url}?sslmode=verify-full"), Some(&other));
    let why = wrong
        .err()
        .expect("another CA's roots refuse the certificate");
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    let wrong = open(&format!("{url}?sslmode=require"), Some(&other));
    assert!(wrong.is_err(), "a CA file makes require verify the chain");
}
