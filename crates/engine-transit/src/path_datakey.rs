//! `datakey/(plaintext|wrapped)/:name`: a fresh data key drawn from
//! `ctx.entropy` (it is key material), returned encrypted under the named
//! key, and in plaintext too for `plaintext`.

use crate::backend::{Params, Transit};
use crate::fields::{b64_opt, opt_string};
use crate::keyring::b64;
use crate::path_encrypt::ERR_NONCE_NOT_ALLOWED;
use coffer_core::engine::field::opt_u64;
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use zeroize::Zeroizing;

#[derive(Debug, Deserialize)]
struct DatakeyBody {
    #[serde(default, deserialize_with = "opt_string")]
    context: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    nonce: Option<String>,
    #[serde(default, deserialize_with = "opt_u64")]
    bits: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    key_version: Option<u64>,
}

/// `POST datakey/:plaintext/:name`.
pub(crate) async fn datakey(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    params: &Params,
    name: &str,
) -> CoreResult<Option<Response>> {
    let with_plaintext = match params.get("plaintext").map(String::as_str) {
        Some("plaintext") => true,
        Some("wrapped") => false,
        _ => {
            return Err(CoreError::invalid(
                "Invalid path, must be 'plaintext' or 'wrapped'",
            ));
        }
    };
    let body: DatakeyBody = req.parse()?;
    let bits = body.bits.unwrap_or(256);
    if !matches!(bits, 128 | 256 | 512) {
        return Err(CoreError::invalid(format!(
            "invalid bits length {bits}: must be 128, 256 or 512"
        )));
    }
    if body.nonce.as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(CoreError::invalid(ERR_NONCE_NOT_ALLOWED));
    }
    let context = b64_opt("context", body.context.as_deref())?;
    let Some(ring) = t.keys.get(&ctx.view, name).await? else {
        return Err(CoreError::invalid("encryption key not found"));
    };
    if ring.config.key_type == crate::key_type::KeyType::ManagedKey {
        return Err(crate::managed::refused(
            "generating a data key (use encrypt on your own key instead)",
        ));
    }
    let entropy = Arc::clone(&ctx.entropy);
    // Whole bytes: `bits` is one of three multiples of 8.
    let len = (bits / 8) as usize;
    let key = tokio::task::spawn_blocking(move || -> CoreResult<Zeroizing<Vec<u8>>> {
        let mut key = Zeroizing::new(vec![0u8; len]);
        entropy.fill(key.as_mut_slice())?;
        Ok(key)
    })
    .await
    .map_err(|e| CoreError::Internal(format!("data key task failed: {e}")))??;
    let (ciphertext, version) = ring.encrypt(
        body.key_version.unwrap_or(0),
        &context,
        &key,
        &[],
        ctx.nonces.as_ref(),
    )?;
    let mut data = json!({ "ciphertext": ciphertext, "key_version": version });
    if with_plaintext && let serde_json::Value::Object(m) = &mut data {
        m.insert("plaintext".to_owned(), json!(b64(&key)));
    }
    Ok(Some(Response::data(data)))
}
