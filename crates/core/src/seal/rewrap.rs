//! Which stored values are seal-wrapped, and the pass that brings every
//! stored value into that form (`sys/sealwrap/rewrap`).
//!
//! A pass walks the barrier's whole logical tree and, for each value,
//! wraps it with the current seal key if it should be wrapped but is not (or
//! was wrapped by an older HSM key or another seal), and unwraps it if it
//! should not be. It runs:
//!
//! * in the background after an unseal whose keyring record is stale: after
//!   an HSM key rotation (the keyring is the first record to go stale) or a
//!   migration from Shamir to an HSM seal. Requests are served meanwhile;
//!   old records stay readable because each names the key label that made it;
//! * synchronously inside a migration from an HSM seal to Shamir, because the
//!   HSM seal is gone once the migration is over;
//! * on `POST sys/sealwrap/rewrap`.

use crate::audit::table::{AUDIT_PREFIX, AUDIT_SEAL_WRAPPED};
use crate::error::{CoreError, CoreResult};
use crate::mount::router::RouterTable;
use crate::mount::{MountEntry, MountTable};
use crate::node::Core;
use crate::node::state::Unsealed;
use crate::seal::wrap::WrapRule;
use crate::token::{TOKEN_SEAL_WRAPPED, TOKEN_STORE_PREFIX};
use crate::wrapping::key::{WRAPPING_KEY_PREFIX, WRAPPING_SEAL_WRAPPED};
use serde::Serialize;
use std::sync::Arc;

/// Progress of the current or last re-wrap pass (`GET sys/sealwrap/rewrap`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RewrapStatus {
    /// Whether a pass is running.
    pub is_running: bool,
    /// Values examined.
    pub processed: u64,
    /// Values examined without error (changed or already right).
    pub succeeded: u64,
    /// Values that could not be examined or rewritten.
    pub failed: u64,
    /// Values rewritten (wrapped, re-wrapped or unwrapped).
    pub rewritten: u64,
    /// The first failure, for the log and a failed migration's error.
    #[serde(skip)]
    pub first_error: Option<String>,
}

/// How a pass relates to the state lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Locking {
    /// Take the state lock shared for each value (a background pass: a seal
    /// request waits at most for one value).
    PerValue,
    /// The caller holds the state lock exclusively (seal migration).
    Held,
}

impl Core {
    /// Which values of `mount` are seal-wrapped: all of a `seal_wrap` mount,
    /// the engine's critical paths otherwise, none without a seal that wraps.
    pub(crate) fn wrap_rule(&self, mount: &MountEntry) -> WrapRule {
        if !self.barrier.seal_wraps() {
            return WrapRule::Nothing;
        }
        if mount.seal_wrap {
            return WrapRule::Everything;
        }
        match self.factories.get(mount.engine_type.as_str()) {
            Some(f) if !f.seal_wrap_storage(mount).is_empty() => {
                WrapRule::Prefixes(f.seal_wrap_storage(mount))
            }
            _ => WrapRule::Nothing,
        }
    }

    /// Whether the value at logical barrier path `path` should be wrapped.
    fn wants_wrapped(&self, path: &str, mounts: &MountTable) -> bool {
        if !self.barrier.seal_wraps() {
            return false;
        }
        if let Some(rest) = path.strip_prefix(TOKEN_STORE_PREFIX) {
            return WrapRule::Prefixes(TOKEN_SEAL_WRAPPED).covers(rest);
        }
        if let Some(rest) = path.strip_prefix(WRAPPING_KEY_PREFIX) {
            return WrapRule::Prefixes(WRAPPING_SEAL_WRAPPED).covers(rest);
        }
        if path.starts_with(crate::managed_keys::MANAGED_KEYS_PREFIX) {
            // Managed key configurations hold the HSM PIN.
            return true;
        }
        if let Some(rest) = path.strip_prefix(AUDIT_PREFIX) {
            // `<uuid>/salt`: each audit device's salt.
            return rest
                .split_once('/')
                .is_some_and(|(_, inner)| WrapRule::Prefixes(AUDIT_SEAL_WRAPPED).covers(inner));
        }
        let Some(rest) = path
            .strip_prefix("logical/")
            .or_else(|| path.strip_prefix(crate::mount::AUTH_PREFIX))
        else {
            return false;
        };
        let Some((uuid, inner)) = rest.split_once('/') else {
            return false;
        };
        mounts
            .entries
            .iter()
            .find(|m| m.uuid == uuid)
            .is_some_and(|m| self.wrap_rule(m).covers(inner))
    }

    /// Re-wraps the core's own critical records (keyring, token and audit
    /// salts, the response-wrapping key) with the current seal key now, not in the background: the node
    /// needs them to unseal, so they must not depend on an old HSM key for
    /// longer than the unseal that noticed the rotation.
    pub(crate) async fn rewrap_core_records(&self) -> CoreResult<()> {
        self.barrier.reconcile_keyring().await?;
        let wanted = self.barrier.seal_wraps();
        for key in TOKEN_SEAL_WRAPPED {
            self.barrier
                .reconcile(&format!("{TOKEN_STORE_PREFIX}{key}"), wanted)
                .await?;
        }
        for key in WRAPPING_SEAL_WRAPPED {
            self.barrier
                .reconcile(&format!("{WRAPPING_KEY_PREFIX}{key}"), wanted)
                .await?;
        }
        self.rewrap_audit_salts(wanted).await
    }

    /// The state of the current or last pass.
    pub fn rewrap_status(&self) -> RewrapStatus {
        self.lock_rewrap().clone()
    }

