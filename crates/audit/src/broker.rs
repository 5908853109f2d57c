//! The broker: every enabled device, and the fail-closed rule.
//!
//! An entry counts as recorded when at least one device wrote it. With
//! devices enabled and none able to write, logging returns
//! [`AuditError::NoDeviceWrote`] and the caller must fail the request, as
//! Vault does; with no device enabled, logging is a successful no-op.

use crate::device::AuditDevice;
use crate::{AuditError, AuditPath, LogInput};
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

type DeviceMap = BTreeMap<AuditPath, Arc<dyn AuditDevice>>;

/// The enabled audit devices. `Send + Sync`; share it behind an `Arc`.
///
/// Logging works on a snapshot of the device map (an `Arc` swapped on
/// enable/disable), so a slow device never holds a lock that enabling or
/// disabling another device waits for.
#[derive(Default)]
pub struct AuditBroker {
    devices: RwLock<Arc<DeviceMap>>,
}

impl AuditBroker {
    /// A broker with no device enabled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `device` at `path`; refuses a path already in use.
    pub fn register(
        &self,
        path: AuditPath,
        device: Arc<dyn AuditDevice>,
    ) -> Result<(), AuditError> {
        let mut guard = self.devices.write().unwrap_or_else(PoisonError::into_inner);
        if guard.contains_key(&path) {
            return Err(AuditError::AlreadyEnabled(path.as_str().to_owned()));
        }
        let mut next = DeviceMap::clone(&guard);
        next.insert(path, device);
        *guard = Arc::new(next);
        Ok(())
    }

    /// Removes the device at `path`, returning it (its file closes when the
    /// last in-flight write using it finishes).
    pub fn deregister(&self, path: &AuditPath) -> Option<Arc<dyn AuditDevice>> {
        let mut guard = self.devices.write().unwrap_or_else(PoisonError::into_inner);
        if !guard.contains_key(path) {
            return None;
        }
        let mut next = DeviceMap::clone(&guard);
        let removed = next.remove(path);
        *guard = Arc::new(next);
        removed
    }

    /// Whether a device is enabled at `path`.
    pub fn is_registered(&self, path: &AuditPath) -> bool {
        self.snapshot().contains_key(path)
    }

    /// Enabled paths, sorted.
    pub fn paths(&self) -> Vec<AuditPath> {
        self.snapshot().keys().cloned().collect()
    }

    /// Whether no device is enabled (logging is then a no-op).
    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }

    /// Logs the request entry of `input` to every device. Call before
    /// dispatch; on error, fail the request without dispatching it.
    pub fn log_request(&self, input: &LogInput) -> Result<(), AuditError> {
        self.log_all("request", |d| d.log_request(input))
    }

    /// Logs the response entry of `input` to every device. Call after
    /// dispatch; on error, answer the client with an error instead of the
    /// response.
    pub fn log_response(&self, input: &LogInput) -> Result<(), AuditError> {
        self.log_all("response", |d| d.log_response(input))
    }

    /// Reopens every device (SIGHUP). All are tried; the error lists those
    /// that failed, which will refuse writes until they can open again.
    pub fn reopen(&self) -> Result<(), AuditError> {
        let failures: Vec<String> = self
            .snapshot()
            .iter()
            .filter_map(|(path, d)| d.reopen().err().map(|e| format!("{path}: {e}")))
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(AuditError::Reopen(failures.join("; ")))
        }
    }

    /// `sys/audit-hash/:path`: `input` hashed with that device's salt.
    pub fn hash(&self, path: &AuditPath, input: &str) -> Result<String, AuditError> {
        self.snapshot()
            .get(path)
            .map(|d| d.hash(input))
            .ok_or_else(|| AuditError::NotFound(path.as_str().to_owned()))
    }

    fn snapshot(&self) -> Arc<DeviceMap> {
        Arc::clone(&self.devices.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn log_all(
        &self,
        kind: &'static str,
        log: impl Fn(&dyn AuditDevice) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        let devices = self.snapshot();
        if devices.is_empty() {
            return Ok(());
        }
        let mut failures = Vec::new();
        let mut wrote = false;
        for (path, device) in devices.iter() {
            match log(device.as_ref()) {
                Ok(()) => wrote = true,
                Err(e) => failures.push(format!("{path}: {e}")),
            }
        }
        if wrote {
            for failure in &failures {
                tracing::warn!(kind, failure = %failure, "audit device failed; entry recorded by another device");
            }
            Ok(())
        } else {
            Err(AuditError::NoDeviceWrote {
                kind,
                failures: failures.join("; "),
            })
        }
    }
}

impl std::fmt::Debug for AuditBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditBroker")
            .field("paths", &self.paths())
            .finish()
    }
}
