//! KV version 2 `data/`, `subkeys/` and path handling.

use crate::support::{Harness, keys_of};
use coffer_core::CoreError;
use coffer_core::engine::Operation::{self, Delete, List, Patch, Read, Update};
use coffer_core::engine::ResponseStatus;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

#[tokio::test]
async fn writes_increment_versions_and_answer_with_version_metadata() {
    let h = Harness::kv("2").await;
    let first = h.put("app", json!({"a": 1})).await;
    assert_eq!(
        keys_of(&first),
        [
            "created_time",
            "custom_metadata",
            "deletion_time",
            "destroyed",
            "version"
        ]
    );
    assert_eq!(first["version"], 1);
    assert_eq!(first["deletion_time"], "");
    assert_eq!(first["destroyed"], false);
    assert_eq!(first["custom_metadata"], Value::Null);
    assert_eq!(first["created_time"], "2024-01-01T00:00:00.000000000Z");
    assert_eq!(h.put("app", json!({"a": 2})).await["version"], 2);
}

#[tokio::test]
async fn read_returns_latest_or_requested_version() {
    let h = Harness::kv("2").await;
    h.put("app", json!({"a": 1})).await;
    h.put("app", json!({"a": 2})).await;
    let latest = h.data(Read, "data/app", json!({})).await;
    assert_eq!(keys_of(&latest), ["data", "metadata"]);
    assert_eq!(latest["data"], json!({"a": 2}));
    assert_eq!(
        keys_of(&latest["metadata"]),
        [
            "created_time",
            "custom_metadata",
            "deletion_time",
            "destroyed",
            "version"
        ]
    );
    assert_eq!(latest["metadata"]["version"], 2);
    // Query parameters arrive as strings.
    let old = h.data(Read, "data/app", json!({"version": "1"})).await;
    assert_eq!(old["data"], json!({"a": 1}));
    assert_eq!(old["metadata"]["version"], 1);
    assert_eq!(
        h.data(Read, "data/app", json!({"version": "0"})).await["metadata"]["version"],
        2
    );
}

#[tokio::test]
async fn unknown_key_or_version_is_not_found() {
    let h = Harness::kv("2").await;
    assert!(h.ok(Read, "data/missing", json!({})).await.is_none());
    h.put("app", json!({"a": 1})).await;
    assert!(
        h.ok(Read, "data/app", json!({"version": "7"}))
            .await
            .is_none()
    );
    assert!(h.ok(Read, "subkeys/missing", json!({})).await.is_none());
}

#[tokio::test]
async fn deleted_version_reads_as_not_found_with_metadata() {
    let h = Harness::kv("2").await;
    h.put("app", json!({"a": 1})).await;
    h.clock.advance(5);
    assert!(
        h.ok(Delete, "data/app", json!(null)).await.is_none(),
        "delete answers 204"
    );
    let resp = h
        .ok(Read, "data/app", json!({}))
        .await
        .expect("body with 404");
    assert_eq!(resp.status, ResponseStatus::NotFound);
    let body = resp.data.expect("data");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["metadata"]["version"], 1);
    assert_eq!(
        body["metadata"]["deletion_time"],
        "2024-01-01T00:00:05.000000000Z"
    );
    assert_eq!(body["metadata"]["destroyed"], false);
    // Deleting again changes nothing.
    h.clock.advance(5);
    h.ok(Delete, "data/app", json!(null)).await;
    let again = h
        .ok(Read, "data/app", json!({}))
        .await
        .expect("body")
        .data
        .expect("data");
    assert_eq!(
        again["metadata"]["deletion_time"],
        "2024-01-01T00:00:05.000000000Z"
    );
}

#[tokio::test]
async fn writing_after_a_delete_makes_a_new_live_version() {
    let h = Harness::kv("2").await;
    h.put("app", json!({"a": 1})).await;
    h.ok(Delete, "data/app", json!(null)).await;
    assert_eq!(h.put("app", json!({"a": 2})).await["version"], 2);
    assert_eq!(
        h.data(Read, "data/app", json!({})).await["data"],
        json!({"a": 2})
    );
}

