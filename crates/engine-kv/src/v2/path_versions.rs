//! `<mount>/delete/<path>`, `undelete/<path>` and `destroy/<path>`: change
//! the life of chosen versions. Soft delete and undelete only touch
//! metadata; destroy removes the data for good.

use super::model::version_key;
use super::{Handler, KvV2, load_meta, save_meta};
use crate::fields::version_list;
use crate::key_path::KeyPath;
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;

/// `POST delete|undelete|destroy/<path>`: `{"versions": [1, 2]}`.
#[derive(Debug, Deserialize)]
struct VersionsBody {
    #[serde(default, deserialize_with = "version_list")]
    versions: Vec<u64>,
}

/// Serves the three version-changing routes; `handler` says which.
pub(super) async fn handle(
    engine: &KvV2,
    ctx: &EngineContext,
    handler: Handler,
    key: &KeyPath,
    req: &Request,
) -> CoreResult<Option<Response>> {
    let body: VersionsBody = req.parse()?;
    if body.versions.is_empty() {
        return Err(CoreError::invalid("no version number provided"));
    }
    let _guard = engine.locks.lock(key.as_str()).await;
    let Some(mut meta) = load_meta(&ctx.view, key).await? else {
        return Ok(None);
    };
    let now = ctx.clock.now();
    for version in body.versions {
        // Unknown (never written or pruned) and destroyed versions are
        // skipped, as in Vault.
        let Some(vm) = meta.versions.get_mut(&version).filter(|vm| !vm.destroyed) else {
            continue;
        };
        match handler {
            Handler::Delete => {
                if vm.is_live(now) {
                    vm.deletion_time = Some(now);
                }
            }
            Handler::Undelete => vm.deletion_time = None,
            Handler::Destroy => {
                // Data first: if the metadata write then fails, the version
                // reads as gone rather than keeping a "destroyed" secret.
                ctx.view.delete(&version_key(key, version)).await?;
                vm.destroyed = true;
            }
            Handler::Config | Handler::Data | Handler::Metadata | Handler::Subkeys => {
                return Err(CoreError::Internal(format!(
                    "{handler:?} is not a version operation"
                )));
            }
        }
    }
    save_meta(&ctx.view, key, &meta).await?;
    Ok(None)
}
