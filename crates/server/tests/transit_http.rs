//! HTTP tier for the transit engine: mounted through `sys/mounts`, driven
//! through the real router. Checks what only the HTTP layer decides: the
//! status of a batch with failed items (with the whole envelope still in the
//! body) and the error envelope of bad input.

mod common;

use axum::http::StatusCode;
use common::{app, call, expect_error, init_and_unseal};
use serde_json::json;

#[tokio::test]
async fn transit_round_trips_and_batches_with_bad_items_answer_400_with_results() {
    let app = app();
    let (_, root) = init_and_unseal(&app).await;
    let t = Some(root.as_str());
    let (s, e) = call(
        &app,
        "POST",
        "/v1/sys/mounts/transit",
        t,
        Some(json!({"type": "transit"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");

    let (s, enc) = call(
        &app,
        "POST",
        "/v1/transit/encrypt/k",
        t,
        Some(json!({"plaintext": "aGVsbG8="})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{enc}");
    assert_eq!(enc["mount_type"], "transit");
    let ct = enc["data"]["ciphertext"]
        .as_str()
        .expect("ciphertext")
        .to_owned();
    assert!(ct.starts_with("vault:v1:"));

    let batch = json!({"batch_input": [{"ciphertext": ct}, {"ciphertext": "junk"}]});
    let (s, body) = call(
        &app,
        "POST",
        "/v1/transit/decrypt/k",
        t,
        Some(batch.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["data"]["batch_results"][0]["plaintext"], "aGVsbG8=");
    assert_eq!(
        body["data"]["batch_results"][1]["error"],
        "invalid ciphertext: no prefix"
    );
    let mut overridden = batch;
    overridden["partial_failure_response_code"] = json!(207);
    let (s, _) = call(&app, "POST", "/v1/transit/decrypt/k", t, Some(overridden)).await;
    assert_eq!(s, StatusCode::MULTI_STATUS);

    expect_error(
        &app,
        "POST",
        "/v1/transit/decrypt/k",
        t,
        Some(json!({"ciphertext": "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})),
        StatusCode::BAD_REQUEST,
        "message authentication failed",
    )
    .await;
    let (s, e) = call(&app, "GET", "/v1/transit/keys/nope", t, None).await;
    assert_eq!((s, e), (StatusCode::NOT_FOUND, json!({"errors": []})));
    let (s, _) = call(
        &app,
        "POST",
        "/v1/transit/keys/x",
        t,
        Some(json!({"auto_rotate_period": "1h"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
