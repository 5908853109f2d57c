//! Seal migration, as Vault's `operator unseal -migrate`: the root key moves
//! from the Shamir seal to an auto-unseal seal (pkcs11) or back. The root key
//! itself, the keyring and every barrier entry stay as they are (apart from
//! their seal-wrap layer, see step 0 below); only the
//! bootstrap records (`core/seal-config`, `core/seal/root-key`,
//! `core/seal/recovery-key`) change.
//!
//! A migration is pending when the seal type recorded in `core/seal-config`
//! differs from the configured seal's. The node then stays sealed (no
//! auto-unseal, plain unseal keys refused) until a quorum of the old keys is
//! entered with `migrate`:
//!
//! * Shamir → auto: the unseal keys. Their KEK opens the root key; the new
//!   seal wraps the root key, and the KEK becomes the recovery key (wrapped
//!   by the new seal), so the old unseal keys are the recovery keys from now
//!   on (recovery shares/threshold = the old secret shares/threshold).
//! * auto → Shamir: the recovery keys, checked against the stored recovery
//!   key that the old (`disabled = "true"`) seal unwraps; the old seal
//!   unwraps the root key, and the recovery key becomes the Shamir KEK, so
//!   the recovery keys are the unseal keys from now on.
//!
//! # Write order
//!
//! Storage has no transactions, so the writes are ordered such that a crash
//! or a failed write between any two leaves a state that one of the two
//! paths opens. Every new blob is made before the first write (an HSM
//! failure writes nothing), and the barrier is opened with the root key
//! before the first write (proving it is this node's).
//!
//! Shamir → auto:
//! 1. put `core/seal/recovery-key` = new seal (KEK). The Shamir path never
//!    reads it: both the old path and `-migrate` still open the node (a
//!    leftover is deleted by the next Shamir unseal).
//! 2. put `core/seal/root-key` = new seal (root key). From here only the new
//!    seal unwraps the root key; `-migrate` with the same unseal keys still
//!    finishes the job: when their KEK does not open the root key, the new
//!    seal is tried, and its result accepted only if the keys rebuild the
//!    recovery key written in step 1.
//! 3. put `core/seal-config` = {type of the new seal, secret 1/1, recovery
//!    n/t}. The commit point: the types match, the node auto-unseals.
//!
//! auto → Shamir:
//! 1. put `core/seal/root-key` = KEK (root key), the KEK being the recovery
//!    key. `-migrate` still opens the node: the recovery keys are checked
//!    against the untouched recovery key record, and when the old seal
//!    cannot unwrap the root key, the recovery key (as KEK) does.
//! 2. put `core/seal-config` = {shamir, secret n/t = recovery n/t}. The
//!    commit point: the Shamir path opens with the former recovery keys.
//! 3. delete `core/seal/recovery-key`. Cleanup only; a leftover is deleted
//!    by the next Shamir unseal.
//!
//! auto → Shamir starts with a step 0: every seal-wrapped value (and the
//! keyring record) is unwrapped in place while the old seal still can; both
//! paths read barrier-only values, so a crash in step 0 is harmless. Shamir →
//! auto needs no step: the first unseal under the new seal re-wraps in the
//! background (`crate::seal::rewrap`).
//!
//! To abort an interrupted migration, finish it first, then migrate back.

use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::seal::{
    RECOVERY_KEY_PATH, ROOT_KEY_PATH, SEAL_CONFIG_PATH, Seal, SealConfig, SealError, ShamirSeal,
};
use coffer_crypto::{Key256, SecretBytes, shamir};
use std::sync::Arc;

const SHAMIR: &str = "shamir";

/// A pending seal migration: the stored keys are wrapped by the `from`
/// seal, the configuration enables the `to` seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealMigration {
    /// Seal type recorded in `core/seal-config`.
    pub from: String,
    /// Type of the configured (enabled) seal.
    pub to: &'static str,
    /// Keys `-migrate` needs: the unseal threshold when migrating away from
    /// Shamir, the recovery threshold otherwise.
    pub threshold: u32,
    /// Number of those keys that exist.
    pub shares: u32,
}

impl SealMigration {
    /// Which keys `-migrate` takes: `"unseal"` or `"recovery"`.
    pub fn key_kind(&self) -> &'static str {
        if self.from == SHAMIR {
            "unseal"
        } else {
            "recovery"
        }
    }
}

impl Core {
    /// The seal migration the stored data needs, if any (`Ok(None)` when not
    /// initialised or when the stored seal type is the configured one).
    /// Errors when a migration is needed that this configuration cannot
    /// perform, e.g. the old pkcs11 stanza is missing: the server checks this
    /// at startup.
    pub async fn seal_migration(&self) -> CoreResult<Option<SealMigration>> {
        if !self.barrier.is_initialized().await? {
            return Ok(None);
        }
        let Some(config) = self.seal_config().await? else {
            return Ok(None);
        };
        let migration = self.pending_migration(&config);
        if let Some(m) = &migration {
            self.migration_source(m)?;
        }
        Ok(migration)
    }

