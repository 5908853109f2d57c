//! `<mount>/data/<path>`: read a version, write a new one, merge-patch the
//! latest, or soft-delete the latest.

use super::model::{KeyMetadata, KvConfig, SecretData, metadata_key, version_key};
use super::{KvV2, live_data, load_config, load_meta, read_version, save_meta, version_response};
use crate::key_path::KeyPath;
use coffer_core::engine::field::opt_u64;
use coffer_core::engine::{EngineContext, Operation, Request, Response};
use coffer_core::storage::View;
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::SystemTime;

/// `GET data/<path>?version=N`.
#[derive(Debug, Deserialize)]
struct ReadQuery {
    #[serde(default, deserialize_with = "opt_u64")]
    version: Option<u64>,
}

/// `POST`/`PATCH data/<path>`: `{"data": {...}, "options": {"cas": N}}`.
#[derive(Debug, Deserialize)]
struct WriteBody {
    data: Option<SecretData>,
    options: Option<WriteOptions>,
}

#[derive(Debug, Deserialize)]
struct WriteOptions {
    #[serde(default, deserialize_with = "opt_u64")]
    cas: Option<u64>,
}

impl WriteBody {
    /// The data (required) and the `options.cas` value.
    fn into_data_and_cas(self) -> CoreResult<(SecretData, Option<u64>)> {
        let data = self
            .data
            .ok_or_else(|| CoreError::invalid("no data provided"))?;
        Ok((data, self.options.and_then(|o| o.cas)))
    }
}

/// Serves `data/<path>`.
pub(super) async fn handle(
    engine: &KvV2,
    ctx: &EngineContext,
    key: &KeyPath,
    req: &Request,
) -> CoreResult<Option<Response>> {
    match req.operation {
        Operation::Read => read(ctx, key, req).await,
        Operation::Update => write(engine, ctx, key, req).await,
        Operation::Patch => patch(engine, ctx, key, req).await,
        Operation::Delete => delete_latest(engine, ctx, key).await,
        Operation::List => Err(CoreError::UnsupportedOperation),
    }
}

async fn read(ctx: &EngineContext, key: &KeyPath, req: &Request) -> CoreResult<Option<Response>> {
    let query: ReadQuery = req.parse()?;
    let Some((metadata, data)) = read_version(ctx, key, query.version).await? else {
        return Ok(None);
    };
    Ok(version_response("data", data.map(Value::Object), metadata))
}

async fn write(
    engine: &KvV2,
    ctx: &EngineContext,
    key: &KeyPath,
    req: &Request,
) -> CoreResult<Option<Response>> {
    let (data, cas) = req.parse::<WriteBody>()?.into_data_and_cas()?;
    let _guard = engine.locks.lock(key.as_str()).await;
    let config = load_config(&ctx.view).await?;
    let now = ctx.clock.now();
    let meta = load_meta(&ctx.view, key)
        .await?
        .unwrap_or_else(|| KeyMetadata::new(now));
    check_cas(&config, &meta, cas)?;
    commit(&ctx.view, key, meta, &config, &data, now)
        .await
        .map(Some)
}

async fn patch(
    engine: &KvV2,
    ctx: &EngineContext,
    key: &KeyPath,
    req: &Request,
) -> CoreResult<Option<Response>> {
    let (changes, cas) = req.parse::<WriteBody>()?.into_data_and_cas()?;
    let _guard = engine.locks.lock(key.as_str()).await;
    let config = load_config(&ctx.view).await?;
    let now = ctx.clock.now();
    let Some(meta) = load_meta(&ctx.view, key).await? else {
        return Ok(None);
    };
    check_cas(&config, &meta, cas)?;
    let Some((version, vm)) = meta.pick(None) else {
        return Ok(None);
    };
    let Some(mut data) = live_data(&ctx.view, key, version, vm, now).await? else {
        let metadata = meta.version_json(version, vm);
        return Ok(version_response("data", None, metadata));
    };
    merge_patch(&mut data, changes);
    commit(&ctx.view, key, meta, &config, &data, now)
        .await
        .map(Some)
}

