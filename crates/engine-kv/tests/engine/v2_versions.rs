//! KV version 2 `delete/`, `undelete/` and `destroy/`.

use crate::support::Harness;
use coffer_core::engine::Operation::{Read, Update};
use coffer_core::engine::ResponseStatus;
use serde_json::{Value, json};

async fn three_versions() -> Harness {
    let h = Harness::kv("2").await;
    for i in 1..=3 {
        h.data(Update, "data/app", json!({"data": {"v": i}})).await;
    }
    h
}

async fn read_version(h: &Harness, v: u64) -> (ResponseStatus, Value) {
    let resp = h
        .ok(Read, "data/app", json!({"version": v.to_string()}))
        .await
        .expect("a body");
    (resp.status, resp.data.expect("data"))
}

#[tokio::test]
async fn delete_soft_deletes_only_the_named_versions() {
    let h = three_versions().await;
    assert!(
        h.ok(Update, "delete/app", json!({"versions": [1, 3]}))
            .await
            .is_none()
    );
    let (s1, b1) = read_version(&h, 1).await;
    assert_eq!(s1, ResponseStatus::NotFound);
    assert_eq!(b1["data"], Value::Null);
    assert_ne!(b1["metadata"]["deletion_time"], "");
    let (s2, b2) = read_version(&h, 2).await;
    assert_eq!(s2, ResponseStatus::Ok);
    assert_eq!(b2["data"], json!({"v": 2}));
    assert_eq!(read_version(&h, 3).await.0, ResponseStatus::NotFound);
}

#[tokio::test]
async fn undelete_restores_soft_deleted_versions() {
    let h = three_versions().await;
    h.ok(Update, "delete/app", json!({"versions": "2,3"})).await;
    h.ok(Update, "undelete/app", json!({"versions": ["2"]}))
        .await;
    let (status, body) = read_version(&h, 2).await;
    assert_eq!(status, ResponseStatus::Ok);
    assert_eq!(body["data"], json!({"v": 2}));
    assert_eq!(body["metadata"]["deletion_time"], "");
    assert_eq!(read_version(&h, 3).await.0, ResponseStatus::NotFound);
}

#[tokio::test]
async fn destroyed_version_reads_as_not_found_with_destroyed_flag() {
    let h = three_versions().await;
    h.ok(Update, "destroy/app", json!({"versions": [2]})).await;
    let (status, body) = read_version(&h, 2).await;
    assert_eq!(status, ResponseStatus::NotFound);
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["metadata"]["destroyed"], true);
    // Undelete cannot bring destroyed data back.
    h.ok(Update, "undelete/app", json!({"versions": [2]})).await;
    assert_eq!(read_version(&h, 2).await.0, ResponseStatus::NotFound);
    let meta = h.data(Read, "metadata/app", json!({})).await;
    assert_eq!(meta["versions"]["2"]["destroyed"], true);
    assert_eq!(meta["versions"]["1"]["destroyed"], false);
}

#[tokio::test]
async fn version_operations_need_a_version_list() {
    let h = three_versions().await;
    for path in ["delete/app", "undelete/app", "destroy/app"] {
        assert_eq!(
            h.invalid(Update, path, json!({})).await,
            "no version number provided"
        );
        assert!(
            h.invalid(Update, path, json!({"versions": [-1]}))
                .await
                .contains("-1")
        );
    }
}

#[tokio::test]
async fn version_operations_on_unknown_keys_or_versions_are_no_ops() {
    let h = three_versions().await;
    assert!(
        h.ok(Update, "delete/none", json!({"versions": [1]}))
            .await
            .is_none()
    );
    assert!(
        h.ok(Update, "destroy/app", json!({"versions": [99]}))
            .await
            .is_none()
    );
    assert_eq!(read_version(&h, 3).await.0, ResponseStatus::Ok);
}
