//! The writer's side of PostgreSQL: its one connection, the log's lock,
//! and a batch's transaction.
//!
//! While a server's writer holds the lock (`begin_write` until `commit` or
//! `end_write`), its connection is inside a transaction that has locked the
//! log's state row. The writer thread's own reads go through that same
//! connection (the thread that took the lock is its `owner`), so a batch never waits
//! for a pooled connection behind the readers (proofs answered to every
//! submitter), and a batch's reads and writes are one session. Between
//! batches the connection is kept aside (`spare`) for the next one.

use super::{signed, Conn, PgStorage, Pool, Type};
use crate::storage::{Batch, StorageError};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::thread::ThreadId;

#[derive(Default)]
pub(super) struct Writer {
    /// The connection holding the lock, inside its transaction.
    locked: Mutex<Option<Conn>>,
    /// The writer's connection between batches.
    spare: Mutex<Option<Conn>>,
    /// The thread that took the lock: its reads go through `locked`.
    owner: Mutex<Option<ThreadId>>,
}

fn lock(m: &Mutex<Option<Conn>>) -> MutexGuard<'_, Option<Conn>> {
    // A panic while holding it leaves at worst an open transaction, which
    // the next begin_write or commit rolls back.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Writer {
    /// Both connections, for `Drop` to close off the async workers.
    pub fn take_all(&self) -> (Option<Conn>, Option<Conn>) {
        (lock(&self.locked).take(), lock(&self.spare).take())
    }

    /// The spare connection if it is still open, else a pooled one.
    fn connection(&self, pool: &Pool) -> Result<Conn, StorageError> {
        match lock(&self.spare).take() {
            Some(c) if !c.is_closed() => Ok(c),
            _ => Ok(pool.get()?),
        }
    }

    /// Keeps `conn` for the next batch unless it broke.
    fn keep(&self, conn: Conn) {
        if !conn.is_closed() {
            *lock(&self.spare) = Some(conn);
        }
    }
}

impl Writer {
    fn owned_here(&self) -> bool {
        let owner = self.owner.lock().unwrap_or_else(|p| p.into_inner());
        *owner == Some(std::thread::current().id())
    }

    /// The lock is held by the calling thread from now (`Some`), or by no
    /// one (`None`), whichever thread ends it.
    fn set_owner(&self, owner: Option<ThreadId>) {
        *self.owner.lock().unwrap_or_else(|p| p.into_inner()) = owner;
    }
}

impl PgStorage {
    /// Runs `f` on the locked connection if this thread holds this
    /// storage's write lock; `None` otherwise.
    pub(super) fn on_writer<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, StorageError>,
    ) -> Option<Result<T, StorageError>> {
        if !self.writer.owned_here() {
            return None;
        }
        let mut locked = lock(&self.writer.locked);
        let conn = locked.as_mut()?;
        Some(tokio::task::block_in_place(|| f(conn)))
    }

    pub(super) fn begin(&self) -> Result<Option<u64>, StorageError> {
        self.end(); // a lock left by a batch that never committed
        let pool = self.pool.as_ref().expect("open until dropped");
        tokio::task::block_in_place(|| {
            let mut conn = self.writer.connection(pool)?;
            // One round trip: the transaction, and the lock, held until
            // COMMIT or ROLLBACK, so that another server's begin_write
            // waits here until this batch is done.
            let locked = (conn.simple_query(&format!("{BEGIN}; {LOCK}")))
                .map_err(StorageError::from)
                .and_then(|messages| {
                    let size = messages.iter().find_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(row) => {
                            Some(row.get(0).map(str::to_owned))
                        }
                        _ => None,
                    });
                    size.flatten()
                        .map(|s| {
                            s.parse::<u64>().map_err(|_| {
                                StorageError::Corrupt(format!(
                                    "PostgreSQL: the log's size is {s:?}"
                                ))
                            })
                        })
                        .transpose()
                });
            match locked {
                Ok(size) => {
                    *lock(&self.writer.locked) = Some(conn);
                    self.writer.set_owner(Some(std::thread::current().id()));
                    Ok(size)
                }
                Err(e) => {
                    let _ = conn.batch_execute("ROLLBACK");
                    self.writer.keep(conn);
                    Err(e)
                }
            }
        })
    }

    pub(super) fn end(&self) {
        self.writer.set_owner(None);
        let locked = lock(&self.writer.locked).take();
        if let Some(mut conn) = locked {
            tokio::task::block_in_place(|| {
                let _ = conn.batch_execute("ROLLBACK");
            });
            self.writer.keep(conn);
        }
    }

    pub(super) fn commit_batch(&self, batch: Batch) -> Result<(), StorageError> {
        self.writer.set_owner(None);
        let locked = lock(&self.writer.locked).take();
        let pool = self.pool.as_ref().expect("open until dropped");
        tokio::task::block_in_place(|| {
            let mut conn = match locked {
                Some(conn) => conn,
                None => {
                    let mut conn = self.writer.connection(pool)?;
                    if let Err(e) = conn.batch_execute(BEGIN) {
                        return Err(e.into());
                    }
                    conn
                }
            };
            let nodes: Vec<_> = (batch.nodes.iter())
                .map(|n| ((n.level, n.index), n.hash))
                .collect();
            let written = write(&mut conn, batch);
            if written.is_ok() {
                self.nodes.insert(nodes); // committed: final
            }
            if written.is_err() {
                // A failed statement leaves the transaction aborted: end it
                // before the connection is used again.
                let _ = conn.batch_execute("ROLLBACK");
            }
            self.writer.keep(conn);
            written
        })
    }
}

