//! `sign/:name[/:hash]` and `verify/:name[/:hash]` (which also verifies
//! HMACs when given `hmac` instead of `signature`, as Vault does).

use crate::backend::{Params, Transit};
use crate::batch::{self, ItemResult, fields};
use crate::crypto::hash::HashAlgorithm;
use crate::crypto::rsa::{Padding, PssSalt};
use crate::fields::{b64_opt, opt_batch, opt_string};
use crate::keyring::{KeyRing, SignParams};
use crate::path_hmac;
use coffer_core::engine::field::{opt_bool, opt_u64};
use coffer_core::engine::{EngineContext, Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use serde_json::json;

/// One item of `batch_input` for sign, verify and hmac.
#[derive(Default, Deserialize)]
pub(crate) struct SigItem {
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) input: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) context: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) signature: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) hmac: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) reference: Option<String>,
}

/// A body of sign, verify and hmac.
#[derive(Deserialize)]
pub(crate) struct SigBody {
    #[serde(flatten)]
    pub(crate) single: SigItem,
    #[serde(default, deserialize_with = "opt_batch")]
    pub(crate) batch_input: Option<Vec<SigItem>>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub(crate) key_version: Option<u64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) hash_algorithm: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub(crate) algorithm: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    prehashed: Option<bool>,
    #[serde(default, deserialize_with = "opt_string")]
    signature_algorithm: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    marshaling_algorithm: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    salt_length: Option<String>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub(crate) partial_failure_response_code: Option<u64>,
}

impl SigBody {
    /// The hash named in the URL, or `hash_algorithm`, or the deprecated
    /// `algorithm`, or SHA-256.
    pub(crate) fn hash(&self, params: &Params) -> CoreResult<HashAlgorithm> {
        let name = params
            .get("urlalgorithm")
            .map(String::as_str)
            .or(self.hash_algorithm.as_deref().filter(|s| !s.is_empty()))
            .or(self.algorithm.as_deref().filter(|s| !s.is_empty()))
            .unwrap_or("sha2-256");
        HashAlgorithm::parse(name)
            .ok_or_else(|| CoreError::invalid(format!("invalid hash algorithm {name:?}")))
    }

    /// Items to process, and whether this was a batch.
    pub(crate) fn take_items(&mut self) -> CoreResult<(Vec<SigItem>, bool)> {
        match self.batch_input.take() {
            Some(items) if items.is_empty() => {
                Err(CoreError::invalid("missing batch input to process"))
            }
            Some(items) => Ok((items, true)),
            None => Ok((vec![std::mem::take(&mut self.single)], false)),
        }
    }

    fn params(&self, hash: HashAlgorithm) -> CoreResult<SignParams> {
        let salt = match self.salt_length.as_deref() {
            None | Some("" | "auto") => PssSalt::Auto,
            Some("hash") => PssSalt::Digest,
            Some(n) if n.parse::<usize>().ok() == Some(hash.output_len()) => PssSalt::Digest,
            Some(other) => {
                return Err(CoreError::NotSupported(format!(
                    "salt_length {other:?} (use \"auto\", \"hash\" or the digest length)"
                )));
            }
        };
        let padding = match self.signature_algorithm.as_deref() {
            None | Some("" | "pss") => Padding::Pss(salt),
            Some("pkcs1v15") => Padding::Pkcs1v15,
            Some(other) => {
                return Err(CoreError::invalid(format!(
                    "unsupported rsa signature algorithm {other}"
                )));
            }
        };
        let jws = match self.marshaling_algorithm.as_deref() {
            None | Some("" | "asn1") => false,
            Some("jws") => true,
            Some(other) => {
                return Err(CoreError::invalid(format!(
                    "invalid marshaling type {other:?}"
                )));
            }
        };
        Ok(SignParams {
            hash,
            prehashed: self.prehashed.unwrap_or(false),
            padding,
            jws,
        })
    }
}

/// `POST sign/:name[/:hash]`.
pub(crate) async fn sign(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    params: &Params,
    name: &str,
) -> CoreResult<Option<Response>> {
    let mut body: SigBody = req.parse()?;
    let p = body.params(body.hash(params)?)?;
    let version = body.key_version.unwrap_or(0);
    let (items, is_batch) = body.take_items()?;
    let Some(ring) = t.keys.get(&ctx.view, name).await? else {
        return Err(CoreError::invalid("encryption key not found"));
    };
    let kt = ring.config.key_type;
    if !kt.supports_signing() {
        return Err(CoreError::invalid(format!(
            "key type {kt} does not support signing"
        )));
    }
    let results = if kt == crate::key_type::KeyType::ManagedKey {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let result = crate::managed::sign_item(ctx, &ring, version, &item, p).await;
            results.push((result, item.reference));
        }
        results
    } else {
        items
            .into_iter()
            .map(|item| (sign_item(&ring, version, &item, p), item.reference))
            .collect()
    };
    finish(results, is_batch, body.partial_failure_response_code)
}

