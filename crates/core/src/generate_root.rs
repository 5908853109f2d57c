//! `sys/generate-root`: mint a new root token from a quorum of unseal keys.
//!
//! The server makes a one-time pad (OTP) as long as a token; the new token is
//! returned XORed with it and base64-encoded (unpadded), so the token never
//! travels in the clear and only the holder of the OTP can decode it.

use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::token::{TOKEN_LEN, random_base62};
use crate::unseal::decode_key;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64_RAW;
use coffer_crypto::SecretBytes;
use zeroize::Zeroizing;

pub(crate) struct GenerateRootAttempt {
    nonce: String,
    otp: Zeroizing<String>,
    shares: Vec<SecretBytes>,
}

/// The body of `sys/generate-root/attempt` and `/update` responses.
/// `Debug` leaves out the OTP and the encoded token.
#[derive(Clone, Default)]
pub struct GenerateRootStatus {
    /// Whether an attempt is in progress (or just completed).
    pub started: bool,
    /// Nonce of the attempt.
    pub nonce: String,
    /// Keys entered so far.
    pub progress: u32,
    /// Keys needed.
    pub required: u32,
    /// The new root token XOR the OTP, base64 (when complete).
    pub encoded_token: String,
    /// The OTP: returned only in the response that starts the attempt.
    pub otp: String,
    /// Length of the OTP.
    pub otp_length: usize,
    /// Whether the attempt finished.
    pub complete: bool,
}

impl std::fmt::Debug for GenerateRootStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateRootStatus")
            .field("started", &self.started)
            .field("progress", &self.progress)
            .field("required", &self.required)
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Current attempt, if any.
    pub async fn generate_root_status(&self) -> CoreResult<GenerateRootStatus> {
        let required = self.required_keys().await?;
        let guard = self.lock_attempt();
        Ok(match guard.as_ref() {
            None => GenerateRootStatus {
                required,
                otp_length: TOKEN_LEN,
                ..GenerateRootStatus::default()
            },
            Some(a) => GenerateRootStatus {
                started: true,
                nonce: a.nonce.clone(),
                progress: a.shares.len() as u32,
                required,
                otp_length: TOKEN_LEN,
                ..GenerateRootStatus::default()
            },
        })
    }

    /// Starts an attempt. A caller-supplied `otp` must be [`TOKEN_LEN`] characters.
    pub async fn generate_root_start(
        &self,
        otp: Option<String>,
        pgp_key: Option<String>,
    ) -> CoreResult<GenerateRootStatus> {
        let _shared = self.state.read().await;
        if self.barrier.is_sealed() {
            return Err(CoreError::Sealed);
        }
        if pgp_key.is_some_and(|k| !k.is_empty()) {
            return Err(CoreError::NotSupported(
                "PGP-encrypted root tokens (pgp_key)".to_owned(),
            ));
        }
        let required = self.required_keys().await?;
        let caller_chose_otp = otp.as_deref().is_some_and(|o| !o.is_empty());
        let otp = match otp.filter(|o| !o.is_empty()) {
            Some(o) if o.len() == TOKEN_LEN => Zeroizing::new(o),
            Some(o) => {
                return Err(CoreError::invalid(format!(
                    "OTP is {} characters long; it must be {TOKEN_LEN}",
                    o.len()
                )));
            }
            None => random_base62(self.entropy.as_ref(), TOKEN_LEN)?,
        };
        let nonce = uuid::Builder::from_random_bytes(self.random_16()?)
            .into_uuid()
            .to_string();
        let mut guard = self.lock_attempt();
        if guard.is_some() {
            return Err(CoreError::invalid(
                "root generation is already in progress; cancel it first (DELETE sys/generate-root/attempt)",
            ));
        }
        let status = GenerateRootStatus {
            started: true,
            nonce: nonce.clone(),
            progress: 0,
            required,
            // As Vault: the OTP is returned only when the server made it.
            otp: if caller_chose_otp {
                String::new()
            } else {
                otp.to_string()
            },
            otp_length: TOKEN_LEN,
            ..GenerateRootStatus::default()
        };
        *guard = Some(GenerateRootAttempt {
            nonce,
            otp,
            shares: Vec::new(),
        });
        Ok(status)
    }

    /// Cancels the attempt.
    pub fn generate_root_cancel(&self) {
        *self.lock_attempt() = None;
    }

    /// Adds one unseal key to the attempt; mints the token at the threshold.
    pub async fn generate_root_update(
        &self,
        key: &str,
        nonce: &str,
    ) -> CoreResult<GenerateRootStatus> {
        let _shared = self.state.read().await;
        if self.barrier.is_sealed() {
            return Err(CoreError::Sealed);
        }
        let required = self.required_keys().await?;
        let share = decode_key(key)?;
        let (shares, otp, attempt_nonce) = {
            let mut guard = self.lock_attempt();
            let attempt = guard
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no root generation in progress"))?;
            if attempt.nonce != nonce {
                return Err(CoreError::invalid(format!(
                    "incorrect nonce {nonce:?}: it does not match the root generation in progress"
                )));
            }
            if attempt.shares.iter().any(|s| s.ct_eq(share.expose())) {
                return Err(CoreError::invalid(
                    "this key was already entered in the current attempt; enter a different key",
                ));
            }
            attempt.shares.push(share);
            if (attempt.shares.len() as u32) < required {
                return Ok(GenerateRootStatus {
                    started: true,
                    nonce: attempt.nonce.clone(),
                    progress: attempt.shares.len() as u32,
                    required,
                    otp_length: TOKEN_LEN,
                    ..GenerateRootStatus::default()
                });
            }
            let Some(done) = guard.take() else {
                return Err(CoreError::Internal(
                    "root generation attempt vanished".to_owned(),
                ));
            };
            (done.shares, done.otp, done.nonce)
        };
        self.verify_operator_shares(&shares).await.map_err(|e| {
            CoreError::invalid(format!(
                "root generation failed, the attempt was cancelled: {e}"
            ))
        })?;
        let token = self.tokens.create_root(self.entropy.as_ref(), None).await?;
        let xored: Zeroizing<Vec<u8>> = Zeroizing::new(
            token
                .as_bytes()
                .iter()
                .zip(otp.as_bytes())
                .map(|(a, b)| a ^ b)
                .collect(),
        );
        tracing::info!("a new root token was generated through sys/generate-root");
        Ok(GenerateRootStatus {
            started: true,
            nonce: attempt_nonce,
            progress: required,
            required,
            encoded_token: B64_RAW.encode(xored.as_slice()),
            otp_length: TOKEN_LEN,
            complete: true,
            ..GenerateRootStatus::default()
        })
    }

    async fn required_keys(&self) -> CoreResult<u32> {
        let config = self.seal_config().await?.ok_or(CoreError::NotInitialized)?;
        Ok(if self.seal.stored_keys() {
            config.recovery_threshold
        } else {
            config.secret_threshold
        })
    }

    fn lock_attempt(&self) -> std::sync::MutexGuard<'_, Option<GenerateRootAttempt>> {
        self.generate_root
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
