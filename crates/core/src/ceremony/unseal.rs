//! Unsealing with Shamir shares, sealing, and `sys/seal-status`.

use crate::ceremony::shares::ShareCollector;
use crate::error::{CoreError, CoreResult};
use crate::node::{ClusterInfo, Core};
use crate::seal::ROOT_KEY_PATH;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{Key256, SecretBytes, shamir};
use std::sync::Arc;

/// Shares entered so far in the current unseal attempt.
#[derive(Debug, Default)]
pub(crate) struct UnsealProgress {
    shares: ShareCollector,
    nonce: String,
}

/// The body of `sys/seal-status` and `sys/unseal` responses.
#[derive(Debug, Clone)]
pub struct SealStatus {
    /// Seal type (`shamir`).
    pub seal_type: String,
    /// Whether `sys/init` ran.
    pub initialized: bool,
    /// Whether the barrier is sealed.
    pub sealed: bool,
    /// Threshold.
    pub threshold: u32,
    /// Number of shares.
    pub shares: u32,
    /// Shares entered so far.
    pub progress: u32,
    /// Nonce of the current attempt (empty when none).
    pub nonce: String,
    /// Cluster identity (only when unsealed).
    pub cluster: Option<ClusterInfo>,
    /// Storage type.
    pub storage_type: String,
    /// Whether operators hold recovery keys (auto-unseal).
    pub recovery_seal: bool,
    /// Whether a seal migration is pending (`sys/unseal` wants `migrate`).
    pub migration: bool,
}

/// Decodes an unseal share given as hex (tried first, as Vault does) or base64.
pub fn decode_key(key: &str) -> CoreResult<SecretBytes> {
    let key = key.trim();
    if key.is_empty() {
        return Err(CoreError::invalid(
            "'key' must be specified in request body as JSON, or 'reset' set to true",
        ));
    }
    if key.len().is_multiple_of(2)
        && let Ok(raw) = hex::decode(key)
    {
        return Ok(SecretBytes::new(raw));
    }
    B64.decode(key)
        .map(SecretBytes::new)
        .map_err(|_| CoreError::invalid("'key' must be a valid hex or base64 string"))
}

impl Core {
    /// The current seal status. While a seal migration is pending, `t`/`n`
    /// are those of the keys `-migrate` takes (the old unseal keys, or the
    /// recovery keys).
    pub async fn seal_status(&self) -> CoreResult<SealStatus> {
        let config = self.seal_config().await?;
        let initialized = self.barrier.is_initialized().await?;
        let sealed = self.barrier.is_sealed();
        let (progress, nonce) = {
            let p = self.ceremonies.unseal();
            (p.shares.progress(), p.nonce.clone())
        };
        let migration = config
            .as_ref()
            .filter(|_| initialized)
            .and_then(|c| self.pending_migration(c));
        let (threshold, shares) = match (&migration, &config) {
            (Some(m), _) => (m.threshold, m.shares),
            (None, Some(c)) if self.seal.stored_keys() => (c.recovery_threshold, c.recovery_shares),
            (None, Some(c)) => (c.secret_threshold, c.secret_shares),
            (None, None) => (0, 0),
        };
        Ok(SealStatus {
            seal_type: self.seal.kind().to_owned(),
            initialized,
            sealed,
            threshold,
            shares,
            progress,
            nonce,
            cluster: if sealed { None } else { self.cluster() },
            storage_type: self.storage_kind().to_owned(),
            recovery_seal: self.seal.stored_keys(),
            migration: migration.is_some(),
        })
    }

    /// Adds one unseal share; unseals when the threshold is reached. While a
    /// seal migration is pending this is refused: use
    /// [`Core::submit_migration_key`].
    pub async fn submit_unseal_key(self: &Arc<Self>, key: &str) -> CoreResult<SealStatus> {
        self.submit_key(key, false).await
    }

    /// `sys/unseal` with `migrate = true`: adds one share of the keys that
    /// open the stored root key (unseal keys when migrating away from
    /// Shamir, recovery keys when migrating away from an auto-unseal seal);
    /// at the threshold the root key moves to the configured seal and the
    /// node unseals (see `seal/migration.rs`). Refused when no migration is
    /// pending.
    pub async fn submit_migration_key(self: &Arc<Self>, key: &str) -> CoreResult<SealStatus> {
        self.submit_key(key, true).await
    }

