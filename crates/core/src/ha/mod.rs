//! High availability: several nodes on one shared storage, one of them
//! active, the others standing by.
//!
//! The nodes elect the active one through an [`HaLock`] that the storage
//! provides (a row in PostgreSQL's `ha_table`, say): a lease with a TTL that
//! its holder renews. An unsealed node in HA mode starts as a standby: its
//! barrier is open (so it can take over at once), but it loads no mounts,
//! tokens or policies and serves no logical request (the HTTP layer sends
//! those to the active node). The node that takes the lock loads everything
//! afresh from storage and serves; the one that loses it, or gives it up
//! (`sys/step-down`, seal), forgets it all again.
//!
//! Two nodes must never write at once. The lock alone cannot promise that (a
//! node may be paused past its lease), so every write of an HA node passes a
//! [`fence`](fence::Fence): it is open only until the moment the node's
//! lease is sure to be still valid (the time the renewal was *sent* plus the
//! TTL, minus a margin), by the node's own boot-time clock (which, unlike the
//! monotonic one, counts a suspend), whether or not the renewing task ever
//! ran again.

mod cluster_tls;
pub(crate) mod election;
pub(crate) mod fence;

pub use fence::{detached, track_writes};

use crate::storage::StorageError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Vault's PostgreSQL lock TTL: a lapsed active is replaced after this long.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(15);
/// How often a standby tries the lock and refreshes who is active.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long a node that stepped down waits before it competes again, so
/// that another node takes over (Vault waits 10 s too).
pub const DEFAULT_STEP_DOWN_BACKOFF: Duration = Duration::from_secs(10);

/// The election lock a shared storage provides: one holder at a time, each
/// hold a lease that lapses `ttl` after it was last taken or renewed,
/// measured by the lock's own clock (the database's, for PostgreSQL).
#[async_trait]
pub trait HaLock: Send + Sync + 'static {
    /// Takes the lock for `holder` if it is free or lapsed, or renews it if
    /// `holder` holds it; stores `value` with it. `Ok(true)`: `holder` holds
    /// it for at least `ttl` from the moment the call was made.
    async fn acquire(&self, holder: &str, value: &str, ttl: Duration)
    -> Result<bool, StorageError>;
    /// Gives the lock up if `holder` holds it.
    async fn release(&self, holder: &str) -> Result<(), StorageError>;
    /// The current holder and its value, if the lock is held and not lapsed.
    async fn holder(&self) -> Result<Option<LockHolder>, StorageError>;
}

/// Who holds an [`HaLock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The holder's identity (a node id).
    pub holder: String,
    /// What it stored with the lock.
    pub value: String,
}

/// A node's HA settings (from `storage ... { ha_enabled = "true" }`,
/// `api_addr` and `cluster_addr`).
#[derive(Clone)]
pub struct HaOptions {
    /// The storage's election lock.
    pub lock: Arc<dyn HaLock>,
    /// This node's identity in the lock (unique per process; a UUID).
    pub node_id: String,
    /// Where clients reach this node (`api_addr`): standbys redirect here.
    pub api_addr: String,
    /// Where other nodes reach this node for cluster traffic (`cluster_addr`).
    pub cluster_addr: String,
    /// Lease length of the lock.
    pub lock_ttl: Duration,
    /// How often a standby tries the lock.
    pub retry_interval: Duration,
    /// How long a node waits after `sys/step-down` before competing again.
    pub step_down_backoff: Duration,
}

impl HaOptions {
    /// Options with Vault's timings.
    pub fn new(
        lock: Arc<dyn HaLock>,
        node_id: String,
        api_addr: String,
        cluster_addr: String,
    ) -> Self {
        Self {
            lock,
            node_id,
            api_addr,
            cluster_addr,
            lock_ttl: DEFAULT_LOCK_TTL,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            step_down_backoff: DEFAULT_STEP_DOWN_BACKOFF,
        }
    }
}

impl std::fmt::Debug for HaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaOptions")
            .field("node_id", &self.node_id)
            .field("api_addr", &self.api_addr)
            .field("cluster_addr", &self.cluster_addr)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

/// Where the active node can be reached, published in the barrier under
/// `core/leader/<node id>` (the lock itself holds only the node id, so a
/// row written by hand in the lock table cannot send clients elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Advertisement {
    pub(crate) node_id: String,
    pub(crate) api_addr: String,
    pub(crate) cluster_addr: String,
    /// Seconds since the epoch at which it became active.
    pub(crate) active_since: u64,
}

/// This node's place in the cluster, as `sys/leader`, `sys/health` and
/// `coffer status` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaStatus {
    /// Whether the node runs in HA mode at all.
    pub enabled: bool,
    /// Whether this node is the active one.
    pub is_self: bool,
    /// Whether this node is an unsealed standby.
    pub standby: bool,
    /// The active node's `api_addr` (empty when none is known).
    pub leader_address: String,
    /// The active node's `cluster_addr` (empty when none is known).
    pub leader_cluster_address: String,
    /// When the active node became active.
    pub active_time: Option<SystemTime>,
}