    /// A migration is pending when the stored seal type differs from the
    /// configured seal's (callers check that the node is initialised).
    pub(crate) fn pending_migration(&self, config: &SealConfig) -> Option<SealMigration> {
        if config.seal_type == self.seal.kind() {
            return None;
        }
        let (threshold, shares) = if config.seal_type == SHAMIR {
            (config.secret_threshold, config.secret_shares)
        } else {
            (config.recovery_threshold, config.recovery_shares)
        };
        Some(SealMigration {
            from: config.seal_type.clone(),
            to: self.seal.kind(),
            threshold,
            shares,
        })
    }

    /// The old seal: `None` for Shamir (the entered keys are the old seal),
    /// else the disabled seal of the configuration.
    pub(crate) fn migration_source(&self, m: &SealMigration) -> CoreResult<Option<Arc<dyn Seal>>> {
        if m.from == SHAMIR {
            return Ok(None);
        }
        if m.to != SHAMIR {
            return Err(CoreError::NotSupported(format!(
                "seal migration from the {} seal to the {} seal (only to or from shamir)",
                m.from, m.to
            )));
        }
        match &self.migration_from {
            Some(old) if old.kind() == m.from => Ok(Some(old.clone())),
            _ => Err(CoreError::invalid(format!(
                "the stored keys are wrapped by the {from} seal, but the configuration has no \
                 seal \"{from}\" stanza with disabled = \"true\" to unwrap them; keep the old \
                 stanza, marked disabled, to migrate to the {to} seal",
                from = m.from,
                to = m.to
            ))),
        }
    }

    /// Runs the migration with a quorum of old keys (caller holds the state
    /// lock exclusively and has checked that the node is sealed). On success
    /// the node is unsealed under the new seal.
    pub(crate) async fn migrate_seal(
        self: &Arc<Self>,
        config: &SealConfig,
        m: &SealMigration,
        shares: &[SecretBytes],
    ) -> CoreResult<()> {
        let key = combined_key(shares)?;
        let wrapped_root = self.stored_key_record(ROOT_KEY_PATH).await?;
        self.hold_ha_lock_for("a seal migration").await?;
        tracing::info!(from = %m.from, to = m.to, "seal migration: keys accepted, migrating");
        let old = self.migration_source(m)?;
        let root = match &old {
            None => self.root_key_from_shamir_kek(&key, &wrapped_root).await?,
            Some(old) => {
                self.root_key_with_recovery_key(old.as_ref(), &key, &wrapped_root)
                    .await?
            }
        };
        self.barrier.unseal(&root).await?;
        if old.is_some()
            && let Err(e) = self.unwrap_all_for_migration().await
        {
            self.pre_seal();
            return Err(e);
        }
        let written = match &old {
            None => self.write_auto_seal_records(config, &key, &root).await,
            Some(_) => self.write_shamir_records(config, &key, &root).await,
        };
        if let Err(e) = written {
            self.pre_seal();
            return Err(e);
        }
        if let Err(e) = self.start_serving().await {
            self.pre_seal();
            return Err(e);
        }
        tracing::info!(from = %m.from, to = m.to, "seal migration completed; vault is unsealed");
        Ok(())
    }

    /// Shamir → auto: the KEK rebuilt from the unseal keys opens the root
    /// key, or, after an interrupted migration (step 2 done), the new seal
    /// does, provided the keys rebuild the recovery key of step 1.
    async fn root_key_from_shamir_kek(&self, kek: &Key256, wrapped: &[u8]) -> CoreResult<Key256> {
        let shamir_err = match kek_seal(self, kek).unwrap(wrapped).await {
            Ok(root) => return root_key(&root),
            Err(e) => e,
        };
        let resumed: CoreResult<Key256> = async {
            let root = self.seal.unwrap(wrapped).await.map_err(seal_err)?;
            let stored = self
                .barrier
                .backend()
                .get(RECOVERY_KEY_PATH)
                .await?
                .ok_or_else(|| CoreError::invalid(format!("{RECOVERY_KEY_PATH} is missing")))?;
            let recovery = self.seal.unwrap(&stored).await.map_err(seal_err)?;
            if !same_key(&recovery, kek) {
                return Err(CoreError::invalid(
                    "the keys do not rebuild the recovery key it wrote",
                ));
            }
            root_key(&root)
        }
        .await;
        resumed.map_err(|resume_err| {
            CoreError::invalid(format!(
                "seal migration failed, progress was reset: the entered unseal keys do not open \
                 the root key (a wrong key, or keys of another initialisation): {shamir_err}; \
                 nor is it a root key re-wrapped by an interrupted migration: {resume_err}"
            ))
        })
    }

