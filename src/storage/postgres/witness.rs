//! Witnessing shared by the servers of one database: the lease that lets
//! one server at a time run witness rounds, and the latest cosigned
//! checkpoint, which every server serves (README, "Running on PostgreSQL").
//!
//! The lease is one row (`accord_witness_lease`) whose expiry is computed
//! by the database's clock, so servers whose clocks differ still agree on
//! when it lapsed. Taking it is one `INSERT … ON CONFLICT DO UPDATE … WHERE`
//! that changes the row only if it is ours or expired: two servers trying
//! at once serialize on the row, and the second sees the first's lease.
//! Portable: no advisory locks (CockroachDB and YugabyteDB run this as is).

use super::{corrupt, signed, PgStorage};
use crate::storage::{StorageError, StoredCosigned};
use postgres::types::Type;
use std::time::Duration;

/// Milliseconds since the Unix epoch by the database's clock
/// (`clock_timestamp()`: the time of the statement, not of its transaction).
const DB_NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

impl PgStorage {
    pub(super) fn take_lease(&self, holder: &str, ttl: Duration) -> Result<bool, StorageError> {
        let ttl = i64::try_from(ttl.as_millis()).map_err(|_| corrupt("a lease too long"))?;
        let sql = format!(
            "INSERT INTO accord_witness_lease AS l (id, holder, expires_ms) VALUES (1, $1, {DB_NOW_MS} + $2) \
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE l.holder = excluded.holder OR l.expires_ms < {DB_NOW_MS}"
        );
        let changed = self
            .with(|c| Ok(c.execute_typed(&sql, &[(&holder, Type::TEXT), (&ttl, Type::INT8)])?))?;
        Ok(changed == 1)
    }

    pub(super) fn drop_lease(&self, holder: &str) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute_typed(
                "UPDATE accord_witness_lease SET expires_ms = 0 WHERE id = 1 AND holder = $1",
                &[(&holder, Type::TEXT)],
            )?;
            Ok(())
        })
    }

    pub(super) fn load_cosigned(&self) -> Result<Option<StoredCosigned>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_typed_opt(
                "SELECT size, at, note FROM accord_cosigned WHERE id = 1",
                &[],
            )?)
        })?;
        row.map(|r| {
            let unsigned = |i: usize| {
                u64::try_from(r.get::<_, i64>(i))
                    .map_err(|_| corrupt("a negative cosigned size or time"))
            };
            Ok(StoredCosigned {
                size: unsigned(0)?,
                at: unsigned(1)?,
                note: r.get(2),
            })
        })
        .transpose()
    }

    /// Replaces the stored one only by one of its size or larger, in the
    /// statement itself: two servers storing at once cannot take it back.
    pub(super) fn save_cosigned(&self, c: &StoredCosigned) -> Result<bool, StorageError> {
        let (size, at) = (signed(c.size)?, signed(c.at)?);
        let changed = self.with(|conn| {
            Ok(conn.execute_typed(
                "INSERT INTO accord_cosigned AS c (id, size, at, note) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET size = excluded.size, at = excluded.at, note = excluded.note \
                 WHERE c.size <= excluded.size",
                &[(&size, Type::INT8), (&at, Type::INT8), (&c.note.as_str(), Type::TEXT)],
            )?)
        })?;
        Ok(changed == 1)
    }
}
