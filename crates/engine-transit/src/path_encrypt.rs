//! `encrypt/:name`: one plaintext or a `batch_input`, creating the key on
//! first use (upsert) as Vault does.

use crate::backend::Transit;
use crate::batch::{self, ItemResult, fields};
use crate::fields::{b64_decode, b64_opt, opt_batch, opt_string};
use crate::key_type::KeyType;
use crate::keyring::KeyRing;
use crate::path_keys::{NewKey, create};
use coffer_core::engine::field::{opt_bool, opt_u64};
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::Entropy;
use serde::Deserialize;
use serde_json::json;

/// One item of `batch_input` for encrypt, decrypt, rewrap (or the top-level
/// fields of a single request).
#[derive(Default, Deserialize)]
pub(crate) struct Item {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) plaintext: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) ciphertext: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) context: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) nonce: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) associated_data: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) reference: Option<String>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub(crate) key_version: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) padding_scheme: Option<String>,
}

/// A request body of encrypt, decrypt and rewrap: the request's options
/// and its top-level [`Item`].
pub(crate) struct Body {
    pub(crate) single: Item,
    pub(crate) batch_input: Option<Vec<Item>>,
    pub(crate) partial_failure_response_code: Option<u64>,
    pub(crate) key_type: Option<String>,
    pub(crate) convergent_encryption: Option<bool>,
}

/// The request-level fields of [`Body`]. The item's fields are read from
/// the same body separately: serde's `flatten` would buffer the whole body,
/// `batch_input` included, before reading either.
#[derive(Deserialize)]
struct Options {
    #[serde(default, deserialize_with = "opt_batch")]
    batch_input: Option<Vec<Item>>,
    #[serde(default, deserialize_with = "opt_u64")]
    partial_failure_response_code: Option<u64>,
    #[serde(default, rename = "type", deserialize_with = "opt_string")]
    key_type: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    convergent_encryption: Option<bool>,
}

impl Body {
    /// Reads the body of `req`.
    pub(crate) fn parse(req: &Request) -> CoreResult<Self> {
        let options: Options = req.parse()?;
        Ok(Self {
            single: req.parse()?,
            batch_input: options.batch_input,
            partial_failure_response_code: options.partial_failure_response_code,
            key_type: options.key_type,
            convergent_encryption: options.convergent_encryption,
        })
    }

    /// The items to process, and whether the request was a batch.
    pub(crate) fn items(self) -> CoreResult<(Vec<Item>, bool, Option<u64>)> {
        match self.batch_input {
            Some(items) if items.is_empty() => {
                Err(CoreError::invalid("missing batch input to process"))
            }
            Some(items) => Ok((items, true, self.partial_failure_response_code)),
            None => Ok((vec![self.single], false, None)),
        }
    }
}

/// Vault's message for a `nonce` on a key that does not take one (only
/// Vault's legacy convergent version 1 keys did).
pub(crate) const ERR_NONCE_NOT_ALLOWED: &str = "provided nonce not allowed for this key";

/// `POST encrypt/:name`.
pub(crate) async fn encrypt(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    name: &str,
) -> CoreResult<Option<Response>> {
    let body = Body::parse(req)?;
    let requested_type = body.key_type.clone();
    let convergent = body.convergent_encryption.unwrap_or(false);
    let (items, is_batch, partial_code) = body.items()?;
    if !is_batch && items[0].plaintext.is_none() {
        return Err(CoreError::invalid("missing plaintext to encrypt"));
    }
    let context_set = items[0].context.as_deref().is_some_and(|c| !c.is_empty());
    if items
        .iter()
        .any(|i| i.context.as_deref().is_some_and(|c| !c.is_empty()) != context_set)
    {
        return Err(CoreError::invalid(
            "context should be set either in all the request blocks or in none",
        ));
    }
    let mut warnings = Vec::new();
    let ring = match t.keys.get(&ctx.view, name).await? {
        Some(ring) => ring,
        None => {
            let spec = upsert_spec(requested_type.as_deref(), context_set, convergent)?;
            let (ring, created) = create(t, ctx, name, spec).await?;
            if !created {
                warnings.push(
                    "Attempted creation of the key during the encrypt operation, but it was \
                     created beforehand"
                        .to_owned(),
                );
            }
            ring
        }
    };
    let results: Vec<(ItemResult, Option<String>)> = if ring.config.key_type == KeyType::ManagedKey
    {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let result = crate::managed::encrypt_item(ctx, &ring, &item).await;
            results.push((result, item.reference));
        }
        results
    } else {
        items
            .into_iter()
            .map(|item| {
                let result = encrypt_item(ctx.nonces.as_ref(), &ring, &item);
                (result, item.reference)
            })
            .collect()
    };
    if is_batch {
        Ok(Some(batch::respond(results, partial_code, warnings)))
    } else {
        let (result, _) = results
            .into_iter()
            .next()
            .unwrap_or((Err(CoreError::Internal("no item".to_owned())), None));
        batch::single(result, warnings)
    }
}

/// The key an encrypt of a missing key creates.
fn upsert_spec(key_type: Option<&str>, context_set: bool, convergent: bool) -> CoreResult<NewKey> {
    let kt = KeyType::parse(key_type.unwrap_or("aes256-gcm96"))?;
    if kt == KeyType::ManagedKey {
        return Err(CoreError::invalid(
            "a managed_key key is created with keys/:name (managed_key_name or managed_key_id), \
             not on first encrypt",
        ));
    }
    if !kt.supports_encryption() {
        return Err(CoreError::invalid(format!(
            "key type {kt} not supported for this operation"
        )));
    }
    if convergent && !context_set {
        return Err(CoreError::invalid(
            "convergent encryption requires derivation to be enabled, so context is required",
        ));
    }
    NewKey {
        derived: context_set,
        convergent_encryption: convergent,
        ..NewKey::of(kt)
    }
    .validated()
}

/// Checks `padding_scheme`: RSA keys use OAEP (SHA-256); PKCS#1 v1.5
/// encryption is refused.
pub(crate) fn check_padding(ring: &KeyRing, padding: Option<&str>) -> CoreResult<()> {
    let kt = ring.config.key_type;
    match padding {
        None | Some("") => Ok(()),
        Some(_) if !kt.is_rsa() => Err(CoreError::invalid(format!(
            "padding_scheme is only valid for RSA keys, not {kt}"
        ))),
        Some("oaep") => Ok(()),
        Some(other) => Err(CoreError::NotSupported(format!(
            "RSA padding scheme {other:?} (only \"oaep\")"
        ))),
    }
}

fn encrypt_item(nonces: &dyn Entropy, ring: &KeyRing, item: &Item) -> ItemResult {
    let Some(plaintext) = item.plaintext.as_deref() else {
        return Err(CoreError::invalid("missing plaintext to encrypt"));
    };
    if item.nonce.as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(CoreError::invalid(ERR_NONCE_NOT_ALLOWED));
    }
    check_padding(ring, item.padding_scheme.as_deref())?;
    let plaintext = zeroize::Zeroizing::new(b64_decode("plaintext", plaintext)?);
    let context = b64_opt("context", item.context.as_deref())?;
    let aad = b64_opt("associated_data", item.associated_data.as_deref())?;
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
