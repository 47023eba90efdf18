//! PostgreSQL backend: the [`Storage`] contract on tables of one database,
//! so that several `accord serve` instances can share a log. The database
//! serializes their writers: a batch's transaction first locks the log's
//! single state row (`SELECT … FOR UPDATE`, as Trillian Tessera's SQL
//! drivers do), see [`Storage::begin_write`].
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

use super::{Batch, LogMeta, Storage, StorageError, StoredCosigned};
use crate::core::map::Position;
use crate::core::map_versions::MapRecord;
use crate::core::registry::Rows;
use crate::core::Hash;
use postgres::types::Type;
use r2d2_postgres::{r2d2, PostgresConnectionManager};
use tokio_postgres_rustls::MakeRustlsConnect;

use std::time::Duration;

mod connect;
mod node_cache;
pub use connect::ConnectOptions;
mod schema;
mod witness;
mod writer;

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;
type Conn = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

/// Connections kept: the writer, plus concurrent readers (the blocking pool
/// runs proofs and listings); more would only queue inside PostgreSQL.
const POOL_SIZE: u32 = 16;
/// How long a caller waits for a connection (or for the database to answer
/// a new one) before the call fails as UNAVAILABLE. Long enough for a
/// database restart's first seconds to pass unnoticed by most requests,
/// short enough that health says NOT_SERVING soon after it is really gone
/// (the refresher's read waits this long) and that clients get an answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct PgStorage {
    /// Always `Some` but while dropping (see `Drop`).
    pool: Option<Pool>,
    /// The writer's connection (see `writer.rs`).
    writer: writer::Writer,
    /// Tree nodes read or written (see `node_cache.rs`).
    nodes: node_cache::NodeCache,
}

/// The driver closes each connection by blocking on its own runtime, which
/// panics on an async worker, where the server's last handle may well be
/// dropped: close them on a thread of their own.
impl Drop for PgStorage {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let writer = self.writer.take_all();
            let _ = std::thread::spawn(move || drop((writer, pool))).join();
        }
    }
}

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        StorageError::Postgres(with_causes(&e))
    }
}

