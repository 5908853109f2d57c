//! The node's audit devices: enabling and disabling them (table and salt in
//! the barrier, device in the broker), rebuilding them at unseal, dropping
//! them at seal, and reopening their files (SIGHUP).
//!
//! At unseal a device that cannot be opened (its directory gone, say) is
//! skipped with an error naming its path, and the others record requests; if
//! devices are enabled and none of them opens, the unseal fails and the node
//! stays sealed, so no request is ever served unaudited. This is what Vault
//! does (`setupAudits`: skip, then `errLoadAuditFailed` when none opened).
//! A skipped device stays in the table (listed by `GET sys/audit`) until it is
//! disabled; its salt is kept, so after the path is fixed, the next unseal
//! opens it again.

use crate::audit::table::{
    AUDIT_SALT_KEY, AUDIT_SEAL_WRAPPED, AUDIT_TABLE_PATH, StoredAuditEntry, StoredAuditTable,
};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::seal::wrap::WrapRule;
use crate::storage::view::View;
use coffer_audit::{
    AuditBroker, AuditDevice, AuditError, AuditPath, AuditSalt, AuditTableEntry, EnableRequest,
    open_device,
};
use serde_json::Value;
use std::sync::{Arc, PoisonError, RwLock};

/// The audit state of a node: empty while sealed.
pub(crate) struct AuditDevices {
    /// Every device that opened; what requests are logged to.
    pub(crate) broker: Arc<AuditBroker>,
    /// The persisted table (also the devices that failed to open at unseal).
    table: RwLock<Arc<StoredAuditTable>>,
    /// Serialises enable and disable.
    changes: tokio::sync::Mutex<()>,
}

