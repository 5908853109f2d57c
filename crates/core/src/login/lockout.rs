//! Brute-force protection: Vault's user lockout (1.13+), kept by the core
//! for every auth method whose engine names the user a login is for
//! ([`crate::engine::Engine::login_alias`]: userpass's username, AppRole's
//! role id).
//!
//! After `lockout_threshold` failed logins (default 5) of one user of one
//! mount, each within `lockout_counter_reset` (default 15 minutes) of the
//! previous one, the user is locked for `lockout_duration` (default 15
//! minutes): logins are refused with "permission denied" before the engine
//! sees them. A successful login clears the count. Only failures the engine
//! reports as [`CoreError::InvalidCredentials`] count: a wrong password of a
//! known user, a wrong secret id of a known role — unknown users are not
//! tracked (nothing to lock, and no memory for an attacker to fill).
//!
//! Settings are the mount options `lockout_threshold`, `lockout_duration`,
//! `lockout_counter_reset` (Vault duration strings or seconds) and
//! `lockout_disable`, given at `sys/auth/:path` enable time or through
//! `user_lockout_config` on `sys/auth/:path/tune`; a lock's end is computed
//! from the settings in force when it is checked.
//!
//! Failure counts live in memory (a restart forgets a half-way count, as in
//! Vault); locks are stored in the barrier at
//! `core/locked-users/<mount accessor>/<hash of the user>`, so a restart or a
//! seal does not unlock anyone. `sys/locked-users` lists them and
//! `sys/locked-users/:mount_accessor/unlock/:alias` lifts one (the alias in
//! the engine's form: userpass names in any case). Deleting a user lifts its
//! lock ([`crate::engine::Engine::removed_login_alias`]), so a user created
//! again under the name starts unlocked; deleting an AppRole role does not
//! (its lock is on the role id, which no login reaches once the role is
//! gone, and which the lock's duration ends). Time comes from the core
//! `Clock`.

use crate::error::{CoreError, CoreResult};
use crate::storage::locks::KeyLocks;
use crate::storage::view::View;
use crate::ttl::Ttl;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Where locks are stored in the barrier.
pub(crate) const LOCKED_USERS_PREFIX: &str = "core/locked-users/";

/// The mount options the lockout reads.
pub(crate) const OPTIONS: [&str; 4] = [
    "lockout_threshold",
    "lockout_duration",
    "lockout_counter_reset",
    "lockout_disable",
];

/// Lockout settings of one mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockoutConfig {
    /// Failures that lock a user.
    pub threshold: u64,
    /// Seconds a lock lasts.
    pub duration: Ttl,
    /// Seconds after which the failure count starts again.
    pub counter_reset: Ttl,
    /// No lockout at all.
    pub disabled: bool,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            threshold: 5,
            duration: Ttl::from_secs(15 * 60),
            counter_reset: Ttl::from_secs(15 * 60),
            disabled: false,
        }
    }
}

impl LockoutConfig {
    /// Reads (and checks) the lockout options of a mount; other options are
    /// ignored here.
    pub(crate) fn from_options(options: &BTreeMap<String, String>) -> CoreResult<Self> {
        let mut cfg = Self::default();
        let duration = |k: &str, v: &str| {
            Ttl::parse(v).map_err(|e| CoreError::invalid(format!("option {k}: {e}")))
        };
        if let Some(v) = options.get("lockout_threshold") {
            cfg.threshold = v.parse().map_err(|_| {
                CoreError::invalid(format!("option lockout_threshold: {v:?} is not a number"))
            })?;
        }
        if let Some(v) = options.get("lockout_duration") {
            cfg.duration = duration("lockout_duration", v)?;
        }
        if let Some(v) = options.get("lockout_counter_reset") {
            cfg.counter_reset = duration("lockout_counter_reset", v)?;
        }
        if let Some(v) = options.get("lockout_disable") {
            cfg.disabled = v.parse().map_err(|_| {
                CoreError::invalid(format!("option lockout_disable: {v:?} is not a bool"))
            })?;
        }
        if cfg.threshold == 0 {
            cfg.disabled = true;
        }
        Ok(cfg)
    }
}

