//! The HA election lock: one row of `ha_table` (Vault's `vault_ha_locks`
//! layout), whose `valid_until` is set from the database's clock, so the
//! nodes' clocks never have to agree. Taking or renewing the lock is one
//! upsert that only succeeds when the row is free, lapsed or already ours.

use crate::config::quoted;
use crate::{Setup, run};
use async_trait::async_trait;
use coffer_core::ha::{HaLock, LockHolder};
use coffer_core::storage::StorageError;
use deadpool_postgres::Pool;
use std::sync::Arc;
use std::time::Duration;

/// The `ha_key` of the one lock Coffer takes (Vault's lock key).
pub(crate) const LOCK_KEY: &str = "core/lock";

/// An [`HaLock`] in a PostgreSQL table.
pub struct PostgresHaLock {
    pool: Pool,
    setup: Arc<Setup>,
    acquire: String,
    release: String,
    holder: String,
}

impl PostgresHaLock {
    pub(crate) fn new(pool: Pool, table: &str, setup: Arc<Setup>) -> Self {
        let t = quoted(table);
        Self {
            pool,
            setup,
            acquire: format!(
                "INSERT INTO {t} AS held (ha_key, ha_identity, ha_value, valid_until) \
                 VALUES ($1, $2, $3, now() + $4::bigint * interval '1 millisecond') \
                 ON CONFLICT (ha_key) DO UPDATE \
                 SET ha_identity = EXCLUDED.ha_identity, ha_value = EXCLUDED.ha_value, \
                     valid_until = EXCLUDED.valid_until \
                 WHERE held.valid_until < now() OR held.ha_identity = EXCLUDED.ha_identity \
                 RETURNING ha_identity"
            ),
            release: format!("DELETE FROM {t} WHERE ha_key = $1 AND ha_identity = $2"),
            holder: format!(
                "SELECT ha_identity, ha_value FROM {t} WHERE ha_key = $1 AND valid_until > now()"
            ),
        }
    }
}

impl std::fmt::Debug for PostgresHaLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresHaLock").finish_non_exhaustive()
    }
}

#[async_trait]
impl HaLock for PostgresHaLock {
    async fn acquire(
        &self,
        holder: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StorageError> {
        self.setup.check("lock", LOCK_KEY)?;
        let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let rows = run(
            &self.pool,
            "lock",
            LOCK_KEY,
            &self.acquire,
            &[&LOCK_KEY, &holder, &value, &millis],
        )
        .await?;
        Ok(!rows.is_empty())
    }

    async fn release(&self, holder: &str) -> Result<(), StorageError> {
        self.setup.check("unlock", LOCK_KEY)?;
        run(
            &self.pool,
            "unlock",
            LOCK_KEY,
            &self.release,
            &[&LOCK_KEY, &holder],
        )
        .await?;
        Ok(())
    }

    async fn holder(&self) -> Result<Option<LockHolder>, StorageError> {
        self.setup.check("lock holder", LOCK_KEY)?;
        let rows = run(
            &self.pool,
            "lock holder",
            LOCK_KEY,
            &self.holder,
            &[&LOCK_KEY],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let holder: String = row.try_get(0).map_err(|e| StorageError::Corrupt {
            key: LOCK_KEY.to_owned(),
            cause: e.to_string(),
        })?;
        let value: Option<String> = row.try_get(1).map_err(|e| StorageError::Corrupt {
            key: LOCK_KEY.to_owned(),
            cause: e.to_string(),
        })?;
        Ok(Some(LockHolder {
            holder,
            value: value.unwrap_or_default(),
        }))
    }
}
