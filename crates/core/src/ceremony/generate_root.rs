//! `sys/generate-root`: mint a new root token from a quorum of unseal keys.
//!
//! The new token never travels in the clear. Either the server makes a
//! one-time pad (OTP) as long as a token and returns the token XORed with it,
//! base64-encoded (unpadded), so only the holder of the OTP can decode it;
//! or the attempt names an operator's OpenPGP key (`pgp_key`) and the token
//! comes back encrypted to it, base64-encoded (`base64 -d | gpg -d`).

use crate::ceremony::shares::ShareCollector;
use crate::error::{CoreError, CoreResult};
use crate::node::Core;
use crate::token::{TOKEN_LEN, random_base62};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64_RAW;
use coffer_crypto::Entropy;
use coffer_crypto::pgp_key::PgpRecipient;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The root generation in progress.
pub(crate) struct GenerateRootAttempt {
    nonce: String,
    encoding: TokenEncoding,
    shares: ShareCollector,
}

/// How the new token is protected on its way out.
enum TokenEncoding {
    /// XORed with this one-time pad.
    Otp(Zeroizing<String>),
    /// Encrypted to this OpenPGP key.
    Pgp(Arc<PgpRecipient>),
}

impl TokenEncoding {
    fn fingerprint(&self) -> String {
        match self {
            Self::Otp(_) => String::new(),
            Self::Pgp(key) => key.fingerprint(),
        }
    }

    /// The token as `encoded_token` carries it; a PGP message's session key
    /// is drawn from `entropy` (the CSP handle: it protects a root token).
    fn encode(&self, token: &str, entropy: &dyn Entropy) -> CoreResult<String> {
        match self {
            Self::Otp(otp) => {
                let xored: Zeroizing<Vec<u8>> = Zeroizing::new(
                    token
                        .as_bytes()
                        .iter()
                        .zip(otp.as_bytes())
                        .map(|(a, b)| a ^ b)
                        .collect(),
                );
                Ok(B64_RAW.encode(xored.as_slice()))
            }
            Self::Pgp(key) => Ok(B64.encode(key.encrypt(token.as_bytes(), entropy)?)),
        }
    }
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
    /// The new root token XOR the OTP, base64, or encrypted to the PGP
    /// key, base64 (when complete).
    pub encoded_token: String,
    /// Fingerprint of the PGP key the token is encrypted to, if any.
    pub pgp_fingerprint: String,
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
        let guard = self.ceremonies.generate_root();
        Ok(match guard.as_ref() {
            None => GenerateRootStatus {
                required,
                otp_length: TOKEN_LEN,
                ..GenerateRootStatus::default()
            },
            Some(a) => GenerateRootStatus {
                started: true,
                nonce: a.nonce.clone(),
                progress: a.shares.progress(),
                required,
                pgp_fingerprint: a.encoding.fingerprint(),
                otp_length: TOKEN_LEN,
                ..GenerateRootStatus::default()
            },
        })
    }

    /// Starts an attempt. A caller-supplied `otp` must be [`TOKEN_LEN`]
    /// characters; `pgp_key` (base64 of a binary OpenPGP public key) replaces
    /// the OTP.
    pub async fn generate_root_start(
        &self,
        otp: Option<String>,
        pgp_key: Option<String>,
    ) -> CoreResult<GenerateRootStatus> {
        let _unsealed = self.unsealed().await?;
        let required = self.required_keys().await?;
        let otp = otp.filter(|o| !o.is_empty());
        let pgp_key = pgp_key.filter(|k| !k.is_empty());
        let caller_chose_otp = otp.is_some();
        let encoding = match (otp, pgp_key) {
            (Some(_), Some(_)) => {
                return Err(CoreError::invalid(
                    "give either otp or pgp_key, not both: the new token is protected by one",
                ));
            }
            (None, Some(key)) => TokenEncoding::Pgp(Arc::new(
                PgpRecipient::from_base64(&key, self.system_entropy.as_ref())
                    .map_err(|e| CoreError::invalid(e.to_string()))?,
            )),
            (Some(o), None) if o.len() == TOKEN_LEN => TokenEncoding::Otp(Zeroizing::new(o)),
            (Some(o), None) => {
                return Err(CoreError::invalid(format!(
                    "OTP is {} characters long; it must be {TOKEN_LEN}",
                    o.len()
                )));
            }
            (None, None) => TokenEncoding::Otp(random_base62(self.entropy.as_ref(), TOKEN_LEN)?),
        };
        let nonce = uuid::Builder::from_random_bytes(self.random_16()?)
            .into_uuid()
            .to_string();
        let mut guard = self.ceremonies.generate_root();
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
            otp: match &encoding {
                TokenEncoding::Otp(otp) if !caller_chose_otp => otp.to_string(),
                _ => String::new(),
            },
            pgp_fingerprint: encoding.fingerprint(),
            otp_length: TOKEN_LEN,
            ..GenerateRootStatus::default()
        };
        *guard = Some(GenerateRootAttempt {
            nonce,
            encoding,
            shares: ShareCollector::default(),
        });
        Ok(status)
    }

    /// Cancels the attempt.
    pub fn generate_root_cancel(&self) {
        *self.ceremonies.generate_root() = None;
    }

    /// Adds one unseal key to the attempt; mints the token at the threshold.
    pub async fn generate_root_update(
        &self,
        key: &str,
        nonce: &str,
    ) -> CoreResult<GenerateRootStatus> {
        let _unsealed = self.unsealed().await?;
        let required = self.required_keys().await?;
        let (shares, encoding, attempt_nonce) = {
            let mut guard = self.ceremonies.generate_root();
            let attempt = guard
                .as_mut()
                .ok_or_else(|| CoreError::invalid("no root generation in progress"))?;
            if attempt.nonce != nonce {
                return Err(CoreError::invalid(format!(
                    "incorrect nonce {nonce:?}: it does not match the root generation in progress"
                )));
            }
            let Some(shares) = attempt.shares.add(key, required, "root generation")? else {
                return Ok(GenerateRootStatus {
                    started: true,
                    nonce: attempt.nonce.clone(),
                    progress: attempt.shares.progress(),
                    required,
                    pgp_fingerprint: attempt.encoding.fingerprint(),
                    otp_length: TOKEN_LEN,
                    ..GenerateRootStatus::default()
                });
            };
            let Some(done) = guard.take() else {
                return Err(CoreError::Internal(
                    "root generation attempt vanished".to_owned(),
                ));
            };
            (shares, done.encoding, done.nonce)
        };
        self.verify_operator_shares(&shares).await.map_err(|e| {
            CoreError::invalid(format!(
                "root generation failed, the attempt was cancelled: {e}"
            ))
        })?;
        let token = self.tokens.create_root(self.entropy.as_ref(), None).await?;
        let encoded_token = match encoding.encode(&token, self.entropy.as_ref()) {
            Ok(encoded) => encoded,
            Err(e) => {
                // Undeliverable: no root token may exist that nobody holds.
                let revoked = match self.tokens.hash(&token) {
                    Ok(id) => self.revoke_tree(&id).await,
                    Err(h) => Err(h),
                };
                if let Err(r) = revoked {
                    tracing::error!(error = %r, "revoking an undeliverable root token failed");
                }
                return Err(e);
            }
        };
        tracing::info!("a new root token was generated through sys/generate-root");
        Ok(GenerateRootStatus {
            started: true,
            nonce: attempt_nonce,
            progress: required,
            required,
            encoded_token,
            pgp_fingerprint: encoding.fingerprint(),
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
}
