//! Leases over HTTP: the envelopes and status codes of `sys/leases/*`
//! (lookup 200, list, renew refused with 400, revoke 204 or 202 when
//! queued, tidy 202 with a warning), `auth/token/tidy`, and the lease gauge
//! in `sys/metrics`.

mod common;

use axum::http::StatusCode;
use common::{app, call, expect_error, expect_status, init_and_unseal, strings};
use serde_json::{Value, json};

/// Creates a token with `ttl` as `root`; returns its lease id.
async fn leased_token(app: &axum::Router, root: &str, ttl: &str) -> String {
    let path = "/v1/sys/leases/lookup/auth/token/create/";
    let before = match call(app, "LIST", path, Some(root), None).await {
        (StatusCode::OK, v) => strings(&v["data"]["keys"]),
        _ => Vec::new(),
    };
    let (s, v) = call(
        app,
        "POST",
        "/v1/auth/token/create",
        Some(root),
        Some(json!({ "ttl": ttl })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(app, "LIST", path, Some(root), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let new: Vec<String> = strings(&v["data"]["keys"])
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    assert_eq!(new.len(), 1, "{v}");
    format!("auth/token/create/{}", new[0])
}

#[tokio::test]
async fn lookup_and_list_answer_vaults_envelopes() {
    let app = app();
    let (_, root) = init_and_unseal(&app).await;
    let lease = leased_token(&app, &root, "30m").await;
    let (s, v) = call(
        &app,
        "PUT",
        "/v1/sys/leases/lookup",
        Some(&root),
        Some(json!({ "lease_id": lease })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    let d = &v["data"];
    assert_eq!(d["id"], lease.as_str());
    assert_eq!(d["renewable"], true);
    assert_eq!(d["last_renewal"], Value::Null);
    assert!(
        d["ttl"].as_u64().is_some_and(|t| t > 1700 && t <= 1800),
        "{d}"
    );
    for time in ["issue_time", "expire_time"] {
        let text = d[time].as_str().expect("RFC 3339 time");
        assert!(humantime::parse_rfc3339(text).is_ok(), "{time}: {text}");
    }

    let (s, listed) = call(
        &app,
        "GET",
        "/v1/sys/leases/lookup/auth/token/?list=true",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"]["keys"], json!(["create/"]));
    expect_status(
        &app,
        "LIST",
        "/v1/sys/leases/lookup/nothing/here/",
        Some(&root),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/leases/lookup",
        Some(&root),
        Some(json!({"lease_id": "auth/token/create/nope"})),
        StatusCode::BAD_REQUEST,
        "invalid lease",
    )
    .await;
}

#[tokio::test]
async fn renew_is_refused_and_revoke_answers_204_or_202_when_queued() {
    let app = app();
    let (_, root) = init_and_unseal(&app).await;
    let lease = leased_token(&app, &root, "1h").await;
    let (s, v) = call(
        &app,
        "PUT",
        "/v1/sys/leases/renew",
        Some(&root),
        Some(json!({ "lease_id": lease, "increment": null })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        v["errors"],
        json!(["tokens cannot be renewed through this endpoint"])
    );

    let (s, v) = call(
        &app,
        "PUT",
        "/v1/sys/leases/revoke",
        Some(&root),
        Some(json!({ "lease_id": lease, "sync": false })),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["data"], Value::Null);
    expect_status(
        &app,
        "PUT",
        "/v1/sys/leases/revoke",
        Some(&root),
        Some(json!({ "lease_id": lease })),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/leases/lookup",
        Some(&root),
        Some(json!({ "lease_id": lease })),
        StatusCode::BAD_REQUEST,
        "invalid lease",
    )
    .await;
    leased_token(&app, &root, "1h").await;
    expect_status(
        &app,
        "PUT",
        "/v1/sys/leases/revoke-prefix/auth/token",
        Some(&root),
        Some(json!({})),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        &app,
        "LIST",
        "/v1/sys/leases/lookup/auth/token/create/",
        Some(&root),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn tidy_endpoints_answer_202_with_a_warning_and_metrics_count_leases() {
    let app = app();
    let (_, root) = init_and_unseal(&app).await;
    leased_token(&app, &root, "1h").await;
    leased_token(&app, &root, "2h").await;
    for path in ["/v1/sys/leases/tidy", "/v1/auth/token/tidy"] {
        let (s, v) = call(&app, "POST", path, Some(&root), Some(json!({}))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{path}: {v}");
        let warnings = strings(&v["warnings"]);
        assert!(
            warnings[0].starts_with("Tidy operation successfully started")
                && warnings[0].ends_with(&format!("shown at {}-status.", &path[4..])),
            "{path}: {warnings:?}"
        );
        let status_path = format!("{path}-status");
        let mut state = Value::Null;
        for _ in 0..6000 {
            let (s, status) = call(&app, "GET", &status_path, Some(&root), None).await;
            assert_eq!(s, StatusCode::OK, "{status_path}: {status}");
            state = status["data"]["state"].clone();
            if state != "Running" {
                assert!(status["data"]["time_finished"].is_string(), "{status}");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(state, "Finished", "{status_path}");
    }
    let (s, m) = call(&app, "GET", "/v1/sys/metrics", Some(&root), None).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    let gauge = m["Gauges"]
        .as_array()
        .expect("gauges")
        .iter()
        .find(|g| g["Name"] == "vault.expire.num_leases")
        .cloned()
        .expect("lease gauge");
    assert_eq!(gauge["Value"], 2.0);
}
