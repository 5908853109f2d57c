//! `hmac/:name[/:algorithm]`, and the HMAC half of `verify/`.

use crate::backend::{Params, Transit};
use crate::batch::{ItemResult, fields};
use crate::crypto::hash::HashAlgorithm;
use crate::fields::b64_decode;
use crate::keyring::KeyRing;
use crate::path_sign::{SigBody, SigItem, finish};
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde_json::json;

/// `POST hmac/:name[/:algorithm]`.
pub(crate) async fn hmac(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    params: &Params,
    name: &str,
) -> CoreResult<Option<Response>> {
    let mut body: SigBody = req.parse()?;
    let alg = body.hash(params)?;
    let version = body.key_version.unwrap_or(0);
    let partial_code = body.partial_failure_response_code;
    let (items, is_batch) = body.take_items()?;
    if !is_batch && items[0].input.is_none() {
        return Err(CoreError::invalid("missing input for HMAC"));
    }
    let Some(ring) = t.keys.get(&ctx.view, name).await? else {
        return Err(CoreError::invalid("encryption key not found"));
    };
    let results = if ring.config.key_type == crate::key_type::KeyType::ManagedKey {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let result = crate::managed::hmac_item(ctx, &ring, version, alg, &item).await;
            results.push((result, item.reference));
        }
        results
    } else {
        items
            .into_iter()
            .map(|item| (hmac_item(&ring, version, alg, &item), item.reference))
            .collect()
    };
    finish(results, is_batch, partial_code)
}

fn hmac_item(ring: &KeyRing, version: u64, alg: HashAlgorithm, item: &SigItem) -> ItemResult {
    let input = item
        .input
        .as_deref()
        .ok_or_else(|| CoreError::invalid("missing input for HMAC"))?;
    let input = b64_decode("input", input)?;
    let (hmac, _) = ring.hmac(version, alg, &input)?;
    Ok(fields([("hmac", json!(hmac))]))
}

/// One HMAC verification of `verify/`.
pub(crate) fn verify_item(ring: &KeyRing, alg: HashAlgorithm, item: &SigItem) -> ItemResult {
    let input = b64_decode("input", item.input.as_deref().unwrap_or(""))?;
    let hmac = item
        .hmac
        .as_deref()
        .ok_or_else(|| CoreError::invalid("missing hmac"))?;
    let valid = ring.verify_hmac(alg, &input, hmac)?;
    Ok(fields([("valid", json!(valid))]))
}
