//! The node's seal-state lock and the only two ways to take it.
//!
//! Seal-state changes (init, unseal, seal) hold it exclusively through
//! [`Core::changing_seal_state`]; work that needs the barrier open holds it
//! shared through [`Core::unsealed`], which refuses while sealed (and on an
//! HA standby). A seal
//! therefore waits for in-flight work, and nothing can re-open the barrier
//! behind a seal. The lock itself is private to `node`, so there is no other
//! spelling of "take the lock, refuse if sealed" to get wrong.

use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use tokio::sync::{RwLockReadGuard, RwLockWriteGuard};

/// Proof that the barrier is open; it stays open (no seal can start) until
/// this is dropped.
#[must_use = "the barrier may be sealed as soon as the guard is dropped"]
pub(crate) struct Unsealed<'a> {
    _shared: RwLockReadGuard<'a, ()>,
}

/// Held by a seal-state change (init, unseal, seal): no request runs
/// meanwhile.
#[must_use = "other work may run as soon as the guard is dropped"]
pub(crate) struct SealStateChange<'a> {
    _exclusive: RwLockWriteGuard<'a, ()>,
}

impl Core {
    /// Waits for any seal-state change to finish, then holds the barrier
    /// open; `Sealed` when it is not open, `Standby` on an HA standby (whose
    /// barrier is open but which serves nothing).
    pub(crate) async fn unsealed(&self) -> CoreResult<Unsealed<'_>> {
        let shared = self.state.read().await;
        if self.barrier.is_sealed() {
            return Err(CoreError::Sealed);
        }
        self.refuse_if_standby()?;
        Ok(Unsealed { _shared: shared })
    }

    /// Waits for in-flight work to finish and keeps new work out, for init,
    /// unseal and seal.
    pub(crate) async fn changing_seal_state(&self) -> SealStateChange<'_> {
        SealStateChange {
            _exclusive: self.state.write().await,
        }
    }
}
