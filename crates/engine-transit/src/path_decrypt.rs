//! `decrypt/:name`: one ciphertext or a `batch_input`.

use crate::backend::Transit;
use crate::batch::{self, ItemResult, fields};
use crate::fields::b64_opt;
use crate::keyring::{KeyRing, b64};
use crate::path_encrypt::{Body, Item, check_padding};
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde_json::json;

/// `POST decrypt/:name`.
pub(crate) async fn decrypt(
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
    let results: Vec<(ItemResult, Option<String>)> =
        if ring.config.key_type == crate::key_type::KeyType::ManagedKey {
            let mut results = Vec::with_capacity(items.len());
            for item in items {
                let result = crate::managed::decrypt_item(ctx, &ring, &item).await;
                results.push((result, item.reference));
            }
            results
        } else {
            items
                .into_iter()
                .map(|item| (decrypt_item(&ring, &item), item.reference))
                .collect()
        };
    if is_batch {
        return Ok(Some(batch::respond(results, partial_code, Vec::new())));
    }
    let (result, _) = results
        .into_iter()
        .next()
        .unwrap_or((Err(CoreError::Internal("no item".to_owned())), None));
    batch::single(result, Vec::new())
}

fn decrypt_item(ring: &KeyRing, item: &Item) -> ItemResult {
    let Some(ciphertext) = item.ciphertext.as_deref() else {
        return Err(CoreError::invalid("missing ciphertext to decrypt"));
    };
    check_padding(ring, item.padding_scheme.as_deref())?;
    let context = b64_opt("context", item.context.as_deref())?;
    let aad = b64_opt("associated_data", item.associated_data.as_deref())?;
    let plaintext = ring.decrypt(ciphertext, &context, &aad)?;
    Ok(fields([("plaintext", json!(b64(&plaintext)))]))
}