/// `normalize_options` for auth methods whose only options are the lockout
/// ones: refuses anything else, and checks the values.
pub fn normalize_lockout_options(
    method: &str,
    options: BTreeMap<String, String>,
) -> CoreResult<BTreeMap<String, String>> {
    if let Some(k) = options.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
        return Err(CoreError::invalid(format!(
            "unknown {method} option {k:?}; known: {}",
            OPTIONS.join(", ")
        )));
    }
    LockoutConfig::from_options(&options)?;
    Ok(options)
}

/// One user of one mount: (mount accessor, alias).
type UserKey = (String, String);

#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    count: u64,
    last: u64,
}

/// A stored lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockRecord {
    alias: String,
    locked_at: u64,
}

#[derive(Debug, Default)]
struct State {
    failures: HashMap<UserKey, Failures>,
    /// Locks as stored, loaded at unseal: when each was set.
    locked: HashMap<UserKey, u64>,
}

/// The lockout state of every auth mount.
#[derive(Debug)]
pub(crate) struct UserLockouts {
    view: View,
    state: Mutex<State>,
    /// One login of a user at a time, so that parallel guesses cannot all
    /// pass the lock check before any of them is counted.
    logins: KeyLocks,
}

/// The storage key of a lock: the user's name is hashed so that any
/// characters an alias may hold make one path segment.
fn record_key(accessor: &str, alias: &str) -> String {
    let name = coffer_crypto::hash::hmac_sha256(b"coffer locked user", alias.as_bytes());
    format!("{accessor}/{}", hex::encode(name))
}

impl UserLockouts {
    /// Lockouts stored in `view` (the barrier at [`LOCKED_USERS_PREFIX`]).
    pub(crate) fn new(view: View) -> Self {
        Self {
            view,
            state: Mutex::new(State::default()),
            logins: KeyLocks::new(256),
        }
    }

