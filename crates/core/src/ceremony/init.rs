//! `sys/init`: create the root key, split the key that wraps it into unseal
//! shares, set up the keyring, default mounts and the first root token.
//!
//! Crash safety: `is_initialized` looks at `core/keyring`, and init writes it
//! last: seal records first, then (with the keyring open in memory only) the
//! default mounts, cluster identity, token salt and root token, then the
//! keyring. A failure or crash before that last write leaves a node that is
//! still uninitialised and can be initialised again; the unseal keys of the
//! failed attempt are never handed out. Entries the failed attempt wrote
//! under `barrier/` stay behind as unreadable ciphertext.

use crate::ceremony::shares::share_params;
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::seal::{RECOVERY_KEY_PATH, ROOT_KEY_PATH, SEAL_CONFIG_PATH, SealConfig};
use coffer_crypto::{Key256, SecretBytes, shamir};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Parameters of `sys/init` (already parsed at the HTTP edge).
#[derive(Debug, Clone, Default)]
pub struct InitParams {
    /// Number of unseal key shares.
    pub secret_shares: u32,
    /// Shares needed to unseal.
    pub secret_threshold: u32,
    /// Recovery shares (auto-unseal seals only).
    pub recovery_shares: u32,
    /// Recovery threshold (auto-unseal seals only).
    pub recovery_threshold: u32,
    /// PGP keys to encrypt unseal shares with (not supported yet).
    pub pgp_keys: Vec<String>,
    /// PGP key to encrypt the root token with (not supported yet).
    pub root_token_pgp_key: Option<String>,
    /// Root token id to use instead of a random one (`-dev-root-token-id`).
    pub root_token_id: Option<String>,
}

/// What `sys/init` hands back, exactly once. `Debug` is redacted.
pub struct InitResult {
    /// Unseal key shares.
    pub keys: Vec<SecretBytes>,
    /// Recovery key shares (auto-unseal seals).
    pub recovery_keys: Vec<SecretBytes>,
    /// The first root token.
    pub root_token: Zeroizing<String>,
}

impl std::fmt::Debug for InitResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitResult")
            .field("keys", &self.keys.len())
            .field("recovery_keys", &self.recovery_keys.len())
            .field("root_token", &"[redacted]")
            .finish()
    }
}

impl Core {
    /// Initialises storage. With the Shamir seal the node is sealed
    /// afterwards and the unseal keys are returned; with an auto-unseal seal
    /// (pkcs11) the node stays unsealed and recovery keys are returned.
    pub async fn initialize(self: &Arc<Self>, params: InitParams) -> CoreResult<InitResult> {
        let _exclusive = self.changing_seal_state().await;
        if self.barrier.is_initialized().await? {
            return Err(CoreError::AlreadyInitialized);
        }
        self.hold_ha_lock_for("init").await?;
        if !params.pgp_keys.is_empty() || params.root_token_pgp_key.is_some() {
            return Err(CoreError::NotSupported(
                "PGP encryption of unseal keys and root tokens (pgp_keys, root_token_pgp_key)"
                    .to_owned(),
            ));
        }
        let root_key = Key256::generate(self.entropy.as_ref())?;
        let auto = self.seal.stored_keys();
        let (keys, recovery_keys) = if auto {
            (Vec::new(), self.init_auto_seal(&params, &root_key).await?)
        } else {
            (self.init_shamir_seal(&params, &root_key).await?, Vec::new())
        };
        self.barrier.initialize(root_key, self.clock.now())?;

        let setup = async {
            self.post_unseal().await?;
            let token = self
                .tokens
                .create_root(self.entropy.as_ref(), params.root_token_id.as_deref())
                .await?;
            self.barrier.commit_keyring().await?;
            Ok::<_, CoreError>(token)
        };
        let root_token = setup.await;
        if !auto || root_token.is_err() {
            self.pre_seal();
            self.release_ha_lock().await;
        } else if self.ha.is_some() {
            // An HA node serves only once it holds the lock, like any other.
            self.forget_served_state();
            self.start_serving().await?;
        }
        Ok(InitResult {
            keys,
            recovery_keys,
            root_token: root_token?,
        })
    }

