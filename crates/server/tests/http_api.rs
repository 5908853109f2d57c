//! HTTP tier: the real axum router and core over in-memory storage, driven
//! without a socket. Checks Vault's wire shapes, status codes and bad input.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{
    app, app_with_limit, app_with_state, call, call_raw, expect_error, expect_status,
    init_and_unseal,
};
use serde_json::json;
use tower::ServiceExt as _;

#[tokio::test]
async fn init_unseal_kv_v2_round_trip_and_seal() {
    let app = app();
    let (s, v) = call(&app, "GET", "/v1/sys/init", None, None).await;
    assert_eq!(
        (s, v["initialized"].clone()),
        (StatusCode::OK, json!(false))
    );
    let (_, st) = call(&app, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(
        (
            st["type"].clone(),
            st["sealed"].clone(),
            st["initialized"].clone()
        ),
        (json!("shamir"), json!(true), json!(false))
    );
    let (keys, token) = init_and_unseal(&app).await;
    let t = Some(token.as_str());

    expect_status(
        &app,
        "POST",
        "/v1/sys/mounts/kv",
        t,
        Some(
            json!({"type": "kv", "options": {"version": "2"}, "description": null, "config": null}),
        ),
        StatusCode::NO_CONTENT,
    )
    .await;
    let (s, mounts) = call(&app, "GET", "/v1/sys/mounts", t, None).await;
    assert_eq!(s, StatusCode::OK);
    for m in ["kv/", "sys/", "cubbyhole/"] {
        assert!(mounts["data"][m].is_object(), "{m} missing: {mounts}");
        assert!(mounts[m].is_object(), "{m} not injected at top level");
    }
    assert_eq!(mounts["data"]["kv/"]["options"]["version"], "2");
    assert_eq!(mounts["data"]["kv/"]["seal_wrap"], false);

    let (s, w) = call(
        &app,
        "POST",
        "/v1/kv/data/app",
        t,
        Some(json!({"data": {"pw": "s3cret"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["data"]["version"], 1);
    let (s, r) = call(&app, "GET", "/v1/kv/data/app", t, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["data"]["data"]["pw"], "s3cret");
    for k in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(r.get(k).is_some(), "envelope lacks {k}");
    }
    let (s, l) = call(&app, "LIST", "/v1/kv/metadata/", t, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(l["data"]["keys"], json!(["app"]));
    let (s, l2) = call(&app, "GET", "/v1/kv/metadata/?list=true", t, None).await;
    assert_eq!(
        (s, l2["data"]["keys"].clone()),
        (StatusCode::OK, json!(["app"]))
    );

    expect_status(&app, "PUT", "/v1/sys/seal", t, None, StatusCode::NO_CONTENT).await;
    expect_error(
        &app,
        "GET",
        "/v1/kv/data/app",
        t,
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "Vault is sealed",
    )
    .await;

    for k in &keys[1..] {
        call(&app, "PUT", "/v1/sys/unseal", None, Some(json!({"key": k}))).await;
    }
    let (s, r) = call(&app, "GET", "/v1/kv/data/app", t, None).await;
    assert_eq!(
        (s, r["data"]["data"]["pw"].clone()),
        (StatusCode::OK, json!("s3cret"))
    );
}

#[tokio::test]
async fn missing_or_unknown_token_is_permission_denied() {
    let app = app();
    let _ = init_and_unseal(&app).await;
    let (s, e) = call(&app, "GET", "/v1/sys/mounts", None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(e["errors"][0], "permission denied");
    expect_status(
        &app,
        "GET",
        "/v1/sys/mounts",
        Some("hvs.nope"),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(
        &app,
        "PUT",
        "/v1/sys/seal",
        Some("hvs.nope"),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn bearer_header_is_accepted_as_token() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    let req = Request::builder()
        .method("GET")
        .uri("/v1/sys/mounts")
        .header("Authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let resp = app.oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_json_and_oversized_bodies_get_clear_errors() {
    let app = app_with_limit(1024);
    let (s, e) = call_raw(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        b"{\"secret_shares\":".to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["errors"][0]
            .as_str()
            .expect("msg")
            .contains("failed to parse JSON")
    );
    let (s, e) = call_raw(&app, "PUT", "/v1/sys/init", None, vec![b' '; 4096]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    let (s, v) = call(&app, "GET", "/v1/sys/init", None, None).await;
    assert_eq!(
        (s, v["initialized"].clone()),
        (StatusCode::OK, json!(false))
    );
}

#[tokio::test]
async fn mount_errors_name_the_problem() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    let t = Some(token.as_str());
    expect_status(
        &app,
        "POST",
        "/v1/sys/mounts/kv",
        t,
        Some(json!({"type": "kv"})),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        &app,
        "POST",
        "/v1/sys/mounts/kv",
        t,
        Some(json!({"type": "kv"})),
        StatusCode::BAD_REQUEST,
        "already in use",
    )
    .await;
    expect_error(
        &app,
        "POST",
        "/v1/sys/mounts/x",
        t,
        Some(json!({"type": "nope"})),
        StatusCode::BAD_REQUEST,
        "plugin not found",
    )
    .await;
    expect_error(
        &app,
        "POST",
        "/v1/sys/mounts/sw",
        t,
        Some(json!({"type": "kv", "seal_wrap": true})),
        StatusCode::BAD_REQUEST,
        "seal_wrap needs a seal whose key lives in an HSM",
    )
    .await;
    expect_status(
        &app,
        "DELETE",
        "/v1/sys/mounts/sys",
        t,
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(&app, "GET", "/v1/nomount/x", t, None, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn tune_reports_effective_ttls_and_refuses_seal_wrap_changes() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    let t = Some(token.as_str());
    call(
        &app,
        "POST",
        "/v1/sys/mounts/kv",
        t,
        Some(json!({"type": "kv"})),
    )
    .await;
    let (s, v) = call(&app, "GET", "/v1/sys/mounts/kv/tune", t, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"]["default_lease_ttl"], 2_764_800);
    expect_status(
        &app,
        "POST",
        "/v1/sys/mounts/kv/tune",
        t,
        Some(json!({"default_lease_ttl": "1h", "max_lease_ttl": "2h"})),
        StatusCode::NO_CONTENT,
    )
    .await;
    let (_, v) = call(&app, "GET", "/v1/sys/mounts/kv/tune", t, None).await;
    assert_eq!(
        (
            v["data"]["default_lease_ttl"].clone(),
            v["data"]["max_lease_ttl"].clone()
        ),
        (json!(3600), json!(7200))
    );
    expect_status(
        &app,
        "POST",
        "/v1/sys/mounts/kv/tune",
        t,
        Some(json!({"seal_wrap": true})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let (s, _) = call(
        &app,
        "POST",
        "/v1/sys/mounts/kv/tune",
        t,
        Some(json!({"default_lease_ttl": "3h"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "default above max must be refused"
    );
}

#[tokio::test]
async fn kv_ui_mount_lookup_reports_version_for_the_cli() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    let t = Some(token.as_str());
    call(
        &app,
        "POST",
        "/v1/sys/mounts/team/kv",
        t,
        Some(json!({"type": "kv-v2"})),
    )
    .await;
    let (s, v) = call(
        &app,
        "GET",
        "/v1/sys/internal/ui/mounts/team/kv/data/x",
        t,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            v["data"]["path"].clone(),
            v["data"]["options"]["version"].clone()
        ),
        (json!("team/kv/"), json!("2"))
    );
    expect_status(
        &app,
        "GET",
        "/v1/sys/internal/ui/mounts/nothing/here",
        t,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn wrong_method_on_a_raw_endpoint_is_405_with_vault_envelope() {
    let app = app();
    let (s, e) = call(&app, "DELETE", "/v1/sys/init", None, None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(e["errors"][0], "unsupported operation");
    expect_status(
        &app,
        "GET",
        "/v1/sys/unseal",
        None,
        None,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

#[tokio::test]
async fn lookup_self_describes_the_root_token() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    let (s, v) = call(
        &app,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["id"], token.as_str());
    assert_eq!(v["data"]["policies"], json!(["root"]));
    assert_eq!(v["data"]["display_name"], "root");
    expect_status(
        &app,
        "GET",
        "/v1/auth/token/lookup-self",
        Some("hvs.bogus"),
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(
        &app,
        "GET",
        "/v1/auth/token/create",
        Some(&token),
        None,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

#[tokio::test]
async fn unauthenticated_requests_are_refused_before_the_body_is_read() {
    let app = app_with_limit(1024);
    let _ = init_and_unseal(&app).await;
    let (s, e) = call_raw(&app, "PUT", "/v1/secret/x", None, vec![b'x'; 4096]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, _) = call_raw(
        &app,
        "PUT",
        "/v1/secret/x",
        Some("hvs.bogus"),
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn raw_endpoints_cap_bodies_far_below_max_request_size() {
    let app = app();
    let mut big = b"{\"key\":\"".to_vec();
    big.extend(vec![b'a'; 100 * 1024]);
    big.extend(b"\"}");
    let (s, e) = call_raw(&app, "PUT", "/v1/sys/unseal", None, big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
}

#[tokio::test]
async fn bad_percent_encoding_gets_a_json_error() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    expect_error(
        &app,
        "GET",
        "/v1/secret/data/%FF",
        Some(&token),
        None,
        StatusCode::BAD_REQUEST,
        "invalid request path",
    )
    .await;
}

#[tokio::test]
async fn responses_name_the_mount_type_and_missing_mounts_are_400() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    let t = Some(token.as_str());
    expect_status(
        &app,
        "POST",
        "/v1/sys/mounts/kv",
        t,
        Some(json!({"type": "kv"})),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        &app,
        "PUT",
        "/v1/kv/a",
        t,
        Some(json!({"v": "1"})),
        StatusCode::NO_CONTENT,
    )
    .await;
    let (_, r) = call(&app, "GET", "/v1/kv/a", t, None).await;
    assert_eq!(r["mount_type"], "kv");
    expect_error(
        &app,
        "GET",
        "/v1/sys/mounts/nothing",
        t,
        None,
        StatusCode::BAD_REQUEST,
        "No secret engine mount at nothing/",
    )
    .await;
}

#[tokio::test]
async fn metrics_need_a_token_and_come_as_vault_json_or_prometheus_text() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    let t = Some(token.as_str());
    expect_status(
        &app,
        "GET",
        "/v1/sys/metrics",
        None,
        None,
        StatusCode::FORBIDDEN,
    )
    .await;
    let (s, v) = call(&app, "GET", "/v1/sys/metrics", t, None).await;
    assert_eq!(s, StatusCode::OK);
    let gauges = v["Gauges"].as_array().expect("gauges");
    assert!(
        gauges
            .iter()
            .any(|g| g["Name"] == "coffer.core.unsealed" && g["Value"] == 1.0),
        "{v}"
    );
    expect_status(
        &app,
        "GET",
        "/v1/sys/metrics?format=xml",
        t,
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let resp = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/v1/sys/metrics?format=prometheus")
                .header("X-Vault-Token", token.as_str())
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/plain; version=0.0.4");
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    assert!(
        text.contains("# TYPE coffer_core_unsealed gauge\ncoffer_core_unsealed 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_license_step_from_vault_enterprise_guides_say_it_is_not_needed() {
    let app = app();
    let (_, token) = init_and_unseal(&app).await;
    for (method, path) in [
        ("PUT", "/v1/sys/license"),
        ("GET", "/v1/sys/license/status"),
    ] {
        expect_error(
            &app,
            method,
            path,
            Some(token.as_str()),
            Some(json!({"text": "02MV4UU43BK5HGYYTOJZWFQMTMNNEWU33JJ"})),
            StatusCode::BAD_REQUEST,
            "coffer has no license",
        )
        .await;
    }
}

#[tokio::test]
async fn every_route_is_behind_the_admission_bound_and_the_proxy_check_of_its_listener() {
    use coffer_server::config::ForwardedFor;
    use coffer_server::http::AppState;
    use coffer_server::http::admission::Admission;
    use std::sync::Arc;

    // A bound of no requests at all: only the operator endpoints get in.
    let full = app_with_state(|st| AppState {
        admission: Some(Admission::new(0)),
        ..st
    });
    expect_error(
        &full,
        "GET",
        "/v1/sys/mounts",
        None,
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "max_concurrent_requests",
    )
    .await;
    expect_status(
        &full,
        "GET",
        "/v1/sys/health?uninitcode=200",
        None,
        None,
        StatusCode::OK,
    )
    .await;

    let proxied = app_with_state(|st| AppState {
        forwarded_for: Some(Arc::new(ForwardedFor {
            authorized_addrs: Vec::new(),
            hop_skips: 0,
            reject_not_authorized: true,
            reject_not_present: true,
        })),
        ..st
    });
    expect_error(
        &proxied,
        "GET",
        "/v1/sys/seal-status",
        None,
        None,
        StatusCode::BAD_REQUEST,
        "missing X-Forwarded-For header",
    )
    .await;
}

/// A body that stays on its way until `release` is dropped, then ends.
struct HeldBody(tokio::sync::oneshot::Receiver<()>);

impl http_body::Body for HeldBody {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::future::Future::poll(std::pin::Pin::new(&mut self.0), cx).map(|_| None)
    }
}

#[tokio::test]
async fn a_request_holds_its_admission_permit_until_it_is_answered() {
    use coffer_server::http::AppState;
    use coffer_server::http::admission::Admission;

    let app = app_with_state(|st| AppState {
        admission: Some(Admission::new(1)),
        ..st
    });
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let slow = Request::builder()
        .method("PUT")
        .uri("/v1/sys/init")
        .body(Body::new(HeldBody(held)))
        .expect("request");
    let first = tokio::spawn(app.clone().oneshot(slow));
    // The first request is in its handler, waiting for its body.
    let mut refused = None;
    for _ in 0..200 {
        let (status, body) = call(&app, "GET", "/v1/sys/init", None, None).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(body);
            break;
        }
        tokio::task::yield_now().await;
    }
    let refused = refused.expect("the second request is refused while the first is in flight");
    assert!(
        refused.to_string().contains("max_concurrent_requests"),
        "{refused}"
    );
    drop(release);
    let answered = first.await.expect("task").expect("answer");
    assert_ne!(answered.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Answered: its permit is back.
    expect_status(&app, "GET", "/v1/sys/init", None, None, StatusCode::OK).await;
}
