//! Vault's logical response envelope: `request_id`, `lease_id`,
//! `renewable`, `lease_duration`, `data`, `wrap_info`, `warnings`, `auth`,
//! `mount_type`. The server sends it; the core also writes it into a
//! wrapping token's cubbyhole and reads it back on unwrap
//! ([`from_logical`]), so a wrapped response unwraps to what the client
//! would have received.

use crate::engine::{Auth, Response, WrapInfo};
use crate::error::{CoreError, CoreResult};
use crate::ttl::Ttl;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

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
    EXACT_OR_PREFIX.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
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

/// Vault's logical envelope around one response, serialised field by field
/// (no intermediate JSON tree for the envelope itself).
#[derive(Serialize)]
struct Envelope<'a> {
    request_id: &'a str,
    lease_id: &'static str,
    renewable: bool,
    lease_duration: Ttl,
    data: &'a Option<Value>,
    wrap_info: Option<Value>,
    warnings: Option<&'a [String]>,
    auth: Option<Value>,
    mount_type: &'a str,
}

impl<'a> Envelope<'a> {
    fn new(request_id: &'a str, resp: &'a Response) -> Self {
        Self {
            request_id,
            lease_id: "",
            renewable: false,
            lease_duration: resp.lease_duration,
            data: &resp.data,
            wrap_info: resp.wrap_info.as_ref().map(wrap_info_json),
            warnings: (!resp.warnings.is_empty()).then_some(resp.warnings.as_slice()),
            auth: resp.auth.as_ref().map(auth_json),
            mount_type: &resp.mount_type,
        }
    }
}

/// An engine response in Vault's logical envelope.
pub fn logical(request_id: &str, path: &str, resp: Response) -> Value {
    let mut body = serde_json::to_value(Envelope::new(request_id, &resp))
        .unwrap_or_else(|e| json!({ "errors": [format!("response encoding failed: {e}")] }));
    if injects_top_level(path)
        && let (Some(Value::Object(data)), Value::Object(top)) = (resp.data, &mut body)
    {
        for (k, v) in data {
            top.entry(k).or_insert(v);
        }
    }
    body
}

/// [`logical`] written straight to JSON bytes, as the server sends it.
pub fn logical_json(request_id: &str, path: &str, resp: Response) -> serde_json::Result<Vec<u8>> {
    if injects_top_level(path) {
        serde_json::to_vec(&logical(request_id, path, resp))
    } else {
        serde_json::to_vec(&Envelope::new(request_id, &resp))
    }
}

/// Vault's `wrap_info` object.
fn wrap_info_json(w: &WrapInfo) -> Value {
    let created = humantime::format_rfc3339(UNIX_EPOCH + Duration::from_secs(w.creation_time));
    let mut out = json!({
        "token": w.token.as_str(),
        "accessor": w.accessor,
        "ttl": w.ttl,
        "creation_time": created.to_string(),
        "creation_path": w.creation_path,
    });
    if !w.wrapped_accessor.is_empty() {
        out["wrapped_accessor"] = json!(w.wrapped_accessor);
    }
    out
}