    /// Waits until no other login of `alias` of the mount `accessor` is
    /// between its lock check and its outcome; hold the guard across both.
    pub(crate) async fn one_login_at_a_time(
        &self,
        accessor: &str,
        alias: &str,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        self.logins.lock(&format!("{accessor}\n{alias}")).await
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the stored locks (after unseal).
    pub(crate) async fn load(&self) -> CoreResult<()> {
        let mut locked = HashMap::new();
        for dir in self.view.list("").await? {
            let Some(accessor) = dir.strip_suffix('/') else {
                continue;
            };
            for key in self.view.list(&dir).await? {
                if let Some(r) = self
                    .view
                    .get_json::<LockRecord>(&format!("{dir}{key}"))
                    .await?
                {
                    locked.insert((accessor.to_owned(), r.alias), r.locked_at);
                }
            }
        }
        *self.state() = State {
            failures: HashMap::new(),
            locked,
        };
        Ok(())
    }

    /// Forgets everything held in memory (on seal).
    pub(crate) fn clear(&self) {
        *self.state() = State::default();
    }

    /// Whether `alias` of the mount `accessor` is locked at `now`. A lock
    /// that has run out is removed.
    pub(crate) async fn is_locked(
        &self,
        accessor: &str,
        alias: &str,
        cfg: &LockoutConfig,
        now: u64,
    ) -> CoreResult<bool> {
        if cfg.disabled {
            return Ok(false);
        }
        let key = (accessor.to_owned(), alias.to_owned());
        let locked_at = self.state().locked.get(&key).copied();
        match locked_at {
            Some(at) if now < at.saturating_add(cfg.duration.as_secs()) => Ok(true),
            Some(at) => {
                self.view.delete(&record_key(accessor, alias)).await?;
                let mut state = self.state();
                // Only the lock that ran out: not one set in the meantime.
                if state.locked.get(&key) == Some(&at) {
                    state.locked.remove(&key);
                }
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// Records a failed login; locks (and stores the lock) at the threshold.
    pub(crate) async fn failed(
        &self,
        accessor: &str,
        alias: &str,
        cfg: &LockoutConfig,
        now: u64,
    ) -> CoreResult<()> {
        if cfg.disabled {
            return Ok(());
        }
        let key = (accessor.to_owned(), alias.to_owned());
        let reached = {
            let mut state = self.state();
            let f = state.failures.entry(key.clone()).or_default();
            if f.count > 0 && now.saturating_sub(f.last) >= cfg.counter_reset.as_secs() {
                f.count = 0;
            }
            f.count += 1;
            f.last = now;
            f.count >= cfg.threshold
        };
        if !reached {
            return Ok(());
        }
        {
            // Locked in memory first: a failed write must not leave the user
            // free to carry on guessing.
            let mut state = self.state();
            state.failures.remove(&key);
            state.locked.insert(key, now);
        }
        let record = LockRecord {
            alias: alias.to_owned(),
            locked_at: now,
        };
        self.view
            .put_json(&record_key(accessor, alias), &record)
            .await?;
        tracing::warn!(
            mount_accessor = %accessor,
            "a user was locked out after repeated failed logins; \
             see sys/locked-users to list and unlock"
        );
        Ok(())
    }

    /// Clears the failure count after a successful login.
    pub(crate) fn succeeded(&self, accessor: &str, alias: &str) {
        self.state()
            .failures
            .remove(&(accessor.to_owned(), alias.to_owned()));
    }

    /// Lifts a lock and clears the count (idempotent).
    pub(crate) async fn unlock(&self, accessor: &str, alias: &str) -> CoreResult<()> {
        self.view.delete(&record_key(accessor, alias)).await?;
        let key = (accessor.to_owned(), alias.to_owned());
        let mut state = self.state();
        state.locked.remove(&key);
        state.failures.remove(&key);
        Ok(())
    }

    /// Forgets every user of a mount (when it is disabled).
    pub(crate) async fn forget_mount(&self, accessor: &str) -> CoreResult<()> {
        self.view.sub(&format!("{accessor}/")).clear().await?;
        let mut state = self.state();
        state.locked.retain(|(a, _), _| a != accessor);
        state.failures.retain(|(a, _), _| a != accessor);
        Ok(())
    }

    /// The users locked at `now`, by mount accessor (sorted), given each
    /// mount's settings; mounts missing from `mounts` are left out.
    pub(crate) fn locked_users(
        &self,
        mounts: &BTreeMap<String, LockoutConfig>,
        now: u64,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ((accessor, alias), at) in &self.state().locked {
            let Some(cfg) = mounts.get(accessor) else {
                continue;
            };
            if !cfg.disabled && now < at.saturating_add(cfg.duration.as_secs()) {
                out.entry(accessor.clone()).or_default().push(alias.clone());
            }
        }
        for aliases in out.values_mut() {
            aliases.sort();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_configure_or_disable_the_lockout() {
        let opts: BTreeMap<String, String> = [
            ("lockout_threshold".to_owned(), "2".to_owned()),
            ("lockout_duration".to_owned(), "1m".to_owned()),
        ]
        .into();
        let cfg = LockoutConfig::from_options(&opts).expect("cfg");
        assert_eq!(
            (cfg.threshold, cfg.duration, cfg.counter_reset),
            (2, Ttl::from_secs(60), Ttl::from_secs(900))
        );
        let off: BTreeMap<String, String> =
            [("lockout_disable".to_owned(), "true".to_owned())].into();
        assert!(LockoutConfig::from_options(&off).expect("cfg").disabled);
        let zero: BTreeMap<String, String> =
            [("lockout_threshold".to_owned(), "0".to_owned())].into();
        assert!(LockoutConfig::from_options(&zero).expect("cfg").disabled);
        let bad: BTreeMap<String, String> =
            [("lockout_threshold".to_owned(), "x".to_owned())].into();
        assert!(LockoutConfig::from_options(&bad).is_err());
        let unknown: BTreeMap<String, String> = [("colour".to_owned(), "red".to_owned())].into();
        let err = normalize_lockout_options("userpass", unknown).expect_err("unknown option");
        assert!(err.to_string().contains("lockout_threshold"), "{err}");
    }
}
