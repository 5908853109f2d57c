//! Auto-unseal: the seal (an HSM) unwraps the stored root key by itself, and
//! operators hold Shamir shares of a separate *recovery key* that authorises
//! privileged operations (generate-root) instead of unsealing.

use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::seal::{RECOVERY_KEY_PATH, ROOT_KEY_PATH};
use coffer_crypto::{Key256, SecretBytes, shamir};
use std::sync::Arc;

impl Core {
    /// Unseals with the root key stored wrapped by an auto-unseal seal.
    /// Returns `Ok(false)` when there is nothing to do (not initialised, not
    /// an auto-unseal seal, or a seal migration is pending: then only
    /// `sys/unseal` with `migrate` may open the node); `Ok(true)` once
    /// unsealed. After an HSM key rotation the stored keys are re-wrapped
    /// with the new key.
    pub async fn unseal_with_stored_keys(self: &Arc<Self>) -> CoreResult<bool> {
        let _exclusive = self.changing_seal_state().await;
        if !self.seal.stored_keys() || !self.barrier.is_initialized().await? {
            return Ok(false);
        }
        if !self.barrier.is_sealed() {
            return Ok(true);
        }
        if let Some(config) = self.seal_config().await?
            && let Some(m) = self.pending_migration(&config)
        {
            tracing::warn!(
                from = %m.from,
                to = m.to,
                "seal migration pending: not unsealing with stored keys; enter the {} keys with `coffer operator unseal -migrate`",
                m.key_kind()
            );
            return Ok(false);
        }
        tracing::info!("stored unseal keys supported, attempting fetch");
        let wrapped_root = self.stored_key_record(ROOT_KEY_PATH).await?;
        let root =
            self.seal.unwrap(&wrapped_root).await.map_err(|e| {
                CoreError::Seal(format!("failed to unwrap the stored root key: {e}"))
            })?;
        let root = Key256::from_slice(root.expose()).ok_or_else(|| {
            CoreError::Internal("stored root key has the wrong length".to_owned())
        })?;
        self.barrier.unseal(&root).await?;
        if let Err(e) = self.start_serving().await {
            self.pre_seal();
            return Err(e);
        }
        // Vault's order and words, which seed 002 §6.2 shows and operators grep for.
        tracing::info!("vault is unsealed");
        tracing::info!(stored_keys_used = 1, "unsealed with stored keys");
        Ok(true)
    }

    /// Re-wraps the root and recovery keys, the keyring and the token salt
    /// when they were wrapped by an older seal key (other seal-wrapped values
    /// follow in the background). A failure is logged, not fatal: the old
    /// key still works.
    pub(crate) async fn upgrade_stored_keys(&self, wrapped_root: &[u8], root: &Key256) {
        if self.seal.wrapped_with_current_key(wrapped_root) {
            return;
        }
        let result: CoreResult<()> = async {
            let backend = self.barrier.backend();
            let seal_err = |e: crate::seal::SealError| CoreError::Seal(e.to_string());
            if let Some(old) = backend.get(RECOVERY_KEY_PATH).await? {
                tracing::info!("upgrading recovery key");
                let recovery = self.seal.unwrap(&old).await.map_err(seal_err)?;
                let rewrapped = self.seal.wrap(recovery.expose()).await.map_err(seal_err)?;
                backend.put(RECOVERY_KEY_PATH, &rewrapped).await?;
            }
            tracing::info!("upgrading stored keys");
            let rewrapped = self.seal.wrap(root.expose()).await.map_err(seal_err)?;
            backend.put(ROOT_KEY_PATH, &rewrapped).await?;
            self.rewrap_core_records().await
        }
        .await;
        match result {
            Ok(()) => tracing::info!("stored keys upgraded to the current seal key"),
            Err(e) => {
                tracing::error!(error = %e, "upgrading stored keys failed; they stay wrapped by the previous seal key")
            }
        }
    }

    /// Checks operator shares: unseal shares for the Shamir seal (they must
    /// rebuild this node's root key), recovery shares for auto-unseal seals
    /// (they must rebuild the stored recovery key).
    pub(crate) async fn verify_operator_shares(&self, shares: &[SecretBytes]) -> CoreResult<()> {
        let (candidate, expected) = if self.seal.stored_keys() {
            let combined = shamir::combine(shares)?;
            let wrapped = self.stored_key_record(RECOVERY_KEY_PATH).await?;
            let stored = self
                .seal
                .unwrap(&wrapped)
                .await
                .map_err(|e| CoreError::Seal(e.to_string()))?;
            (combined, stored)
        } else {
            let root = self.root_key_from_shares(shares).await?;
            let current = self.barrier.root_key()?;
            (
                SecretBytes::from_slice(root.expose()),
                SecretBytes::from_slice(current.expose()),
            )
        };
        if candidate.len() == expected.len() && candidate.ct_eq(expected.expose()) {
            Ok(())
        } else {
            Err(CoreError::invalid("the keys do not match this node's keys"))
        }
    }
}
