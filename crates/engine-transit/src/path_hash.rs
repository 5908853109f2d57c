//! `hash[/:algorithm]`: a digest of caller data, no key involved.

use crate::backend::Params;
use crate::crypto::hash::HashAlgorithm;
use crate::fields::{b64_opt, opt_string};
use coffer_core::engine::{Request, Response};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct HashBody {
    #[serde(default, deserialize_with = "opt_string")]
    input: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    algorithm: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    format: Option<String>,
}

/// `POST hash[/:algorithm]` → `{"sum": ...}` in hex (default) or base64.
pub(crate) fn hash(req: &Request, params: &Params) -> CoreResult<Option<Response>> {
    let body: HashBody = req.parse()?;
    let name = params
        .get("urlalgorithm")
        .map(String::as_str)
        .or(body.algorithm.as_deref().filter(|a| !a.is_empty()))
        .unwrap_or("sha2-256");
    let alg = match HashAlgorithm::parse(name) {
        Some(HashAlgorithm::Sha1) | None => {
            return Err(CoreError::invalid(format!("unsupported algorithm {name}")));
        }
        Some(a) => a,
    };
    let format = body
        .format
        .as_deref()
        .filter(|f| !f.is_empty())
        .unwrap_or("hex");
    let input = b64_opt("input", body.input.as_deref())?;
    let sum = alg.digest(&input);
    let sum = match format {
        "hex" => hex::encode(sum),
        "base64" => crate::keyring::b64(&sum),
        other => {
            return Err(CoreError::invalid(format!(
                "unsupported encoding format {other}; must be \"hex\" or \"base64\""
            )));
        }
    };
    Ok(Some(Response::data(json!({ "sum": sum }))))
}
