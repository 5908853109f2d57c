//! [`Pkcs11Seal`]: the root key wrapped by a key that never leaves the HSM.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coffer_core::seal::{Seal, SealError, SealHealth};
use coffer_crypto::SecretBytes;
use zeroize::Zeroizing;

use crate::banner::{HsmInfo, SealKey};
use crate::blob::Blob;
use crate::error::HsmError;
use crate::keys::{self, KeyCache, KeyRef, KeyRole};
use crate::mechanism::{self, KeyFamily, Keys, WrapMechanism};
use crate::module::{Module, TokenSelector};
use crate::options::Pkcs11Options;
use crate::session_pool::{Held, PoolStats, SessionPool};
use crate::telemetry::Op;

/// Bytes wrapped and unwrapped once by [`Pkcs11Seal::open`] to prove the
/// mechanism works on this token before anything depends on it.
const SELF_TEST: &[u8] = b"coffer pkcs11 seal self-test";

/// The PKCS#11 seal. Methods take `&self`; share it behind an `Arc`.
/// Dropping the last handle closes its sessions.
pub struct Pkcs11Seal {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Arc<SessionPool>,
    keys: Arc<KeyCache>,
    mechanism: WrapMechanism,
    key: KeyRef,
    hmac_key: Option<KeyRef>,
    token: String,
    info: HsmInfo,
    health_timeout: Duration,
    operation_timeout: Duration,
}