/// Starts a batch's transaction, durable at COMMIT whatever the server's
/// default (SPEC: nothing is acknowledged before it is on disk); one round
/// trip.
///
/// `lock_timeout`: a server waiting for the log's lock gives up after 10 s
/// (its submitters get UNAVAILABLE and retry) instead of hanging behind a
/// holder that is stuck; `idle_in_transaction_session_timeout`: a holder
/// that stops talking to the database (its host cut off, its thread dead)
/// has its transaction ended after 30 s, which releases the lock. A batch
/// is decided in well under a second, so neither cuts a live writer off.
const BEGIN: &str = "BEGIN; SET LOCAL synchronous_commit TO on; \
    SET LOCAL lock_timeout = '10s'; SET LOCAL idle_in_transaction_session_timeout = '30s'";

/// The log's lock: its state row, locked until the transaction ends.
const LOCK: &str = "SELECT size FROM accord_log WHERE id = 1 FOR UPDATE";

/// Everything a batch writes but the log's state row, as data-modifying
/// common table expressions: one statement, one round trip, whatever the
/// batch's size (CockroachDB and YugabyteDB run them too). Arrays that
/// are empty write nothing. Keys are distinct within each array (the
/// caller keeps the last write of each), as one statement may not touch a
/// row twice.
const WRITE_ROWS: &str = "WITH \
    l AS (INSERT INTO accord_leaves (idx, leaf) SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])), \
    n AS (INSERT INTO accord_nodes (level, idx, hash) SELECT * FROM UNNEST($3::INT[], $4::BIGINT[], $5::BYTEA[])), \
    h AS (INSERT INTO accord_leaf_hashes (hash, idx) SELECT * FROM UNNEST($6::BYTEA[], $7::BIGINT[])), \
    m AS (INSERT INTO accord_map (position, record) SELECT * FROM UNNEST($8::BYTEA[], $9::BYTEA[]) \
          ON CONFLICT (position) DO UPDATE SET record = EXCLUDED.record), \
    r AS (INSERT INTO accord_registry (key, value) SELECT * FROM UNNEST($10::BYTEA[], $11::BYTEA[]) \
          ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value), \
    d AS (DELETE FROM accord_registry WHERE key = ANY($12)) ";

/// ... then the state row, only where it stands at size `$17` (the size
/// the batch extends; 0 for a log not created yet) and holds the same log:
/// one row is returned if it was written, none if another writer moved the
/// log first.
const WRITE_LOG: &str = "INSERT INTO accord_log (id, origin, vkey, size, checkpoint) \
    SELECT 1, $13, $14, $15, $16 WHERE $17 = 0 OR EXISTS (SELECT 1 FROM accord_log WHERE id = 1) \
    ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, checkpoint = EXCLUDED.checkpoint \
    WHERE accord_log.size = $17 AND accord_log.origin = EXCLUDED.origin \
    AND accord_log.vkey = EXCLUDED.vkey RETURNING 1";

