//! PostgreSQL backend: the [`Storage`] contract on tables of one database,
//! so that several `accord serve` instances can share a log (issue 17; the
//! multi-instance sequencing is not built yet: one writer per database).
//!
//! Driver: `postgres`, the synchronous façade of `tokio-postgres` (the same
//! project), with an `r2d2` pool. The `Storage` trait is synchronous by
//! design (the writer thread and blocking read tasks call it), and the
//! façade gives exactly that without threading a runtime handle through
//! every call. Its calls block: like sled's, they must run on blocking
//! threads, never on an async worker (the façade panics there).
//!
//! SQL is kept to what CockroachDB, YugabyteDB and Aurora also run: BIGINT
//! and BYTEA columns, primary keys, `ON CONFLICT`, `UNNEST` of arrays; no
//! sequences, triggers, advisory locks or LISTEN/NOTIFY (`schema.rs`).

use super::{Batch, LogMeta, Storage, StorageError};
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::core::registry::Rows;
use crate::core::Hash;
use postgres::NoTls;
use r2d2_postgres::{r2d2, PostgresConnectionManager};
use std::collections::BTreeMap;
use std::time::Duration;

mod schema;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Connections kept: the writer, plus concurrent readers (the blocking pool
/// runs proofs and listings); more would only queue inside PostgreSQL.
const POOL_SIZE: u32 = 16;
/// How long a caller waits for a connection (or for the database to answer
/// a new one) before the call fails as UNAVAILABLE.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PgStorage {
    /// Always `Some` but while dropping (see `Drop`).
    pool: Option<Pool>,
}

/// The driver closes each connection by blocking on its own runtime, which
/// panics on an async worker, where the server's last handle may well be
/// dropped: close them on a thread of their own.
impl Drop for PgStorage {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        StorageError::Postgres(e.to_string())
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(e: r2d2::Error) -> Self {
        StorageError::Postgres(format!("no connection: {e}"))
    }
}

impl PgStorage {
    /// Connects to `url` (a libpq URL, `postgres://user@host/db`), creates
    /// or migrates the schema, and refuses a database of a newer schema.
    pub fn open(url: &str) -> Result<PgStorage, StorageError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StorageError::Postgres(format!("storage URL: {e}")))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            // No test query at every checkout (a round trip per read): a
            // broken connection fails its statement and is replaced.
            .test_on_check_out(false)
            .build(manager)?;
        schema::migrate(&mut *pool.get()?)?;
        Ok(PgStorage { pool: Some(pool) })
    }

    /// Runs `f` with a pooled connection. Inside the server's multi-thread
    /// runtime `block_in_place` hands this worker's tasks to others first
    /// (the driver's own runtime may not run inside it); on blocking
    /// threads and the writer thread it just runs `f`. (A current-thread
    /// runtime cannot do that: use a multi-thread one.)
    fn with<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let pool = self.pool.as_ref().expect("open until dropped");
        tokio::task::block_in_place(|| f(&mut *pool.get()?))
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("PostgreSQL: {what}"))
}

fn hash(bytes: &[u8], what: &str) -> Result<Hash, StorageError> {
    bytes
        .try_into()
        .map_err(|_| corrupt(&format!("{what} is not 32 bytes")))
}

/// Indices and levels are BIGINT/INT: u64 above i64::MAX cannot be stored
/// (a log of 2^63 entries is not a concern; refusing beats wrapping).
fn signed(i: u64) -> Result<i64, StorageError> {
    i64::try_from(i).map_err(|_| corrupt("an index above 2^63 - 1"))
}

/// The smallest key above every key that starts with `prefix`, or `None`
/// when there is none (a prefix of 0xff bytes only).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Storage for PgStorage {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_opt(
                "SELECT origin, vkey, size, checkpoint FROM accord_log WHERE id = 1",
                &[],
            )?)
        })?;
        row.map(|r| {
            Ok(LogMeta {
                origin: r.get(0),
                vkey: r.get(1),
                size: u64::try_from(r.get::<_, i64>(2)).map_err(|_| corrupt("a negative size"))?,
                checkpoint: r.get(3),
            })
        })
        .transpose()
    }

    fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        self.with(|client| write(client, batch))
    }

    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_opt(
                "SELECT leaf FROM accord_leaves WHERE idx = $1",
                &[&signed(index)?],
            )?)
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT idx, leaf FROM accord_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&signed(start)?, &signed(end)?],
            )?)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, row) in (start..end).zip(&rows) {
            if row.get::<_, i64>(0) != signed(expected)? {
                return Err(super::missing_leaf(expected));
            }
            out.push(row.get(1));
        }
        if (out.len() as u64) < end.saturating_sub(start) {
            return Err(super::missing_leaf(start + out.len() as u64));
        }
        Ok(out)
    }

    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_opt(
                "SELECT hash FROM accord_nodes WHERE level = $1 AND idx = $2",
                &[&(level as i32), &signed(index)?],
            )?)
        })?;
        row.map(|r| hash(r.get(0), "a tree node")).transpose()
    }

    fn find_leaf_hash(&self, h: &Hash) -> Result<Option<u64>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_opt(
                "SELECT idx FROM accord_leaf_hashes WHERE hash = $1",
                &[&&h[..]],
            )?)
        })?;
        row.map(|r| u64::try_from(r.get::<_, i64>(0)).map_err(|_| corrupt("a negative index")))
            .transpose()
    }

    fn map_record(&self, position: &Position) -> Result<Option<MapRecord>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_opt(
                "SELECT record FROM accord_map WHERE position = $1",
                &[&&position.to_key()[..]],
            )?)
        })?;
        row.map(|r| {
            MapRecord::from_bytes(position, r.get(0))
                .map_err(|e| StorageError::Corrupt(format!("a registry map record: {e}")))
        })
        .transpose()
    }

    fn registry_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_opt("SELECT value FROM accord_registry WHERE key = $1", &[&key])?)
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    fn registry_scan(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Rows, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // BYTEA compares bytewise, as the contract's key order.
        let rows = self.with(|c| {
            Ok(match prefix_end(prefix) {
                Some(end) => c.query(
                    "SELECT key, value FROM accord_registry WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
                    &[&from, &end, &limit],
                )?,
                None => c.query(
                    "SELECT key, value FROM accord_registry WHERE key >= $1 ORDER BY key LIMIT $2",
                    &[&from, &limit],
                )?,
            })
        })?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
            .filter(|(k, _)| k.starts_with(prefix))
            .collect())
    }

    fn clear_registry(&self) -> Result<u64, StorageError> {
        self.with(|c| Ok(c.execute("DELETE FROM accord_registry", &[])?))
    }
}

