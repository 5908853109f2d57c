//! HTTP tier: `sys/rekey/*` and `sys/rekey-recovery-key/*` through the real
//! axum router, without a socket: wire shapes, status codes, no token.

mod common;

use axum::http::StatusCode;
use common::{app, auto_app, call, expect_status, init_and_unseal, strings};
use serde_json::json;

#[tokio::test]
async fn shamir_rekey_over_http_has_vaults_shapes_and_needs_no_token() {
    let app = app();
    let (keys, _) = init_and_unseal(&app).await;
    let (s, idle) = call(&app, "GET", "/v1/sys/rekey/init", None, None).await;
    assert_eq!(s, StatusCode::OK, "{idle}");
    assert_eq!(
        idle,
        json!({"started": false, "nonce": "", "t": 0, "n": 0, "progress": 0, "required": 2,
               "pgp_fingerprints": null, "backup": false, "verification_required": false})
    );
    // The vault CLI sends strings.
    let (s, started) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/init",
        None,
        Some(json!({"secret_shares": "2", "secret_threshold": "2"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    assert_eq!(
        (
            started["started"].clone(),
            started["t"].clone(),
            started["n"].clone(),
            started["required"].clone()
        ),
        (json!(true), json!(2), json!(2), json!(2))
    );
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    let (s, again) = call(
        &app,
        "POST",
        "/v1/sys/rekey/init",
        None,
        Some(json!({"secret_shares": 2, "secret_threshold": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{again}");
    assert!(
        again["errors"][0]
            .as_str()
            .expect("msg")
            .contains("already in progress")
    );

    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        None,
        Some(json!({"key": keys[0], "nonce": "nope"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, p) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        None,
        Some(json!({"key": keys[0], "nonce": nonce})),
    )
    .await;
    assert_eq!(
        (s, p["progress"].clone()),
        (StatusCode::OK, json!(1)),
        "{p}"
    );
    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        None,
        Some(json!({"key": keys[0], "nonce": nonce})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "duplicate key: {e}");
    let (s, done) = call(
        &app,
        "POST",
        "/v1/sys/rekey/update",
        None,
        Some(json!({"key": keys[2], "nonce": nonce})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(
        (
            done["complete"].clone(),
            done["nonce"].clone(),
            done["pgp_fingerprints"].clone(),
            done["backup"].clone(),
            done["verification_required"].clone()
        ),
        (
            json!(true),
            json!(nonce),
            json!(null),
            json!(false),
            json!(false)
        )
    );
    let new_hex = strings(&done["keys"]);
    let new_b64 = strings(&done["keys_base64"]);
    assert_eq!((new_hex.len(), new_b64.len()), (2, 2));

    let (_, st) = call(&app, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!((st["n"].clone(), st["t"].clone()), (json!(2), json!(2)));
    let (_, idle) = call(&app, "GET", "/v1/sys/rekey/init", None, None).await;
    assert_eq!(idle["started"], false);
}

#[tokio::test]
async fn new_unseal_keys_from_http_rekey_unseal_after_a_seal() {
    let app = app();
    let (keys, token) = init_and_unseal(&app).await;
    let (_, started) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        None,
        Some(json!({"key": keys[1], "nonce": nonce})),
    )
    .await;
    let (_, done) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        None,
        Some(json!({"key": keys[2], "nonce": nonce})),
    )
    .await;
    let new_hex = strings(&done["keys"]);
    expect_status(
        &app,
        "PUT",
        "/v1/sys/seal",
        Some(&token),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let (s, e) = call(&app, "GET", "/v1/sys/rekey/init", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "sealed: {e}");
    let (_, st) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": new_hex[0]})),
    )
    .await;
    assert_eq!(st["sealed"], false, "{st}");
}

#[tokio::test]
async fn recovery_rekey_over_http_and_the_wrong_kind_for_each_seal() {
    let auto = auto_app();
    let (s, init) = call(
        &auto,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"recovery_shares": 3, "recovery_threshold": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{init}");
    let recovery = strings(&init["recovery_keys"]);
    let (s, e) = call(
        &auto,
        "PUT",
        "/v1/sys/rekey/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["errors"][0]
            .as_str()
            .expect("msg")
            .contains("not supported yet for auto-unseal")
    );

    for (body, fragment) in [
        (
            json!({"secret_shares": 5, "secret_threshold": 3, "pgp_keys": ["k"]}),
            "pgp_keys",
        ),
        (
            json!({"secret_shares": 5, "secret_threshold": 3, "backup": true}),
            "backup",
        ),
        (
            json!({"secret_shares": 5, "secret_threshold": 3, "require_verification": "true"}),
            "require_verification",
        ),
        (
            json!({"secret_shares": 2, "secret_threshold": 3}),
            "threshold",
        ),
    ] {
        let (s, e) = call(
            &auto,
            "PUT",
            "/v1/sys/rekey-recovery-key/init",
            None,
            Some(body),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert!(
            e["errors"][0].as_str().expect("msg").contains(fragment),
            "{e}"
        );
    }

    let (s, started) = call(
        &auto,
        "PUT",
        "/v1/sys/rekey-recovery-key/init",
        None,
        Some(json!({"secret_shares": 5, "secret_threshold": 3})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    let (_, status) = call(&auto, "GET", "/v1/sys/rekey-recovery-key/init", None, None).await;
    assert_eq!(status, started);
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    call(
        &auto,
        "PUT",
        "/v1/sys/rekey-recovery-key/update",
        None,
        Some(json!({"key": recovery[0], "nonce": nonce})),
    )
    .await;
    let (s, done) = call(
        &auto,
        "PUT",
        "/v1/sys/rekey-recovery-key/update",
        None,
        Some(json!({"key": recovery[1], "nonce": nonce})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["complete"], true);
    assert_eq!(strings(&done["keys_base64"]).len(), 5);
    let (_, st) = call(&auto, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!((st["n"].clone(), st["t"].clone()), (json!(5), json!(3)));

    let shamir = app();
    init_and_unseal(&shamir).await;
    let (s, e) = call(
        &shamir,
        "GET",
        "/v1/sys/rekey-recovery-key/init",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["errors"][0]
            .as_str()
            .expect("msg")
            .contains("recovery keys are only used with auto-unseal seals")
    );
}

#[tokio::test]
async fn cancel_answers_204_and_wrong_methods_405() {
    let app = app();
    let (keys, _) = init_and_unseal(&app).await;
    let (_, started) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/init",
        None,
        Some(json!({"secret_shares": 3, "secret_threshold": 2})),
    )
    .await;
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    let (s, _) = call(&app, "DELETE", "/v1/sys/rekey/init", None, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        None,
        Some(json!({"key": keys[0], "nonce": nonce})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        None,
        Some(json!({"key": keys[0]})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "missing nonce: {e}");
    let (s, _) = call(&app, "GET", "/v1/sys/rekey/update", None, None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _) = call(
        &app,
        "DELETE",
        "/v1/sys/rekey-recovery-key/init",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "shamir has no recovery keys");
}

#[tokio::test]
async fn rekey_before_init_is_400_and_while_sealed_503() {
    let app = app();
    let (s, e) = call(&app, "GET", "/v1/sys/rekey/init", None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, init) = call(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{init}");
    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert_eq!(e["errors"][0], "Vault is sealed");
}
