//! `sys/init`, `sys/seal-status`, `sys/unseal` and `sys/seal`.

use super::body::VaultJson;
use super::error::ApiError;
use super::{Shared, envelope, remote, token};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_core::CoreError;
use coffer_core::ceremony::InitParams;
use coffer_core::ceremony::SealStatus;
use coffer_core::engine::field::{opt_bool, opt_u64};
use coffer_core::engine::{Operation, Request};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub(crate) struct InitBody {
    #[serde(default, deserialize_with = "opt_u64")]
    secret_shares: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    secret_threshold: Option<u64>,
    #[serde(default)]
    pgp_keys: Option<Vec<String>>,
    #[serde(default)]
    root_token_pgp_key: Option<String>,
    #[serde(default, deserialize_with = "opt_u64")]
    stored_shares: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    recovery_shares: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    recovery_threshold: Option<u64>,
    #[serde(default)]
    recovery_pgp_keys: Option<Vec<String>>,
}

pub(crate) async fn init_status(State(st): State<Shared>) -> Result<Response, ApiError> {
    let initialized = st.core.is_initialized().await?;
    Ok(envelope::json_response(
        StatusCode::OK,
        &json!({ "initialized": initialized }),
    ))
}

pub(crate) async fn init(
    State(st): State<Shared>,
    VaultJson(b): VaultJson<InitBody>,
) -> Result<Response, ApiError> {
    if b.recovery_pgp_keys.as_ref().is_some_and(|k| !k.is_empty()) {
        return Err(CoreError::NotSupported("recovery_pgp_keys".to_owned()).into());
    }
    let to_u32 = |v: Option<u64>, name: &str| {
        u32::try_from(v.unwrap_or(0))
            .map_err(|_| ApiError::bad_request(format!("{name} is too large")))
    };
    let stored = to_u32(b.stored_shares, "stored_shares")?;
    if stored != 0 && st.core.seal().kind() == "shamir" {
        return Err(ApiError::bad_request(
            "stored_shares is not applicable to the shamir seal",
        ));
    }
    let params = InitParams {
        secret_shares: to_u32(b.secret_shares, "secret_shares")?,
        secret_threshold: to_u32(b.secret_threshold, "secret_threshold")?,
        recovery_shares: to_u32(b.recovery_shares, "recovery_shares")?,
        recovery_threshold: to_u32(b.recovery_threshold, "recovery_threshold")?,
        pgp_keys: b.pgp_keys.unwrap_or_default(),
        root_token_pgp_key: b.root_token_pgp_key.filter(|k| !k.is_empty()),
        root_token_id: None,
    };
    let result = st.core.initialize(params).await?;
    let hex_keys: Vec<String> = result
        .keys
        .iter()
        .map(|k| hex::encode(k.expose()))
        .collect();
    let b64_keys: Vec<String> = result.keys.iter().map(|k| B64.encode(k.expose())).collect();
    let mut out = json!({
        "keys": hex_keys,
        "keys_base64": b64_keys,
        "root_token": result.root_token.as_str(),
    });
    if !result.recovery_keys.is_empty() {
        out["recovery_keys"] = json!(
            result
                .recovery_keys
                .iter()
                .map(|k| hex::encode(k.expose()))
                .collect::<Vec<_>>()
        );
        out["recovery_keys_base64"] = json!(
            result
                .recovery_keys
                .iter()
                .map(|k| B64.encode(k.expose()))
                .collect::<Vec<_>>()
        );
    }
    tracing::info!("vault initialized");
    Ok(envelope::json_response(StatusCode::OK, &out))
}

pub(crate) async fn seal_status(State(st): State<Shared>) -> Result<Response, ApiError> {
    let s = st.core.seal_status().await?;
    Ok(envelope::json_response(StatusCode::OK, &status_json(&s)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct UnsealBody {
    #[serde(default, alias = "Key")]
    key: Option<String>,
    #[serde(default, deserialize_with = "opt_bool", alias = "Reset")]
    reset: Option<bool>,
    #[serde(default, deserialize_with = "opt_bool", alias = "Migrate")]
    migrate: Option<bool>,
}

pub(crate) async fn unseal(
    State(st): State<Shared>,
    VaultJson(b): VaultJson<UnsealBody>,
) -> Result<Response, ApiError> {
    if b.reset == Some(true) {
        if !st.core.is_sealed() {
            return Err(ApiError::bad_request("vault is unsealed"));
        }
        st.core.reset_unseal();
        let s = st.core.seal_status().await?;
        return Ok(envelope::json_response(StatusCode::OK, &status_json(&s)));
    }
    let key = b.key.unwrap_or_default();
    if key.trim().is_empty() {
        return Err(ApiError::bad_request(
            "'key' must be specified in request body as JSON, or 'reset' set to true",
        ));
    }
    let s = if b.migrate == Some(true) {
        st.core.submit_migration_key(&key).await?
    } else {
        st.core.submit_unseal_key(&key).await?
    };
    Ok(envelope::json_response(StatusCode::OK, &status_json(&s)))
}

pub(crate) async fn seal(
    State(st): State<Shared>,
    peer: remote::Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Vault checks `update` with `sudo` on sys/seal (a root-protected path),
    // and records the request in the audit log before sealing.
    let presented = token::from_headers(&headers);
    let req = Request::new(Operation::Update, "sys/seal").with_remote_addr(remote::addr(peer));
    st.core.authorize(presented.as_deref(), &req).await?;
    st.core.seal_now().await;
    Ok(envelope::no_content())
}

/// The seal-status object (also returned by `sys/unseal`).
pub(crate) fn status_json(s: &SealStatus) -> Value {
    let mut v = json!({
        "type": s.seal_type,
        "initialized": s.initialized,
        "sealed": s.sealed,
        "t": s.threshold,
        "n": s.shares,
        "progress": s.progress,
        "nonce": s.nonce,
        "version": crate::VERSION,
        "build_date": crate::BUILD_DATE,
        "migration": s.migration,
        "recovery_seal": s.recovery_seal,
        "storage_type": s.storage_type,
    });
    if let Some(c) = &s.cluster {
        v["cluster_name"] = json!(c.name);
        v["cluster_id"] = json!(c.id);
    }
    if s.recovery_seal {
        v["recovery_seal_type"] = json!("shamir");
    }
    v
}