    async fn submit_key(self: &Arc<Self>, key: &str, migrate: bool) -> CoreResult<SealStatus> {
        let _exclusive = self.changing_seal_state().await;
        if !self.barrier.is_initialized().await? {
            return Err(CoreError::invalid("Vault is not initialized"));
        }
        let config = self
            .seal_config()
            .await?
            .ok_or_else(|| CoreError::Internal("seal configuration is missing".to_owned()))?;
        let migration = self.pending_migration(&config);
        match (&migration, migrate) {
            (None, true) => {
                return Err(CoreError::invalid(format!(
                    "no seal migration is pending: the stored keys are already wrapped by the \
                     configured {} seal; unseal without -migrate (migrate=false)",
                    self.seal.kind()
                )));
            }
            (Some(m), false) => {
                return Err(CoreError::invalid(format!(
                    "seal migration is pending: the stored keys are wrapped by the {} seal but \
                     the configuration enables the {} seal; enter the {} keys with \
                     `coffer operator unseal -migrate` (migrate=true)",
                    m.from,
                    m.to,
                    m.key_kind()
                )));
            }
            _ => {}
        }
        if !self.barrier.is_sealed() {
            return self.seal_status().await;
        }
        if let Some(m) = &migration {
            // Refuse the first key already when the old seal is missing.
            self.migration_source(m)?;
        }
        if migration.is_none() && self.seal.stored_keys() {
            return Err(CoreError::invalid(format!(
                "the {} seal unseals itself with its HSM key; unseal keys are not accepted \
                 (recovery keys authorise generate-root and seal migration)",
                self.seal.kind()
            )));
        }
        let threshold = migration
            .as_ref()
            .map_or(config.secret_threshold, |m| m.threshold);
        let ready = {
            let mut p = self.ceremonies.unseal();
            let nonce = if p.shares.is_empty() {
                Some(self.new_uuid()?)
            } else {
                None
            };
            let ready = p.shares.add(key, threshold, "unseal attempt")?;
            if let Some(nonce) = nonce {
                p.nonce = nonce;
            }
            ready
        };
        if let Some(shares) = ready {
            self.reset_unseal();
            match &migration {
                Some(m) => self.migrate_seal(&config, m, &shares).await?,
                None => self.unseal_with_shares(&shares).await?,
            }
        }
        self.seal_status().await
    }

    /// Opens the barrier with a quorum of Shamir unseal shares.
    async fn unseal_with_shares(self: &Arc<Self>, shares: &[SecretBytes]) -> CoreResult<()> {
        let root = self.root_key_from_shares(shares).await.map_err(|e| {
            CoreError::invalid(format!(
                "unseal failed, progress was reset: the entered keys do not open the root key \
                 (a wrong key, or keys of another initialisation): {e}"
            ))
        })?;
        self.barrier.unseal(&root).await?;
        if let Err(e) = self.start_serving().await {
            self.pre_seal();
            return Err(e);
        }
        tracing::info!("vault is unsealed");
        Ok(())
    }

    /// Discards the shares entered so far.
    pub fn reset_unseal(&self) {
        *self.ceremonies.unseal() = UnsealProgress::default();
    }

    /// Seals the node: every key leaves memory.
    pub async fn seal_now(&self) {
        let _exclusive = self.changing_seal_state().await;
        self.pre_seal();
        self.release_ha_lock().await;
        tracing::info!("vault is sealed");
    }

    /// Combines shares, installs the result in the Shamir seal and unwraps
    /// the stored root key with it.
    pub(crate) async fn root_key_from_shares(&self, shares: &[SecretBytes]) -> CoreResult<Key256> {
        let shamir_seal = self.shamir.clone().ok_or_else(|| {
            CoreError::NotSupported(format!("unseal keys with the {} seal", self.seal.kind()))
        })?;
        let kek = shamir::combine(shares)?;
        let kek = Key256::from_slice(kek.expose())
            .ok_or_else(|| CoreError::invalid("the combined key has the wrong length"))?;
        let wrapped = self.stored_key_record(ROOT_KEY_PATH).await?;
        shamir_seal.install(kek);
        let root = self.seal.unwrap(&wrapped).await;
        shamir_seal.clear();
        let root = root.map_err(|e| CoreError::Seal(e.to_string()))?;
        Key256::from_slice(root.expose())
            .ok_or_else(|| CoreError::Internal("stored root key has the wrong length".to_owned()))
    }

    /// Forgets every in-memory secret, the routing table and the audit
    /// devices, stops the lease sweep and leaves the HA election.
    pub(crate) fn pre_seal(&self) {
        self.stop_ha();
        self.barrier.seal();
        self.forget_cluster_tls();
        self.forget_served_state();
    }

    /// What an active node loaded to serve (see `node::setup`), forgotten
    /// at seal and when an HA node stands by; the barrier stays as it is.
    pub(crate) fn forget_served_state(&self) {
        self.audit.clear();
        self.tokens.clear();
        self.wrapping_key.clear();
        self.lockouts.clear();
        self.leases.clear();
        self.rotation.clear();
        self.jobs.clear();
        self.quotas.clear();
        self.policies.clear();
        self.set_router_table(crate::mount::router::RouterTable::default());
        *self
            .cluster
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.ceremonies.clear();
    }

    /// Bytes for identifiers (request ids, mount UUIDs and accessors,
    /// progress nonces): not secrets, so the OS CSPRNG even with entropy
    /// augmentation, and requests keep working while the HSM is away.
    pub(crate) fn random_16(&self) -> CoreResult<[u8; 16]> {
        let mut b = [0u8; 16];
        self.system_entropy.fill(&mut b)?;
        Ok(b)
    }
}