#[tokio::test]
async fn cas_zero_creates_only_when_the_key_is_absent() {
    let h = Harness::kv("2").await;
    let body = json!({"data": {"a": 1}, "options": {"cas": 0}});
    assert_eq!(h.data(Update, "data/app", body.clone()).await["version"], 1);
    assert_eq!(
        h.invalid(Update, "data/app", body).await,
        "check-and-set parameter did not match the current version"
    );
}

#[tokio::test]
async fn cas_matching_the_current_version_writes_and_a_mismatch_is_rejected() {
    let h = Harness::kv("2").await;
    h.put("app", json!({"a": 1})).await;
    let ok = json!({"data": {"a": 2}, "options": {"cas": "1"}});
    assert_eq!(h.data(Update, "data/app", ok).await["version"], 2);
    let stale = json!({"data": {"a": 3}, "options": {"cas": 1}});
    assert_eq!(
        h.invalid(Update, "data/app", stale).await,
        "check-and-set parameter did not match the current version"
    );
    assert_eq!(
        h.data(Read, "data/app", json!({})).await["data"],
        json!({"a": 2})
    );
}

#[tokio::test]
async fn cas_required_on_the_mount_or_the_key_demands_cas() {
    let h = Harness::kv("2").await;
    h.ok(Update, "config", json!({"cas_required": true})).await;
    assert_eq!(
        h.invalid(Update, "data/app", json!({"data": {"a": 1}}))
            .await,
        "check-and-set parameter required for this call"
    );
    h.ok(Update, "config", json!({"cas_required": false})).await;
    h.ok(Update, "metadata/app", json!({"cas_required": "true"}))
        .await;
    assert_eq!(
        h.invalid(Update, "data/app", json!({"data": {"a": 1}}))
            .await,
        "check-and-set parameter required for this call"
    );
    let with_cas = json!({"data": {"a": 1}, "options": {"cas": 0}});
    assert_eq!(h.data(Update, "data/app", with_cas).await["version"], 1);
    assert!(
        h.put("other", json!({"b": 1})).await.is_object(),
        "other keys stay free"
    );
}

#[tokio::test]
async fn patch_merges_into_the_latest_version() {
    let h = Harness::kv("2").await;
    h.put(
        "app",
        json!({"user": "u", "pass": "p", "nested": {"x": 1, "y": 2}}),
    )
    .await;
    let patched = h
        .data(
            Patch,
            "data/app",
            json!({"data": {"pass": "q", "user": null, "nested": {"y": null}}}),
        )
        .await;
    assert_eq!(patched["version"], 2);
    assert_eq!(
        h.data(Read, "data/app", json!({})).await["data"],
        json!({"pass": "q", "nested": {"x": 1}})
    );
    let stale = json!({"data": {"a": 1}, "options": {"cas": 1}});
    assert!(
        h.invalid(Patch, "data/app", stale)
            .await
            .contains("did not match")
    );
}

#[tokio::test]
async fn patch_of_a_missing_or_deleted_key_is_not_found() {
    let h = Harness::kv("2").await;
    assert!(
        h.ok(Patch, "data/none", json!({"data": {"a": 1}}))
            .await
            .is_none()
    );
    h.put("app", json!({"a": 1})).await;
    h.ok(Delete, "data/app", json!(null)).await;
    let resp = h
        .ok(Patch, "data/app", json!({"data": {"a": 2}}))
        .await
        .expect("body");
    assert_eq!(resp.status, ResponseStatus::NotFound);
    assert_eq!(resp.data.expect("data")["data"], Value::Null);
}

