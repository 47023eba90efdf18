//! The PostgreSQL schema and its migrations. Each migration runs in one
//! transaction that first claims its version in `accord_schema` (a primary
//! key): when several instances start at once, one inserts the row and
//! applies the DDL (PostgreSQL's DDL is transactional); the others wait on
//! that row's key, then see it taken and skip. No advisory locks, which
//! CockroachDB and YugabyteDB lack.

use super::StorageError;

/// The schema this build writes; a database of a later one is refused
/// (an older Accord must not write tables it does not understand).
pub const SCHEMA_VERSION: i32 = 2;

/// `(version, DDL)`, applied in order. Portable SQL only (see mod.rs).
/// 1: the log. 2: witnessing shared by the servers (`witness.rs`).
const MIGRATIONS: [(i32, &str); 2] = [
    (
        1,
        "CREATE TABLE accord_log (
        id INT PRIMARY KEY CHECK (id = 1),
        origin TEXT NOT NULL,
        vkey TEXT NOT NULL,
        size BIGINT NOT NULL,
        checkpoint TEXT NOT NULL
    );
    CREATE TABLE accord_leaves (idx BIGINT PRIMARY KEY, leaf BYTEA NOT NULL);
    CREATE TABLE accord_leaf_hashes (hash BYTEA PRIMARY KEY, idx BIGINT NOT NULL);
    CREATE TABLE accord_nodes (
        level INT NOT NULL,
        idx BIGINT NOT NULL,
        hash BYTEA NOT NULL,
        PRIMARY KEY (level, idx)
    );
    CREATE TABLE accord_map (position BYTEA PRIMARY KEY, record BYTEA NOT NULL);
    CREATE TABLE accord_registry (key BYTEA PRIMARY KEY, value BYTEA NOT NULL);",
    ),
    (
        2,
        "CREATE TABLE accord_witness_lease (
        id INT PRIMARY KEY CHECK (id = 1),
        holder TEXT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE TABLE accord_cosigned (
        id INT PRIMARY KEY CHECK (id = 1),
        size BIGINT NOT NULL,
        at BIGINT NOT NULL,
        note TEXT NOT NULL
    );",
    ),
];

/// Unix seconds, recorded with each applied migration.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The SQL states PostgreSQL reports when two concurrent `CREATE TABLE IF
/// NOT EXISTS` of one table collide (seen in CI: `42710` "type ... already
/// exists"; `23505` on `pg_type_typname_nsp_index`; `42P07` is the same race
/// caught on the relation's name).
fn is_creation_race(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        [
            SqlState::UNIQUE_VIOLATION,
            SqlState::DUPLICATE_OBJECT,
            SqlState::DUPLICATE_TABLE,
        ]
        .contains(c)
    })
}

/// Brings the database to [`SCHEMA_VERSION`], or refuses a newer one.
pub fn migrate(client: &mut postgres::Client) -> Result<(), StorageError> {
    // Two instances creating the table at once can collide in PostgreSQL's
    // catalog: `IF NOT EXISTS` checks before the other's creation commits,
    // so the loser fails with a unique violation on pg_type, or with "type
    // already exists" / "relation already exists", depending on where the
    // race is caught. The loser retries and then finds the table.
    for attempt in 0.. {
        let created = client.batch_execute(
            "CREATE TABLE IF NOT EXISTS accord_schema (version INT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        );
        match created {
            Ok(()) => break,
            Err(e) if attempt < 3 && is_creation_race(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let newest: Option<i32> = client
        .query_one("SELECT MAX(version) FROM accord_schema", &[])?
        .get(0);
    if let Some(v) = newest.filter(|v| *v > SCHEMA_VERSION) {
        return Err(StorageError::Corrupt(format!(
            "the database has Accord schema version {v}, newer than this build's {SCHEMA_VERSION}: run a newer Accord"
        )));
    }
    for (version, ddl) in MIGRATIONS {
        let mut tx = client.transaction()?;
        let claimed = tx.execute(
            "INSERT INTO accord_schema (version, applied_at) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING",
            &[&version, &now()],
        )?;
        if claimed == 1 {
            tx.batch_execute(ddl)?;
        }
        tx.commit()?;
    }
    Ok(())
}
