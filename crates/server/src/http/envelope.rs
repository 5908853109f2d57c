//! Vault's response envelope and the headers every response carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_core::engine::{Auth, Response as EngineResponse};
use serde_json::{Value, json};

/// A JSON response with `Content-Type: application/json` (exactly, as hvac
/// checks) and `Cache-Control: no-store`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body)
        .unwrap_or_else(|_| b"{\"errors\":[\"response encoding failed\"]}".to_vec());
    let mut resp = (status, bytes).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 204 No Content.
pub fn no_content() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Paths whose `data` keys Vault also copies to the top level of the body
/// (legacy behaviour some clients, including hvac, rely on).
pub fn injects_top_level(path: &str) -> bool {
    const EXACT_OR_PREFIX: [&str; 10] = [
        "sys/audit",
        "sys/auth",
        "sys/audit-hash",
        "sys/mounts",
        "sys/key-status",
        "sys/rotate",
        "sys/capabilities",
        "sys/capabilities-self",
        "sys/capabilities-accessor",
        "sys/policy",
    ];
    let path = path.trim_end_matches('/');
    EXACT_OR_PREFIX
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Vault's `auth` object.
fn auth_json(a: &Auth) -> Value {
    json!({
        "client_token": a.client_token.as_str(),
        "accessor": a.accessor,
        "policies": a.policies,
        "token_policies": a.policies,
        "metadata": if a.metadata.is_empty() { Value::Null } else { json!(a.metadata) },
        "lease_duration": a.lease_duration,
        "renewable": a.renewable,
        "entity_id": "",
        "token_type": "service",
        "orphan": a.orphan,
        "mfa_requirement": null,
        "num_uses": a.num_uses,
    })
}

/// Wraps an engine response in Vault's logical envelope.
pub fn logical(request_id: &str, path: &str, resp: EngineResponse) -> Value {
    let warnings = if resp.warnings.is_empty() {
        Value::Null
    } else {
        json!(resp.warnings)
    };
    let mount_type = resp.mount_type.clone();
    let mut body = json!({
        "request_id": request_id,
        "lease_id": "",
        "renewable": false,
        "lease_duration": resp.lease_duration,
        "data": resp.data.clone().unwrap_or(Value::Null),
        "wrap_info": null,
        "warnings": warnings,
        "auth": resp.auth.as_ref().map_or(Value::Null, auth_json),
        "mount_type": mount_type,
    });
    if injects_top_level(path)
        && let (Some(Value::Object(data)), Value::Object(top)) = (resp.data, &mut body)
    {
        for (k, v) in data {
            top.entry(k).or_insert(v);
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_listing_is_injected_at_top_level_but_kv_is_not() {
        let r = EngineResponse::data(json!({"secret/": {"type": "kv"}}));
        let body = logical("id", "sys/mounts", r.clone());
        assert_eq!(body["secret/"]["type"], "kv");
        assert_eq!(body["data"]["secret/"]["type"], "kv");
        let kv = logical("id", "secret/foo", r);
        assert!(kv.get("secret/").is_none());
        assert!(body["warnings"].is_null());
        assert!(body["auth"].is_null());
    }

    #[test]
    fn auth_blocks_carry_vault_fields_and_capabilities_are_injected() {
        let auth = Auth {
            client_token: zeroize::Zeroizing::new("hvs.x".to_owned()),
            accessor: "acc".into(),
            policies: vec!["default".into()],
            lease_duration: 60,
            renewable: true,
            ..Auth::default()
        };
        let body = logical("id", "auth/token/create", EngineResponse::auth(auth));
        assert_eq!(body["auth"]["client_token"], "hvs.x");
        assert_eq!(body["auth"]["token_policies"], json!(["default"]));
        assert_eq!(body["auth"]["token_type"], "service");
        assert!(body["auth"]["metadata"].is_null());
        assert!(body["data"].is_null());
        let caps = EngineResponse::data(json!({"capabilities": ["read"]}));
        let body = logical("id", "sys/capabilities-self", caps);
        assert_eq!(body["capabilities"], json!(["read"]));
        assert!(injects_top_level("sys/policy/dev"));
        assert!(!injects_top_level("sys/policies/acl/dev"));
        for audit in ["sys/audit", "sys/audit/", "sys/audit-hash/file"] {
            assert!(injects_top_level(audit), "{audit}");
        }
    }
}
