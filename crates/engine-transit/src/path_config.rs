//! `keys/:name/config`: version floors, deletion, exportability and backup
//! permission. Raising `min_decryption_version` moves the versions below it
//! to the archive; lowering it brings them back.

use crate::backend::Transit;
use crate::keyring::{KeyRing, KeyVersion};
use crate::path_keys::refuse_auto_rotate;
use coffer_core::Ttl;
use coffer_core::engine::field::{opt_bool, opt_u64};
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
struct ConfigBody {
    #[serde(default, deserialize_with = "opt_u64")]
    min_decryption_version: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    min_encryption_version: Option<u64>,
    #[serde(default, deserialize_with = "opt_bool")]
    deletion_allowed: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    exportable: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    allow_plaintext_backup: Option<bool>,
    #[serde(default)]
    auto_rotate_period: Option<Ttl>,
}

/// `POST keys/:name/config`.
pub(crate) async fn update(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    name: &str,
) -> CoreResult<Option<Response>> {
    let body: ConfigBody = req.parse()?;
    refuse_auto_rotate(body.auto_rotate_period)?;
    let _guard = t.keys.lock(name).await;
    let Some(ring) = t.keys.get_locked(&ctx.view, name).await? else {
        return Err(CoreError::invalid(format!(
            "no existing key named {name} could be found"
        )));
    };
    let managed = ring.config.key_type == crate::key_type::KeyType::ManagedKey;
    if managed && body.exportable == Some(true) {
        return Err(crate::managed::refused("exporting the key"));
    }
    if managed && body.allow_plaintext_backup == Some(true) {
        return Err(crate::managed::refused("a plaintext backup of the key"));
    }
    let mut cfg = ring.config.clone();
    let mut warnings = Vec::new();
    if let Some(d) = body.deletion_allowed {
        cfg.deletion_allowed = d;
    }
    if let Some(mut min_dec) = body.min_decryption_version {
        if min_dec == 0 {
            min_dec = 1;
            warnings.push(
                "since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1"
                    .to_owned(),
            );
        }
        if min_dec > cfg.latest_version {
            return Err(CoreError::invalid(format!(
                "cannot set min decryption version of {min_dec}, latest key version is {}",
                cfg.latest_version
            )));
        }
        if min_dec < cfg.min_available_version {
            return Err(CoreError::invalid(format!(
                "cannot set min decryption version of {min_dec} below min available version of {}",
                cfg.min_available_version
            )));
        }
        cfg.min_decryption_version = min_dec;
    }
    if let Some(min_enc) = body.min_encryption_version {
        if min_enc > cfg.latest_version {
            return Err(CoreError::invalid(format!(
                "cannot set min encryption version of {min_enc}, latest key version is {}",
                cfg.latest_version
            )));
        }
        cfg.min_encryption_version = min_enc;
    }
    if cfg.min_encryption_version > 0 && cfg.min_encryption_version < cfg.min_decryption_version {
        return Err(CoreError::invalid(
            "min encryption version should not be less than min decryption version",
        ));
    }
    match body.exportable {
        Some(false) if cfg.exportable => {
            return Err(CoreError::invalid(
                "exportable key setting cannot be disabled",
            ));
        }
        Some(e) => cfg.exportable = e,
        None => {}
    }
    match body.allow_plaintext_backup {
        Some(false) if cfg.allow_plaintext_backup => {
            return Err(CoreError::invalid(
                "allow_plaintext_backup cannot be disabled once enabled",
            ));
        }
        Some(a) => cfg.allow_plaintext_backup = a,
        None => {}
    }
    if cfg == ring.config {
        let mut resp = Response::data(ring.describe(None)?);
        resp.warnings = warnings;
        return Ok(Some(resp));
    }
    let old_floor = ring.config.min_decryption_version;
    let new_floor = cfg.min_decryption_version;
    let mut next = ring.with_config(cfg);
    let saved = if new_floor > old_floor {
        // Archive first: a failure between the two writes leaves a version
        // in both places, never in neither.
        let mut archive = t.keys.load_archive(&ctx.view, name).await?;
        for n in old_floor..new_floor {
            if let Some(v) = next.versions.remove(&n) {
                archive.keys.insert(n, v.stored.duplicate());
            }
        }
        t.keys.save_archive(&ctx.view, name, &archive).await?;
        t.keys.save(&ctx.view, next).await?
    } else if new_floor < old_floor {
        let mut archive = t.keys.load_archive(&ctx.view, name).await?;
        for n in new_floor..old_floor {
            let stored = archive.keys.remove(&n).ok_or_else(|| {
                CoreError::Internal(format!(
                    "version {n} of key {name} is missing from the archive"
                ))
            })?;
            let v = KeyVersion::prepare(&next.config, stored)?;
            next.versions.insert(n, Arc::new(v));
        }
        let saved = t.keys.save(&ctx.view, next).await?;
        t.keys.save_archive(&ctx.view, name, &archive).await?;
        saved
    } else {
        t.keys.save(&ctx.view, next).await?
    };
    respond(&saved, warnings)
}

fn respond(ring: &KeyRing, warnings: Vec<String>) -> CoreResult<Option<Response>> {
    let mut resp = Response::data(ring.describe(None)?);
    resp.warnings = warnings;
    Ok(Some(resp))
}
