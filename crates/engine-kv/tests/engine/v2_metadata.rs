//! KV version 2 `metadata/`: settings, history, listing and full delete.

use crate::support::{Harness, keys_of};
use coffer_core::engine::Operation::{Delete, List, Patch, Read, Update};
use coffer_core::engine::ResponseStatus;
use serde_json::{Value, json};

#[tokio::test]
async fn metadata_read_shows_versions_and_settings() {
    let h = Harness::kv("2").await;
    h.put("app", json!({"v": 1})).await;
    h.clock.advance(60);
    h.put("app", json!({"v": 2})).await;
    let meta = h.data(Read, "metadata/app", json!({})).await;
    assert_eq!(
        keys_of(&meta),
        [
            "cas_required",
            "created_time",
            "current_version",
            "custom_metadata",
            "delete_version_after",
            "max_versions",
            "oldest_version",
            "updated_time",
            "versions"
        ]
    );
    assert_eq!(meta["current_version"], 2);
    assert_eq!(meta["oldest_version"], 0);
    assert_eq!(meta["max_versions"], 0);
    assert_eq!(meta["cas_required"], false);
    assert_eq!(meta["delete_version_after"], "0s");
    assert_eq!(meta["custom_metadata"], Value::Null);
    assert_eq!(meta["created_time"], "2024-01-01T00:00:00.000000000Z");
    assert_eq!(meta["updated_time"], "2024-01-01T00:01:00.000000000Z");
    assert_eq!(
        meta["versions"],
        json!({
            "1": {"created_time": "2024-01-01T00:00:00.000000000Z", "deletion_time": "", "destroyed": false},
            "2": {"created_time": "2024-01-01T00:01:00.000000000Z", "deletion_time": "", "destroyed": false},
        })
    );
    assert!(h.ok(Read, "metadata/none", json!({})).await.is_none());
}

#[tokio::test]
async fn metadata_write_sets_settings_and_custom_metadata_shown_on_reads() {
    let h = Harness::kv("2").await;
    h.put("app", json!({"v": 1})).await;
    let body = json!({
        "max_versions": "5",
        "cas_required": false,
        "delete_version_after": "1h30m",
        "custom_metadata": {"owner": "team-a", "tier": 1}
    });
    assert!(h.ok(Update, "metadata/app", body).await.is_none());
    let meta = h.data(Read, "metadata/app", json!({})).await;
    assert_eq!(meta["max_versions"], 5);
    assert_eq!(meta["delete_version_after"], "1h30m0s");
    assert_eq!(
        meta["custom_metadata"],
        json!({"owner": "team-a", "tier": "1"})
    );
    let read = h.data(Read, "data/app", json!({})).await;
    assert_eq!(
        read["metadata"]["custom_metadata"],
        json!({"owner": "team-a", "tier": "1"})
    );
    let bad = json!({"custom_metadata": {"k": "v".repeat(600)}});
    assert!(
        h.invalid(Update, "metadata/app", bad)
            .await
            .starts_with("custom_metadata validation failed")
    );
}

#[tokio::test]
async fn metadata_write_before_any_data_creates_an_empty_key() {
    let h = Harness::kv("2").await;
    h.ok(Update, "metadata/future", json!({"max_versions": 3}))
        .await;
    let meta = h.data(Read, "metadata/future", json!({})).await;
    assert_eq!(meta["current_version"], 0);
    assert_eq!(meta["versions"], json!({}));
    assert!(h.ok(Read, "data/future", json!({})).await.is_none());
    assert_eq!(
        h.data(List, "metadata/", json!({})).await,
        json!({"keys": ["future"]})
    );
    assert_eq!(h.put("future", json!({"v": 1})).await["version"], 1);
}

#[tokio::test]
async fn metadata_patch_merges_custom_metadata_and_keeps_other_settings() {
    let h = Harness::kv("2").await;
    h.put("app", json!({"v": 1})).await;
    h.ok(
        Update,
        "metadata/app",
        json!({"max_versions": 4, "custom_metadata": {"a": "1", "b": "2"}}),
    )
    .await;
    h.ok(
        Patch,
        "metadata/app",
        json!({"custom_metadata": {"a": null, "c": "3"}, "cas_required": true}),
    )
    .await;
    let meta = h.data(Read, "metadata/app", json!({})).await;
    assert_eq!(meta["custom_metadata"], json!({"b": "2", "c": "3"}));
    assert_eq!(meta["max_versions"], 4);
    assert_eq!(meta["cas_required"], true);
    assert!(
        h.ok(Patch, "metadata/none", json!({"max_versions": 1}))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn metadata_delete_removes_all_versions_and_the_list_entry() {
    let h = Harness::kv("2").await;
    h.put("app", json!({"v": 1})).await;
    h.put("app", json!({"v": 2})).await;
    h.put("app/child", json!({"v": 1})).await;
    assert!(h.ok(Delete, "metadata/app", json!(null)).await.is_none());
    assert!(h.ok(Read, "metadata/app", json!({})).await.is_none());
    assert!(
        h.ok(Read, "data/app", json!({"version": "1"}))
            .await
            .is_none()
    );
    assert_eq!(
        h.data(List, "metadata/", json!({})).await,
        json!({"keys": ["app/"]})
    );
    assert_eq!(
        h.data(Read, "data/app/child", json!({})).await["data"],
        json!({"v": 1})
    );
    // A new secret at the same path starts again at version 1.
    assert_eq!(h.put("app", json!({"v": 9})).await["version"], 1);
}

#[tokio::test]
async fn list_walks_the_metadata_tree_including_folders() {
    let h = Harness::kv("2").await;
    h.put("a", json!({"v": 1})).await;
    h.put("team/x", json!({"v": 1})).await;
    h.put("team/sub/y", json!({"v": 1})).await;
    assert_eq!(
        h.data(List, "metadata", json!({})).await,
        json!({"keys": ["a", "team/"]})
    );
    assert_eq!(
        h.data(List, "metadata/team", json!({})).await,
        json!({"keys": ["sub/", "x"]})
    );
    assert_eq!(
        h.data(List, "metadata/team/", json!({})).await,
        json!({"keys": ["sub/", "x"]})
    );
    assert!(h.ok(List, "metadata/nothing/", json!({})).await.is_none());
    // Soft-deleted keys still list.
    h.ok(Delete, "data/a", json!(null)).await;
    assert_eq!(
        h.data(List, "metadata/", json!({})).await,
        json!({"keys": ["a", "team/"]})
    );
}

#[tokio::test]
async fn max_versions_prunes_the_oldest_versions() {
    let h = Harness::kv("2").await;
    h.ok(Update, "metadata/app", json!({"max_versions": 2}))
        .await;
    for i in 1..=4 {
        h.put("app", json!({"v": i})).await;
    }
    let meta = h.data(Read, "metadata/app", json!({})).await;
    assert_eq!(meta["current_version"], 4);
    assert_eq!(meta["oldest_version"], 3);
    assert_eq!(keys_of(&meta["versions"]), ["3", "4"]);
    assert!(
        h.ok(Read, "data/app", json!({"version": "2"}))
            .await
            .is_none()
    );
    let v3 = h
        .ok(Read, "data/app", json!({"version": "3"}))
        .await
        .expect("kept");
    assert_eq!(v3.status, ResponseStatus::Ok);
}