impl std::fmt::Debug for Pkcs11Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Seal")
            .field("mechanism", &self.inner.mechanism.name())
            .field("key", &self.inner.key)
            .field("hmac_key", &self.inner.hmac_key)
            .field("token", &self.inner.token)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Seal {
    /// Loads the module, finds the token, logs in, finds (or, with
    /// `generate_key`, creates) the keys, and proves the mechanism with one
    /// wrap/unwrap round trip.
    pub async fn open(options: Pkcs11Options) -> Result<Self, HsmError> {
        options.validate()?;
        let lib = options.lib.clone();
        // dlopen runs the library's constructors: blocking work too.
        let module = tokio::task::spawn_blocking(move || Module::shared(&lib))
            .await
            .map_err(|e| HsmError::Worker(e.to_string()))??;
        let selector = match (&options.token_label, options.slot) {
            (Some(label), _) => TokenSelector::Label(label.clone()),
            (None, Some(slot)) => TokenSelector::Slot(slot),
            (None, None) => return Err(no_token_configured()),
        };
        let token = options.token_description();
        let pool = Arc::new(SessionPool::new(
            module,
            selector,
            token.clone(),
            options.pin.clone(),
            options.force_rw_session || options.generate_key,
            options.max_parallel,
        ));
        let key = KeyRef::new(options.key_label.clone(), options.key_id.clone());
        let hmac_key = options
            .hmac_key_label
            .clone()
            .filter(|l| !l.is_empty())
            .map(|l| KeyRef::new(l, options.hmac_key_id.clone()));
        let plan = Plan {
            mechanism: options.mechanism,
            oaep: options.rsa_oaep_hash,
            key: key.clone(),
            hmac_key: hmac_key.clone(),
            generate: options.generate_key,
            token: token.clone(),
        };
        let keys = Arc::new(KeyCache::default());
        let cache = Arc::clone(&keys);
        let (mechanism, info) = pool
            .run(None, None, move |held| plan.prepare(held, &cache))
            .await?;
        tracing::info!(
            mechanism = format_args!("{:#06x}", mechanism.code()),
            name = mechanism.name(),
            key_label = %key.label,
            token = %token,
            "pkcs11 seal ready"
        );
        let seal = Self {
            inner: Arc::new(Inner {
                pool,
                keys,
                mechanism,
                key,
                hmac_key: hmac_key.filter(|_| mechanism.uses_hmac()),
                token,
                info,
                health_timeout: options.health_timeout,
                operation_timeout: options.operation_timeout,
            }),
        };
        let blob = seal.wrap_blob(SELF_TEST).await?;
        let back = seal.unwrap_blob(&blob).await?;
        if back.expose() != SELF_TEST {
            return Err(HsmError::Integrity(
                "self-test round trip returned different bytes".to_owned(),
            ));
        }
        Ok(seal)
    }

    /// Module and token facts for the startup banner.
    pub fn banner_info(&self) -> &HsmInfo {
        &self.inner.info
    }

    /// `n` bytes from the token's `C_GenerateRandom` (entropy augmentation).
    /// Fails, never falls back, when the HSM cannot answer.
    pub async fn random(&self, n: usize) -> Result<SecretBytes, HsmError> {
        self.inner
            .pool
            .run(None, Some(Op::Random), move |held| {
                mechanism::random(held, n).map(SecretBytes::new)
            })
            .await
    }

    /// The token's random number generator as the external source of entropy
    /// augmentation, sharing this seal's session pool. Call it inside the
    /// tokio runtime (the adapter keeps a handle to it for its blocking
    /// calls); each `C_GenerateRandom` is bounded by the operation timeout.
    pub fn random_source(&self) -> Result<crate::HsmRandom, HsmError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            HsmError::Worker(format!("the HSM random source needs a tokio runtime: {e}"))
        })?;
        Ok(crate::HsmRandom::new(
            Arc::clone(&self.inner.pool),
            runtime,
            self.inner.operation_timeout,
        ))
    }

    /// The mechanism new blobs are wrapped with, as its `CKM_*` code.
    pub fn mechanism(&self) -> u64 {
        self.inner.mechanism.code()
    }

    /// The name of that mechanism (`CKM_AES_GCM`).
    pub fn mechanism_name(&self) -> &'static str {
        self.inner.mechanism.name()
    }

    /// Session pool numbers (sessions open, peak concurrency).
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    /// Wraps `plaintext` under the configured key; the error keeps its
    /// PKCS#11 detail ([`Seal::wrap`] flattens it into a [`SealError`]).
    pub async fn wrap_blob(&self, plaintext: &[u8]) -> Result<Vec<u8>, HsmError> {
        let inner = Arc::clone(&self.inner);
        let plaintext = Zeroizing::new(plaintext.to_vec());
        self.inner
            .pool
            .run(
                Some(self.inner.operation_timeout),
                Some(Op::Wrap),
                move |held| inner.wrap_with(held, &plaintext),
            )
            .await
    }

    /// Unwraps a blob with the key its header names, so blobs wrapped
    /// before a `key_label` rotation still open while the old key exists.
    pub async fn unwrap_blob(&self, bytes: &[u8]) -> Result<SecretBytes, HsmError> {
        let blob = Blob::decode(bytes).map_err(|e| HsmError::MalformedBlob(e.0))?;
        if blob.mechanism.uses_hmac() && blob.hmac_key.is_none() {
            return Err(HsmError::MalformedBlob(format!(
                "{} blob names no HMAC key",
                blob.mechanism.name()
            )));
        }
        let inner = Arc::clone(&self.inner);
        self.inner
            .pool
            .run(
                Some(self.inner.operation_timeout),
                Some(Op::Unwrap),
                move |held| inner.unwrap_with(held, &blob),
            )
            .await
    }

    /// Health check with the error kept: `C_GetTokenInfo` plus a lookup of
    /// the configured key, bounded by `health_timeout`.
    pub async fn check(&self) -> Result<(), HsmError> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .pool
            .run(Some(self.inner.health_timeout), None, move |held| {
                held.module
                    .ctx()
                    .get_token_info(held.slot)
                    .map_err(|e| HsmError::from_cryptoki("C_GetTokenInfo", e))?;
                let role = wrap_role(inner.mechanism);
                match keys::find(held.session, role, &inner.key, &inner.token)? {
                    Some(_) => Ok(()),
                    None => Err(inner.missing(held, &inner.key, "")),
                }
            })
            .await
    }
}

impl Inner {
    fn wrap_with(&self, held: &Held<'_>, plaintext: &[u8]) -> Result<Vec<u8>, HsmError> {
        let mut blob = Blob {
            mechanism: self.mechanism,
            key: self.key.clone(),
            hmac_key: self.hmac_key.clone(),
            iv: Vec::new(),
            wrapped_key: Vec::new(),
            ciphertext: Vec::new(),
            mac: Vec::new(),
        };
        let keys = self.handles(held, &blob, wrap_role(self.mechanism))?;
        self.mechanism.seal(held, &keys, &mut blob, plaintext)?;
        blob.encode().map_err(|e| HsmError::InvalidConfig(e.0))
    }

    fn unwrap_with(&self, held: &Held<'_>, blob: &Blob) -> Result<SecretBytes, HsmError> {
        let role = match blob.mechanism.family() {
            KeyFamily::Aes => KeyRole::Aes,
            KeyFamily::Rsa => KeyRole::RsaPrivate,
        };
        let keys = self.handles(held, blob, role).map_err(|e| match e {
            HsmError::KeyMissing {
                label,
                id,
                slot,
                token,
                ..
            } => HsmError::KeyMissing {
                label,
                id,
                slot,
                token,
                note: "; the blob was wrapped with it, so it must stay on the token until \
                       everything is re-wrapped with the new key"
                    .to_owned(),
            },
            other => other,
        })?;
        blob.mechanism.open(held, &keys, blob)
    }

