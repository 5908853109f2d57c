//! KV version 1: one object per path, stored as sent.

use crate::support::Harness;
use coffer_core::CoreError;
use coffer_core::engine::Operation::{Delete, List, Patch, Read, Update};
use serde_json::json;

#[tokio::test]
async fn v1_write_then_read_returns_the_object_as_stored() {
    let h = Harness::kv("1").await;
    let secret = json!({"password": "hunter2", "nested": {"n": 1}, "list": [1, "a"]});
    assert!(
        h.ok(Update, "app/db", secret.clone()).await.is_none(),
        "write answers 204"
    );
    let resp = h.ok(Read, "app/db", json!({})).await.expect("found");
    assert_eq!(resp.data, Some(secret));
    assert_eq!(resp.lease_duration.as_secs(), 0);
}

#[tokio::test]
async fn v1_overwrite_replaces_the_whole_object() {
    let h = Harness::kv("1").await;
    h.ok(Update, "k", json!({"a": 1, "b": 2})).await;
    h.ok(Update, "k", json!({"c": 3})).await;
    assert_eq!(h.data(Read, "k", json!({})).await, json!({"c": 3}));
}

#[tokio::test]
async fn v1_read_of_missing_key_is_not_found() {
    let h = Harness::kv("1").await;
    assert!(h.ok(Read, "nope", json!({})).await.is_none());
    assert!(h.ok(Read, "bad//path", json!({})).await.is_none());
}

#[tokio::test]
async fn v1_delete_removes_the_secret_and_is_idempotent() {
    let h = Harness::kv("1").await;
    h.ok(Update, "k", json!({"a": 1})).await;
    assert!(h.ok(Delete, "k", json!(null)).await.is_none());
    assert!(h.ok(Read, "k", json!({})).await.is_none());
    assert!(h.ok(Delete, "k", json!(null)).await.is_none());
}

#[tokio::test]
async fn v1_list_shows_leaves_and_folders_and_empty_is_not_found() {
    let h = Harness::kv("1").await;
    h.ok(Update, "a", json!({"v": 1})).await;
    h.ok(Update, "team/x", json!({"v": 1})).await;
    h.ok(Update, "team/sub/y", json!({"v": 1})).await;
    assert_eq!(
        h.data(List, "", json!({})).await,
        json!({"keys": ["a", "team/"]})
    );
    assert_eq!(
        h.data(List, "team", json!({})).await,
        json!({"keys": ["sub/", "x"]})
    );
    assert_eq!(
        h.data(List, "team/", json!({})).await,
        json!({"keys": ["sub/", "x"]})
    );
    assert!(h.ok(List, "empty/", json!({})).await.is_none());
}

#[tokio::test]
async fn v1_ttl_field_sets_the_lease_duration() {
    let h = Harness::kv("1").await;
    h.ok(Update, "s", json!({"v": 1, "ttl": "1h"})).await;
    assert_eq!(
        h.ok(Read, "s", json!({}))
            .await
            .expect("found")
            .lease_duration
            .as_secs(),
        3600
    );
    h.ok(Update, "n", json!({"v": 1, "ttl": 90})).await;
    assert_eq!(
        h.ok(Read, "n", json!({}))
            .await
            .expect("found")
            .lease_duration
            .as_secs(),
        90
    );
    h.ok(Update, "junk", json!({"v": 1, "ttl": "soon"})).await;
    assert_eq!(
        h.ok(Read, "junk", json!({}))
            .await
            .expect("found")
            .lease_duration
            .as_secs(),
        0
    );
}

#[tokio::test]
async fn v1_body_must_be_a_non_empty_object() {
    let h = Harness::kv("1").await;
    let msg = h.invalid(Update, "k", json!(["a"])).await;
    assert!(msg.contains("invalid request body"), "{msg}");
    assert_eq!(
        h.invalid(Update, "k", json!({})).await,
        "missing data fields"
    );
    assert_eq!(
        h.invalid(Update, "k", json!(null)).await,
        "missing data fields"
    );
}

#[tokio::test]
async fn v1_empty_path_is_missing_path() {
    let h = Harness::kv("1").await;
    assert_eq!(h.invalid(Read, "", json!({})).await, "missing path");
    assert_eq!(h.invalid(Update, "", json!({"a": 1})).await, "missing path");
    assert!(
        h.invalid(Update, "a//b", json!({"a": 1}))
            .await
            .contains("empty segment")
    );
}

#[tokio::test]
async fn v1_patch_is_unsupported() {
    let h = Harness::kv("1").await;
    let err = h
        .call(Patch, "k", json!({"a": 1}))
        .await
        .expect_err("patch");
    assert!(matches!(err, CoreError::UnsupportedOperation), "{err:?}");
}