async fn delete_latest(
    engine: &KvV2,
    ctx: &EngineContext,
    key: &KeyPath,
) -> CoreResult<Option<Response>> {
    let _guard = engine.locks.lock(key.as_str()).await;
    let Some(mut meta) = load_meta(&ctx.view, key).await? else {
        return Ok(None);
    };
    let now = ctx.clock.now();
    let current = meta.current_version;
    match meta.versions.get_mut(&current) {
        Some(vm) if vm.is_live(now) => vm.deletion_time = Some(now),
        _ => return Ok(None),
    }
    save_meta(&ctx.view, key, &meta).await?;
    Ok(None)
}

/// Enforces `options.cas` (the key's current version; 0 = "must not exist")
/// and the mount's or key's `cas_required`.
fn check_cas(config: &KvConfig, meta: &KeyMetadata, cas: Option<u64>) -> CoreResult<()> {
    match cas {
        Some(cas) if cas != meta.current_version => Err(CoreError::invalid(
            "check-and-set parameter did not match the current version",
        )),
        Some(_) => Ok(()),
        None if config.cas_required || meta.cas_required => Err(CoreError::invalid(
            "check-and-set parameter required for this call",
        )),
        None => Ok(()),
    }
}

/// Stores `data` as the next version and the metadata as one unit, then
/// removes the versions `max_versions` prunes. Where units are atomic
/// (embedded storage) the removal joins the unit: one commit, all or nothing.
/// Elsewhere the changes land in order, data first, so a crash part-way
/// leaves an unreferenced version that the next write overwrites, and a
/// failed removal is a warning on a write that succeeded (as in Vault).
async fn commit(
    view: &View,
    key: &KeyPath,
    mut meta: KeyMetadata,
    config: &KvConfig,
    data: &SecretData,
    now: SystemTime,
) -> CoreResult<Response> {
    let mut unit = view.batch();
    unit.put_json(&version_key(key, meta.current_version + 1), data)?;
    let (version, pruned) = meta.add_version(now, config);
    unit.put_json(&metadata_key(key), &meta)?;
    let atomic = view.atomic_units();
    if atomic {
        for old in &pruned {
            unit.delete(&version_key(key, *old));
        }
    }
    unit.commit().await?;
    let vm = meta.versions.get(&version).ok_or_else(|| {
        CoreError::Internal(format!("version {version} of {key:?} pruned on write"))
    })?;
    let mut resp = Response::data(meta.version_json(version, vm));
    if !atomic {
        for old in pruned {
            // The write has succeeded; a leftover old version is hidden by
            // the metadata, so report it rather than fail the request.
            if let Err(e) = view.delete(&version_key(key, old)).await {
                tracing::warn!(key = %key, version = old, error = %e, "could not remove pruned version");
                resp = resp.warn(format!("error occurred when cleaning up old versions: {e}"));
            }
        }
    }
    Ok(resp)
}

/// Applies a JSON merge patch (RFC 7396): `null` removes, objects merge,
/// anything else replaces.
fn merge_patch(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(&k);
            }
            Value::Object(inner) => {
                if let Some(Value::Object(existing)) = target.get_mut(&k) {
                    merge_patch(existing, inner);
                } else {
                    let mut fresh = Map::new();
                    merge_patch(&mut fresh, inner);
                    target.insert(k, Value::Object(fresh));
                }
            }
            other => {
                target.insert(k, other);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = obj(json!({"a": "b", "c": {"d": "e", "f": "g"}, "x": 1}));
        merge_patch(
            &mut target,
            obj(json!({"a": "z", "c": {"f": null}, "x": {"y": null, "n": 2}})),
        );
        assert_eq!(
            Value::Object(target),
            json!({"a": "z", "c": {"d": "e"}, "x": {"n": 2}})
        );
    }

    #[test]
    fn cas_zero_means_the_key_must_not_exist() {
        let config = KvConfig::default();
        let mut meta = KeyMetadata::new(SystemTime::UNIX_EPOCH);
        assert!(check_cas(&config, &meta, Some(0)).is_ok());
        meta.current_version = 1;
        assert!(check_cas(&config, &meta, Some(0)).is_err());
        assert!(check_cas(&config, &meta, Some(1)).is_ok());
    }
}
