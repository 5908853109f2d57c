//! `sys/rekey` and `sys/rekey-recovery-key`: replace the operator-held key
//! shares with a new set, authorised by a quorum of the current ones.
//!
//! With the Shamir seal the shares are unseal keys: they rebuild the key
//! encryption key (KEK) that wraps the root key, so a rekey makes a new KEK,
//! splits it and re-wraps the root key with it. With an auto-unseal seal the
//! shares are recovery keys: a rekey makes a new recovery key, splits it and
//! stores it wrapped by the seal (the HSM). Neither touches the root key or
//! the keyring (`sys/rotate` does that).
//!
//! Write order: the wrapped key record first, `core/seal-config` second, and
//! the new shares are returned only after both. Once the key record is
//! replaced, the old shares are dead whatever the config says, and the new
//! ones exist only in the response on its way out; so a crash between the two
//! writes adds nothing to the window that every rekey without verification
//! has (new key stored, response lost). Writing the config first would add
//! one: old key record with new share counts, which refuses the old shares
//! whenever the new threshold is below the old one or above the old share
//! count. If the config write fails, the old key record is put back.
//!
//! Only one attempt exists at a time (the seal decides which kind applies).
//! It is authorised by the shares alone, like unseal: no token.

use crate::ceremony::shares::{ShareCollector, share_params};
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::node::state::Unsealed;
use crate::seal::{
    RECOVERY_KEY_PATH, ROOT_KEY_PATH, SEAL_CONFIG_PATH, Seal, SealConfig, SealError, ShamirSeal,
};
use coffer_crypto::{Key256, SecretBytes, shamir};

/// Which operator keys a rekey replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekeyTarget {
    /// `sys/rekey`: the unseal keys of the Shamir seal.
    UnsealKeys,
    /// `sys/rekey-recovery-key`: the recovery keys of an auto-unseal seal.
    RecoveryKeys,
}

impl RekeyTarget {
    /// The API path group (`rekey`, `rekey-recovery-key`), for messages.
    pub fn path(self) -> &'static str {
        match self {
            Self::UnsealKeys => "sys/rekey",
            Self::RecoveryKeys => "sys/rekey-recovery-key",
        }
    }
}

/// Parameters of `sys/rekey*/init` (already parsed at the HTTP edge).
#[derive(Debug, Clone, Default)]
pub struct RekeyParams {
    /// Number of new shares.
    pub secret_shares: u32,
    /// New shares needed.
    pub secret_threshold: u32,
    /// PGP keys to encrypt the new shares with (not supported yet).
    pub pgp_keys: Vec<String>,
    /// Keep a PGP-encrypted backup of the new shares (not supported yet).
    pub backup: bool,
    /// Keep the old shares valid until the new ones are proven (not supported yet).
    pub require_verification: bool,
}

/// The body of `sys/rekey*/init` and of an unfinished `/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RekeyStatus {
    /// Whether an attempt is in progress.
    pub started: bool,
    /// Nonce of the attempt.
    pub nonce: String,
    /// New threshold (`t`).
    pub threshold: u32,
    /// New number of shares (`n`).
    pub shares: u32,
    /// Current shares entered so far.
    pub progress: u32,
    /// Current shares needed.
    pub required: u32,
}

/// The new shares, handed out exactly once. `Debug` is redacted.
pub struct RekeyResult {
    /// Nonce of the finished attempt.
    pub nonce: String,
    /// The new shares.
    pub keys: Vec<SecretBytes>,
}

impl std::fmt::Debug for RekeyResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RekeyResult")
            .field("nonce", &self.nonce)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// What `sys/rekey*/update` answers.
#[derive(Debug)]
pub enum RekeyUpdate {
    /// More shares are needed.
    Progress(RekeyStatus),
    /// The rekey finished; here are the new shares.
    Complete(RekeyResult),
}

/// The attempt in progress.
pub(crate) struct RekeyAttempt {
    target: RekeyTarget,
    nonce: String,
    shares: u8,
    threshold: u8,
    progress: ShareCollector,
    /// The threshold was reached and the new keys are being stored: no
    /// other update, start or cancel may interleave with the writes.
    committing: bool,
}

