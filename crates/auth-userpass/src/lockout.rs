//! Brute-force protection: Vault's user lockout (1.13+), per user of one
//! mount. After `lockout_threshold` failed logins (default 5), each within
//! `lockout_counter_reset` (default 15 minutes) of the previous one, the user
//! is locked for `lockout_duration` (default 15 minutes): logins are refused
//! with "permission denied" before the password is checked. A successful
//! login clears the count. Configured per mount with the mount options
//! `lockout_threshold`, `lockout_duration`, `lockout_counter_reset` (Vault
//! duration strings or seconds) and `lockout_disable`, given at
//! `sys/auth/:path` enable time or through `user_lockout_config` on
//! `sys/auth/:path/tune` (which rebuilds the mount's instance, so counters
//! start from zero).
//!
//! Time comes from the core `Clock` (tests advance a test clock). State is
//! kept in memory per mount instance: a seal or restart unlocks everyone.
//! Unknown users are not tracked (nothing to lock, and no memory to grow).

use coffer_core::field::parse_duration_secs;
use coffer_core::{CoreError, CoreResult};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The mount options this module reads.
pub(crate) const OPTIONS: [&str; 4] = [
    "lockout_threshold",
    "lockout_duration",
    "lockout_counter_reset",
    "lockout_disable",
];

/// Lockout settings of one mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockoutConfig {
    pub(crate) threshold: u64,
    pub(crate) duration: u64,
    pub(crate) counter_reset: u64,
    pub(crate) disabled: bool,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            threshold: 5,
            duration: 15 * 60,
            counter_reset: 15 * 60,
            disabled: false,
        }
    }
}

impl LockoutConfig {
    /// Reads (and checks) the lockout options of a mount.
    pub(crate) fn from_options(options: &BTreeMap<String, String>) -> CoreResult<Self> {
        let mut cfg = Self::default();
        let duration = |k: &str, v: &str| {
            parse_duration_secs(v).map_err(|e| CoreError::invalid(format!("option {k}: {e}")))
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

#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    count: u64,
    last: u64,
    locked_until: Option<u64>,
}

/// Failed-login counters of one mount.
#[derive(Debug)]
pub(crate) struct Lockout {
    cfg: LockoutConfig,
    users: Mutex<HashMap<String, Failures>>,
}

impl Lockout {
    pub(crate) fn new(cfg: LockoutConfig) -> Self {
        Self {
            cfg,
            users: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `user` is locked out at `now` (unix seconds).
    pub(crate) fn is_locked(&self, user: &str, now: u64) -> bool {
        if self.cfg.disabled {
            return false;
        }
        let mut users = self.lock();
        match users.get(user).and_then(|f| f.locked_until) {
            Some(until) if now < until => true,
            Some(_) => {
                users.remove(user);
                false
            }
            None => false,
        }
    }

    /// Records a failed login of a known user.
    pub(crate) fn failed(&self, user: &str, now: u64) {
        if self.cfg.disabled {
            return;
        }
        let mut users = self.lock();
        let f = users.entry(user.to_owned()).or_default();
        if f.count > 0 && now.saturating_sub(f.last) >= self.cfg.counter_reset {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        if f.count >= self.cfg.threshold {
            f.locked_until = Some(now.saturating_add(self.cfg.duration));
            tracing::warn!("user locked out after repeated failed logins");
        }
    }

    /// Clears the count after a successful login (or a user's deletion).
    pub(crate) fn clear(&self, user: &str) {
        self.lock().remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_failures_lock_until_the_duration_passes() {
        let l = Lockout::new(LockoutConfig {
            threshold: 3,
            duration: 100,
            counter_reset: 50,
            disabled: false,
        });
        l.failed("a", 0);
        l.failed("a", 10);
        assert!(!l.is_locked("a", 11));
        l.failed("a", 20);
        assert!(l.is_locked("a", 21));
        assert!(l.is_locked("a", 119));
        assert!(!l.is_locked("a", 120));
        // Failures spaced wider than the counter reset never add up.
        for t in [200, 260, 320, 380] {
            l.failed("b", t);
        }
        assert!(!l.is_locked("b", 381));
    }

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
            (2, 60, 900)
        );
        let off: BTreeMap<String, String> =
            [("lockout_disable".to_owned(), "true".to_owned())].into();
        assert!(LockoutConfig::from_options(&off).expect("cfg").disabled);
        let bad: BTreeMap<String, String> =
            [("lockout_threshold".to_owned(), "x".to_owned())].into();
        assert!(LockoutConfig::from_options(&bad).is_err());
    }
}
