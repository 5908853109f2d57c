//! The expiration manager: every token that expires has a lease, and a
//! background sweep revokes the tokens whose lease is due.
//!
//! A lease is named as in Vault, `<token path>/<token's salted hash>`
//! (`auth/token/create/3f1c…`, `auth/userpass/login/alice/9ab0…`), and stored
//! in the barrier under `sys/expire/id/<lease id>` as a [`LeaseRecord`]: the
//! token's salted hash, its issue time and when the lease is due. Nothing in
//! it is a credential (the hash is the token store's own storage key, never
//! the token), so it is encrypted by the barrier but not seal-wrapped.
//!
//! The token entry's own `expire_time`, checked at every resolution, stays
//! the authority on whether a token may be used; a lease only says when to
//! look. When the sweep finds a lease due it resolves the token again and
//! revokes it with its descendants if it is no longer usable, moves the
//! lease if a renewal moved the expiry, and drops the lease if the token is
//! gone. A lost, stale or dangling lease therefore never lets a token live
//! longer: at worst it delays the cleanup of storage.
//!
//! The token store registers a lease when it stores a token that expires
//! (before the token entry, so a crash in between leaves a lease without a
//! token rather than an expiring token without a lease), moves it when a
//! renewal changes the expiry, and deletes it after the token entry. The
//! schedule (lease ids by due time, in memory) is loaded from storage at
//! unseal and forgotten at seal; the sweep runs about once a second while
//! unsealed and can be run on demand with [`Core::expire_due`].

use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::storage::view::View;
use crate::token::{Resolution, TokenEntry};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Where lease records live in the barrier.
pub(crate) const LEASE_STORE_PREFIX: &str = "sys/expire/id/";
/// How often the background sweep looks for due leases.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How long a lease whose revocation failed waits before the next attempt.
const RETRY_AFTER_SECS: u64 = 60;

/// One lease as stored under `sys/expire/id/<lease_id>`. Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseRecord {
    /// `<token path>/<token's salted hash>`.
    pub(crate) lease_id: String,
    /// The token's salted hash (its key in the token store).
    pub(crate) token_id: String,
    /// When the token was issued.
    pub(crate) issue_time: u64,
    /// When the sweep should look at the token: its expiry when the lease
    /// was last written, or the time a revocation was queued.
    pub(crate) expire_time: u64,
    /// Set by a revocation with `sync=false`: the sweep revokes the token
    /// whatever its expiry.
    #[serde(default)]
    pub(crate) revoke_queued: bool,
}

impl LeaseRecord {
    /// The lease of the token stored under `token_id`; `None` for a token
    /// that never expires (root tokens, tokens without a TTL).
    pub(crate) fn for_token(token_id: &str, entry: &TokenEntry) -> Option<Self> {
        entry.expire_time.map(|expire_time| Self {
            lease_id: token_lease_id(&entry.path, token_id),
            token_id: token_id.to_owned(),
            issue_time: entry.creation_time,
            expire_time,
            revoke_queued: false,
        })
    }
}

/// Vault's lease id of a token: its creation path joined with its salted hash.
pub(crate) fn token_lease_id(path: &str, token_id: &str) -> String {
    let path = path.trim_matches('/');
    if path.is_empty() {
        token_id.to_owned()
    } else {
        format!("{path}/{token_id}")
    }
}

/// What a `sys/leases/tidy` pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LeaseTidy {
    /// Lease records examined.
    pub scanned: usize,
    /// Records dropped because their token is gone.
    pub dropped: usize,
    /// Tokens revoked because they were no longer usable.
    pub revoked: usize,
}

/// The lease records and the in-memory schedule of when each is due.
pub(crate) struct Leases {
    view: View,
    schedule: Mutex<Schedule>,
    sweep: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("scheduled", &self.count())
            .finish_non_exhaustive()
    }
}

impl Leases {
    /// Lease records over `view` (the core passes `sys/expire/id/`).
    pub(crate) fn new(view: View) -> Self {
        Self {
            view,
            schedule: Mutex::new(Schedule::default()),
            sweep: Mutex::new(None),
        }
    }

    /// Schedules every stored lease (at unseal).
    pub(crate) async fn load(&self) -> CoreResult<()> {
        let mut loaded = Schedule::default();
        for lease_id in self.collect("").await? {
            if let Some(lease) = self.view.get_json::<LeaseRecord>(&lease_id).await? {
                loaded.set(&lease.lease_id, lease.expire_time);
            }
        }
        tracing::debug!(leases = loaded.len(), "leases loaded");
        *self.lock_schedule() = loaded;
        Ok(())
    }

