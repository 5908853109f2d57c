//! KV version 2: versioned secrets with metadata, check-and-set, soft
//! delete, undelete, destroy, automatic deletion and subkeys.
//!
//! Every read-modify-write (a write, a delete, a metadata change) holds the
//! key's slot in [`KeyLocks`], so concurrent writers to one key get distinct,
//! consecutive versions; reads take no lock.

mod model;
mod path_config;
mod path_data;
mod path_metadata;
mod path_subkeys;
mod path_versions;
mod settings;

use crate::key_path::KeyPath;
use async_trait::async_trait;
use coffer_core::engine::{
    Engine, EngineContext, Operation, Request, Response, ResponseStatus, Route, dispatch,
};
use coffer_core::storage::KeyLocks;
use coffer_core::storage::View;
use coffer_core::{CoreError, CoreResult};
use model::{
    CONFIG_KEY, KeyMetadata, KvConfig, SecretData, VersionMeta, metadata_key, version_key,
};
use serde_json::{Value, json};
use std::time::SystemTime;

/// Lock slots for secret paths: enough that unrelated ones rarely contend.
const KEY_LOCK_SLOTS: usize = 64;

/// Route handler tags; one per path group, one file each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    Config,
    Data,
    Delete,
    Undelete,
    Destroy,
    Metadata,
    Subkeys,
}

/// The KV v2 engine of one mount.
pub(crate) struct KvV2 {
    routes: Vec<Route<Handler>>,
    locks: KeyLocks,
}

impl KvV2 {
    /// A fresh engine; all state lives in the mount's view.
    pub(crate) fn new() -> Self {
        use Operation::{Delete, List, Patch, Read, Update};
        let routes = vec![
            Route::new("config", &[Read, Update], Handler::Config),
            Route::new("data/*path", &[Read, Update, Patch, Delete], Handler::Data),
            Route::new("delete/*path", &[Update], Handler::Delete),
            Route::new("undelete/*path", &[Update], Handler::Undelete),
            Route::new("destroy/*path", &[Update], Handler::Destroy),
            Route::new(
                "metadata/*path",
                &[Read, Update, Patch, Delete, List],
                Handler::Metadata,
            ),
            Route::new("subkeys/*path", &[Read], Handler::Subkeys),
        ];
        Self {
            routes,
            locks: KeyLocks::new(KEY_LOCK_SLOTS),
        }
    }
}

#[async_trait]
impl Engine for KvV2 {
    async fn handle(&self, ctx: &EngineContext, req: Request) -> CoreResult<Option<Response>> {
        let (handler, params) = match dispatch(&self.routes, &req) {
            Ok(found) => found,
            Err(CoreError::UnsupportedPath(_)) => return Ok(Some(invalid_path(req.operation))),
            Err(e) => return Err(e),
        };
        let raw = params.get("path").map(String::as_str).unwrap_or_default();
        if handler == Handler::Config {
            return path_config::handle(self, ctx, &req).await;
        }
        if handler == Handler::Metadata && req.operation == Operation::List {
            return path_metadata::list(ctx, raw).await;
        }
        if raw.is_empty() {
            return Ok(Some(invalid_path(req.operation)));
        }
        let key = match KeyPath::parse(raw) {
            Ok(key) => key,
            // A path storage could never hold: nothing to read or delete.
            Err(_) if matches!(req.operation, Operation::Read | Operation::Delete) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match handler {
            Handler::Data => path_data::handle(self, ctx, &key, &req).await,
            Handler::Delete | Handler::Undelete | Handler::Destroy => {
                path_versions::handle(self, ctx, handler, &key, &req).await
            }
            Handler::Metadata => path_metadata::handle(self, ctx, &key, &req).await,
            Handler::Subkeys => path_subkeys::read(ctx, &key, &req).await,
            Handler::Config => Err(CoreError::Internal(
                "config reached key dispatch".to_owned(),
            )),
        }
    }

    /// Vault's KV v2 existence check: a write to `data/<key>` or
    /// `metadata/<key>` updates when the key has metadata, else creates.
    /// Other paths have no such notion.
    async fn exists(&self, ctx: &EngineContext, req: &Request) -> CoreResult<Option<bool>> {
        let Ok((handler, params)) = dispatch(&self.routes, req) else {
            return Ok(None);
        };
        if !matches!(handler, Handler::Data | Handler::Metadata) {
            return Ok(None);
        }
        let raw = params.get("path").map(String::as_str).unwrap_or_default();
        let Ok(key) = KeyPath::parse(raw) else {
            return Ok(Some(false));
        };
        Ok(Some(load_meta(&ctx.view, &key).await?.is_some()))
    }
}

/// Vault's answer to a path no KV v2 route serves (or a route's root): 404
/// with a warning pointing at the right `vault kv` subcommand.
fn invalid_path(op: Operation) -> Response {
    let sub = match op {
        Operation::Update => "put",
        Operation::Patch => "patch",
        Operation::Read => "get",
        Operation::List => "list",
        Operation::Delete => "delete",
    };
    Response {
        status: ResponseStatus::NotFound,
        ..Response::default()
    }
    .warn(format!(
        "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate \
         API endpoints to use. If using the Vault CLI, use 'vault kv {sub}' for this operation."
    ))
}

/// The answer to a read of one version: `{<field>: shown, "metadata": ...}`,
/// or, when the version is deleted or destroyed (`shown` is `None`), a 404
/// that still carries its metadata with `<field>` null.
fn version_response(field: &str, shown: Option<Value>, metadata: Value) -> Option<Response> {
    match shown {
        Some(shown) => Some(Response::data(
            json!({ field: shown, "metadata": metadata }),
        )),
        None => Some(Response {
            status: ResponseStatus::NotFound,
            ..Response::data(json!({ field: null, "metadata": metadata }))
        }),
    }
}

/// The version of `key` a read asks for (`None` or 0: the current one):
/// `None` when the key or that version is unknown, else the version's wire
/// metadata and, while it is live, its data.
async fn read_version(
    ctx: &EngineContext,
    key: &KeyPath,
    requested: Option<u64>,
) -> CoreResult<Option<(Value, Option<SecretData>)>> {
    let Some(meta) = load_meta(&ctx.view, key).await? else {
        return Ok(None);
    };
    let Some((version, vm)) = meta.pick(requested) else {
        return Ok(None);
    };
    let data = live_data(&ctx.view, key, version, vm, ctx.clock.now()).await?;
    Ok(Some((meta.version_json(version, vm), data)))
}

/// The data of `version` if it is live at `now`. Absent data under live
/// metadata means a destroy raced this read.
async fn live_data(
    view: &View,
    key: &KeyPath,
    version: u64,
    vm: &VersionMeta,
    now: SystemTime,
) -> CoreResult<Option<SecretData>> {
    if !vm.is_live(now) {
        return Ok(None);
    }
    view.get_json(&version_key(key, version)).await
}

async fn load_config(view: &View) -> CoreResult<KvConfig> {
    Ok(view.get_json(CONFIG_KEY).await?.unwrap_or_default())
}

async fn load_meta(view: &View, key: &KeyPath) -> CoreResult<Option<KeyMetadata>> {
    view.get_json(&metadata_key(key)).await
}

async fn save_meta(view: &View, key: &KeyPath, meta: &KeyMetadata) -> CoreResult<()> {
    view.put_json(&metadata_key(key), meta).await
}
