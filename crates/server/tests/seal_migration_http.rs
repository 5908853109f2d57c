//! HTTP tier: `sys/unseal` with and without `migrate`, and `sys/seal-status`
//! `migration`, over the real router. Storage initialised with the Shamir
//! seal is reopened with a software auto-unseal seal standing in for the
//! pkcs11 one, which makes a seal migration pending.

mod common;

use axum::http::StatusCode;
use coffer_core::storage::SharedBackend;
use coffer_server::http::DEFAULT_MAX_REQUEST_SIZE;
use coffer_testkit::soft_seal::SoftSeal;
use coffer_testkit::storage::inmem;
use common::{app_on, call, first_error, init};
use serde_json::json;

#[tokio::test]
async fn unseal_answers_400_unless_migrate_matches_whether_a_migration_is_pending() {
    let backend: SharedBackend = inmem();
    let shamir_app = app_on(backend.clone(), None, DEFAULT_MAX_REQUEST_SIZE);
    let (keys, _) = init(&shamir_app).await;

    let (s, e) = call(
        &shamir_app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": keys[0], "migrate": true})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        first_error(&e).contains("no seal migration is pending"),
        "{e}"
    );
    let (_, st) = call(&shamir_app, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(st["migration"], false, "{st}");

    let migrating = app_on(backend, Some(SoftSeal::new()), DEFAULT_MAX_REQUEST_SIZE);
    let (_, st) = call(&migrating, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(st["migration"], true, "{st}");
    assert_eq!(
        (st["t"].clone(), st["n"].clone()),
        (json!(2), json!(3)),
        "{st}"
    );

    let (s, e) = call(
        &migrating,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": keys[0]})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(first_error(&e).contains("-migrate"), "{e}");

    let (s, st) = call(
        &migrating,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": keys[0], "migrate": true})),
    )
    .await;
    assert_eq!(
        (s, st["progress"].clone()),
        (StatusCode::OK, json!(1)),
        "{st}"
    );
    let (s, st) = call(
        &migrating,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": keys[1], "migrate": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["sealed"], false, "{st}");
    assert_eq!(st["migration"], false, "{st}");
    assert_eq!(st["recovery_seal"], true, "{st}");
    assert_eq!(st["type"], "pkcs11", "{st}");
}