    /// Stops the sweep and forgets the schedule (at seal).
    pub(crate) fn clear(&self) {
        if let Some(task) = self.lock_sweep().take() {
            task.abort();
        }
        *self.lock_schedule() = Schedule::default();
    }

    /// The record of `lease_id`; `None` when unknown or not a possible lease id.
    pub(crate) async fn get(&self, lease_id: &str) -> CoreResult<Option<LeaseRecord>> {
        if crate::storage::validate_key(lease_id).is_err() {
            return Ok(None);
        }
        self.view.get_json(lease_id).await
    }

    /// Stores `lease` and schedules it.
    pub(crate) async fn put(&self, lease: &LeaseRecord) -> CoreResult<()> {
        self.view.put_json(&lease.lease_id, lease).await?;
        self.lock_schedule().set(&lease.lease_id, lease.expire_time);
        Ok(())
    }

    /// Stores `lease` after a renewal moved the token's expiry, unless a
    /// revocation is queued on the stored record (a renewal must not cancel it).
    pub(crate) async fn renewed(&self, lease: &LeaseRecord) -> CoreResult<()> {
        match self.get(&lease.lease_id).await? {
            Some(stored) if stored.revoke_queued => Ok(()),
            _ => self.put(lease).await,
        }
    }

    /// Deletes a record and unschedules it (a no-op for an unknown lease).
    pub(crate) async fn delete(&self, lease_id: &str) -> CoreResult<()> {
        if crate::storage::validate_key(lease_id).is_ok() {
            self.view.delete(lease_id).await?;
        }
        self.lock_schedule().remove(lease_id);
        Ok(())
    }

    /// Direct children of `prefix` (empty or ending in `/`): lease ids and
    /// folders (ending in `/`), as `LIST sys/leases/lookup/<prefix>` shows.
    pub(crate) async fn list(&self, prefix: &str) -> CoreResult<Vec<String>> {
        self.view.list(prefix).await
    }

