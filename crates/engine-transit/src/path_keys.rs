//! `keys` (LIST) and `keys/:name` (create, read, delete).

use crate::backend::Transit;
use crate::fields::{b64_opt, opt_string};
use crate::key_type::KeyType;
use crate::keyring::{HMAC_DEFAULT_SIZE, HMAC_MAX_SIZE, HMAC_MIN_SIZE, KeyRing, KeyVersion};
use crate::managed::ManagedRef;
use crate::stored::{KeyConfig, StoredVersion};
use coffer_core::Ttl;
use coffer_core::engine::field::{opt_bool, opt_u64};
use coffer_core::engine::{EngineContext, Operation, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a new key is to be.
#[derive(Debug, Clone)]
pub(crate) struct NewKey {
    pub(crate) key_type: KeyType,
    pub(crate) derived: bool,
    pub(crate) convergent_encryption: bool,
    pub(crate) exportable: bool,
    pub(crate) allow_plaintext_backup: bool,
    pub(crate) key_size: u64,
    /// For `managed_key`: the managed key of version 1.
    pub(crate) managed: Option<ManagedRef>,
}

impl NewKey {
    /// A plain key of `key_type`.
    pub(crate) fn of(key_type: KeyType) -> Self {
        Self {
            key_type,
            derived: false,
            convergent_encryption: false,
            exportable: false,
            allow_plaintext_backup: false,
            key_size: 0,
            managed: None,
        }
    }

    /// Checks the combination, as Vault does, and fills in defaults.
    pub(crate) fn validated(mut self) -> CoreResult<Self> {
        let kt = self.key_type;
        if kt == KeyType::ManagedKey {
            if self.derived || self.convergent_encryption {
                return Err(crate::managed::refused("key derivation"));
            }
            if self.exportable || self.allow_plaintext_backup {
                return Err(crate::managed::refused("exporting or backing up the key"));
            }
            if self.managed.is_none() {
                return Err(CoreError::invalid(
                    "a managed_key key needs managed_key_name or managed_key_id",
                ));
            }
        } else if self.managed.is_some() {
            return Err(CoreError::invalid(
                "managed_key_name and managed_key_id apply to type managed_key only",
            ));
        }
        if self.convergent_encryption && !self.derived {
            return Err(CoreError::invalid(
                "convergent encryption requires derivation to be enabled",
            ));
        }
        if self.derived && !kt.supports_derivation() {
            return Err(CoreError::invalid(format!(
                "key derivation and convergent encryption not supported for keys of type {kt}"
            )));
        }
        if self.convergent_encryption && !kt.is_aead() {
            return Err(CoreError::invalid(format!(
                "convergent encryption not supported for keys of type {kt}"
            )));
        }
        if kt == KeyType::Hmac {
            if self.key_size == 0 {
                self.key_size = HMAC_DEFAULT_SIZE;
            }
            if !(HMAC_MIN_SIZE..=HMAC_MAX_SIZE).contains(&self.key_size) {
                return Err(CoreError::invalid(format!(
                    "invalid key_size {}",
                    self.key_size
                )));
            }
        } else if self.key_size != 0 {
            return Err(CoreError::invalid(format!(
                "key_size is not valid for algorithm {kt}"
            )));
        }
        Ok(self)
    }
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    #[serde(default, rename = "type", deserialize_with = "opt_string")]
    key_type: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    derived: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    convergent_encryption: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    exportable: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    allow_plaintext_backup: Option<bool>,
    #[serde(default)]
    auto_rotate_period: Option<Ttl>,
    #[serde(default, deserialize_with = "opt_u64")]
    key_size: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    managed_key_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    managed_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ReadQuery {
    #[serde(default, deserialize_with = "opt_string")]
    context: Option<String>,
}

/// Refuses a non-zero `auto_rotate_period`: accepted silently it would
/// promise rotations that never happen.
pub(crate) fn refuse_auto_rotate(period: Option<Ttl>) -> CoreResult<()> {
    match period {
        Some(p) if !p.is_zero() => Err(CoreError::NotSupported(
            "automatic key rotation (auto_rotate_period); rotate with keys/:name/rotate".to_owned(),
        )),
        _ => Ok(()),
    }
}

/// `LIST keys`.
pub(crate) async fn list(t: &Transit, ctx: &EngineContext) -> CoreResult<Option<Response>> {
    Ok(Response::list(t.keys.list(&ctx.view).await?))
}

/// `keys/:name`.
pub(crate) async fn handle(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    name: &str,
) -> CoreResult<Option<Response>> {
    match req.operation {
        Operation::Read => {
            let q: ReadQuery = req.parse()?;
            let context = b64_opt("context", q.context.as_deref())?;
            let Some(ring) = t.keys.get(&ctx.view, name).await? else {
                return Ok(None);
            };
            let shown = (!context.is_empty()).then_some(context.as_slice());
            Ok(Some(Response::data(ring.describe(shown)?)))
        }
        Operation::Update => {
            let body: CreateBody = req.parse()?;
            refuse_auto_rotate(body.auto_rotate_period)?;
            let key_type = KeyType::parse(body.key_type.as_deref().unwrap_or("aes256-gcm96"))?;
            let spec = NewKey {
                key_type,
                derived: body.derived.unwrap_or(false),
                convergent_encryption: body.convergent_encryption.unwrap_or(false),
                exportable: body.exportable.unwrap_or(false),
                allow_plaintext_backup: body.allow_plaintext_backup.unwrap_or(false),
                key_size: body.key_size.unwrap_or(0),
                managed: (body.managed_key_name.is_some() || body.managed_key_id.is_some())
                    .then_some(ManagedRef {
                        name: body.managed_key_name,
                        id: body.managed_key_id,
                    }),
            }
            .validated()?;
            let (ring, created) = create(t, ctx, name, spec).await?;
            let mut resp = Response::data(ring.describe(None)?);
            if !created {
                resp = resp.warn(format!("key {name} already existed"));
            }
            Ok(Some(resp))
        }
        Operation::Delete => {
            let _guard = t.keys.lock(name).await;
            let Some(ring) = t.keys.get_locked(&ctx.view, name).await? else {
                return Err(CoreError::invalid(format!(
                    "error deleting policy {name}: could not delete key; not found"
                )));
            };
            if !ring.config.deletion_allowed {
                return Err(CoreError::invalid(format!(
                    "error deleting policy {name}: deletion is not allowed for this key"
                )));
            }
            t.keys.delete(&ctx.view, name).await?;
            Ok(None)
        }
        Operation::Patch | Operation::List => Err(CoreError::UnsupportedOperation),
    }
}

/// Creates `name` unless it exists; returns the key and whether it is new.
/// The first version's material is drawn from `ctx.entropy`.
pub(crate) async fn create(
    t: &Transit,
    ctx: &EngineContext,
    name: &str,
    spec: NewKey,
) -> CoreResult<(Arc<KeyRing>, bool)> {
    let _guard = t.keys.lock(name).await;
    if let Some(existing) = t.keys.get_locked(&ctx.view, name).await? {
        return Ok((existing, false));
    }
    let config = KeyConfig {
        name: name.to_owned(),
        key_type: spec.key_type,
        derived: spec.derived,
        convergent_encryption: spec.convergent_encryption,
        exportable: spec.exportable,
        allow_plaintext_backup: spec.allow_plaintext_backup,
        deletion_allowed: false,
        min_decryption_version: 1,
        min_encryption_version: 0,
        min_available_version: 0,
        latest_version: 1,
        key_size: spec.key_size,
        backup_info: None,
        restore_info: None,
    };
    let stored = match &spec.managed {
        Some(r) => crate::managed::bind(ctx, r).await?,
        None => new_version(ctx, &config).await?,
    };
    let version = Arc::new(KeyVersion::prepare(&config, stored)?);
    let ring = KeyRing {
        config,
        versions: BTreeMap::from([(1, version)]),
    };
    Ok((t.keys.save(&ctx.view, ring).await?, true))
}

/// Generates a version of `config`'s key type from `ctx.entropy`, on a
/// blocking thread (RSA key generation takes a while; an HSM-backed entropy
/// source makes blocking calls).
pub(crate) async fn new_version(
    ctx: &EngineContext,
    config: &KeyConfig,
) -> CoreResult<StoredVersion> {
    let entropy = Arc::clone(&ctx.entropy);
    let (kt, size, now) = (config.key_type, config.key_size, ctx.clock.now());
    tokio::task::spawn_blocking(move || KeyVersion::generate(kt, size, entropy.as_ref(), now))
        .await
        .map_err(|e| CoreError::Internal(format!("key generation task failed: {e}")))?
}
