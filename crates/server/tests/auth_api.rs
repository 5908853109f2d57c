//! Tokens and policies over HTTP: the `auth` block in Vault's envelope,
//! policy shapes (legacy top-level injection), 403s from the ACL, and the
//! raw `sys/seal` and `sys/metrics` handlers behind the same gate.

mod common;

use axum::http::StatusCode;
use common::{app, call, expect_error, expect_status, init_and_unseal};
use serde_json::json;

/// Writes `policy` as `name` and returns a token holding it (and default).
async fn token_with_policy(app: &axum::Router, root: &str, name: &str, policy: &str) -> String {
    expect_status(
        app,
        "PUT",
        &format!("/v1/sys/policies/acl/{name}"),
        Some(root),
        Some(json!({"policy": policy})),
        StatusCode::NO_CONTENT,
    )
    .await;
    let (s, v) = call(
        app,
        "POST",
        "/v1/auth/token/create",
        Some(root),
        Some(json!({"policies": [name]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

#[tokio::test]
async fn token_create_answers_with_vaults_auth_envelope() {
    let app = app();
    let (_, root) = init_and_unseal(&app).await;
    let (s, v) = call(
        &app,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"policies": ["default"], "ttl": "30m", "renewable": "true", "num_uses": "0"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["data"].is_null());
    let auth = &v["auth"];
    for key in [
        "client_token",
        "accessor",
        "policies",
        "token_policies",
        "metadata",
        "lease_duration",
        "renewable",
        "entity_id",
        "token_type",
        "orphan",
        "num_uses",
    ] {
        assert!(auth.get(key).is_some(), "auth lacks {key}: {auth}");
    }
    assert_eq!(auth["lease_duration"], 1800);
    assert_eq!(auth["token_policies"], json!(["default"]));
    assert_eq!(auth["token_type"], "service");
    let token = auth["client_token"].as_str().expect("token");
    let (s, me) = call(&app, "GET", "/v1/auth/token/lookup-self", Some(token), None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["data"]["ttl"], 1800);
    expect_error(
        &app,
        "POST",
        "/v1/auth/token/create",
        Some(token),
        Some(json!({})),
        StatusCode::FORBIDDEN,
        "permission denied",
    )
    .await;
    expect_error(
        &app,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"type": "batch"})),
        StatusCode::BAD_REQUEST,
        "batch tokens are not supported",
    )
    .await;
}

#[tokio::test]
async fn legacy_policy_listing_is_injected_at_top_level_and_bad_hcl_is_400() {
    let app = app();
    let (_, root) = init_and_unseal(&app).await;
    let (s, v) = call(&app, "GET", "/v1/sys/policy", Some(&root), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["policies"], json!(["default", "root"]));
    assert_eq!(v["data"]["keys"], json!(["default", "root"]));
    let (s, v) = call(&app, "LIST", "/v1/sys/policies/acl", Some(&root), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("keys").is_none(), "sys/policies/acl is not injected");
    expect_error(
        &app,
        "PUT",
        "/v1/sys/policies/acl/bad",
        Some(&root),
        Some(json!({"policy": "path \"a\" {\n  capabilities = [\"fly\"]\n}\n"})),
        StatusCode::BAD_REQUEST,
        "bad:2:",
    )
    .await;
}

#[tokio::test]
async fn seal_and_metrics_follow_the_acl_with_sudo_for_seal() {
    let app = app();
    let (_, root) = init_and_unseal(&app).await;
    let plain = token_with_policy(
        &app,
        &root,
        "ops",
        r#"path "sys/seal" { capabilities = ["update"] }"#,
    )
    .await;
    expect_status(
        &app,
        "PUT",
        "/v1/sys/seal",
        Some(&plain),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(
        &app,
        "GET",
        "/v1/sys/metrics",
        Some(&plain),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    let watcher = token_with_policy(
        &app,
        &root,
        "watch",
        r#"path "sys/metrics" { capabilities = ["read"] }"#,
    )
    .await;
    expect_status(
        &app,
        "GET",
        "/v1/sys/metrics",
        Some(&watcher),
        None,
        StatusCode::OK,
    )
    .await;
    let sealer = token_with_policy(
        &app,
        &root,
        "sealer",
        r#"path "sys/seal" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    expect_status(
        &app,
        "PUT",
        "/v1/sys/seal",
        Some(&sealer),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (_, st) = call(&app, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(st["sealed"], true);
}

#[tokio::test]
async fn capabilities_self_answers_flat_and_per_path() {
    let app = app();
    let (_, root) = init_and_unseal(&app).await;
    let t = token_with_policy(
        &app,
        &root,
        "app",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    )
    .await;
    let (s, v) = call(
        &app,
        "POST",
        "/v1/sys/capabilities-self",
        Some(&t),
        Some(json!({"paths": ["secret/data/app"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["capabilities"], json!(["read"]));
    assert_eq!(v["secret/data/app"], json!(["read"]));
    assert_eq!(v["data"]["capabilities"], json!(["read"]));
}
