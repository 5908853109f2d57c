//! HTTP tier, seal state: init, unseal (progress, reset, wrong keys), health
//! codes, keyring rotation and generate-root through the real axum router over
//! in-memory storage, without a socket.

mod common;

use axum::http::StatusCode;
use common::{app, call, expect_error, expect_status, init, init_and_unseal};
use serde_json::json;

#[tokio::test]
async fn wrong_unseal_key_keeps_server_sealed_and_resets_progress() {
    let app = app();
    let (keys, _) = init(&app).await;
    let good = &keys[0];
    expect_status(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": good})),
        StatusCode::OK,
    )
    .await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": good})),
        StatusCode::BAD_REQUEST,
        "already entered",
    )
    .await;
    let bogus = hex::encode([7u8; 33]);
    expect_error(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": bogus})),
        StatusCode::BAD_REQUEST,
        "unseal failed",
    )
    .await;
    let (_, st) = call(&app, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(
        (st["sealed"].clone(), st["progress"].clone()),
        (json!(true), json!(0))
    );
    expect_error(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": "not base64 !!"})),
        StatusCode::BAD_REQUEST,
        "hex or base64",
    )
    .await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({})),
        StatusCode::BAD_REQUEST,
        "'key' must be specified",
    )
    .await;
}

#[tokio::test]
async fn double_init_and_bad_init_parameters_are_rejected() {
    let app = app();
    expect_status(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 3, "secret_threshold": 5})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1, "recovery_shares": 3})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": "two", "secret_threshold": 1})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_status(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        StatusCode::OK,
    )
    .await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        StatusCode::BAD_REQUEST,
        "already initialized",
    )
    .await;
}

#[tokio::test]
async fn health_codes_follow_state_and_query_overrides() {
    let app = app();
    let (s, _) = call(&app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(s.as_u16(), 501);
    let (s, _) = call(&app, "GET", "/v1/sys/health?uninitcode=200", None, None).await;
    assert_eq!(s.as_u16(), 200);
    call(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let (s, h) = call(&app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(s.as_u16(), 503);
    assert_eq!(h["sealed"], true);
    let (s, _) = call(&app, "GET", "/v1/sys/health?sealedcode=299", None, None).await;
    assert_eq!(s.as_u16(), 299);
    expect_status(
        &app,
        "GET",
        "/v1/sys/health?sealedcode=abc",
        None,
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn rotate_advances_key_term_and_old_data_stays_readable() {
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
    call(&app, "PUT", "/v1/kv/a", t, Some(json!({"v": "1"}))).await;
    let (_, ks) = call(&app, "GET", "/v1/sys/key-status", t, None).await;
    assert_eq!(ks["data"]["term"], 1);
    assert_eq!(ks["term"], 1, "key-status is injected at top level");
    expect_status(
        &app,
        "PUT",
        "/v1/sys/rotate",
        t,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (_, ks) = call(&app, "GET", "/v1/sys/key-status", t, None).await;
    assert_eq!(ks["data"]["term"], 2);
    let (_, r) = call(&app, "GET", "/v1/kv/a", t, None).await;
    assert_eq!(r["data"]["v"], "1");
}

#[tokio::test]
async fn generate_root_with_unseal_keys_yields_a_working_token() {
    use base64::Engine as _;
    let app = app();
    let (keys, _) = init_and_unseal(&app).await;
    let (s, start) = call(
        &app,
        "PUT",
        "/v1/sys/generate-root/attempt",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{start}");
    let otp = start["otp"].as_str().expect("otp").to_owned();
    let nonce = start["nonce"].as_str().expect("nonce").to_owned();
    assert_eq!(start["otp_length"], 28);
    let (_, p) = call(
        &app,
        "PUT",
        "/v1/sys/generate-root/update",
        None,
        Some(json!({"key": keys[1], "nonce": nonce})),
    )
    .await;
    assert_eq!(
        (p["progress"].clone(), p["complete"].clone()),
        (json!(1), json!(false))
    );
    let (_, done) = call(
        &app,
        "PUT",
        "/v1/sys/generate-root/update",
        None,
        Some(json!({"key": keys[2], "nonce": nonce})),
    )
    .await;
    assert_eq!(done["complete"], true, "{done}");
    let enc = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(done["encoded_token"].as_str().expect("encoded"))
        .expect("base64");
    let token: String = enc
        .iter()
        .zip(otp.as_bytes())
        .map(|(a, b)| char::from(a ^ b))
        .collect();
    expect_status(
        &app,
        "GET",
        "/v1/sys/mounts",
        Some(&token),
        None,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn unseal_without_a_key_is_an_error_even_when_unsealed() {
    let app = app();
    let _ = init_and_unseal(&app).await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({})),
        StatusCode::BAD_REQUEST,
        "'key' must be specified",
    )
    .await;
}

#[tokio::test]
async fn unseal_reset_discards_progress_and_is_refused_when_unsealed() {
    let app = app();
    let (keys, _) = init(&app).await;
    let key = &keys[0];
    let (_, st) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": key})),
    )
    .await;
    assert_eq!(st["progress"], 1);
    let (s, st) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"reset": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (st["progress"].clone(), st["nonce"].clone()),
        (json!(0), json!(""))
    );
    let (_, st) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": key})),
    )
    .await;
    assert_eq!(st["progress"], 1, "the same key counts again after a reset");
    let second = &keys[1];
    call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": second})),
    )
    .await;
    expect_error(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"reset": true})),
        StatusCode::BAD_REQUEST,
        "vault is unsealed",
    )
    .await;
}