/// A response back from the envelope [`logical`] made (an unwrapped
/// response): `data`, `warnings`, `lease_duration`, `mount_type` and `auth`.
pub fn from_logical(envelope: &Value) -> CoreResult<Response> {
    let bad = |what: &str| CoreError::Internal(format!("a wrapped response is malformed: {what}"));
    let obj = envelope.as_object().ok_or_else(|| bad("not an object"))?;
    let warnings = match obj.get("warnings") {
        None | Some(Value::Null) => Vec::new(),
        Some(w) => serde_json::from_value(w.clone()).map_err(|_| bad("warnings"))?,
    };
    let auth = match obj.get("auth") {
        None | Some(Value::Null) => None,
        Some(a) => Some(auth_from_json(a).ok_or_else(|| bad("auth"))?),
    };
    Ok(Response {
        data: obj.get("data").filter(|d| !d.is_null()).cloned(),
        warnings,
        lease_duration: Ttl::from_secs(
            obj.get("lease_duration")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        ),
        mount_type: obj
            .get("mount_type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        auth,
        ..Response::default()
    })
}

fn auth_from_json(a: &Value) -> Option<Auth> {
    let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Auth {
        client_token: zeroize::Zeroizing::new(text("client_token")?),
        accessor: text("accessor")?,
        policies: serde_json::from_value(a.get("policies")?.clone()).ok()?,
        metadata: match a.get("metadata") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(m) => serde_json::from_value(m.clone()).ok()?,
        },
        lease_duration: Ttl::from_secs(a.get("lease_duration")?.as_u64()?),
        renewable: a.get("renewable")?.as_bool()?,
        orphan: a.get("orphan")?.as_bool()?,
        num_uses: a.get("num_uses")?.as_u64()?,
        ..Auth::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_listing_is_injected_at_top_level_but_kv_is_not() {
        let r = Response::data(json!({"secret/": {"type": "kv"}}));
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
            lease_duration: Ttl::from_secs(60),
            renewable: true,
            ..Auth::default()
        };
        let body = logical("id", "auth/token/create", Response::auth(auth));
        assert_eq!(body["auth"]["client_token"], "hvs.x");
        assert_eq!(body["auth"]["token_policies"], json!(["default"]));
        assert_eq!(body["auth"]["token_type"], "service");
        assert!(body["auth"]["metadata"].is_null());
        assert!(body["data"].is_null());
        let caps = Response::data(json!({"capabilities": ["read"]}));
        let body = logical("id", "sys/capabilities-self", caps);
        assert_eq!(body["capabilities"], json!(["read"]));
        assert!(injects_top_level("sys/policy/dev"));
        assert!(!injects_top_level("sys/policies/acl/dev"));
        for audit in ["sys/audit", "sys/audit/", "sys/audit-hash/file"] {
            assert!(injects_top_level(audit), "{audit}");
        }
    }

    #[test]
    fn the_bytes_sent_are_the_envelope_as_a_value() {
        let r = Response::data(json!({"k": "v"})).warn("careful");
        for path in ["secret/data/k", "sys/mounts"] {
            let bytes = logical_json("id", path, r.clone()).expect("encodes");
            let sent: Value = serde_json::from_slice(&bytes).expect("json");
            assert_eq!(sent, logical("id", path, r.clone()), "{path}");
        }
        let sent: Value =
            serde_json::from_slice(&logical_json("id", "kv/x", Response::default()).expect("ok"))
                .expect("json");
        for field in ["data", "warnings", "auth", "wrap_info"] {
            assert!(sent[field].is_null(), "{field}: {sent}");
        }
        assert_eq!(sent["lease_id"], "");
        assert_eq!(sent["renewable"], false);
    }

    #[test]
    fn a_response_survives_the_envelope_and_back() {
        let auth = Auth {
            client_token: zeroize::Zeroizing::new("hvs.inner".to_owned()),
            accessor: "acc".into(),
            policies: vec!["default".into(), "dev".into()],
            metadata: BTreeMap::from([("team".to_owned(), "a".to_owned())]),
            lease_duration: Ttl::from_secs(3600),
            renewable: true,
            orphan: false,
            num_uses: 3,
            ..Auth::default()
        };
        let mut resp = Response::data(json!({"k": "v"})).warn("careful");
        resp.auth = Some(auth.clone());
        resp.lease_duration = Ttl::from_secs(7);
        resp.mount_type = "kv".into();
        let back = from_logical(&logical("id", "secret/x", resp)).expect("parses");
        assert_eq!(back.data, Some(json!({"k": "v"})));
        assert_eq!(back.warnings, vec!["careful".to_owned()]);
        assert_eq!(back.auth, Some(auth));
        assert_eq!(
            (back.lease_duration.as_secs(), back.mount_type.as_str()),
            (7, "kv")
        );
        let empty = from_logical(&logical("id", "x", Response::default())).expect("parses");
        assert!(empty.data.is_none() && empty.auth.is_none() && empty.warnings.is_empty());
        assert!(from_logical(&json!("nope")).is_err());
        assert!(from_logical(&json!({"auth": {"client_token": 1}})).is_err());
    }

    #[test]
    fn wrap_info_is_shown_with_an_rfc3339_creation_time() {
        let resp = Response {
            wrap_info: Some(WrapInfo {
                token: zeroize::Zeroizing::new("eyJ.x.y".to_owned()),
                inner_token: zeroize::Zeroizing::new("hvs.inner".to_owned()),
                accessor: "wacc".into(),
                ttl: Ttl::from_secs(60),
                creation_time: 1_700_000_000,
                creation_path: "secret/data/x".into(),
                wrapped_accessor: String::new(),
            }),
            ..Response::default()
        };
        let body = logical("id", "secret/data/x", resp);
        assert_eq!(body["wrap_info"]["token"], "eyJ.x.y");
        assert_eq!(body["wrap_info"]["creation_time"], "2023-11-14T22:13:20Z");
        assert_eq!(body["wrap_info"]["ttl"], 60);
        assert!(body["wrap_info"].get("wrapped_accessor").is_none());
        assert!(body["data"].is_null());
        assert!(!body.to_string().contains("hvs.inner"));
    }
}