/// ... or, for a batch of no entries: the state row if there is none (a
/// log's creation, at size 0, or by `accord migrate` at the size of the log
/// it copied), or the same log's at the same size (a creation two servers
/// raced to signs the same bytes). Never another log's, never another size.
const SET_LOG: &str = "INSERT INTO accord_log (id, origin, vkey, size, checkpoint) \
    SELECT 1, $13, $14, $15, $16 WHERE $17 = $15 \
    ON CONFLICT (id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint \
    WHERE accord_log.size = EXCLUDED.size AND accord_log.origin = EXCLUDED.origin \
    AND accord_log.vkey = EXCLUDED.vkey RETURNING 1";

/// One batch in the transaction open on `tx` (the contract's atomic,
/// durable commit), which this ends with COMMIT; on an error the caller
/// rolls back. Two round trips: the rows, then COMMIT. A batch with entries
/// must start at the stored size and a new log must not exist yet
/// (`Conflict` otherwise), whether or not `begin_write` locked the state
/// row first: the update of that row checks it (and locks it, if it was
/// not).
pub(super) fn write(tx: &mut postgres::Client, batch: Batch) -> Result<(), StorageError> {
    let (mut idx, mut leaves) = (Vec::new(), Vec::new());
    let first = batch.leaves.first().map(|(i, _)| *i);
    for (i, leaf) in batch.leaves {
        idx.push(signed(i)?);
        leaves.push(leaf);
    }
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
    // One row per key per statement: the last write of a key wins, as
    // when the writes are applied in order.
    let map: BTreeMap<Vec<u8>, Vec<u8>> = (batch.map.iter())
        .map(|(p, r)| (p.to_key().to_vec(), r.to_bytes()))
        .collect();
    let (keys, records): (Vec<_>, Vec<_>) = map.into_iter().unzip();
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
    let rows: [(&(dyn postgres::types::ToSql + Sync), Type); 12] = [
        (&idx, Type::INT8_ARRAY),
        (&leaves, Type::BYTEA_ARRAY),
        (&levels, Type::INT4_ARRAY),
        (&nidx, Type::INT8_ARRAY),
        (&hashes, Type::BYTEA_ARRAY),
        (&lhashes, Type::BYTEA_ARRAY),
        (&lidx, Type::INT8_ARRAY),
        (&keys, Type::BYTEA_ARRAY),
        (&records, Type::BYTEA_ARRAY),
        (&set_keys, Type::BYTEA_ARRAY),
        (&set_values, Type::BYTEA_ARRAY),
        (&removed, Type::BYTEA_ARRAY),
    ];
    match &batch.meta {
        None => {
            tx.query_typed(&format!("{WRITE_ROWS} SELECT 1"), &rows)
                .map_err(conflict)?;
        }
        Some(m) => {
            // The size this batch extends: its first entry's index, or
            // (no entries) the size it records.
            let extends = signed(first.unwrap_or(m.size))?;
            let size = signed(m.size)?;
            let mut params = rows.to_vec();
            params.extend([
                (
                    &m.origin as &(dyn postgres::types::ToSql + Sync),
                    Type::TEXT,
                ),
                (&m.vkey, Type::TEXT),
                (&size, Type::INT8),
                (&m.checkpoint, Type::TEXT),
                (&extends, Type::INT8),
            ]);
            let log = if first.is_some() { WRITE_LOG } else { SET_LOG };
            let written =
                (tx.query_typed(&format!("{WRITE_ROWS}{log}"), &params)).map_err(conflict)?;
            if written.is_empty() {
                return Err(StorageError::Conflict(format!(
                    "the batch {} the log at size {extends}, but the database holds another size or log",
                    if first.is_some() { "extends" } else { "sets" }
                )));
            }
        }
    }
    // Commit point: before COMMIT returns, a crash (of Accord or of the
    // database) leaves none of the batch; once it returns, with
    // synchronous_commit on, the whole batch is in PostgreSQL's WAL on
    // disk. A crash after it but before the answers leave keeps the
    // entries; clients that retry get them back as duplicates.
    tx.batch_execute("COMMIT").map_err(conflict)?;
    Ok(())
}

/// Errors that mean another writer got there first, or that the database
/// asks for the transaction to be tried again (SQLSTATE 40001, 40P01;
/// CockroachDB and YugabyteDB report those under contention): the batch is
/// decided again. An entry index already taken (a unique violation) is the
/// same: the log moved.
fn conflict(e: postgres::Error) -> StorageError {
    use postgres::error::SqlState;
    let retry = [
        SqlState::UNIQUE_VIOLATION,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
    ];
    match e.code() {
        Some(code) if retry.contains(code) => StorageError::Conflict(e.to_string()),
        _ => e.into(),
    }
}
