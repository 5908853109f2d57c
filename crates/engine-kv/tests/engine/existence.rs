//! The existence checks the core runs before the ACL check of a write
//! (`create` for a new key, `update` for an existing one).

use crate::support::Harness;
use coffer_core::engine::{Operation, Request};
use serde_json::json;

async fn exists(h: &Harness, path: &str) -> Option<bool> {
    exists_as(h, &h.token_id, path).await
}

async fn exists_as(h: &Harness, token_id: &str, path: &str) -> Option<bool> {
    let mut req = Request::new(Operation::Update, path);
    req.token_id = token_id.to_owned();
    h.engine
        .exists(&h.ctx, &req)
        .await
        .expect("existence check")
}

#[tokio::test]
async fn kv_v1_writes_create_new_keys_and_update_stored_ones() {
    let h = Harness::kv("1").await;
    assert_eq!(exists(&h, "app/db").await, Some(false));
    h.ok(Operation::Update, "app/db", json!({"pw": "x"})).await;
    assert_eq!(exists(&h, "app/db").await, Some(true));
    assert_eq!(exists(&h, "app//db").await, Some(false), "unstorable path");
}

#[tokio::test]
async fn kv_v2_data_and_metadata_exist_once_the_key_has_metadata() {
    let h = Harness::kv("2").await;
    assert_eq!(exists(&h, "data/app").await, Some(false));
    assert_eq!(exists(&h, "metadata/app").await, Some(false));
    h.put("app", json!({"pw": "x"})).await;
    assert_eq!(exists(&h, "data/app").await, Some(true));
    assert_eq!(exists(&h, "metadata/app").await, Some(true));
    assert_eq!(
        exists(&h, "config").await,
        None,
        "config has no existence notion"
    );
    assert_eq!(exists(&h, "delete/app").await, None);
}

#[tokio::test]
async fn cubbyhole_existence_is_per_token() {
    let h = Harness::cubbyhole().await;
    h.ok(Operation::Update, "note", json!({"v": "1"})).await;
    assert_eq!(exists(&h, "note").await, Some(true));
    assert_eq!(exists_as(&h, "token-b", "note").await, Some(false));
}
