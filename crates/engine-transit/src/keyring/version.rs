//! One key version: generated from the engine's `Entropy`, stored, and
//! prepared for use (AWS-LC key objects built once per load, not per call).

use crate::crypto::aead::AeadKey;
use crate::crypto::ecdsa::{Curve, EcdsaKey};
use crate::crypto::ed25519::Ed25519Key;
use crate::crypto::rsa::RsaKey;
use crate::key_type::KeyType;
use crate::stored::{KeyConfig, StoredVersion};
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::Entropy;
use std::time::SystemTime;
use zeroize::Zeroizing;

/// Length of the per-version HMAC key of non-`hmac` keys.
pub(crate) const HMAC_KEY_LEN: usize = 32;
/// Default and bounds of `key_size` for `hmac` keys, in bytes (Vault's).
pub(crate) const HMAC_DEFAULT_SIZE: u64 = 32;
/// Smallest `key_size`.
pub(crate) const HMAC_MIN_SIZE: u64 = 32;
/// Largest `key_size`.
pub(crate) const HMAC_MAX_SIZE: u64 = 512;

/// A version's key, ready to use. `None` inside a variant means the key is
/// derived: a key per request context, made on demand.
pub(crate) enum Material {
    /// AES-GCM or ChaCha20-Poly1305.
    Aead(Option<AeadKey>),
    /// Ed25519.
    Ed25519(Option<Ed25519Key>),
    /// ECDSA.
    Ecdsa(Curve, EcdsaKey),
    /// RSA.
    Rsa(RsaKey),
    /// A bare HMAC key (the stored bytes are the key).
    Hmac,
    /// A key in the HSM: the managed key's UUID and name.
    Managed {
        /// `managed_key_id`.
        id: String,
        /// Its name when the version was bound.
        name: Option<String>,
    },
}

/// A stored version plus its prepared material. No `Debug` (holds secrets).
pub(crate) struct KeyVersion {
    /// The stored form (kept for persisting, export and backup).
    pub(crate) stored: StoredVersion,
    /// The prepared key.
    pub(crate) material: Material,
    /// The public key as Vault formats it (PEM, or base64 for Ed25519);
    /// empty for symmetric and derived keys.
    pub(crate) public_key: String,
}

/// The curve of an ECDSA key type.
pub(crate) fn curve_of(kt: KeyType) -> Option<Curve> {
    match kt {
        KeyType::EcdsaP256 => Some(Curve::P256),
        KeyType::EcdsaP384 => Some(Curve::P384),
        _ => None,
    }
}

impl KeyVersion {
    /// Generates a new version of a `kt` key. Every byte of key material,
    /// including the HMAC key, comes from `entropy`, which fails closed on
    /// `external_entropy_access` mounts whose HSM is gone. Blocking (RSA
    /// key generation takes a while): call it off the async workers.
    pub(crate) fn generate(
        kt: KeyType,
        key_size: u64,
        entropy: &dyn Entropy,
        now: SystemTime,
    ) -> CoreResult<StoredVersion> {
        let random = |n: usize| -> CoreResult<Zeroizing<Vec<u8>>> {
            let mut b = Zeroizing::new(vec![0u8; n]);
            entropy.fill(b.as_mut_slice())?;
            Ok(b)
        };
        let key = match kt {
            KeyType::Aes128Gcm96 | KeyType::Aes256Gcm96 | KeyType::ChaCha20Poly1305 => {
                random(kt.aead_key_len().unwrap_or(32))?
            }
            KeyType::Hmac => {
                let size = usize::try_from(key_size)
                    .map_err(|_| CoreError::invalid(format!("invalid key_size {key_size}")))?;
                random(size)?
            }
            KeyType::Ed25519 => Ed25519Key::generate(entropy)?,
            KeyType::EcdsaP256 => EcdsaKey::generate(Curve::P256, entropy)?,
            KeyType::EcdsaP384 => EcdsaKey::generate(Curve::P384, entropy)?,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                RsaKey::generate(kt.rsa_bits().unwrap_or(2048), entropy)?
            }
            KeyType::ManagedKey => {
                return Err(CoreError::invalid(
                    "a managed_key version names a managed key (managed_key_name or \
                     managed_key_id); its material is made in the HSM",
                ));
            }
        };
        let hmac_key = random(HMAC_KEY_LEN)?;
        Ok(StoredVersion::new(key, hmac_key, now))
    }

    /// Builds the AWS-LC objects for a stored version of `config`'s key.
    pub(crate) fn prepare(config: &KeyConfig, stored: StoredVersion) -> CoreResult<Self> {
        let kt = config.key_type;
        let key = stored.key.expose();
        let (material, public_key) = match kt {
            KeyType::Aes128Gcm96 | KeyType::Aes256Gcm96 | KeyType::ChaCha20Poly1305 => {
                // Checked for derived keys too (a restored document could
                // carry a short or empty key that HKDF would happily expand).
                let checked = AeadKey::new(kt, key)?;
                let prepared = if config.derived { None } else { Some(checked) };
                (Material::Aead(prepared), String::new())
            }
            KeyType::Hmac => (Material::Hmac, String::new()),
            KeyType::Ed25519 => {
                let k = Ed25519Key::from_seed(key)?;
                if config.derived {
                    (Material::Ed25519(None), String::new())
                } else {
                    let public = b64(&k.public_key());
                    (Material::Ed25519(Some(k)), public)
                }
            }
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let curve =
                    curve_of(kt).ok_or_else(|| CoreError::Internal("no curve".to_owned()))?;
                let k = EcdsaKey::from_der(curve, key)?;
                let public = k.public_pem()?;
                (Material::Ecdsa(curve, k), public)
            }
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                let k = RsaKey::from_pkcs8(key)?;
                let public = k.public_pem()?;
                (Material::Rsa(k), public)
            }
            KeyType::ManagedKey => {
                let id = stored.managed_key_id.clone().ok_or_else(|| {
                    CoreError::invalid("a stored managed_key version names no managed key")
                })?;
                let name = stored.managed_key_name.clone();
                (Material::Managed { id, name }, String::new())
            }
        };
        Ok(Self {
            stored,
            material,
            public_key,
        })
    }

    /// The key the `hmac` endpoint uses: the key itself for `hmac` keys, the
    /// version's HMAC key otherwise (as Vault).
    pub(crate) fn hmac_key(&self) -> &[u8] {
        match self.material {
            Material::Hmac => self.stored.key.expose(),
            _ => self.stored.hmac_key.expose(),
        }
    }
}

/// Standard base64.
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
