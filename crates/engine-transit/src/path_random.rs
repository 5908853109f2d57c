//! `random[/:source][/:bytes]`: random bytes for the caller.
//!
//! Sources, as Vault's: `platform` (default) is the OS CSPRNG. `seal` is
//! this mount's key entropy (`EngineContext::entropy`): HSM randomness mixed
//! with the OS CSPRNG on `external_entropy_access` mounts, failing when the
//! HSM is unavailable; the OS CSPRNG on other mounts (as Vault, whose reader
//! falls back to `crypto/rand` there). `all` XORs `platform` and `seal`.

use crate::backend::Params;
use crate::fields::opt_string;
use coffer_core::engine::field::opt_u64;
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Largest request, as Vault's.
const MAX_BYTES: u64 = 128 * 1024;

#[derive(Debug, Deserialize)]
struct RandomBody {
    #[serde(default, deserialize_with = "opt_u64")]
    bytes: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    format: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    source: Option<String>,
}

fn is_source(s: &str) -> bool {
    matches!(s, "platform" | "seal" | "all")
}

fn url_bytes(s: &str) -> CoreResult<u64> {
    s.parse()
        .map_err(|e| CoreError::invalid(format!("error parsing url-set byte count: {e}")))
}

/// `POST random[/:source][/:bytes]`.
pub(crate) async fn random(
    ctx: &EngineContext,
    req: &Request,
    params: &Params,
) -> CoreResult<Option<Response>> {
    let body: RandomBody = req.parse()?;
    let body_source = body.source.clone().filter(|s| !s.is_empty());
    let default_bytes = body.bytes.unwrap_or(32);
    let (source, bytes) = match (params.get("source"), params.get("urlbytes")) {
        (None, _) => (
            body_source.unwrap_or_else(|| "platform".to_owned()),
            default_bytes,
        ),
        (Some(s), None) if is_source(s) => (s.clone(), default_bytes),
        (Some(s), None) => (
            body_source.unwrap_or_else(|| "platform".to_owned()),
            url_bytes(s)?,
        ),
        (Some(s), Some(b)) => (s.clone(), url_bytes(b)?),
    };
    if bytes < 1 {
        return Err(CoreError::invalid("\"bytes\" cannot be less than 1"));
    }
    if bytes > MAX_BYTES {
        return Err(CoreError::invalid(format!(
            "\"bytes\" should be less than {MAX_BYTES}"
        )));
    }
    let format = body
        .format
        .as_deref()
        .filter(|f| !f.is_empty())
        .unwrap_or("base64");
    if !matches!(format, "hex" | "base64") {
        return Err(CoreError::invalid(format!(
            "unsupported encoding format {format:?}; must be \"hex\" or \"base64\""
        )));
    }
    if !is_source(&source) {
        return Err(CoreError::invalid(format!(
            "unsupported entropy source {source:?}; must be \"platform\" or \"seal\", or \"all\""
        )));
    }
    // Bounded by MAX_BYTES above.
    let n = bytes as usize;
    let mut out = Zeroizing::new(vec![0u8; n]);
    if source != "seal" {
        ctx.nonces.fill(out.as_mut_slice())?;
    }
    if source != "platform" {
        let entropy = Arc::clone(&ctx.entropy);
        let sealed = tokio::task::spawn_blocking(move || -> CoreResult<Zeroizing<Vec<u8>>> {
            let mut b = Zeroizing::new(vec![0u8; n]);
            entropy.fill(b.as_mut_slice())?;
            Ok(b)
        })
        .await
        .map_err(|e| CoreError::Internal(format!("random task failed: {e}")))??;
        for (o, s) in out.iter_mut().zip(sealed.iter()) {
            *o ^= s;
        }
    }
    let encoded = if format == "hex" {
        hex::encode(out.as_slice())
    } else {
        crate::keyring::b64(&out)
    };
    Ok(Some(Response::data(json!({ "random_bytes": encoded }))))
}