/// An error and its causes: the driver's own text is only "db error" or
/// "error performing TLS handshake"; the reason is in its sources.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
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
        Self::open_with(url, &ConnectOptions::default())
    }

    /// As `open`, with a CA file and a password file (see `connect.rs`
    /// for `sslmode` and libpq's password file).
    pub fn open_with(url: &str, opts: &ConnectOptions) -> Result<PgStorage, StorageError> {
        let (mut config, tls) = connect::configure(url, opts)?;
        if config.get_connect_timeout().is_none() {
            // A host that drops packets must not hold a caller forever.
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // One connection first, so that a refusal (TLS, authentication,
        // a missing database) is reported with its reason: the pool keeps
        // only the driver's short text ("error performing TLS handshake").
        tokio::task::block_in_place(|| {
            let mut direct = config.clone();
            direct.connect_timeout(CONNECT_TIMEOUT);
            let mut client = direct.connect(tls.clone()).map_err(|e| {
                StorageError::Postgres(format!("cannot connect: {}", with_causes(&e)))
            })?;
            let _ = client.batch_execute("SELECT 1");
            std::thread::spawn(move || drop(client)).join().ok();
            Ok::<(), StorageError>(())
        })?;
        let manager = PostgresConnectionManager::new(config, tls);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            // No test query at every checkout (a round trip per read): a
            // broken connection fails its statement and is replaced.
            .test_on_check_out(false)
            .build(manager)?;
        schema::migrate(&mut *pool.get()?)?;
        Ok(PgStorage {
            pool: Some(pool),
            writer: writer::Writer::default(),
            nodes: node_cache::NodeCache::default(),
        })
    }

    /// True if no table of the log holds a row (what `accord migrate`
    /// copies into).
    pub fn is_empty(&self) -> Result<bool, StorageError> {
        self.with(|c| {
            let any: bool = c
                .query_typed_one(
                    "SELECT EXISTS (SELECT 1 FROM accord_log) OR EXISTS (SELECT 1 FROM accord_leaves) \
                     OR EXISTS (SELECT 1 FROM accord_leaf_hashes) OR EXISTS (SELECT 1 FROM accord_nodes) \
                     OR EXISTS (SELECT 1 FROM accord_map) OR EXISTS (SELECT 1 FROM accord_registry)",
                    &[],
                )?
                .get(0);
            Ok(!any)
        })
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
        let mut f = Some(f);
        // The writer thread, holding the lock: its own connection.
        let on_writer = self.on_writer(|c| (f.take().expect("called once"))(c));
        if let Some(done) = on_writer {
            return done;
        }
        let f = f.take().expect("not called yet");
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
            Ok(c.query_typed_opt(
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
        self.commit_batch(batch)
    }

    fn shared(&self) -> bool {
        true
    }

    fn begin_write(&self) -> Result<Option<u64>, StorageError> {
        self.begin()
    }

    fn end_write(&self) {
        self.end()
    }

    fn cosigned(&self) -> Result<Option<StoredCosigned>, StorageError> {
        self.load_cosigned()
    }

    fn store_cosigned(&self, c: &StoredCosigned) -> Result<bool, StorageError> {
        self.save_cosigned(c)
    }

    fn witness_lease(&self, holder: &str, ttl: Duration) -> Result<bool, StorageError> {
        self.take_lease(holder, ttl)
    }

    fn release_witness_lease(&self, holder: &str) -> Result<(), StorageError> {
        self.drop_lease(holder)
    }

    fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_typed_opt(
                "SELECT leaf FROM accord_leaves WHERE idx = $1",
                &[(&signed(index)?, Type::INT8)],
            )?)
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let rows = self.with(|c| {
            Ok(c.query_typed(
                "SELECT idx, leaf FROM accord_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[(&signed(start)?, Type::INT8), (&signed(end)?, Type::INT8)],
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
        if let Some(h) = self.nodes.get((level, index)) {
            return Ok(Some(h));
        }
        let row = self.with(|c| {
            Ok(c.query_typed_opt(
                "SELECT hash FROM accord_nodes WHERE level = $1 AND idx = $2",
                &[(&(level as i32), Type::INT4), (&signed(index)?, Type::INT8)],
            )?)
        })?;
        let found = row.map(|r| hash(r.get(0), "a tree node")).transpose()?;
        if let Some(h) = found {
            self.nodes.insert([((level, index), h)]);
        }
        Ok(found)
    }

    fn nodes(&self, at: &[(u32, u64)]) -> Result<Vec<Option<Hash>>, StorageError> {
        let missing: Vec<(u32, u64)> = (at.iter())
            .filter(|a| self.nodes.get(**a).is_none())
            .copied()
            .collect();
        if !missing.is_empty() {
            let levels: Vec<i32> = missing.iter().map(|&(l, _)| l as i32).collect();
            let idx: Vec<i64> = (missing.iter())
                .map(|&(_, i)| signed(i))
                .collect::<Result<_, _>>()?;
            let rows = self.with(|c| {
                Ok(c.query_typed(
                    "SELECT n.level, n.idx, n.hash FROM accord_nodes n \
                     JOIN UNNEST($1::INT[], $2::BIGINT[]) AS w(level, idx) \
                     ON n.level = w.level AND n.idx = w.idx",
                    &[(&levels, Type::INT4_ARRAY), (&idx, Type::INT8_ARRAY)],
                )?)
            })?;
            let mut found = Vec::with_capacity(rows.len());
            for r in &rows {
                let at = (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1) as u64);
                found.push((at, hash(r.get(2), "a tree node")?));
            }
            self.nodes.insert(found);
        }
        // A node evicted meanwhile (the cache started over) is read alone.
        (at.iter())
            .map(|&(l, i)| match self.nodes.get((l, i)) {
                Some(h) => Ok(Some(h)),
                None => self.node(l, i),
            })
            .collect()
    }

    fn find_leaf_hash(&self, h: &Hash) -> Result<Option<u64>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_typed_opt(
                "SELECT idx FROM accord_leaf_hashes WHERE hash = $1",
                &[(&&h[..], Type::BYTEA)],
            )?)
        })?;
        row.map(|r| u64::try_from(r.get::<_, i64>(0)).map_err(|_| corrupt("a negative index")))
            .transpose()
    }

    fn map_record(&self, position: &Position) -> Result<Option<MapRecord>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_typed_opt(
                "SELECT record FROM accord_map WHERE position = $1",
                &[(&&position.to_key()[..], Type::BYTEA)],
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
            Ok(c.query_typed_opt(
                "SELECT value FROM accord_registry WHERE key = $1",
                &[(&key, Type::BYTEA)],
            )?)
        })?;
        Ok(row.map(|r| r.get(0)))
    }

    fn registry_records(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let rows = self.with(|c| {
            Ok(c.query_typed(
                "SELECT key, value FROM accord_registry WHERE key = ANY($1)",
                &[(&keys, Type::BYTEA_ARRAY)],
            )?)
        })?;
        let mut found: std::collections::HashMap<Vec<u8>, Vec<u8>> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(keys.iter().map(|k| found.remove(k)).collect())
    }

    fn map_records(&self, positions: &[Position]) -> Result<Vec<Option<MapRecord>>, StorageError> {
        let keys: Vec<Vec<u8>> = positions.iter().map(|p| p.to_key()).collect();
        let rows = self.with(|c| {
            Ok(c.query_typed(
                "SELECT position, record FROM accord_map WHERE position = ANY($1)",
                &[(&keys, Type::BYTEA_ARRAY)],
            )?)
        })?;
        let mut found: std::collections::HashMap<Vec<u8>, Vec<u8>> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        (positions.iter().zip(&keys))
            .map(|(p, k)| {
                found
                    .remove(k)
                    .map(|b| {
                        MapRecord::from_bytes(p, &b).map_err(|e| {
                            StorageError::Corrupt(format!("a registry map record: {e}"))
                        })
                    })
                    .transpose()
            })
            .collect()
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
                Some(end) => c.query_typed(
                    "SELECT key, value FROM accord_registry WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
                    &[(&from, Type::BYTEA), (&end, Type::BYTEA), (&limit, Type::INT8)],
                )?,
                None => c.query_typed(
                    "SELECT key, value FROM accord_registry WHERE key >= $1 ORDER BY key LIMIT $2",
                    &[(&from, Type::BYTEA), (&limit, Type::INT8)],
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
        self.with(|c| Ok(c.execute_typed("DELETE FROM accord_registry", &[])?))
    }
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