    /// Every lease id under `prefix` (empty or ending in `/`), at any depth.
    pub(crate) async fn collect(&self, prefix: &str) -> CoreResult<Vec<String>> {
        let mut found = Vec::new();
        let mut stack = vec![prefix.to_owned()];
        while let Some(dir) = stack.pop() {
            for child in self.view.list(&dir).await? {
                let full = format!("{dir}{child}");
                if child.ends_with('/') {
                    stack.push(full);
                } else {
                    found.push(full);
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Lease ids due at `now`, earliest first.
    pub(crate) fn due(&self, now: u64) -> Vec<String> {
        self.lock_schedule().due(now)
    }

    /// Schedules `lease_id` at `when` in memory only, the stored record
    /// unchanged: a lease whose revocation failed waits before the next
    /// attempt (so one bad lease does not fill the log every second), and a
    /// lease whose record is right gets its schedule back in line.
    pub(crate) fn schedule_at(&self, lease_id: &str, when: u64) {
        self.lock_schedule().set(lease_id, when);
    }

    /// Forgets a scheduled lease whose record is gone.
    pub(crate) fn unschedule(&self, lease_id: &str) {
        self.lock_schedule().remove(lease_id);
    }

    /// Number of scheduled leases.
    pub(crate) fn count(&self) -> usize {
        self.lock_schedule().len()
    }

    fn set_sweep(&self, task: tokio::task::JoinHandle<()>) {
        if let Some(old) = self.lock_sweep().replace(task) {
            old.abort();
        }
    }

    fn lock_schedule(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_sweep(&self) -> std::sync::MutexGuard<'_, Option<tokio::task::JoinHandle<()>>> {
        self.sweep
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Core {
    /// Starts the background sweep (at the end of unseal): about once a
    /// second, [`Core::expire_due`]. The task holds only a weak reference,
    /// so it ends with the node; a seal aborts it.
    pub(crate) fn start_lease_sweep(self: &Arc<Self>) {
        let node = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(core) = node.upgrade() else {
                    return;
                };
                match core.expire_due().await {
                    Ok(_) | Err(CoreError::Sealed | CoreError::Standby) => {}
                    Err(e) => tracing::warn!(error = %e, "lease expiry sweep failed"),
                }
            }
        });
        self.leases.set_sweep(task);
    }

    /// Revokes (with their descendants) the tokens whose lease is due by the
    /// core's clock, drops leases whose token is gone, and reschedules
    /// leases whose token was renewed. Returns how many due leases led to a
    /// revocation. A lease whose revocation fails is retried a minute later.
    /// The state lock is taken per lease, so a seal waits for one lease at
    /// most, not for a long backlog (after downtime, say).
    pub async fn expire_due(&self) -> CoreResult<usize> {
        let now = self.tokens.now();
        let due = {
            let _unsealed = self.unsealed().await?;
            self.leases.due(now)
        };
        let mut revoked = 0;
        for lease_id in due {
            let _unsealed = self.unsealed().await?;
            match self.expire_lease(&lease_id).await {
                Ok(true) => revoked += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        lease_id = %lease_id,
                        "revoking the token of an expired lease failed; retrying in a minute"
                    );
                    self.leases
                        .schedule_at(&lease_id, now.saturating_add(RETRY_AFTER_SECS));
                }
            }
        }
        if revoked > 0 {
            tracing::info!(revoked, "expired leases revoked");
        }
        Ok(revoked)
    }

    /// Settles one due lease; `true` when a token was revoked.
    async fn expire_lease(&self, lease_id: &str) -> CoreResult<bool> {
        let Some(lease) = self.leases.get(lease_id).await? else {
            self.leases.unschedule(lease_id);
            return Ok(false);
        };
        if lease.revoke_queued {
            self.revoke_tree(&lease.token_id).await?;
            self.leases.delete(lease_id).await?;
            return Ok(true);
        }
        self.settle_lease(&lease)
            .await
            .map(|s| s == Settled::Revoked)
    }

    /// Brings one lease in line with its token: drops it when the token is
    /// gone or never expires, revokes the token when it is no longer usable,
    /// and moves the lease to the token's expiry otherwise.
    async fn settle_lease(&self, lease: &LeaseRecord) -> CoreResult<Settled> {
        match self.tokens.resolve_id(&lease.token_id).await? {
            Resolution::Unknown => {
                self.leases.delete(&lease.lease_id).await?;
                Ok(Settled::Dropped)
            }
            Resolution::Invalid { revoke } | Resolution::Spent { revoke } => {
                self.revoke_tree(&revoke).await?;
                self.leases.delete(&lease.lease_id).await?;
                Ok(Settled::Revoked)
            }
            Resolution::Valid(token) => match token.entry.expire_time {
                None => {
                    self.leases.delete(&lease.lease_id).await?;
                    Ok(Settled::Dropped)
                }
                Some(when) => {
                    if when != lease.expire_time {
                        self.leases
                            .put(&LeaseRecord {
                                expire_time: when,
                                ..lease.clone()
                            })
                            .await?;
                    } else {
                        self.leases.schedule_at(&lease.lease_id, when);
                    }
                    Ok(Settled::Kept)
                }
            },
        }
    }

    /// Revokes the token of `lease_id` (and its descendants) now, then
    /// deletes the lease; an unknown lease is not an error. With `force` a
    /// failed revocation is logged and the lease deleted anyway (Vault's
    /// `revoke-force`; the token's own expiry still holds).
    pub(crate) async fn revoke_lease(&self, lease_id: &str, force: bool) -> CoreResult<()> {
        let Some(lease) = self.leases.get(lease_id).await? else {
            return Ok(());
        };
        if let Err(e) = self.revoke_tree(&lease.token_id).await {
            if !force {
                return Err(e);
            }
            tracing::warn!(
                error = %e,
                lease_id = %lease_id,
                "revoking the lease's token failed; force is set, so the lease is deleted anyway"
            );
        }
        self.leases.delete(lease_id).await
    }

    /// Queues the revocation of `lease_id` for the sweep (`sync=false`): the
    /// lease becomes due now and its token is revoked whatever its expiry,
    /// also after a restart. An unknown lease is not an error.
    pub(crate) async fn queue_lease_revocation(&self, lease_id: &str) -> CoreResult<()> {
        let Some(lease) = self.leases.get(lease_id).await? else {
            return Ok(());
        };
        self.leases
            .put(&LeaseRecord {
                expire_time: self.tokens.now(),
                revoke_queued: true,
                ..lease
            })
            .await
    }

    /// Revokes every lease under `prefix`, Vault's way: a prefix without a
    /// trailing `/` that names one lease revokes that lease alone; otherwise
    /// every lease below `<prefix>/`. `sync=false` queues the revocations.
    pub(crate) async fn revoke_lease_prefix(
        &self,
        prefix: &str,
        force: bool,
        sync: bool,
    ) -> CoreResult<()> {
        let mut prefix = prefix.trim_start_matches('/').to_owned();
        if !prefix.ends_with('/') {
            if self.leases.get(&prefix).await?.is_some() {
                return self.revoke_or_queue(&prefix, force, sync).await;
            }
            prefix.push('/');
        }
        if prefix == "/" {
            return Err(CoreError::invalid(
                "a lease prefix is required (revoke-prefix/<prefix>)",
            ));
        }
        for lease_id in self.leases.collect(&prefix).await? {
            if let Err(e) = self.revoke_or_queue(&lease_id, force, sync).await {
                tracing::error!(
                    error = %e,
                    lease_id = %lease_id,
                    "revoking a lease under a prefix failed; the leases after it were not revoked"
                );
                return Err(e);
            }
        }
        Ok(())
    }

    async fn revoke_or_queue(&self, lease_id: &str, force: bool, sync: bool) -> CoreResult<()> {
        if sync {
            self.revoke_lease(lease_id, force).await
        } else {
            self.queue_lease_revocation(lease_id).await
        }
    }

    /// `sys/leases/tidy`: drops leases whose token is gone, revokes tokens
    /// that are no longer usable, and moves leases whose token's expiry
    /// changed. Leases with a queued revocation are left to the sweep.
    pub(crate) async fn tidy_leases(&self) -> CoreResult<LeaseTidy> {
        let mut report = LeaseTidy::default();
        for lease_id in self.leases.collect("").await? {
            report.scanned += 1;
            let Some(lease) = self.leases.get(&lease_id).await? else {
                continue;
            };
            if lease.revoke_queued {
                continue;
            }
            match self.settle_lease(&lease).await? {
                Settled::Dropped => report.dropped += 1,
                Settled::Revoked => report.revoked += 1,
                Settled::Kept => {}
            }
        }
        tracing::info!(
            scanned = report.scanned,
            dropped = report.dropped,
            revoked = report.revoked,
            "lease tidy finished"
        );
        Ok(report)
    }
}

/// What settling a lease did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// The token was gone or never expires: the lease was deleted.
    Dropped,
    /// The token was no longer usable: it was revoked with the lease.
    Revoked,
    /// The token is usable: the lease now points at its expiry.
    Kept,
}