impl std::fmt::Debug for RekeyAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RekeyAttempt")
            .field("target", &self.target)
            .field("progress", &self.progress)
            .field("committing", &self.committing)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// The attempt in progress for `target`, if any.
    pub async fn rekey_status(&self, target: RekeyTarget) -> CoreResult<RekeyStatus> {
        let (_unsealed, config) = self.rekey_preconditions(target).await?;
        let required = required_shares(target, &config);
        let guard = self.ceremonies.rekey();
        Ok(match guard.as_ref().filter(|a| a.target == target) {
            Some(a) => a.status(required),
            None => RekeyStatus {
                required,
                ..RekeyStatus::default()
            },
        })
    }

    /// Starts an attempt that will replace the current shares with
    /// `params.secret_shares` new ones, `params.secret_threshold` of which
    /// are needed.
    pub async fn rekey_start(
        &self,
        target: RekeyTarget,
        params: RekeyParams,
    ) -> CoreResult<RekeyStatus> {
        let (_unsealed, config) = self.rekey_preconditions(target).await?;
        if !params.pgp_keys.is_empty() {
            return Err(CoreError::NotSupported(
                "PGP encryption of the new keys (pgp_keys)".to_owned(),
            ));
        }
        if params.backup {
            return Err(CoreError::NotSupported(
                "backup of the new keys (backup)".to_owned(),
            ));
        }
        if params.require_verification {
            return Err(CoreError::NotSupported(
                "verification of the new keys (require_verification)".to_owned(),
            ));
        }
        let (shares, threshold) = share_params(params.secret_shares, params.secret_threshold)?;
        let nonce = self.new_uuid()?;
        let mut guard = self.ceremonies.rekey();
        if let Some(a) = guard.as_ref() {
            return Err(CoreError::invalid(format!(
                "rekey already in progress; cancel it first (DELETE {}/init)",
                a.target.path()
            )));
        }
        let attempt = RekeyAttempt {
            target,
            nonce,
            shares,
            threshold,
            progress: ShareCollector::default(),
            committing: false,
        };
        let status = attempt.status(required_shares(target, &config));
        *guard = Some(attempt);
        tracing::info!(path = target.path(), shares, threshold, "rekey initialized");
        Ok(status)
    }

    /// Cancels the attempt. A non-empty `nonce` must match it. Cancelling
    /// when nothing is in progress succeeds, as in Vault.
    pub async fn rekey_cancel(&self, target: RekeyTarget, nonce: Option<&str>) -> CoreResult<()> {
        let (_unsealed, _) = self.rekey_preconditions(target).await?;
        let mut guard = self.ceremonies.rekey();
        let Some(attempt) = guard.as_ref().filter(|a| a.target == target) else {
            return Ok(());
        };
        if attempt.committing {
            return Err(CoreError::invalid(
                "the rekey is storing its new keys and can no longer be cancelled",
            ));
        }
        if let Some(n) = nonce.filter(|n| !n.is_empty())
            && n != attempt.nonce
        {
            return Err(CoreError::invalid(format!(
                "incorrect nonce {n:?}: it does not match the rekey in progress"
            )));
        }
        *guard = None;
        tracing::info!(path = target.path(), "rekey cancelled");
        Ok(())
    }

    /// Adds one current share; at the threshold, checks the shares and
    /// replaces them with new ones. Wrong shares reset the progress (the
    /// attempt, its nonce and new parameters stay, as in Vault).
    pub async fn rekey_update(
        &self,
        target: RekeyTarget,
        key: &str,
        nonce: &str,
    ) -> CoreResult<RekeyUpdate> {
        let (_unsealed, config) = self.rekey_preconditions(target).await?;
        let required = required_shares(target, &config);
        if key.trim().is_empty() {
            return Err(CoreError::invalid(
                "'key' must be specified in request body as JSON",
            ));
        }
        let (shares, new_shares, new_threshold, attempt_nonce) = {
            let mut guard = self.ceremonies.rekey();
            let attempt = guard
                .as_mut()
                .filter(|a| a.target == target)
                .ok_or_else(|| CoreError::invalid("no rekey in progress"))?;
            if attempt.committing {
                return Err(CoreError::invalid(
                    "the rekey is already storing its new keys",
                ));
            }
            if attempt.nonce != nonce {
                return Err(CoreError::invalid(format!(
                    "incorrect nonce {nonce:?}: it does not match the rekey in progress"
                )));
            }
            let Some(shares) = attempt.progress.add(key, required, "rekey")? else {
                return Ok(RekeyUpdate::Progress(attempt.status(required)));
            };
            attempt.committing = true;
            (
                shares,
                attempt.shares,
                attempt.threshold,
                attempt.nonce.clone(),
            )
        };
        let committing = Committing { core: self };
        let keys = match target {
            RekeyTarget::UnsealKeys => {
                self.rekey_unseal_keys(config, &shares, new_shares, new_threshold)
                    .await
            }
            RekeyTarget::RecoveryKeys => {
                self.rekey_recovery_keys(config, &shares, new_shares, new_threshold)
                    .await
            }
        }?;
        committing.finish();
        tracing::info!(
            path = target.path(),
            shares = new_shares,
            threshold = new_threshold,
            "rekey complete: the previous keys no longer work"
        );
        Ok(RekeyUpdate::Complete(RekeyResult {
            nonce: attempt_nonce,
            keys,
        }))
    }

    /// Unsealed (held open for the caller), the right kind of keys for this
    /// seal; returns the seal config.
    async fn rekey_preconditions(
        &self,
        target: RekeyTarget,
    ) -> CoreResult<(Unsealed<'_>, SealConfig)> {
        let unsealed = match self.unsealed().await {
            Err(CoreError::Sealed) if !self.barrier.is_initialized().await? => {
                return Err(CoreError::NotInitialized);
            }
            other => other?,
        };
        let kind = self.seal.kind();
        match (target, self.seal.stored_keys()) {
            (RekeyTarget::RecoveryKeys, false) => {
                return Err(CoreError::invalid(format!(
                    "recovery keys are only used with auto-unseal seals; this node uses the {kind} \
                     seal, whose unseal keys are rekeyed with sys/rekey"
                )));
            }
            (RekeyTarget::UnsealKeys, true) => {
                return Err(CoreError::invalid(format!(
                    "sys/rekey is not supported yet for auto-unseal seals such as {kind} (it would \
                     rekey the stored root key; use sys/rotate for the barrier key, and \
                     sys/rekey-recovery-key for the recovery keys)"
                )));
            }
            (RekeyTarget::UnsealKeys, false) if self.shamir.is_none() => {
                return Err(CoreError::NotSupported(format!(
                    "rekeying unseal keys of the {kind} seal"
                )));
            }
            _ => {}
        }
        let config = self
            .seal_config()
            .await?
            .ok_or_else(|| CoreError::Internal("seal configuration is missing".to_owned()))?;
        Ok((unsealed, config))
    }

    /// Checks the unseal shares against the stored root key, then stores the
    /// root key wrapped by a new KEK and returns the KEK's shares. A private
    /// Shamir seal is used, never the node's shared one, so a concurrent
    /// generate-root cannot swap the KEK between install and use.
    async fn rekey_unseal_keys(
        &self,
        config: SealConfig,
        shares: &[SecretBytes],
        new_shares: u8,
        new_threshold: u8,
    ) -> CoreResult<Vec<SecretBytes>> {
        let old_blob = self.stored_key_record(ROOT_KEY_PATH).await?;
        let root = self.barrier.root_key()?;
        let old_kek = shamir::combine(shares)
            .ok()
            .and_then(|k| Key256::from_slice(k.expose()))
            .ok_or_else(|| wrong_keys("the keys do not combine into an unseal key"))?;
        let opened = private_seal(self, old_kek).unwrap(&old_blob).await;
        match opened {
            Ok(k) if k.len() == root.expose().len() && k.ct_eq(root.expose()) => {}
            _ => return Err(wrong_keys("the keys do not match this node's unseal keys")),
        }

        let kek = Key256::generate(self.entropy.as_ref())?;
        let keys = split_checked(kek.expose(), new_shares, new_threshold, self)?;
        let sealer = private_seal(self, kek);
        let wrapped = wrap_and_verify(&sealer, root.expose(), "root key").await;
        sealer.clear();
        let wrapped = wrapped?;
        let config = SealConfig {
            secret_shares: u32::from(new_shares),
            secret_threshold: u32::from(new_threshold),
            ..config
        };
        self.commit_rekey(ROOT_KEY_PATH, &wrapped, &old_blob, &config)
            .await?;
        Ok(keys)
    }

    /// Checks the recovery shares against the stored recovery key, then
    /// stores a new recovery key wrapped by the seal and returns its shares.
    async fn rekey_recovery_keys(
        &self,
        config: SealConfig,
        shares: &[SecretBytes],
        new_shares: u8,
        new_threshold: u8,
    ) -> CoreResult<Vec<SecretBytes>> {
        let old_blob = self.stored_key_record(RECOVERY_KEY_PATH).await?;
        self.verify_operator_shares(shares)
            .await
            .map_err(|e| match e {
                CoreError::InvalidRequest(m) => wrong_keys(&m),
                CoreError::Crypto(c) => wrong_keys(&c.to_string()),
                other => other,
            })?;

        let recovery_key = Key256::generate(self.entropy.as_ref())?;
        let keys = split_checked(recovery_key.expose(), new_shares, new_threshold, self)?;
        let wrapped =
            wrap_and_verify(self.seal.as_ref(), recovery_key.expose(), "recovery key").await?;
        let config = SealConfig {
            recovery_shares: u32::from(new_shares),
            recovery_threshold: u32::from(new_threshold),
            ..config
        };
        self.commit_rekey(RECOVERY_KEY_PATH, &wrapped, &old_blob, &config)
            .await?;
        Ok(keys)
    }

    /// Key record first, config second (see the module docs); on a failed
    /// config write the old key record is put back.
    async fn commit_rekey(
        &self,
        key_path: &str,
        new_blob: &[u8],
        old_blob: &[u8],
        config: &SealConfig,
    ) -> CoreResult<()> {
        let config_json = serde_json::to_vec(config)
            .map_err(|e| CoreError::Internal(format!("encode seal config: {e}")))?;
        let backend = self.barrier.backend();
        backend.put(key_path, new_blob).await?;
        if let Err(e) = backend.put(SEAL_CONFIG_PATH, &config_json).await {
            match backend.put(key_path, old_blob).await {
                Ok(()) => tracing::error!(
                    error = %e,
                    "rekey: writing {SEAL_CONFIG_PATH} failed; {key_path} was restored, the previous keys still work"
                ),
                Err(restore) => tracing::error!(
                    error = %e,
                    restore_error = %restore,
                    "rekey: writing {SEAL_CONFIG_PATH} failed and {key_path} could not be restored; \
                     the previous keys no longer match the stored key"
                ),
            }
            return Err(e.into());
        }
        Ok(())
    }
}