#[tokio::test]
async fn subkeys_replace_leaves_with_null_and_respect_depth() {
    let h = Harness::kv("2").await;
    h.put(
        "app",
        json!({"foo": "abc", "bar": {"baz": "def"}, "quux": {}}),
    )
    .await;
    let all = h.data(Read, "subkeys/app", json!({})).await;
    assert_eq!(keys_of(&all), ["metadata", "subkeys"]);
    assert_eq!(
        all["subkeys"],
        json!({"foo": null, "bar": {"baz": null}, "quux": {}})
    );
    assert_eq!(all["metadata"]["version"], 1);
    let shallow = h.data(Read, "subkeys/app", json!({"depth": "1"})).await;
    assert_eq!(
        shallow["subkeys"],
        json!({"foo": null, "bar": null, "quux": null})
    );
    h.ok(Delete, "data/app", json!(null)).await;
    let gone = h.ok(Read, "subkeys/app", json!({})).await.expect("body");
    assert_eq!(gone.status, ResponseStatus::NotFound);
    assert_eq!(gone.data.expect("data")["subkeys"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_to_one_key_get_distinct_consecutive_versions() {
    let h = Arc::new(Harness::kv("2").await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(
                async move { h.put("hot", json!({ "writer": i })).await["version"].as_u64() },
            )
        })
        .collect();
    let mut versions = BTreeSet::new();
    for t in tasks {
        versions.insert(t.await.expect("task").expect("version number"));
    }
    assert_eq!(versions, (1..=20).collect::<BTreeSet<u64>>());
    let meta = h.data(Read, "metadata/hot", json!({})).await;
    assert_eq!(meta["current_version"], 20);
}

#[tokio::test]
async fn bad_input_is_rejected_with_400() {
    let h = Harness::kv("2").await;
    assert_eq!(
        h.invalid(Update, "data/app", json!({})).await,
        "no data provided"
    );
    assert!(
        h.invalid(Update, "data/app", json!({"data": "text"}))
            .await
            .contains("invalid request body")
    );
    assert!(
        h.invalid(Update, "data/app", json!({"data": [1]}))
            .await
            .contains("invalid request body")
    );
    h.put("app", json!({"a": 1})).await;
    assert!(
        h.invalid(Read, "data/app", json!({"version": "abc"}))
            .await
            .contains("abc")
    );
    let negative = json!({"data": {"a": 1}, "options": {"cas": -1}});
    assert!(
        h.invalid(Update, "data/app", negative)
            .await
            .contains("invalid request body")
    );
    assert!(
        h.invalid(Update, "data/a//b", json!({"data": {"a": 1}}))
            .await
            .contains("invalid path")
    );
    assert!(
        h.invalid(Read, "subkeys/app", json!({"depth": "-1"}))
            .await
            .contains("-1")
    );
}

#[tokio::test]
async fn unknown_top_level_paths_answer_404_with_a_warning() {
    let h = Harness::kv("2").await;
    for (op, path) in [
        (Read, "app"),
        (Update, "secret/x"),
        (Read, "datax/y"),
        (Read, "data"),
        (Update, "data/"),
    ] {
        let resp = h
            .ok(op, path, json!({"data": {"a": 1}}))
            .await
            .expect("warning body");
        assert_eq!(resp.status, ResponseStatus::NotFound, "{op:?} {path}");
        assert!(resp.data.is_none());
        assert!(resp.warnings[0].starts_with("Invalid path for a versioned K/V secrets engine"));
    }
    let put_warning = &h.ok(Update, "app", json!({})).await.expect("body").warnings[0];
    assert!(put_warning.contains("vault kv put"), "{put_warning}");
}

#[tokio::test]
async fn wrong_operation_on_a_known_path_is_unsupported() {
    let h = Harness::kv("2").await;
    for (op, path) in [
        (List, "data/app"),
        (Read, "delete/app"),
        (Operation::Delete, "config"),
    ] {
        let err = h.call(op, path, json!({})).await.expect_err("unsupported");
        assert!(
            matches!(err, CoreError::UnsupportedOperation),
            "{op:?} {path}: {err:?}"
        );
    }
}