    /// auto → Shamir: the recovery keys must rebuild the stored recovery
    /// key; the old seal opens the root key, or, after an interrupted
    /// migration (step 1 done), the recovery key does.
    async fn root_key_with_recovery_key(
        &self,
        old: &dyn Seal,
        recovery: &Key256,
        wrapped: &[u8],
    ) -> CoreResult<Key256> {
        let kind = old.kind();
        let stored = self.stored_key_record(RECOVERY_KEY_PATH).await?;
        let stored = old.unwrap(&stored).await.map_err(|e| {
            CoreError::Seal(format!(
                "the disabled {kind} seal could not unwrap the stored recovery key: {e}"
            ))
        })?;
        if !same_key(&stored, recovery) {
            return Err(CoreError::invalid(
                "seal migration failed, progress was reset: the entered recovery keys do not \
                 match this node's recovery key",
            ));
        }
        let old_err = match old.unwrap(wrapped).await {
            Ok(root) => return root_key(&root),
            Err(e) => e,
        };
        let root = kek_seal(self, recovery)
            .unwrap(wrapped)
            .await
            .map_err(|e| {
                CoreError::Seal(format!(
                    "the disabled {kind} seal cannot unwrap the stored root key ({old_err}), \
                     nor can the recovery key as after an interrupted migration ({e})"
                ))
            })?;
        root_key(&root)
    }

    /// Shamir → auto, steps 1–3 of the module documentation.
    async fn write_auto_seal_records(
        &self,
        old: &SealConfig,
        kek: &Key256,
        root: &Key256,
    ) -> CoreResult<()> {
        let wrapped_recovery = self.seal.wrap(kek.expose()).await.map_err(seal_err)?;
        let wrapped_root = self.seal.wrap(root.expose()).await.map_err(seal_err)?;
        let config = encode(&SealConfig {
            seal_type: self.seal.kind().to_owned(),
            secret_shares: 1,
            secret_threshold: 1,
            recovery_shares: old.secret_shares,
            recovery_threshold: old.secret_threshold,
        })?;
        let backend = self.barrier.backend();
        backend.put(RECOVERY_KEY_PATH, &wrapped_recovery).await?;
        backend.put(ROOT_KEY_PATH, &wrapped_root).await?;
        backend.put(SEAL_CONFIG_PATH, &config).await?;
        Ok(())
    }

    /// auto → Shamir, steps 1–3 of the module documentation.
    async fn write_shamir_records(
        &self,
        old: &SealConfig,
        recovery: &Key256,
        root: &Key256,
    ) -> CoreResult<()> {
        let wrapped_root = kek_seal(self, recovery)
            .wrap(root.expose())
            .await
            .map_err(seal_err)?;
        let config = encode(&SealConfig {
            seal_type: SHAMIR.to_owned(),
            secret_shares: old.recovery_shares,
            secret_threshold: old.recovery_threshold,
            recovery_shares: 0,
            recovery_threshold: 0,
        })?;
        let backend = self.barrier.backend();
        backend.put(ROOT_KEY_PATH, &wrapped_root).await?;
        backend.put(SEAL_CONFIG_PATH, &config).await?;
        backend.delete(RECOVERY_KEY_PATH).await?;
        Ok(())
    }

    /// After a Shamir unseal: a recovery key record left by an interrupted
    /// migration (in either direction) is of no use to the Shamir seal and
    /// is deleted. A failure is logged, not fatal.
    pub(crate) async fn remove_stale_recovery_key(&self) {
        let backend = self.barrier.backend();
        let result: CoreResult<()> = async {
            if backend.get(RECOVERY_KEY_PATH).await?.is_some() {
                backend.delete(RECOVERY_KEY_PATH).await?;
                tracing::info!(
                    "removed {RECOVERY_KEY_PATH}, left behind by an interrupted seal migration"
                );
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not remove {RECOVERY_KEY_PATH} left behind by an interrupted seal migration");
        }
    }
}

/// A Shamir seal holding `key` as its KEK, private to one operation (so no
/// other request can see or clear the key meanwhile).
fn kek_seal(core: &Core, key: &Key256) -> ShamirSeal {
    let seal = ShamirSeal::new(core.entropy.clone());
    seal.install(key.duplicate());
    seal
}

/// Combines shares into a 256-bit key (KEK or recovery key).
fn combined_key(shares: &[SecretBytes]) -> CoreResult<Key256> {
    let combined = shamir::combine(shares)?;
    Key256::from_slice(combined.expose()).ok_or_else(|| {
        CoreError::invalid(format!(
            "seal migration failed, progress was reset: the entered keys combine to {} bytes, \
             not a 32-byte key; they are not keys of this node",
            combined.len()
        ))
    })
}

fn root_key(bytes: &SecretBytes) -> CoreResult<Key256> {
    Key256::from_slice(bytes.expose())
        .ok_or_else(|| CoreError::Internal("stored root key has the wrong length".to_owned()))
}

fn same_key(stored: &SecretBytes, key: &Key256) -> bool {
    stored.len() == key.expose().len() && stored.ct_eq(key.expose())
}

fn seal_err(e: SealError) -> CoreError {
    CoreError::Seal(e.to_string())
}

fn encode(config: &SealConfig) -> CoreResult<Vec<u8>> {
    serde_json::to_vec(config).map_err(|e| CoreError::Internal(format!("encode seal config: {e}")))
}