    fn handles(&self, held: &Held<'_>, blob: &Blob, role: KeyRole) -> Result<Keys, HsmError> {
        let key = self.keys.handle(held, role, &blob.key, &self.token)?;
        let hmac = match (&blob.hmac_key, blob.mechanism.uses_hmac()) {
            (Some(h), true) => Some(self.keys.handle(held, KeyRole::Hmac, h, &self.token)?),
            _ => None,
        };
        Ok(Keys { key, hmac })
    }

    fn missing(&self, held: &Held<'_>, key: &KeyRef, note: &str) -> HsmError {
        HsmError::KeyMissing {
            label: key.label.clone(),
            id: key.id_suffix(),
            slot: held.slot.id(),
            token: self.token.clone(),
            note: note.to_owned(),
        }
    }
}

fn wrap_role(m: WrapMechanism) -> KeyRole {
    match m.family() {
        KeyFamily::Aes => KeyRole::Aes,
        KeyFamily::Rsa => KeyRole::RsaPublic,
    }
}

/// `validate` already rejects this; kept as an error rather than a panic.
fn no_token_configured() -> HsmError {
    HsmError::InvalidConfig("either token_label or slot must be set".to_owned())
}

/// What `open` must establish on the token, run on a blocking thread.
struct Plan {
    mechanism: Option<u64>,
    oaep: crate::options::OaepHash,
    key: KeyRef,
    hmac_key: Option<KeyRef>,
    generate: bool,
    token: String,
}

const GENERATE_NOTE: &str = "; set generate_key = \"true\" to create it, or fix key_label";

impl Plan {
    fn prepare(
        self,
        held: &Held<'_>,
        cache: &KeyCache,
    ) -> Result<(WrapMechanism, HsmInfo), HsmError> {
        let s = held.session;
        let aes = keys::find(s, KeyRole::Aes, &self.key, &self.token)?;
        let rsa = keys::find(s, KeyRole::RsaPrivate, &self.key, &self.token)?;
        let mechanism = match self.mechanism {
            Some(code) => WrapMechanism::from_code(code, self.oaep).ok_or_else(|| {
                HsmError::InvalidConfig(format!("mechanism {code:#06x} is not supported"))
            })?,
            // "Best available": follow the key that is there; AES-GCM if none.
            None if rsa.is_some() && aes.is_none() => WrapMechanism::RsaOaep(self.oaep),
            None => WrapMechanism::AesGcm,
        };
        tracing::debug!(
            mechanism = format_args!("{:#06x}", mechanism.code()),
            name = mechanism.name(),
            "pkcs11 mechanism selected"
        );
        let mismatch = |found: &'static str, wanted: &'static str| HsmError::KeyTypeMismatch {
            label: self.key.label.clone(),
            found,
            wanted,
            mechanism: mechanism.name(),
        };
        let mut keys = Vec::new();
        let mut note = |key: &KeyRef, kind: &'static str, created: bool| {
            keys.push(SealKey {
                label: key.label.clone(),
                kind,
                created,
            });
        };
        match mechanism.family() {
            KeyFamily::Aes => {
                if aes.is_none() && rsa.is_some() {
                    return Err(mismatch("an RSA key pair", "an AES key"));
                }
                let created = self.ensure(held, cache, KeyRole::Aes, &self.key, aes)?;
                note(&self.key, "AES", created);
            }
            KeyFamily::Rsa => {
                if rsa.is_none() && aes.is_some() {
                    return Err(mismatch("an AES key", "an RSA key pair"));
                }
                let public = keys::find(s, KeyRole::RsaPublic, &self.key, &self.token)?;
                if rsa.is_none() && public.is_none() && self.generate {
                    let h = keys::generate(s, KeyRole::RsaPrivate, &self.key)?;
                    tracing::info!(label = %self.key.label, "generated RSA-2048 key pair");
                    cache.remember(held.generation, KeyRole::RsaPrivate, &self.key, h);
                    let public = keys::find(s, KeyRole::RsaPublic, &self.key, &self.token)?;
                    self.ensure(held, cache, KeyRole::RsaPublic, &self.key, public)?;
                    note(&self.key, "RSA", true);
                } else {
                    self.ensure(held, cache, KeyRole::RsaPrivate, &self.key, rsa)?;
                    self.ensure(held, cache, KeyRole::RsaPublic, &self.key, public)?;
                    note(&self.key, "RSA", false);
                }
            }
        }
        match &self.hmac_key {
            None if mechanism.uses_hmac() => {
                return Err(HsmError::InvalidConfig(format!(
                    "{} needs hmac_key_label",
                    mechanism.name()
                )));
            }
            None => {}
            Some(hmac) => {
                let found = keys::find(s, KeyRole::Hmac, hmac, &self.token)?;
                // A mechanism without HMAC does not need the key, but with
                // generate_key it is created all the same (as Vault's seal
                // does), so a later switch to AES-CBC needs no key ceremony.
                if mechanism.uses_hmac() || found.is_some() || self.generate {
                    let created = self.ensure(held, cache, KeyRole::Hmac, hmac, found)?;
                    note(hmac, "HMAC", created);
                } else {
                    tracing::warn!(
                        label = %hmac.label,
                        mechanism = mechanism.name(),
                        "hmac_key_label names no key on the token; this mechanism does not use \
                         one, so the seal works without it (generate_key = \"true\" creates it)"
                    );
                }
            }
        }
        let mut info = HsmInfo::read(held.module, held.slot)?;
        info.keys = keys;
        Ok((mechanism, info))
    }

    /// Uses `found`, or generates the key when allowed, or reports it
    /// missing; says whether it generated the key.
    fn ensure(
        &self,
        held: &Held<'_>,
        cache: &KeyCache,
        role: KeyRole,
        key: &KeyRef,
        found: Option<cryptoki::object::ObjectHandle>,
    ) -> Result<bool, HsmError> {
        let (handle, created) = match found {
            Some(h) => {
                tracing::debug!(label = %key.label, role = role.describe(), "key successfully found");
                (h, false)
            }
            None if self.generate && role != KeyRole::RsaPublic => {
                let h = keys::generate(held.session, role, key)?;
                tracing::info!(label = %key.label, role = role.describe(), "generated key");
                (h, true)
            }
            None => {
                return Err(HsmError::KeyMissing {
                    label: key.label.clone(),
                    id: key.id_suffix(),
                    slot: held.slot.id(),
                    token: self.token.clone(),
                    note: if role == KeyRole::RsaPublic {
                        "; the RSA private key exists but its public key does not".to_owned()
                    } else {
                        GENERATE_NOTE.to_owned()
                    },
                });
            }
        };
        cache.remember(held.generation, role, key, handle);
        Ok(created)
    }
}