fn sign_item(ring: &KeyRing, version: u64, item: &SigItem, p: SignParams) -> ItemResult {
    let input = b64_opt("input", item.input.as_deref())?;
    let context = b64_opt("context", item.context.as_deref())?;
    let signed = ring.sign(version, &context, &input, p)?;
    let mut out = fields([
        ("signature", json!(signed.signature)),
        ("key_version", json!(signed.version)),
    ]);
    if let Some(pk) = signed.public_key {
        out.insert("public_key".to_owned(), json!(pk));
    }
    Ok(out)
}

/// `POST verify/:name[/:hash]`.
pub(crate) async fn verify(
    t: &Transit,
    ctx: &EngineContext,
    req: &Request,
    params: &Params,
    name: &str,
) -> CoreResult<Option<Response>> {
    let mut body: SigBody = req.parse()?;
    let hash = body.hash(params)?;
    let partial_code = body.partial_failure_response_code;
    let p = body.params(hash)?;
    let (items, is_batch) = body.take_items()?;
    let sig_found = items.iter().any(|i| i.signature.is_some());
    let hmac_found = items.iter().any(|i| i.hmac.is_some());
    let missing = items
        .iter()
        .any(|i| i.signature.is_none() && i.hmac.is_none());
    let refuse = |m: &str| Err(CoreError::invalid(m));
    match (is_batch, sig_found, hmac_found, missing) {
        (false, true, true, _) => return refuse("provide one of 'signature' or 'hmac'"),
        (false, false, false, _) => {
            return refuse("neither a 'signature' nor an 'hmac' were given to verify");
        }
        (true, true, true, _) => {
            return refuse(
                "elements of batch_input must all provide 'signature' or all provide 'hmac'",
            );
        }
        (true, true, false, true) => {
            return refuse("some elements of batch_input are missing 'signature'");
        }
        (true, false, true, true) => {
            return refuse("some elements of batch_input are missing 'hmac'");
        }
        (true, false, false, _) => {
            return refuse("no batch_input elements have 'signature' or 'hmac'");
        }
        _ => {}
    }
    let Some(ring) = t.keys.get(&ctx.view, name).await? else {
        return Err(CoreError::invalid("encryption key not found"));
    };
    if hmac_found && ring.config.key_type == crate::key_type::KeyType::ManagedKey {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let result = crate::managed::verify_hmac_item(ctx, &ring, hash, &item).await;
            results.push((result, item.reference));
        }
        return finish(results, is_batch, partial_code);
    }
    if hmac_found {
        let results = items
            .into_iter()
            .map(|item| (path_hmac::verify_item(&ring, hash, &item), item.reference))
            .collect();
        return finish(results, is_batch, partial_code);
    }
    let kt = ring.config.key_type;
    if !kt.supports_signing() {
        return Err(CoreError::invalid(format!(
            "key type {kt} does not support verification"
        )));
    }
    let results = if kt == crate::key_type::KeyType::ManagedKey {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let result = crate::managed::verify_item(ctx, &ring, &item, p).await;
            results.push((result, item.reference));
        }
        results
    } else {
        items
            .into_iter()
            .map(|item| (verify_item(&ring, &item, p), item.reference))
            .collect()
    };
    finish(results, is_batch, partial_code)
}

fn verify_item(ring: &KeyRing, item: &SigItem, p: SignParams) -> ItemResult {
    let input = b64_opt("input", item.input.as_deref())?;
    let context = b64_opt("context", item.context.as_deref())?;
    let signature = item
        .signature
        .as_deref()
        .ok_or_else(|| CoreError::invalid("missing signature"))?;
    let valid = ring.verify(&context, &input, signature, p)?;
    Ok(fields([("valid", json!(valid))]))
}

/// The batch or single response of sign, verify and hmac.
pub(crate) fn finish(
    results: Vec<(ItemResult, Option<String>)>,
    is_batch: bool,
    partial_code: Option<u64>,
) -> CoreResult<Option<Response>> {
    if is_batch {
        return Ok(Some(batch::respond(results, partial_code, Vec::new())));
    }
    let (result, _) = results
        .into_iter()
        .next()
        .unwrap_or((Err(CoreError::Internal("no item".to_owned())), None));
    batch::single(result, Vec::new())
}