/// Lease ids by due time, and each lease's due time.
#[derive(Debug, Default)]
struct Schedule {
    queue: BTreeSet<(u64, String)>,
    due_at: HashMap<String, u64>,
}

impl Schedule {
    fn set(&mut self, lease_id: &str, when: u64) {
        if let Some(old) = self.due_at.insert(lease_id.to_owned(), when) {
            self.queue.remove(&(old, lease_id.to_owned()));
        }
        self.queue.insert((when, lease_id.to_owned()));
    }

    fn remove(&mut self, lease_id: &str) {
        if let Some(old) = self.due_at.remove(lease_id) {
            self.queue.remove(&(old, lease_id.to_owned()));
        }
    }

    fn due(&self, now: u64) -> Vec<String> {
        self.queue
            .iter()
            .take_while(|(when, _)| *when <= now)
            .map(|(_, id)| id.clone())
            .collect()
    }

    fn len(&self) -> usize {
        self.due_at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_yields_due_leases_in_order_and_moves_rescheduled_ones() {
        let mut s = Schedule::default();
        s.set("b", 20);
        s.set("a", 10);
        s.set("c", 30);
        assert_eq!(s.due(5), Vec::<String>::new());
        assert_eq!(s.due(20), ["a", "b"]);
        s.set("a", 40);
        assert_eq!(s.due(20), ["b"]);
        s.remove("b");
        assert_eq!(s.due(100), ["c", "a"]);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn token_leases_are_named_by_path_and_hash_and_only_expiring_tokens_have_one() {
        assert_eq!(
            token_lease_id("auth/token/create", "abc"),
            "auth/token/create/abc"
        );
        assert_eq!(
            token_lease_id("auth/userpass/login/alice/", "abc"),
            "auth/userpass/login/alice/abc"
        );
        assert_eq!(token_lease_id("", "abc"), "abc");
        let mut entry = TokenEntry {
            path: "auth/token/create".to_owned(),
            creation_time: 5,
            ..TokenEntry::default()
        };
        assert_eq!(LeaseRecord::for_token("abc", &entry), None);
        entry.expire_time = Some(65);
        let lease = LeaseRecord::for_token("abc", &entry).expect("lease");
        assert_eq!(lease.lease_id, "auth/token/create/abc");
        assert_eq!((lease.issue_time, lease.expire_time), (5, 65));
        assert!(!lease.revoke_queued);
    }
}
