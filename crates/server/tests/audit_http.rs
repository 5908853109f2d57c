//! HTTP tier: `sys/audit`, `sys/audit/:path` and `sys/audit-hash/:path` in
//! Vault's wire shapes (top-level injection included), the audit entries of
//! a request carrying the envelope's request id and the client's address,
//! and the 500 a request gets when no device can record it.

mod common;

use axum::Extension;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use coffer_server::http::DEFAULT_MAX_REQUEST_SIZE;
use coffer_testkit::storage::inmem;
use common::{app_and_core, call, expect_error, expect_status, first_error, init_and_unseal};
use serde_json::{Value, json};
use std::net::SocketAddr;

fn entries(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test]
async fn audit_endpoints_answer_in_vaults_shapes() {
    let (app, _core) = app_and_core(inmem(), None, DEFAULT_MAX_REQUEST_SIZE);
    let client: SocketAddr = "203.0.113.7:41234".parse().expect("addr");
    let app = app.layer(Extension(ConnectInfo(client)));
    let (_, root) = init_and_unseal(&app).await;
    let t = Some(root.as_str());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("audit.log");
    let file_path = file.to_str().expect("utf-8");

    expect_status(
        &app,
        "PUT",
        "/v1/sys/audit/file",
        t,
        Some(json!({"type": "file", "description": "main", "options": {"file_path": file_path}})),
        StatusCode::NO_CONTENT,
    )
    .await;
    // The vault CLI sends strings for booleans; hvac sends nulls for unset fields.
    expect_status(
        &app,
        "POST",
        "/v1/sys/audit/team/out",
        t,
        Some(json!({
            "type": "file",
            "description": null,
            "local": "false",
            "options": {"file_path": "discard", "log_raw": "false", "hmac_accessor": true},
        })),
        StatusCode::NO_CONTENT,
    )
    .await;

    let (s, list) = call(&app, "GET", "/v1/sys/audit", t, None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let expected = json!({
        "type": "file",
        "description": "main",
        "options": {"file_path": file_path},
        "local": false,
        "path": "file/",
    });
    assert_eq!(list["data"]["file/"], expected);
    assert_eq!(list["file/"], expected, "injected at top level");
    assert_eq!(list["data"]["team/out/"]["options"]["log_raw"], "false");
    assert!(list["request_id"].is_string());

    let (s, h) = call(
        &app,
        "POST",
        "/v1/sys/audit-hash/file",
        t,
        Some(json!({"input": "hunter2"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let hash = h["data"]["hash"].as_str().expect("hash").to_owned();
    assert!(hash.starts_with("hmac-sha256:"));
    assert_eq!(h["hash"], hash, "injected at top level");

    expect_error(
        &app,
        "POST",
        "/v1/sys/audit-hash/nope",
        t,
        Some(json!({"input": "x"})),
        StatusCode::BAD_REQUEST,
        "no audit device enabled",
    )
    .await;
    expect_error(
        &app,
        "POST",
        "/v1/sys/audit-hash/file",
        t,
        Some(json!({})),
        StatusCode::BAD_REQUEST,
        "input",
    )
    .await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/audit/bad",
        t,
        Some(json!({"type": "file", "options": {"file_path": "stdout", "mode": "0755"}})),
        StatusCode::BAD_REQUEST,
        "mode",
    )
    .await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/audit/file",
        t,
        Some(json!({"type": "file", "options": {"file_path": "discard"}})),
        StatusCode::BAD_REQUEST,
        "already in use",
    )
    .await;
    expect_status(
        &app,
        "GET",
        "/v1/sys/audit/file",
        t,
        None,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;

    // A token without sudo: 403 on the root-protected paths.
    expect_status(
        &app,
        "PUT",
        "/v1/sys/policies/acl/auditor",
        t,
        Some(json!({"policy": "path \"sys/audit*\" { capabilities = [\"read\", \"update\"] }"})),
        StatusCode::NO_CONTENT,
    )
    .await;
    let (_, created) = call(
        &app,
        "POST",
        "/v1/auth/token/create",
        t,
        Some(json!({"policies": ["auditor"]})),
    )
    .await;
    let weak = created["auth"]["client_token"].as_str().expect("token");
    expect_status(
        &app,
        "GET",
        "/v1/sys/audit",
        Some(weak),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;

    // A KV write and read: the entries carry the envelope's request id and
    // the client's address, and never the value.
    expect_status(
        &app,
        "POST",
        "/v1/sys/mounts/secret",
        t,
        Some(json!({"type": "kv", "options": {"version": "2"}})),
        StatusCode::NO_CONTENT,
    )
    .await;
    let (s, w) = call(
        &app,
        "POST",
        "/v1/secret/data/app",
        t,
        Some(json!({"data": {"password": "hunter2"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    let request_id = w["request_id"].as_str().expect("request id").to_owned();
    let log = entries(&file);
    let write: Vec<&Value> = log
        .iter()
        .filter(|e| e["request"]["id"] == request_id.as_str())
        .collect();
    assert_eq!(write.len(), 2, "request and response entries");
    for e in &write {
        assert_eq!(e["request"]["path"], "secret/data/app");
        assert_eq!(e["request"]["remote_address"], "203.0.113.7");
        assert_eq!(e["request"]["remote_port"], 41234);
        assert_eq!(e["request"]["data"]["data"]["password"], hash);
    }
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(!text.contains("hunter2") && !text.contains(&root));

    // A request with an unknown token is recorded, with the error.
    expect_status(
        &app,
        "GET",
        "/v1/secret/data/app",
        Some("hvs.unknown"),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    let rejected = entries(&file)
        .into_iter()
        .filter(|e| e["error"] == "permission denied")
        .filter(|e| e["request"]["path"] == "secret/data/app")
        .count();
    assert_eq!(rejected, 1);
}

#[tokio::test]
async fn no_device_able_to_record_answers_500_and_disable_answers_204() {
    let (app, core) = app_and_core(inmem(), None, DEFAULT_MAX_REQUEST_SIZE);
    let (_, root) = init_and_unseal(&app).await;
    let t = Some(root.as_str());
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("logs");
    std::fs::create_dir(&sub).expect("mkdir");
    let file = sub.join("audit.log");
    expect_status(
        &app,
        "PUT",
        "/v1/sys/audit/file",
        t,
        Some(json!({"type": "file", "options": {"file_path": file.to_str().expect("utf-8")}})),
        StatusCode::NO_CONTENT,
    )
    .await;
    std::fs::remove_dir_all(&sub).expect("rm");
    assert!(
        core.reopen_audit_devices().is_err(),
        "the directory is gone"
    );

    let (s, body) = call(
        &app,
        "POST",
        "/v1/sys/policies/acl/p",
        t,
        Some(json!({"policy": "path \"x\" { capabilities = [\"read\"] }"})),
    )
    .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(
        first_error(&body),
        "audit: no enabled audit device could record the request"
    );
    // sys/seal is audited too (as Vault does), so it is refused as well.
    let (s, _) = call(&app, "PUT", "/v1/sys/seal", t, None).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    // Unaudited endpoints keep answering.
    let (s, _) = call(&app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(s, StatusCode::OK);

    std::fs::create_dir(&sub).expect("mkdir");
    expect_status(
        &app,
        "GET",
        "/v1/sys/policies/acl/p",
        t,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        &app,
        "DELETE",
        "/v1/sys/audit/file",
        t,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (s, list) = call(&app, "GET", "/v1/sys/audit", t, None).await;
    assert_eq!((s, list["data"].clone()), (StatusCode::OK, json!({})));
    expect_status(&app, "PUT", "/v1/sys/seal", t, None, StatusCode::NO_CONTENT).await;
}
