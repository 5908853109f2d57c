//! `export/:type/:name[/:version]`: key material of exportable keys (and
//! public keys of any asymmetric key), formatted as Vault does.

use crate::backend::{Params, Transit};
use crate::keyring::ExportKind;
use coffer_core::engine::{EngineContext, Response};
use coffer_core::{CoreError, CoreResult};
use serde_json::{Map, Value, json};

/// `GET export/:type/:name[/:version]`.
pub(crate) async fn read(
    t: &Transit,
    ctx: &EngineContext,
    params: &Params,
    name: &str,
) -> CoreResult<Option<Response>> {
    let kind = ExportKind::parse(params.get("type").map(String::as_str).unwrap_or_default())?;
    let Some(ring) = t.keys.get(&ctx.view, name).await? else {
        return Ok(None);
    };
    if ring.config.key_type == crate::key_type::KeyType::ManagedKey {
        return Err(crate::managed::refused("exporting the key"));
    }
    let c = &ring.config;
    let kt = c.key_type;
    if kind != ExportKind::Public && !c.exportable {
        return Err(CoreError::invalid("private key material is not exportable"));
    }
    match kind {
        ExportKind::Encryption if !kt.supports_encryption() => {
            return Err(CoreError::invalid("encryption not supported for the key"));
        }
        ExportKind::Signing if !kt.supports_signing() => {
            return Err(CoreError::invalid("signing not supported for the key"));
        }
        _ => {}
    }
    let versions: Vec<u64> = match params.get("version").map(String::as_str) {
        None | Some("") => ring.versions.keys().copied().collect(),
        Some(v) => {
            let n = if v == "latest" {
                c.latest_version
            } else {
                v.parse::<u64>()
                    .map_err(|_| CoreError::invalid(format!("invalid key version {v:?}")))?
            };
            if n < c.min_decryption_version {
                return Err(CoreError::invalid(
                    "version for export is below minimum decryption version",
                ));
            }
            vec![n]
        }
    };
    let mut keys = Map::new();
    for n in versions {
        let exported = ring.export(kind, n)?;
        keys.insert(n.to_string(), Value::String(exported.to_string()));
    }
    Ok(Some(Response::data(json!({
        "name": c.name,
        "type": kt.as_str(),
        "keys": keys,
    }))))
}