#[async_trait]
impl Seal for Pkcs11Seal {
    fn kind(&self) -> &'static str {
        "pkcs11"
    }

    fn stored_keys(&self) -> bool {
        true
    }

    async fn wrap(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.wrap_blob(plaintext).await.map_err(SealError::from)
    }

    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
        self.unwrap_blob(blob).await.map_err(SealError::from)
    }

    fn metrics(&self) -> Vec<coffer_core::metrics::Metric> {
        self.inner.pool.metrics()
    }

    async fn health(&self) -> SealHealth {
        match self.check().await {
            Ok(()) => SealHealth::Healthy,
            Err(e) => SealHealth::Unhealthy(e.to_string()),
        }
    }

    /// A blob is current when it names the configured key (and HMAC key)
    /// and mechanism; after a `key_label` rotation old blobs are not, and the
    /// core re-wraps them. Unreadable bytes count as current: unwrap reports
    /// them, re-wrapping cannot help.
    fn wrapped_with_current_key(&self, blob: &[u8]) -> bool {
        match crate::blob::Blob::decode(blob) {
            Ok(b) => {
                b.key == self.inner.key
                    && b.hmac_key == self.inner.hmac_key
                    && b.mechanism == self.inner.mechanism
            }
            Err(_) => true,
        }
    }

    /// The blob's clear-text header: mechanism and the labels (and ids) of
    /// the keys that made it, which is what an operator looks for in a
    /// seal-wrapped record at rest.
    fn describe(&self, blob: &[u8]) -> Vec<(&'static str, String)> {
        let Ok(b) = crate::blob::Blob::decode(blob) else {
            return Vec::new();
        };
        let mut out = vec![
            ("mechanism", b.mechanism.name().to_owned()),
            ("key_label", b.key.label.clone()),
        ];
        if let Some(id) = &b.key.id {
            out.push(("key_id", hex::encode(id)));
        }
        if let Some(h) = &b.hmac_key {
            out.push(("hmac_key_label", h.label.clone()));
            if let Some(id) = &h.id {
                out.push(("hmac_key_id", hex::encode(id)));
            }
        }
        out
    }
}