    /// Starts a background pass unless one is running; returns whether it
    /// started.
    pub fn start_rewrap(self: &Arc<Self>) -> bool {
        let core = Arc::clone(self);
        if !core.claim_rewrap() {
            return false;
        }
        tokio::spawn(async move {
            core.rewrap_pass(Locking::PerValue).await;
        });
        true
    }

    /// After an unseal: starts a pass when the keyring record is not in the
    /// form the seal wants, and warns about `seal_wrap` mounts a seal that
    /// cannot wrap leaves barrier-only.
    pub(crate) async fn after_unseal_seal_wrap(self: &Arc<Self>, mounts: &MountTable) {
        if !self.barrier.seal_wraps() {
            for m in mounts.entries.iter().filter(|m| m.seal_wrap) {
                tracing::warn!(
                    mount = %m.path,
                    seal = self.seal.kind(),
                    "mount has seal_wrap, but the {} seal cannot seal-wrap: its values are \
                     protected by the barrier only until an HSM seal is configured again",
                    self.seal.kind()
                );
            }
        }
        match self.barrier.keyring_needs_reconcile().await {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!(
                    seal = self.seal.kind(),
                    "stored values are not wrapped by the current seal key; starting seal re-wrap"
                );
                self.start_rewrap();
            }
            Err(e) => tracing::error!(error = %e, "cannot check the keyring's seal wrap"),
        }
    }

    /// Unwraps every seal-wrapped value in place, with the state lock held by
    /// the caller: used when migrating to a seal that cannot wrap, while the
    /// old seal can still unwrap. Fails on the first value it cannot unwrap.
    pub(crate) async fn unwrap_all_for_migration(&self) -> CoreResult<()> {
        if !self.claim_rewrap() {
            return Err(CoreError::invalid(
                "a seal re-wrap is running; retry the migration when it has finished",
            ));
        }
        let status = self.rewrap_pass(Locking::Held).await;
        if status.failed > 0 {
            return Err(CoreError::Seal(format!(
                "{} seal-wrapped values could not be unwrapped with the old seal, so the \
                 migration did not start; the first: {}",
                status.failed,
                status.first_error.as_deref().unwrap_or("unknown")
            )));
        }
        Ok(())
    }

    fn claim_rewrap(&self) -> bool {
        let mut s = self.lock_rewrap();
        if s.is_running {
            return false;
        }
        *s = RewrapStatus {
            is_running: true,
            ..RewrapStatus::default()
        };
        true
    }

    async fn rewrap_pass(&self, locking: Locking) -> RewrapStatus {
        let outcome = self.walk(locking).await;
        let mut s = self.lock_rewrap();
        s.is_running = false;
        match outcome {
            Ok(()) => tracing::info!(
                processed = s.processed,
                rewritten = s.rewritten,
                failed = s.failed,
                "seal re-wrap completed"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                processed = s.processed,
                "seal re-wrap stopped before the end; POST sys/sealwrap/rewrap to run it again"
            ),
        }
        s.clone()
    }

    async fn walk(&self, locking: Locking) -> CoreResult<()> {
        let mounts = self.stored_mounts(locking).await?;
        let keyring = {
            let _unsealed = self.shared_state(locking).await?;
            self.barrier.reconcile_keyring().await
        };
        self.count(keyring);
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            let children = {
                let _unsealed = self.shared_state(locking).await?;
                self.barrier.list(&prefix).await?
            };
            for child in children {
                let path = format!("{prefix}{child}");
                if child.ends_with('/') {
                    stack.push(path);
                    continue;
                }
                let want = self.wants_wrapped(&path, &mounts);
                let result = {
                    let _unsealed = self.shared_state(locking).await?;
                    self.barrier.reconcile(&path, want).await
                };
                if let Err(e) = &result {
                    tracing::error!(error = %e, "seal re-wrap of one value failed");
                }
                self.count(result);
            }
        }
        Ok(())
    }

    /// The mount table as stored (the router is not built yet during a
    /// migration).
    async fn stored_mounts(&self, locking: Locking) -> CoreResult<MountTable> {
        let _unsealed = self.shared_state(locking).await?;
        let table: Arc<RouterTable> = self.router_table();
        if !table.mounts.entries.is_empty() {
            let mut all = table.mounts.clone();
            all.entries.extend(table.auth.entries.iter().cloned());
            return Ok(all);
        }
        let system = crate::storage::view::View::new(self.barrier.clone(), "");
        let mut all = system
            .get_json::<MountTable>(crate::mount::MOUNT_TABLE_PATH)
            .await?
            .unwrap_or_default();
        let auth = system
            .get_json::<MountTable>(crate::mount::AUTH_TABLE_PATH)
            .await?
            .unwrap_or_default();
        all.entries.extend(auth.entries);
        Ok(all)
    }

    /// Per value, the barrier held open for that value (`Sealed` once a
    /// seal came in between); nothing when the caller holds the state.
    async fn shared_state(&self, locking: Locking) -> CoreResult<Option<Unsealed<'_>>> {
        Ok(match locking {
            Locking::PerValue => Some(self.unsealed().await?),
            Locking::Held => None,
        })
    }

    fn count(&self, result: CoreResult<crate::storage::barrier::Reconciled>) {
        let mut s = self.lock_rewrap();
        s.processed += 1;
        match result {
            Ok(crate::storage::barrier::Reconciled::Unchanged) => s.succeeded += 1,
            Ok(_) => {
                s.succeeded += 1;
                s.rewritten += 1;
            }
            Err(e) => {
                s.failed += 1;
                s.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    fn lock_rewrap(&self) -> std::sync::MutexGuard<'_, RewrapStatus> {
        self.rewrap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
