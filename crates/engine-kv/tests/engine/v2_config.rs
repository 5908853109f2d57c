//! KV version 2 `config`, mount-wide limits and automatic deletion.

use crate::support::Harness;
use coffer_core::engine::EngineFactory;
use coffer_core::engine::Operation::{Read, Update};
use coffer_core::engine::ResponseStatus;
use coffer_core::mount::{MountConfig, MountEntry};
use coffer_engine_kv::KvFactory;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[tokio::test]
async fn config_defaults_are_vaults() {
    let h = Harness::kv("2").await;
    assert_eq!(
        h.data(Read, "config", json!({})).await,
        json!({"max_versions": 0, "cas_required": false, "delete_version_after": "0s"})
    );
}

#[tokio::test]
async fn config_write_accepts_cli_strings_and_reports_go_durations() {
    let h = Harness::kv("2").await;
    let body = json!({"max_versions": "3", "cas_required": "true", "delete_version_after": "1h"});
    assert!(h.ok(Update, "config", body).await.is_none());
    assert_eq!(
        h.data(Read, "config", json!({})).await,
        json!({"max_versions": 3, "cas_required": true, "delete_version_after": "1h0m0s"})
    );
    // Absent fields keep their value; seconds are accepted as numbers.
    h.ok(Update, "config/", json!({"delete_version_after": 90}))
        .await;
    let config = h.data(Read, "config", json!({})).await;
    assert_eq!(config["delete_version_after"], "1m30s");
    assert_eq!(config["max_versions"], 3);
    assert!(
        h.invalid(Update, "config", json!({"max_versions": -1}))
            .await
            .contains("-1")
    );
    assert!(
        h.invalid(Update, "config", json!({"delete_version_after": "soon"}))
            .await
            .contains("soon")
    );
}

#[tokio::test]
async fn mount_max_versions_limits_every_key() {
    let h = Harness::kv("2").await;
    h.ok(Update, "config", json!({"max_versions": 2})).await;
    for i in 1..=3 {
        h.put("app", json!({"v": i})).await;
    }
    let meta = h.data(Read, "metadata/app", json!({})).await;
    assert_eq!(meta["oldest_version"], 2);
    assert!(meta["versions"].get("1").is_none());
}

#[tokio::test]
async fn default_limit_keeps_ten_versions() {
    let h = Harness::kv("2").await;
    for i in 1..=12 {
        h.put("app", json!({"v": i})).await;
    }
    let meta = h.data(Read, "metadata/app", json!({})).await;
    assert_eq!(meta["versions"].as_object().expect("map").len(), 10);
    assert_eq!(meta["oldest_version"], 3);
}

#[tokio::test]
async fn delete_version_after_expires_versions_as_the_clock_moves() {
    let h = Harness::kv("2").await;
    h.ok(Update, "config", json!({"delete_version_after": "1h"}))
        .await;
    let written = h.put("app", json!({"v": 1})).await;
    assert_eq!(written["deletion_time"], "2024-01-01T01:00:00.000000000Z");
    h.clock.advance(3599);
    let live = h.data(Read, "data/app", json!({})).await;
    assert_eq!(live["data"], json!({"v": 1}));
    assert_eq!(
        live["metadata"]["deletion_time"],
        "2024-01-01T01:00:00.000000000Z"
    );
    h.clock.advance(1);
    let expired = h.ok(Read, "data/app", json!({})).await.expect("body");
    assert_eq!(expired.status, ResponseStatus::NotFound);
    let body = expired.data.expect("data");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(
        body["metadata"]["deletion_time"],
        "2024-01-01T01:00:00.000000000Z"
    );
}

#[tokio::test]
async fn shorter_key_delete_version_after_wins_over_the_mounts() {
    let h = Harness::kv("2").await;
    h.ok(Update, "config", json!({"delete_version_after": "1h"}))
        .await;
    h.ok(
        Update,
        "metadata/app",
        json!({"delete_version_after": "30m"}),
    )
    .await;
    h.put("app", json!({"v": 1})).await;
    h.clock.advance(30 * 60);
    let resp = h.ok(Read, "data/app", json!({})).await.expect("body");
    assert_eq!(resp.status, ResponseStatus::NotFound);
}

#[tokio::test]
async fn kv_factory_refuses_an_unknown_version_at_create() {
    let entry = MountEntry {
        path: "kv/".to_owned(),
        engine_type: "kv".to_owned(),
        description: String::new(),
        accessor: String::new(),
        uuid: "u".to_owned(),
        config: MountConfig::default(),
        options: BTreeMap::from([("version".to_owned(), "3".to_owned())]),
        local: false,
        seal_wrap: false,
        external_entropy_access: false,
    };
    assert!(KvFactory::new().create(&entry).is_err());
    assert_eq!(KvFactory::new().engine_type(), "kv");
}
