//! Rotating the barrier keyring: `sys/rotate` on request, `sys/key-status`,
//! and the automatic rotation set by `sys/rotate/config`.
//!
//! An active node checks once a second whether the active term has
//! encrypted `max_operations` values (the count survives restarts, see
//! `storage::usage`) or, with an `interval`, has been active that long, and
//! then adds a new term, as `sys/rotate` does. The default bound is Vault's,
//! 3,865,470,566 (0.9 x 2^32), under the limit NIST SP 800-38D sets for
//! AES-GCM with random nonces; a second's worth of writes past it stays far
//! below 2^32.

use crate::engine::field::{opt_bool, opt_u64};
use crate::engine::{Operation, Request, Response};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::storage::barrier::KeyStatus;
use crate::storage::view::View;
use crate::ttl::Ttl;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// Logical path of the stored configuration.
const ROTATE_CONFIG_PATH: &str = "core/rotate-config";
/// Vault's default, and the most `max_operations` may be.
pub(crate) const DEFAULT_MAX_OPERATIONS: u64 = 3_865_470_566;
/// The least `max_operations` may be.
const MIN_MAX_OPERATIONS: u64 = 1_000_000;
/// The shortest `interval`, when one is set.
const MIN_INTERVAL: Ttl = Ttl::from_secs(24 * 3600);
/// How often an active node checks whether a rotation is due.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The automatic rotation settings, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RotateConfig {
    pub(crate) max_operations: u64,
    /// Seconds; 0: no time-based rotation.
    pub(crate) interval_secs: u64,
    pub(crate) enabled: bool,
}

impl Default for RotateConfig {
    fn default() -> Self {
        Self {
            max_operations: DEFAULT_MAX_OPERATIONS,
            interval_secs: 0,
            enabled: true,
        }
    }
}

/// Why a rotation is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Operations,
    Interval,
}

impl Due {
    fn as_str(self) -> &'static str {
        match self {
            Self::Operations => "the active key term reached max_operations encryptions",
            Self::Interval => "the active key term is older than interval",
        }
    }
}

impl RotateConfig {
    /// Whether the active term, as `status` describes it, must be replaced at `now`.
    pub(crate) fn due(&self, status: &KeyStatus, now: SystemTime) -> Option<Due> {
        if !self.enabled {
            return None;
        }
        if status.encryptions >= self.max_operations {
            return Some(Due::Operations);
        }
        let age = now
            .duration_since(status.install_time)
            .unwrap_or(Duration::ZERO);
        (self.interval_secs > 0 && age.as_secs() >= self.interval_secs).then_some(Due::Interval)
    }

    fn updated(mut self, body: &RotateConfigUpdate) -> CoreResult<Self> {
        if let Some(n) = body.max_operations {
            if !(MIN_MAX_OPERATIONS..=DEFAULT_MAX_OPERATIONS).contains(&n) {
                return Err(CoreError::invalid(format!(
                    "max_operations must be between {MIN_MAX_OPERATIONS} and \
                     {DEFAULT_MAX_OPERATIONS} (the AES-GCM bound); got {n}"
                )));
            }
            self.max_operations = n;
        }
        if let Some(interval) = body.interval {
            if !interval.is_zero() && interval < MIN_INTERVAL {
                return Err(CoreError::invalid(format!(
                    "interval must be at least 24h (or 0 for no time-based rotation); got {}",
                    interval.go_string()
                )));
            }
            self.interval_secs = interval.as_secs();
        }
        if let Some(enabled) = body.enabled {
            self.enabled = enabled;
        }
        Ok(self)
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "max_operations": self.max_operations,
            "interval": Ttl::from_secs(self.interval_secs).go_string(),
            "enabled": self.enabled,
        })
    }
}

/// `POST sys/rotate/config`: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateConfigUpdate {
    #[serde(default, deserialize_with = "opt_u64")]
    max_operations: Option<u64>,
    #[serde(default)]
    interval: Option<Ttl>,
    #[serde(default, deserialize_with = "opt_bool")]
    enabled: Option<bool>,
}

/// The node's rotation settings and its checking task.
#[derive(Debug, Default)]
pub(crate) struct AutoRotation {
    config: RwLock<RotateConfig>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One settings change at a time (read, update, store, install).
    changes: tokio::sync::Mutex<()>,
}

impl AutoRotation {
    pub(crate) fn config(&self) -> RotateConfig {
        *self
            .config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_config(&self, config: RotateConfig) {
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
    }

    fn set_task(&self, task: tokio::task::JoinHandle<()>) {
        let mut slot = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = slot.replace(task) {
            old.abort();
        }
    }

    /// Stops the checks and forgets the settings (at seal and step-down).
    pub(crate) fn clear(&self) {
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        self.set_config(RotateConfig::default());
    }
}

impl Core {
    /// `sys/rotate`: a new key term encrypts from now on.
    pub(crate) async fn rotate_keyring(&self) -> CoreResult<Option<Response>> {
        let term = self.barrier.rotate(self.clock.now()).await?;
        tracing::info!(term, "barrier keyring rotated");
        Ok(None)
    }

