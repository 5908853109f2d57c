//! `rewrap/:name`: decrypt and re-encrypt under the latest (or a given)
//! version, without the plaintext ever leaving the server.

use crate::backend::Transit;
use crate::batch::{self, ItemResult, fields};
use crate::fields::b64_opt;
use crate::keyring::KeyRing;
use crate::path_encrypt::{Body, ERR_NONCE_NOT_ALLOWED, Item};
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::Entropy;
use serde_json::json;

/// `POST rewrap/:name`.
pub(crate) async fn rewrap(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    name: &str,
) -> CoreResult<Option<Response>> {
    let body = Body::parse(req)?;
    let (items, is_batch, partial_code) = body.items()?;
    if !is_batch && items[0].ciphertext.is_none() {
        return Err(CoreError::invalid("missing ciphertext to decrypt"));
    }
    let Some(ring) = t.keys.get(&ctx.view, name).await? else {
        return Err(CoreError::invalid("encryption key not found"));
    };
    if ring.config.key_type == crate::key_type::KeyType::ManagedKey {
        return Err(crate::managed::refused(
            "rewrap (decrypt, then encrypt again)",
        ));
    }
    let results: Vec<(ItemResult, Option<String>)> = items
        .into_iter()
        .map(|item| {
            (
                rewrap_item(ctx.nonces.as_ref(), &ring, &item),
                item.reference,
            )
        })
        .collect();
    if is_batch {
        return Ok(Some(batch::respond(results, partial_code, Vec::new())));
    }
    let (result, _) = results
        .into_iter()
        .next()
        .unwrap_or((Err(CoreError::Internal("no item".to_owned())), None));
    batch::single(result, Vec::new())
}

fn rewrap_item(nonces: &dyn Entropy, ring: &KeyRing, item: &Item) -> ItemResult {
    let Some(ciphertext) = item.ciphertext.as_deref() else {
        return Err(CoreError::invalid("missing ciphertext to decrypt"));
    };
    if item.nonce.as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(CoreError::invalid(ERR_NONCE_NOT_ALLOWED));
    }
    let context = b64_opt("context", item.context.as_deref())?;
    let aad = b64_opt("associated_data", item.associated_data.as_deref())?;
    let plaintext = ring.decrypt(ciphertext, &context, &aad)?;
    let (ciphertext, version) = ring.encrypt(
        item.key_version.unwrap_or(0),
        &context,
        &plaintext,
        &aad,
        nonces,
    )?;
    Ok(fields([
        ("ciphertext", json!(ciphertext)),
        ("key_version", json!(version)),
    ]))
}
