//! `sys/rekey/{init,update}` (unseal keys, Shamir seal) and
//! `sys/rekey-recovery-key/{init,update}` (recovery keys, auto-unseal seals).
//! Like `sys/unseal` they take no token: the key shares are the
//! authorisation. The const parameter `RECOVERY` picks the path group.

use super::body::VaultJson;
use super::error::ApiError;
use super::{Shared, envelope};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_core::ceremony::{RekeyParams, RekeyResult, RekeyStatus, RekeyTarget, RekeyUpdate};
use coffer_core::engine::field::{opt_bool, opt_u64};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::{Value, json};
use zeroize::Zeroizing;

#[derive(Debug, Deserialize)]
pub(crate) struct StartBody {
    #[serde(default, deserialize_with = "opt_u64")]
    secret_shares: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    secret_threshold: Option<u64>,
    #[serde(default, deserialize_with = "string_list")]
    pgp_keys: Vec<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool")]
    require_verification: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct UpdateBody {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CancelBody {
    #[serde(default)]
    nonce: Option<String>,
}

pub(crate) async fn status<const RECOVERY: bool>(
    State(st): State<Shared>,
) -> Result<Response, ApiError> {
    Ok(ok(&status_json(
        &st.core.rekey_status(target::<RECOVERY>()).await?,
    )))
}

pub(crate) async fn start<const RECOVERY: bool>(
    State(st): State<Shared>,
    VaultJson(b): VaultJson<StartBody>,
) -> Result<Response, ApiError> {
    let to_u32 = |v: Option<u64>, name: &str| {
        u32::try_from(v.unwrap_or(0))
            .map_err(|_| ApiError::bad_request(format!("{name} is too large")))
    };
    let params = RekeyParams {
        secret_shares: to_u32(b.secret_shares, "secret_shares")?,
        secret_threshold: to_u32(b.secret_threshold, "secret_threshold")?,
        pgp_keys: b.pgp_keys,
        backup: b.backup.unwrap_or(false),
        require_verification: b.require_verification.unwrap_or(false),
    };
    let status = st.core.rekey_start(target::<RECOVERY>(), params).await?;
    Ok(ok(&status_json(&status)))
}

pub(crate) async fn cancel<const RECOVERY: bool>(
    State(st): State<Shared>,
    VaultJson(b): VaultJson<CancelBody>,
) -> Result<Response, ApiError> {
    st.core
        .rekey_cancel(target::<RECOVERY>(), b.nonce.as_deref())
        .await?;
    Ok(envelope::no_content())
}

/// The core work runs in its own task: once the threshold is reached, the
/// new keys are stored even if the client goes away mid-request, so the two
/// storage writes are never cut apart by a dropped connection.
pub(crate) async fn update<const RECOVERY: bool>(
    State(st): State<Shared>,
    VaultJson(b): VaultJson<UpdateBody>,
) -> Result<Response, ApiError> {
    let key = Zeroizing::new(b.key.unwrap_or_default());
    let nonce = b
        .nonce
        .ok_or_else(|| ApiError::bad_request("missing required field \"nonce\""))?;
    let core = st.core.clone();
    // Detached, but its writes still count as this request's: an HA node
    // that steps down mid-way must not hand a half-done rekey on.
    let outcome = coffer_core::ha::detached(async move {
        core.rekey_update(target::<RECOVERY>(), &key, &nonce).await
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rekey task failed: {e}"),
        )
    })??;
    Ok(ok(&match outcome {
        RekeyUpdate::Progress(s) => status_json(&s),
        RekeyUpdate::Complete(r) => complete_json(&r),
    }))
}

fn target<const RECOVERY: bool>() -> RekeyTarget {
    if RECOVERY {
        RekeyTarget::RecoveryKeys
    } else {
        RekeyTarget::UnsealKeys
    }
}

fn ok(body: &Value) -> Response {
    envelope::json_response(StatusCode::OK, body)
}

fn status_json(s: &RekeyStatus) -> Value {
    json!({
        "started": s.started,
        "nonce": s.nonce,
        "t": s.threshold,
        "n": s.shares,
        "progress": s.progress,
        "required": s.required,
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": false,
    })
}

fn complete_json(r: &RekeyResult) -> Value {
    let hex_keys: Vec<String> = r.keys.iter().map(|k| hex::encode(k.expose())).collect();
    let b64_keys: Vec<String> = r.keys.iter().map(|k| B64.encode(k.expose())).collect();
    json!({
        "complete": true,
        "keys": hex_keys,
        "keys_base64": b64_keys,
        "nonce": r.nonce,
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": false,
    })
}

/// A list of strings, a comma-separated string (what `vault write
/// pgp_keys=a,b` sends), or null.
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(D::Error::custom(format!(
                    "expected a list of strings, got an item {other}"
                ))),
            })
            .collect(),
        Some(other) => Err(D::Error::custom(format!(
            "expected a list of strings, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_body_takes_cli_strings_and_comma_lists() {
        let b: StartBody = serde_json::from_value(json!({
            "secret_shares": "5", "secret_threshold": "3", "pgp_keys": "a, b", "backup": "false"
        }))
        .expect("parse");
        assert_eq!((b.secret_shares, b.secret_threshold), (Some(5), Some(3)));
        assert_eq!(b.pgp_keys, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(b.backup, Some(false));
        let b: StartBody = serde_json::from_value(json!({"pgp_keys": null})).expect("null");
        assert!(b.pgp_keys.is_empty());
    }
}