    /// Splits a fresh KEK into unseal shares and stores the root key wrapped by it.
    async fn init_shamir_seal(
        &self,
        params: &InitParams,
        root_key: &Key256,
    ) -> CoreResult<Vec<SecretBytes>> {
        let Some(shamir_seal) = self.shamir.clone() else {
            return Err(CoreError::Internal("shamir seal missing".to_owned()));
        };
        if params.recovery_shares != 0 || params.recovery_threshold != 0 {
            return Err(CoreError::invalid(
                "parameters recovery_shares,recovery_threshold not applicable to seal type shamir",
            ));
        }
        let (shares, threshold) = share_params(params.secret_shares, params.secret_threshold)?;
        let entropy = self.entropy.as_ref();
        let kek = Key256::generate(entropy)?;
        let keys = shamir::split(kek.expose(), shares, threshold, entropy)?;
        shamir_seal.install(kek);
        let wrapped = self.seal.wrap(root_key.expose()).await;
        shamir_seal.clear();
        let wrapped = wrapped.map_err(|e| CoreError::Seal(e.to_string()))?;
        self.write_seal_records(
            &SealConfig {
                seal_type: self.seal.kind().to_owned(),
                secret_shares: params.secret_shares,
                secret_threshold: params.secret_threshold,
                recovery_shares: 0,
                recovery_threshold: 0,
            },
            &wrapped,
            None,
        )
        .await?;
        Ok(keys)
    }

    /// Wraps the root key and a fresh recovery key with the seal and splits
    /// the recovery key into operator shares.
    async fn init_auto_seal(
        &self,
        params: &InitParams,
        root_key: &Key256,
    ) -> CoreResult<Vec<SecretBytes>> {
        let kind = self.seal.kind();
        if params.secret_shares != 0 || params.secret_threshold != 0 {
            return Err(CoreError::invalid(format!(
                "parameters secret_shares,secret_threshold not applicable to seal type {kind}"
            )));
        }
        let (shares, threshold) = share_params(params.recovery_shares, params.recovery_threshold)
            .map_err(|e| CoreError::invalid(format!("recovery keys: {e}")))?;
        let entropy = self.entropy.as_ref();
        let recovery_key = Key256::generate(entropy)?;
        let recovery_keys = shamir::split(recovery_key.expose(), shares, threshold, entropy)?;
        let seal_err = |e: crate::seal::SealError| CoreError::Seal(e.to_string());
        let wrapped_root = self.seal.wrap(root_key.expose()).await.map_err(seal_err)?;
        let wrapped_recovery = self
            .seal
            .wrap(recovery_key.expose())
            .await
            .map_err(seal_err)?;
        self.write_seal_records(
            &SealConfig {
                seal_type: kind.to_owned(),
                secret_shares: 1,
                secret_threshold: 1,
                recovery_shares: params.recovery_shares,
                recovery_threshold: params.recovery_threshold,
            },
            &wrapped_root,
            Some(&wrapped_recovery),
        )
        .await?;
        Ok(recovery_keys)
    }

    async fn write_seal_records(
        &self,
        config: &SealConfig,
        wrapped_root: &[u8],
        wrapped_recovery: Option<&[u8]>,
    ) -> CoreResult<()> {
        let config_json = serde_json::to_vec(config)
            .map_err(|e| CoreError::Internal(format!("encode seal config: {e}")))?;
        let backend = self.barrier.backend();
        backend.put(SEAL_CONFIG_PATH, &config_json).await?;
        backend.put(ROOT_KEY_PATH, wrapped_root).await?;
        if let Some(r) = wrapped_recovery {
            backend.put(RECOVERY_KEY_PATH, r).await?;
        }
        Ok(())
    }

    /// A key record the seal wrapped (`core/seal/root-key` or
    /// `core/seal/recovery-key`), which an initialised node must have.
    pub(crate) async fn stored_key_record(&self, path: &str) -> CoreResult<Vec<u8>> {
        self.barrier
            .backend()
            .get(path)
            .await?
            .ok_or_else(|| CoreError::Internal(format!("{path} is missing")))
    }

    pub(crate) async fn seal_config(&self) -> CoreResult<Option<SealConfig>> {
        match self.barrier.backend().get(SEAL_CONFIG_PATH).await? {
            None => Ok(None),
            Some(raw) => serde_json::from_slice(&raw)
                .map(Some)
                .map_err(|e| CoreError::Internal(format!("{SEAL_CONFIG_PATH} is unreadable: {e}"))),
        }
    }
}
