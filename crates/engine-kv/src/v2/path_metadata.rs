//! `<mount>/metadata/<path>`: per-key settings and version history; list
//! keys; delete a secret with all its versions.

use super::model::{KeyMetadata, METADATA_PREFIX, metadata_key, versions_prefix};
use super::settings::SettingsBody;
use super::{KvV2, load_meta, save_meta};
use crate::fields::{opt_string_map, opt_string_patch};
use crate::key_path::{KeyPath, list_prefix};
use coffer_core::engine::{EngineContext, Operation, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use std::collections::BTreeMap;

const MAX_CUSTOM_KEYS: usize = 64;
const MAX_CUSTOM_KEY_LEN: usize = 128;
const MAX_CUSTOM_VALUE_LEN: usize = 512;

/// `POST metadata/<path>`; absent fields keep their value.
#[derive(Debug, Deserialize)]
struct MetadataBody {
    #[serde(flatten)]
    settings: SettingsBody,
    /// Replaces the whole map.
    #[serde(default, deserialize_with = "opt_string_map")]
    custom_metadata: Option<BTreeMap<String, String>>,
}

/// `PATCH metadata/<path>`: like [`MetadataBody`], but `custom_metadata` is
/// merged, a `null` value removing that entry.
#[derive(Debug, Deserialize)]
struct MetadataPatch {
    #[serde(flatten)]
    settings: SettingsBody,
    #[serde(default, deserialize_with = "opt_string_patch")]
    custom_metadata: Option<BTreeMap<String, Option<String>>>,
}

/// Serves `metadata/<path>` for one key (lists go to [`list`]).
pub(super) async fn handle(
    engine: &KvV2,
    ctx: &EngineContext,
    key: &KeyPath,
    req: &Request,
) -> CoreResult<Option<Response>> {
    match req.operation {
        Operation::Read => Ok(load_meta(&ctx.view, key)
            .await?
            .map(|meta| Response::data(meta.to_json()))),
        Operation::Update => write(engine, ctx, key, req).await,
        Operation::Patch => patch(engine, ctx, key, req).await,
        Operation::Delete => delete_all(engine, ctx, key).await,
        Operation::List => list(ctx, key.as_str()).await,
    }
}

/// `LIST metadata/<prefix>`: the keys and folders under `prefix`.
pub(super) async fn list(ctx: &EngineContext, raw: &str) -> CoreResult<Option<Response>> {
    let Some(prefix) = list_prefix(raw) else {
        return Ok(None);
    };
    Ok(Response::list(
        ctx.view.list(&format!("{METADATA_PREFIX}{prefix}")).await?,
    ))
}

async fn write(
    engine: &KvV2,
    ctx: &EngineContext,
    key: &KeyPath,
    req: &Request,
) -> CoreResult<Option<Response>> {
    let body: MetadataBody = req.parse()?;
    let settings = body.settings.validate()?;
    if let Some(custom) = &body.custom_metadata {
        validate_custom_metadata(custom)?;
    }
    let _guard = engine.locks.lock(key.as_str()).await;
    let now = ctx.clock.now();
    let mut meta = load_meta(&ctx.view, key)
        .await?
        .unwrap_or_else(|| KeyMetadata::new(now));
    settings.apply_to_key(&mut meta);
    if let Some(custom) = body.custom_metadata {
        meta.custom_metadata = custom;
    }
    meta.updated_time = now;
    save_meta(&ctx.view, key, &meta).await?;
    Ok(None)
}

async fn patch(
    engine: &KvV2,
    ctx: &EngineContext,
    key: &KeyPath,
    req: &Request,
) -> CoreResult<Option<Response>> {
    let body: MetadataPatch = req.parse()?;
    let settings = body.settings.validate()?;
    let _guard = engine.locks.lock(key.as_str()).await;
    let Some(mut meta) = load_meta(&ctx.view, key).await? else {
        return Ok(None);
    };
    settings.apply_to_key(&mut meta);
    if let Some(changes) = body.custom_metadata {
        for (k, v) in changes {
            match v {
                Some(v) => meta.custom_metadata.insert(k, v),
                None => meta.custom_metadata.remove(&k),
            };
        }
        validate_custom_metadata(&meta.custom_metadata)?;
    }
    meta.updated_time = ctx.clock.now();
    save_meta(&ctx.view, key, &meta).await?;
    Ok(None)
}

/// Removes every version's data, then the metadata: a crash half-way leaves
/// the metadata in place, so the delete can simply be repeated.
async fn delete_all(
    engine: &KvV2,
    ctx: &EngineContext,
    key: &KeyPath,
) -> CoreResult<Option<Response>> {
    let _guard = engine.locks.lock(key.as_str()).await;
    let prefix = versions_prefix(key);
    // Listing (rather than trusting the metadata) also catches versions
    // orphaned by an interrupted write. Entries ending in `/` are other
    // secrets nested below this one.
    for child in ctx.view.list(&prefix).await? {
        if !child.ends_with('/') {
            ctx.view.delete(&format!("{prefix}{child}")).await?;
        }
    }
    ctx.view.delete(&metadata_key(key)).await?;
    Ok(None)
}

/// Vault's limits on `custom_metadata`, with its messages.
fn validate_custom_metadata(custom: &BTreeMap<String, String>) -> CoreResult<()> {
    const PREFIX: &str = "custom_metadata validation failed";
    if custom.len() > MAX_CUSTOM_KEYS {
        return Err(CoreError::invalid(format!(
            "{PREFIX}: payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {}",
            custom.len()
        )));
    }
    let mut problems = Vec::new();
    for (k, v) in custom {
        if k.is_empty() || k.len() > MAX_CUSTOM_KEY_LEN {
            problems.push(format!(
                "{PREFIX}: length of key {k:?} is {} but must be 0 < len(key) <= {MAX_CUSTOM_KEY_LEN}",
                k.len()
            ));
        }
        if v.len() > MAX_CUSTOM_VALUE_LEN {
            problems.push(format!(
                "{PREFIX}: length of value for key {k:?} is {} but must be <= {MAX_CUSTOM_VALUE_LEN}",
                v.len()
            ));
        }
        if k.chars().any(char::is_control) {
            problems.push(format!(
                "{PREFIX}: key {k:?} contains unprintable characters"
            ));
        }
        if v.chars().any(char::is_control) {
            problems.push(format!(
                "{PREFIX}: value for key {k:?} contains unprintable characters"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CoreError::invalid(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_metadata_limits_follow_vault() {
        let ok: BTreeMap<_, _> = [("owner".to_owned(), "team-a".to_owned())].into();
        assert!(validate_custom_metadata(&ok).is_ok());
        let empty_key: BTreeMap<_, _> = [(String::new(), "v".to_owned())].into();
        assert!(validate_custom_metadata(&empty_key).is_err());
        let long_value: BTreeMap<_, _> = [("k".to_owned(), "v".repeat(513))].into();
        assert!(validate_custom_metadata(&long_value).is_err());
        let many: BTreeMap<_, _> = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(validate_custom_metadata(&many).is_err());
    }
}