/// One batch in one transaction (the contract's atomic, durable commit).
fn write(client: &mut postgres::Client, batch: Batch) -> Result<(), StorageError> {
    let mut tx = client.transaction()?;
    // Durable at COMMIT whatever the server's default (SPEC: nothing is
    // acknowledged before it is on disk).
    tx.batch_execute("SET LOCAL synchronous_commit TO on")?;
    let (mut idx, mut leaves) = (Vec::new(), Vec::new());
    for (i, leaf) in batch.leaves {
        idx.push(signed(i)?);
        leaves.push(leaf);
    }
    tx.execute(
        "INSERT INTO accord_leaves (idx, leaf) SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])",
        &[&idx, &leaves],
    )?;
    let (mut levels, mut nidx, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lidx, mut lhashes) = (Vec::new(), Vec::new());
    for n in &batch.nodes {
        levels.push(n.level as i32);
        nidx.push(signed(n.index)?);
        hashes.push(n.hash.to_vec());
        if n.level == 0 {
            lidx.push(signed(n.index)?);
            lhashes.push(n.hash.to_vec());
        }
    }
    tx.execute(
            "INSERT INTO accord_nodes (level, idx, hash) SELECT * FROM UNNEST($1::INT[], $2::BIGINT[], $3::BYTEA[])",
            &[&levels, &nidx, &hashes],
        )?;
    tx.execute(
            "INSERT INTO accord_leaf_hashes (hash, idx) SELECT * FROM UNNEST($1::BYTEA[], $2::BIGINT[])",
            &[&lhashes, &lidx],
        )?;
    // One row per key per statement: the last write of a key wins, as
    // when the writes are applied in order.
    let map: BTreeMap<Vec<u8>, Vec<u8>> = (batch.map.iter())
        .map(|(p, r)| (p.to_key().to_vec(), r.to_bytes()))
        .collect();
    let (keys, records): (Vec<_>, Vec<_>) = map.into_iter().unzip();
    tx.execute(
        "INSERT INTO accord_map (position, record) SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[]) \
             ON CONFLICT (position) DO UPDATE SET record = EXCLUDED.record",
        &[&keys, &records],
    )?;
    let writes: BTreeMap<Vec<u8>, Option<Vec<u8>>> = batch.registry.into_iter().collect();
    let (mut set_keys, mut set_values, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for (key, value) in writes {
        match value {
            Some(v) => {
                set_keys.push(key);
                set_values.push(v);
            }
            None => removed.push(key),
        }
    }
    tx.execute(
        "INSERT INTO accord_registry (key, value) SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[]) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&set_keys, &set_values],
    )?;
    tx.execute(
        "DELETE FROM accord_registry WHERE key = ANY($1)",
        &[&removed],
    )?;
    if let Some(m) = &batch.meta {
        tx.execute(
                "INSERT INTO accord_log (id, origin, vkey, size, checkpoint) VALUES (1, $1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET origin = EXCLUDED.origin, vkey = EXCLUDED.vkey, \
                 size = EXCLUDED.size, checkpoint = EXCLUDED.checkpoint",
                &[&m.origin, &m.vkey, &signed(m.size)?, &m.checkpoint],
            )?;
    }
    // Commit point: before COMMIT returns, a crash (of Accord or of the
    // database) leaves none of the batch; once it returns, with
    // synchronous_commit on, the whole batch is in PostgreSQL's WAL on
    // disk. A crash after it but before the answers leave keeps the
    // entries; clients that retry get them back as duplicates.
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_ends() {
        assert_eq!(super::prefix_end(b"r\x02"), Some(b"r\x03".to_vec()));
        assert_eq!(super::prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(super::prefix_end(b"\xff"), None);
        assert_eq!(super::prefix_end(b""), None);
    }
}