impl RekeyAttempt {
    fn status(&self, required: u32) -> RekeyStatus {
        RekeyStatus {
            started: true,
            nonce: self.nonce.clone(),
            threshold: u32::from(self.threshold),
            shares: u32::from(self.shares),
            progress: self.progress.progress(),
            required,
        }
    }
}

/// Clears the attempt's `committing` mark when the commit ends in an error
/// or its future is dropped, so the attempt can go on (or be cancelled);
/// [`Committing::finish`] removes the attempt after a successful commit.
struct Committing<'a> {
    core: &'a Core,
}

impl Committing<'_> {
    fn finish(self) {
        *self.core.ceremonies.rekey() = None;
    }
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.core.ceremonies.rekey().as_mut() {
            a.committing = false;
        }
    }
}

fn required_shares(target: RekeyTarget, config: &SealConfig) -> u32 {
    match target {
        RekeyTarget::UnsealKeys => config.secret_threshold,
        RekeyTarget::RecoveryKeys => config.recovery_threshold,
    }
}

fn wrong_keys(why: &str) -> CoreError {
    CoreError::invalid(format!(
        "rekey failed, progress was reset (enter the keys again): {why}"
    ))
}

fn seal_error(e: SealError) -> CoreError {
    CoreError::Seal(e.to_string())
}

