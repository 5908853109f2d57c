//! Cubbyhole: KV v1 semantics in storage private to each token.

use crate::support::Harness;
use coffer_core::CoreError;
use coffer_core::engine::Operation::{Delete, List, Read, Update};
use serde_json::json;

#[tokio::test]
async fn cubbyhole_tokens_cannot_see_each_others_secrets() {
    let h = Harness::cubbyhole().await;
    h.call_as("token-a", Update, "note", json!({"v": "a"}))
        .await
        .expect("write a");
    h.call_as("token-b", Update, "note", json!({"v": "b"}))
        .await
        .expect("write b");
    let a = h
        .call_as("token-a", Read, "note", json!({}))
        .await
        .expect("read a")
        .expect("found");
    assert_eq!(a.data, Some(json!({"v": "a"})));
    let b = h
        .call_as("token-b", Read, "note", json!({}))
        .await
        .expect("read b")
        .expect("found");
    assert_eq!(b.data, Some(json!({"v": "b"})));
    h.call_as("token-b", Delete, "note", json!(null))
        .await
        .expect("delete b");
    assert!(
        h.call_as("token-b", Read, "note", json!({}))
            .await
            .expect("read b")
            .is_none()
    );
    assert!(
        h.call_as("token-a", Read, "note", json!({}))
            .await
            .expect("read a")
            .is_some()
    );
    assert!(
        h.call_as("token-c", List, "", json!({}))
            .await
            .expect("list c")
            .is_none()
    );
    let listed = h
        .call_as("token-a", List, "", json!({}))
        .await
        .expect("list a")
        .expect("keys");
    assert_eq!(listed.data, Some(json!({"keys": ["note"]})));
}

#[tokio::test]
async fn cubbyhole_without_a_token_is_permission_denied() {
    let h = Harness::cubbyhole().await;
    for token in ["", "../x", "a/b"] {
        let err = h
            .call_as(token, Read, "note", json!({}))
            .await
            .expect_err("no token");
        assert!(
            matches!(err, CoreError::PermissionDenied),
            "{token:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn cubbyhole_ignores_ttl_for_the_lease_duration() {
    let h = Harness::cubbyhole().await;
    h.ok(Update, "note", json!({"v": 1, "ttl": "1h"})).await;
    assert_eq!(
        h.ok(Read, "note", json!({}))
            .await
            .expect("found")
            .lease_duration
            .as_secs(),
        0
    );
}