    /// `sys/key-status`.
    pub(crate) fn key_status(&self) -> CoreResult<Option<Response>> {
        let s = self.barrier.key_status()?;
        Ok(Some(Response::data(json!({
            "term": s.term,
            "install_time": crate::clock::rfc3339(s.install_time),
            "encryptions": s.encryptions,
        }))))
    }

    /// `GET` and `POST sys/rotate/config`.
    pub(crate) async fn rotate_config_request(
        &self,
        req: &Request,
    ) -> CoreResult<Option<Response>> {
        if req.operation == Operation::Read {
            return Ok(Some(Response::data(self.rotation.config().json())));
        }
        let body: RotateConfigUpdate = req.parse()?;
        let _one_at_a_time = self.rotation.changes.lock().await;
        let config = self.rotation.config().updated(&body)?;
        View::new(self.barrier.clone(), "")
            .put_json(ROTATE_CONFIG_PATH, &config)
            .await?;
        self.rotation.set_config(config);
        tracing::info!(
            max_operations = config.max_operations,
            interval_secs = config.interval_secs,
            enabled = config.enabled,
            "automatic keyring rotation configured"
        );
        Ok(None)
    }

    /// Loads the settings and starts the checks (at the end of unseal).
    pub(crate) async fn start_auto_rotation(self: &Arc<Self>) -> CoreResult<()> {
        let stored = View::new(self.barrier.clone(), "")
            .get_json::<RotateConfig>(ROTATE_CONFIG_PATH)
            .await?;
        self.rotation.set_config(stored.unwrap_or_default());
        let node = Arc::downgrade(self);
        self.rotation.set_task(tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(core) = node.upgrade() else {
                    return;
                };
                match core.rotate_keyring_if_due().await {
                    Ok(_) | Err(CoreError::Sealed | CoreError::Standby) => {}
                    Err(e) => tracing::warn!(
                        error = %e,
                        "automatic keyring rotation failed; trying again in a second"
                    ),
                }
            }
        }));
        Ok(())
    }

    /// Rotates the keyring when the settings say it is time; returns the
    /// new term when it did. An active node runs this once a second by
    /// itself; tests call it to check the decision without waiting.
    pub async fn rotate_keyring_if_due(&self) -> CoreResult<Option<u32>> {
        let _unsealed = self.unsealed().await?;
        let now = self.clock.now();
        let status = self.barrier.key_status()?;
        let Some(due) = self.rotation.config().due(&status, now) else {
            return Ok(None);
        };
        let term = self.barrier.rotate(now).await?;
        tracing::info!(
            term,
            encryptions = status.encryptions,
            reason = due.as_str(),
            "barrier keyring rotated automatically"
        );
        Ok(Some(term))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(encryptions: u64, age_secs: u64, now: SystemTime) -> KeyStatus {
        KeyStatus {
            term: 1,
            install_time: now - Duration::from_secs(age_secs),
            encryptions,
        }
    }

    fn update(body: serde_json::Value) -> CoreResult<RotateConfig> {
        let body: RotateConfigUpdate = serde_json::from_value(body)
            .map_err(|e| CoreError::invalid(format!("invalid request body: {e}")))?;
        RotateConfig::default().updated(&body)
    }

    #[test]
    fn a_rotation_is_due_at_max_operations_or_after_the_interval() {
        let now = SystemTime::now();
        let config = RotateConfig {
            max_operations: 1_000_000,
            interval_secs: 86_400,
            enabled: true,
        };
        assert_eq!(config.due(&status(999_999, 86_399, now), now), None);
        assert_eq!(
            config.due(&status(1_000_000, 0, now), now),
            Some(Due::Operations)
        );
        assert_eq!(
            config.due(&status(0, 86_400, now), now),
            Some(Due::Interval)
        );
        let no_interval = RotateConfig {
            interval_secs: 0,
            ..config
        };
        assert_eq!(no_interval.due(&status(0, 10 * 86_400, now), now), None);
        let disabled = RotateConfig {
            enabled: false,
            ..config
        };
        assert_eq!(
            disabled.due(&status(u64::MAX, u64::from(u32::MAX), now), now),
            None
        );
    }

    #[test]
    fn updates_change_only_the_fields_given_and_take_the_cli_forms() {
        let c = update(json!({"max_operations": "2000000"})).expect("valid");
        assert_eq!(c.max_operations, 2_000_000);
        assert_eq!(c.interval_secs, 0);
        assert!(c.enabled);
        let c = update(json!({"interval": "4320h", "enabled": "false"})).expect("valid");
        assert_eq!(c.max_operations, DEFAULT_MAX_OPERATIONS);
        assert_eq!(c.interval_secs, 4320 * 3600);
        assert!(!c.enabled);
        assert_eq!(c.json()["interval"], "4320h0m0s");
    }

    #[test]
    fn out_of_range_settings_are_refused_with_the_bounds() {
        for (body, needle) in [
            (
                json!({"max_operations": 999_999}),
                "between 1000000 and 3865470566",
            ),
            (
                json!({"max_operations": 3_865_470_567_u64}),
                "the AES-GCM bound",
            ),
            (json!({"interval": "23h"}), "at least 24h"),
            (json!({"max_ops": 5}), "unknown field"),
            (json!({"enabled": "maybe"}), "boolean"),
        ] {
            let err = update(body.clone()).expect_err("refused").to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
