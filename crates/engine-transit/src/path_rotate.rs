//! `keys/:name/rotate` (a new version from `ctx.entropy`) and
//! `keys/:name/trim` (drop archived versions below `min_available_version`).

use crate::backend::Transit;
use crate::fields::opt_string;
use crate::key_type::KeyType;
use crate::keyring::KeyVersion;
use crate::managed::ManagedRef;
use crate::path_keys::new_version;
use coffer_core::engine::field::opt_u64;
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use std::sync::Arc;

/// `POST keys/:name/rotate`. Fails, changing nothing, when the entropy
/// source fails (an unreachable HSM on an `external_entropy_access` mount).
pub(crate) async fn rotate(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    name: &str,
) -> CoreResult<Option<Response>> {
    let body: RotateBody = req.parse()?;
    let _guard = t.keys.lock(name).await;
    let Some(ring) = t.keys.get_locked(&ctx.view, name).await? else {
        return Err(CoreError::invalid("key not found"));
    };
    let mut cfg = ring.config.clone();
    let managed = ManagedRef {
        name: body.managed_key_name,
        id: body.managed_key_id,
    };
    let stored = if cfg.key_type == KeyType::ManagedKey {
        // A new version in the HSM: the managed key named, which the mount
        // must allow (Vault's rule: rotating a managed key names one).
        if managed.name.is_none() && managed.id.is_none() {
            return Err(CoreError::invalid(
                "rotating a managed_key key needs managed_key_name or managed_key_id for the \
                 new version",
            ));
        }
        crate::managed::bind(ctx, &managed).await?
    } else {
        if managed.name.is_some() || managed.id.is_some() {
            return Err(CoreError::invalid(
                "managed_key_name and managed_key_id apply to type managed_key only",
            ));
        }
        new_version(ctx, &cfg).await?
    };
    cfg.latest_version = cfg
        .latest_version
        .checked_add(1)
        .ok_or_else(|| CoreError::invalid("the key has reached its highest version"))?;
    let mut next = ring.with_config(cfg);
    let version = KeyVersion::prepare(&next.config, stored)?;
    next.versions
        .insert(next.config.latest_version, Arc::new(version));
    let saved = t.keys.save(&ctx.view, next).await?;
    Ok(Some(Response::data(saved.describe(None)?)))
}

#[derive(Debug, Deserialize)]
struct RotateBody {
    #[serde(default, deserialize_with = "opt_string")]
    managed_key_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    managed_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TrimBody {
    #[serde(default, deserialize_with = "opt_u64")]
    min_available_version: Option<u64>,
}

/// `POST keys/:name/trim`, with Vault's rules.
pub(crate) async fn trim(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    name: &str,
) -> CoreResult<Option<Response>> {
    let body: TrimBody = req.parse()?;
    let _guard = t.keys.lock(name).await;
    let Some(ring) = t.keys.get_locked(&ctx.view, name).await? else {
        return Err(CoreError::invalid("invalid key name"));
    };
    let c = &ring.config;
    let m = body.min_available_version.unwrap_or(0);
    let refuse = |msg: &str| Err(CoreError::invalid(msg));
    if m < c.min_available_version {
        return refuse("minimum available version cannot be decremented");
    }
    if c.min_encryption_version == 0 {
        return refuse(
            "minimum available version cannot be set when minimum encryption version is not set",
        );
    }
    if m > c.min_encryption_version {
        return refuse(
            "minimum available version cannot be greater than minimum encryption version",
        );
    }
    if m > c.min_decryption_version {
        return refuse(
            "minimum available version cannot be greater than minimum decryption version",
        );
    }
    if m == 0 {
        return refuse("minimum available version should be positive");
    }
    let mut archive = t.keys.load_archive(&ctx.view, name).await?;
    let before = archive.keys.len();
    archive.keys.retain(|n, _| *n >= m);
    if archive.keys.len() != before {
        t.keys.save_archive(&ctx.view, name, &archive).await?;
    }
    let mut cfg = c.clone();
    cfg.min_available_version = m;
    let saved = t.keys.save(&ctx.view, ring.with_config(cfg)).await?;
    Ok(Some(Response::data(saved.describe(None)?)))
}