/// Wraps `secret` with `seal` and checks that the result unwraps to it
/// again before anything is written.
async fn wrap_and_verify(
    seal: &dyn crate::seal::Seal,
    secret: &[u8],
    what: &str,
) -> CoreResult<Vec<u8>> {
    let wrapped = seal.wrap(secret).await.map_err(seal_error)?;
    let check = seal.unwrap(&wrapped).await.map_err(seal_error)?;
    if check.len() == secret.len() && check.ct_eq(secret) {
        Ok(wrapped)
    } else {
        Err(CoreError::Internal(format!(
            "the newly wrapped {what} does not unwrap to itself"
        )))
    }
}

/// A Shamir seal of our own holding `kek` (its blobs are the node seal's).
fn private_seal(core: &Core, kek: Key256) -> ShamirSeal {
    let seal = ShamirSeal::new(core.entropy.clone());
    seal.install(kek);
    seal
}

/// Splits `secret` and proves that `threshold` of the shares rebuild it, so
/// a rekey never stores a key its new shares cannot open.
fn split_checked(
    secret: &[u8],
    shares: u8,
    threshold: u8,
    core: &Core,
) -> CoreResult<Vec<SecretBytes>> {
    let keys = shamir::split(secret, shares, threshold, core.entropy.as_ref())?;
    let quorum = keys
        .get(..usize::from(threshold))
        .ok_or_else(|| CoreError::Internal("split returned too few shares".to_owned()))?;
    let rebuilt = shamir::combine(quorum)?;
    if rebuilt.len() != secret.len() || !rebuilt.ct_eq(secret) {
        return Err(CoreError::Internal(
            "the new shares do not rebuild the new key".to_owned(),
        ));
    }
    Ok(keys)
}
