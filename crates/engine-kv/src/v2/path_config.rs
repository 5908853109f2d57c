//! `<mount>/config`: mount-wide version limit, check-and-set requirement
//! and automatic deletion delay.

use super::model::{CONFIG_KEY, KvConfig};
use super::settings::SettingsBody;
use super::{KvV2, load_config};
use coffer_core::engine::{EngineContext, Operation, Request, Response};
use coffer_core::{CoreError, CoreResult};

/// Lock slot name for the config; the NUL keeps it apart from any secret path.
const CONFIG_LOCK: &str = "\0config";

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

/// `POST <mount>/config`; absent fields keep their value.
async fn write(engine: &KvV2, ctx: &EngineContext, req: &Request) -> CoreResult<Option<Response>> {
    let settings = req.parse::<SettingsBody>()?.validate()?;
    let _guard = engine.locks.lock(CONFIG_LOCK).await;
    let mut config: KvConfig = load_config(&ctx.view).await?;
    settings.apply_to_config(&mut config);
    ctx.view.put_json(CONFIG_KEY, &config).await?;
    Ok(None)
}
