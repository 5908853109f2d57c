//! `<mount>/config`: mount-wide version limit, check-and-set requirement
//! and automatic deletion delay.

use super::model::{CONFIG_KEY, KvConfig};
use super::{KvV2, load_config};
use coffer_core::engine::{EngineContext, Operation, Request, Response};
use coffer_core::field::{opt_bool, opt_duration_secs, opt_u64};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;

/// Lock slot name for the config; the NUL keeps it apart from any secret path.
const CONFIG_LOCK: &str = "\0config";

/// `POST <mount>/config`; absent fields keep their value.
#[derive(Debug, Deserialize)]
struct ConfigBody {
    #[serde(default, deserialize_with = "opt_u64")]
    max_versions: Option<u64>,
    #[serde(default, deserialize_with = "opt_bool")]
    cas_required: Option<bool>,
    #[serde(default, deserialize_with = "opt_duration_secs")]
    delete_version_after: Option<u64>,
}

/// Serves `config` reads and writes.
pub(super) async fn handle(
    engine: &KvV2,
    ctx: &EngineContext,
    req: &Request,
) -> CoreResult<Option<Response>> {
    match req.operation {
        Operation::Read => Ok(Some(Response::data(
            load_config(&ctx.view).await?.to_json(),
        ))),
        Operation::Update => write(engine, ctx, req).await,
        Operation::Patch | Operation::Delete | Operation::List => {
            Err(CoreError::UnsupportedOperation)
        }
    }
}

async fn write(engine: &KvV2, ctx: &EngineContext, req: &Request) -> CoreResult<Option<Response>> {
    let body: ConfigBody = req.parse()?;
    let max_versions = body.max_versions.map(max_versions_u32).transpose()?;
    let _guard = engine.locks.lock(CONFIG_LOCK).await;
    let mut config: KvConfig = load_config(&ctx.view).await?;
    if let Some(n) = max_versions {
        config.max_versions = n;
    }
    if let Some(b) = body.cas_required {
        config.cas_required = b;
    }
    if let Some(secs) = body.delete_version_after {
        config.delete_version_after = secs;
    }
    ctx.view.put_json(CONFIG_KEY, &config).await?;
    Ok(None)
}

/// Vault keeps version limits as 32-bit numbers.
pub(super) fn max_versions_u32(n: u64) -> CoreResult<u32> {
    u32::try_from(n)
        .map_err(|_| CoreError::invalid(format!("max_versions must be at most {}", u32::MAX)))
}