impl AuditDevices {
    pub(crate) fn new() -> Self {
        Self {
            broker: Arc::new(AuditBroker::new()),
            table: RwLock::new(Arc::new(StoredAuditTable::default())),
            changes: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn table(&self) -> Arc<StoredAuditTable> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_table(&self, table: StoredAuditTable) {
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
    }

    /// Forgets every device (on seal); their files close once no write
    /// uses them.
    pub(crate) fn clear(&self) {
        for path in self.broker.paths() {
            self.broker.deregister(&path);
        }
        self.set_table(StoredAuditTable::default());
    }
}

impl std::fmt::Debug for AuditDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditDevices")
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

/// Errors of enabling, disabling and hashing: the client's input was wrong
/// (400, as Vault's `handleError`), except a failed draw of randomness.
fn request_error(e: AuditError) -> CoreError {
    match e {
        AuditError::Entropy(c) => CoreError::Crypto(c),
        other => CoreError::InvalidRequest(other.to_string()),
    }
}

impl Core {
    /// `GET sys/audit`: path → `{type, description, options, local, path}`.
    pub(crate) fn audit_table_json(&self) -> CoreResult<Value> {
        let table = self.audit.table();
        let map: serde_json::Map<String, Value> = table
            .entries
            .iter()
            .map(|e| {
                serde_json::to_value(&e.entry)
                    .map(|v| (e.entry.path.clone(), v))
                    .map_err(|err| CoreError::Internal(format!("encoding the audit table: {err}")))
            })
            .collect::<CoreResult<_>>()?;
        Ok(Value::Object(map))
    }

    /// `PUT sys/audit/:path`: validates the options, draws a salt from the
    /// CSP entropy, opens the device (so an unwritable file is refused now),
    /// persists the salt and the table, then starts logging to it.
    pub(crate) async fn enable_audit(&self, raw_path: &str, body: EnableRequest) -> CoreResult<()> {
        let path = AuditPath::parse(raw_path).map_err(request_error)?;
        let entry = AuditTableEntry::new(&path, body).map_err(request_error)?;
        let _one_at_a_time = self.audit.changes.lock().await;
        let current = self.audit.table();
        if let Some(existing) = current.conflicts(path.as_str()) {
            return Err(CoreError::invalid(format!(
                "path already in use at {:?}",
                existing.entry.path
            )));
        }
        let uuid = self.new_uuid()?;
        let accessor = format!(
            "audit_{}_{}",
            entry.device_type,
            hex::encode(&self.random_16()?[..4])
        );
        let stored = StoredAuditEntry {
            entry,
            uuid,
            accessor,
        };
        let salt = AuditSalt::generate(self.entropy.as_ref()).map_err(request_error)?;
        let device = open_blocking(stored.entry.clone(), salt.duplicate())
            .await
            .map_err(request_error)?;
        let salt_view = self.audit_view(&stored);
        salt_view.put(AUDIT_SALT_KEY, salt.expose()).await?;
        let mut next = StoredAuditTable::clone(&current);
        next.entries.push(stored.clone());
        if let Err(e) = self.persist_audit_table(&next).await {
            if let Err(cleanup) = salt_view.clear().await {
                tracing::warn!(error = %cleanup, "removing the salt of an audit device that failed to enable");
            }
            return Err(e);
        }
        self.audit.set_table(next);
        self.audit
            .broker
            .register(path.clone(), device)
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        tracing::info!(path = %path, device_type = %stored.entry.device_type, "audit device enabled");
        Ok(())
    }

    /// `DELETE sys/audit/:path`: stops logging to the device, removes it
    /// from the table and deletes its salt. Nothing enabled there: no-op.
    pub(crate) async fn disable_audit(&self, raw_path: &str) -> CoreResult<()> {
        let path = AuditPath::parse(raw_path).map_err(request_error)?;
        let _one_at_a_time = self.audit.changes.lock().await;
        let current = self.audit.table();
        let Some(removed) = current.get(path.as_str()).cloned() else {
            return Ok(());
        };
        let mut next = StoredAuditTable::clone(&current);
        next.entries.retain(|e| e.entry.path != removed.entry.path);
        self.persist_audit_table(&next).await?;
        self.audit.set_table(next);
        self.audit.broker.deregister(&path);
        if let Err(e) = self.audit_view(&removed).clear().await {
            tracing::warn!(path = %path, error = %e, "audit device disabled, but deleting its salt failed");
        }
        tracing::info!(path = %path, "audit device disabled");
        Ok(())
    }

    /// `POST sys/audit-hash/:path`: `input` hashed with that device's salt.
    pub(crate) fn audit_hash(&self, raw_path: &str, input: &str) -> CoreResult<String> {
        let path = AuditPath::parse(raw_path).map_err(request_error)?;
        self.audit.broker.hash(&path, input).map_err(request_error)
    }

    /// Closes and reopens every audit file (SIGHUP, after logrotate moved
    /// them). All devices are tried; the error names those that failed,
    /// which refuse writes until their path opens again.
    pub fn reopen_audit_devices(&self) -> CoreResult<()> {
        self.audit
            .broker
            .reopen()
            .map_err(|e| CoreError::Audit(e.to_string()))
    }

    /// Paths of the audit devices that record requests now.
    pub fn audit_device_paths(&self) -> Vec<String> {
        self.audit
            .broker
            .paths()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }

    /// After unseal: loads the table and opens every device with its stored
    /// salt. See the module documentation for devices that do not open.
    pub(crate) async fn load_audit_devices(&self) -> CoreResult<()> {
        self.audit.clear();
        let table: StoredAuditTable = View::new(self.barrier.clone(), "")
            .get_json(AUDIT_TABLE_PATH)
            .await?
            .unwrap_or_default();
        let mut failures = Vec::new();
        for stored in &table.entries {
            match self.open_stored(stored).await {
                Ok((path, device)) => {
                    if let Err(e) = self.audit.broker.register(path, device) {
                        failures.push(format!("{}: {e}", stored.entry.path));
                    }
                }
                Err(e) => {
                    tracing::error!(
                        path = %stored.entry.path,
                        error = %e,
                        "audit device could not be opened at unseal; requests are recorded by the \
                         other audit devices only, until it is fixed (then seal and unseal) or disabled"
                    );
                    failures.push(format!("{}: {e}", stored.entry.path));
                }
            }
        }
        if !table.entries.is_empty() && self.audit.broker.is_empty() {
            return Err(CoreError::Audit(format!(
                "none of the {} enabled audit devices could be opened ({}); the node stays sealed \
                 so that no request goes unaudited: fix the devices (a missing directory, \
                 permissions) and unseal again",
                table.entries.len(),
                failures.join("; ")
            )));
        }
        self.audit.set_table(table);
        Ok(())
    }

    /// Re-wraps each device's salt with the current seal key (after an HSM
    /// key rotation), as the token salt is.
    pub(crate) async fn rewrap_audit_salts(&self, wanted: bool) -> CoreResult<()> {
        for stored in &self.audit.table().entries {
            let key = format!("{}{AUDIT_SALT_KEY}", stored.storage_prefix());
            self.barrier.reconcile(&key, wanted).await?;
        }
        Ok(())
    }

    async fn open_stored(
        &self,
        stored: &StoredAuditEntry,
    ) -> CoreResult<(AuditPath, Arc<dyn AuditDevice>)> {
        let path = AuditPath::parse(&stored.entry.path).map_err(request_error)?;
        let mut bytes = self
            .audit_view(stored)
            .get(AUDIT_SALT_KEY)
            .await?
            .ok_or_else(|| CoreError::Internal("its salt is missing from storage".to_owned()))?;
        // Moved, not copied: the salt wipes the bytes when it drops.
        let salt = AuditSalt::from_bytes(std::mem::take(&mut *bytes))
            .map_err(|e| CoreError::Audit(e.to_string()))?;
        let device = open_blocking(stored.entry.clone(), salt)
            .await
            .map_err(|e| CoreError::Audit(e.to_string()))?;
        Ok((path, device))
    }

    /// The device's `audit/<uuid>/` view; its salt is seal-wrapped with an
    /// HSM seal.
    fn audit_view(&self, stored: &StoredAuditEntry) -> View {
        let rule = if self.barrier.seal_wraps() {
            WrapRule::Prefixes(AUDIT_SEAL_WRAPPED)
        } else {
            WrapRule::Nothing
        };
        View::new(self.barrier.clone(), stored.storage_prefix()).with_wrap_rule(rule)
    }

    async fn persist_audit_table(&self, table: &StoredAuditTable) -> CoreResult<()> {
        View::new(self.barrier.clone(), "")
            .put_json(AUDIT_TABLE_PATH, table)
            .await
    }
}

/// Opens a device on the blocking pool: opening a file can stall (a hung
/// network filesystem) and must not hold a runtime worker.
async fn open_blocking(
    entry: AuditTableEntry,
    salt: AuditSalt,
) -> Result<Arc<dyn AuditDevice>, AuditError> {
    tokio::task::spawn_blocking(move || open_device(&entry, salt))
        .await
        .map_err(|e| AuditError::InvalidRequest(format!("opening the audit device failed: {e}")))?
}
