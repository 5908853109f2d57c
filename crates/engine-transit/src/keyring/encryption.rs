//! Encryption and decryption with a key ring, as Vault's transit does them:
//! AEAD with a fresh random 96-bit nonce per message (or, for convergent keys,
//! one derived from the plaintext), RSA with OAEP-SHA256.

use super::{KeyRing, Material};
use crate::ciphertext::{self, Kind};
use crate::crypto::aead::{self, AeadKey, NONCE_BYTES};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::Entropy;
use zeroize::Zeroizing;

/// Extra derived bytes of convergent keys: the nonce's HMAC key.
const CONVERGENT_HMAC_LEN: usize = 32;

impl KeyRing {
    /// Encrypts `plaintext`; returns the `vault:vN:` ciphertext and N.
    /// `nonces` supplies random nonces: the OS CSPRNG, never the (possibly
    /// HSM-backed) key entropy, so encryption keeps working without the HSM.
    pub(crate) fn encrypt(
        &self,
        version: u64,
        context: &[u8],
        plaintext: &[u8],
        associated_data: &[u8],
        nonces: &dyn Entropy,
    ) -> CoreResult<(String, u64)> {
        let kt = self.config.key_type;
        if !kt.supports_encryption() {
            return Err(CoreError::invalid(format!(
                "message encryption not supported for key type {kt}"
            )));
        }
        if !associated_data.is_empty() && !kt.supports_associated_data() {
            return Err(CoreError::invalid(format!(
                "associated_data provided for non-AEAD cipher suite {kt}"
            )));
        }
        let (n, v) = self.version_for_use(version, "encryption")?;
        let blob = match &v.material {
            Material::Aead(prepared) => match (prepared, self.derivation_context(context)?) {
                (Some(key), _) => key.seal(random_nonce(nonces)?, plaintext, associated_data)?,
                (None, Some(ctx)) => {
                    let enc_len = kt.aead_key_len().unwrap_or(32);
                    let extra = if self.config.convergent_encryption {
                        CONVERGENT_HMAC_LEN
                    } else {
                        0
                    };
                    let derived =
                        aead::hkdf_sha256(&[], v.stored.key.expose(), ctx, enc_len + extra)?;
                    let key = AeadKey::new(kt, &derived[..enc_len])?;
                    let nonce = if self.config.convergent_encryption {
                        if !associated_data.is_empty() {
                            // The nonce depends on key, context and plaintext
                            // only: the same plaintext under two associated data
                            // values would reuse a nonce with different tags.
                            return Err(CoreError::invalid(
                                "associated_data cannot be used with convergent encryption: \
                                 the nonce is derived from the plaintext and context only",
                            ));
                        }
                        aead::convergent_nonce(&derived[enc_len..], plaintext)
                    } else {
                        random_nonce(nonces)?
                    };
                    key.seal(nonce, plaintext, associated_data)?
                }
                (None, None) => {
                    return Err(CoreError::Internal(
                        "derived key without derivation".to_owned(),
                    ));
                }
            },
            Material::Rsa(key) => key.encrypt(plaintext)?,
            _ => {
                return Err(CoreError::invalid(format!(
                    "message encryption not supported for key type {kt}"
                )));
            }
        };
        Ok((ciphertext::encode(n, &blob), n))
    }

    /// Decrypts a `vault:vN:` ciphertext made by [`KeyRing::encrypt`].
    pub(crate) fn decrypt(
        &self,
        value: &str,
        context: &[u8],
        associated_data: &[u8],
    ) -> CoreResult<Zeroizing<Vec<u8>>> {
        let kt = self.config.key_type;
        if !kt.supports_encryption() {
            return Err(CoreError::invalid(format!(
                "message decryption not supported for key type {kt}"
            )));
        }
        if !associated_data.is_empty() && !kt.supports_associated_data() {
            return Err(CoreError::invalid(format!(
                "associated_data provided for non-AEAD cipher suite {kt}"
            )));
        }
        let (n, body) = ciphertext::parse(Kind::Ciphertext, value)?;
        let v = self.version_for_reading(n, "ciphertext")?;
        let blob = STANDARD
            .decode(body)
            .map_err(|_| CoreError::invalid("invalid ciphertext: could not decode base64"))?;
        match &v.material {
            Material::Aead(prepared) => match (prepared, self.derivation_context(context)?) {
                (Some(key), _) => key.open(&blob, associated_data),
                (None, Some(ctx)) => {
                    let enc_len = kt.aead_key_len().unwrap_or(32);
                    let derived = aead::hkdf_sha256(&[], v.stored.key.expose(), ctx, enc_len)?;
                    AeadKey::new(kt, &derived)?.open(&blob, associated_data)
                }
                (None, None) => Err(CoreError::Internal(
                    "derived key without derivation".to_owned(),
                )),
            },
            Material::Rsa(key) => key.decrypt(&blob),
            _ => Err(CoreError::invalid(format!(
                "message decryption not supported for key type {kt}"
            ))),
        }
    }
}

fn random_nonce(nonces: &dyn Entropy) -> CoreResult<[u8; NONCE_BYTES]> {
    let mut nonce = [0u8; NONCE_BYTES];
    nonces.fill(&mut nonce)?;
    Ok(nonce)
}
