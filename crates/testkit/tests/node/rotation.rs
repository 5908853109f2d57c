//! Node tier: the barrier keyring rotates itself (`sys/rotate/config`):
//! after `interval` on the node's clock, never when disabled, with settings
//! that survive a restart and bounds that are enforced.

use coffer_core::CoreError;
use coffer_core::engine::Operation;
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};
use std::time::Duration;

const DAY: u64 = 24 * 3600;

async fn config(node: &AuthNode) -> Value {
    node.root_call(Operation::Read, "sys/rotate/config", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("config data")
}

async fn key_status(node: &AuthNode) -> Value {
    node.root_call(Operation::Read, "sys/key-status", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("key-status data")
}

async fn set_config(node: &AuthNode, body: Value) {
    node.root_call(Operation::Update, "sys/rotate/config", body)
        .await;
}

async fn write_secret(node: &AuthNode, name: &str) {
    node.root_call(
        Operation::Update,
        &format!("secret/data/{name}"),
        json!({"data": {"v": name}}),
    )
    .await;
}

#[tokio::test]
async fn the_settings_start_at_vaults_defaults_and_survive_a_restart() {
    let node = AuthNode::new().await;
    assert_eq!(
        config(&node).await,
        json!({"max_operations": 3_865_470_566_u64, "interval": "0s", "enabled": true})
    );
    set_config(
        &node,
        json!({"max_operations": "2000000", "interval": "2160h"}),
    )
    .await;
    let expected = json!({"max_operations": 2_000_000, "interval": "2160h0m0s", "enabled": true});
    assert_eq!(config(&node).await, expected);
    let restarted = node.restarted().await;
    assert_eq!(config(&restarted).await, expected);
}

#[tokio::test]
async fn settings_out_of_bounds_are_refused_and_change_nothing() {
    let node = AuthNode::new().await;
    for body in [
        json!({"max_operations": 10}),
        json!({"interval": "1h"}),
        json!({"interval": "soon"}),
        json!({"enable": false}),
    ] {
        let root = node.root.clone();
        let err = node
            .call(&root, Operation::Update, "sys/rotate/config", body.clone())
            .await
            .expect_err("refused");
        assert!(matches!(err, CoreError::InvalidRequest(_)), "{body}: {err}");
    }
    assert_eq!(config(&node).await["max_operations"], 3_865_470_566_u64);
    assert_eq!(config(&node).await["interval"], "0s");
}

#[tokio::test]
async fn the_keyring_rotates_once_the_active_term_is_interval_old() {
    let node = AuthNode::new().await;
    set_config(&node, json!({"interval": "24h"})).await;
    write_secret(&node, "before").await;
    node.clock.advance(DAY - 1);
    assert_eq!(
        node.core.rotate_keyring_if_due().await.expect("check"),
        None
    );
    node.clock.advance(1);
    assert_eq!(
        node.core.rotate_keyring_if_due().await.expect("check"),
        Some(2)
    );
    assert_eq!(
        node.core.rotate_keyring_if_due().await.expect("check"),
        None,
        "the new term is young"
    );
    let status = key_status(&node).await;
    assert_eq!(status["term"], 2);
    write_secret(&node, "after").await;
    for name in ["before", "after"] {
        let read = node
            .root_call(Operation::Read, &format!("secret/data/{name}"), Value::Null)
            .await
            .and_then(|r| r.data)
            .expect("data");
        assert_eq!(read["data"]["v"], name);
    }
}

#[tokio::test]
async fn an_active_node_rotates_by_itself_without_a_request() {
    let node = AuthNode::new().await;
    set_config(&node, json!({"interval": "24h"})).await;
    node.clock.advance(DAY + 60);
    for _ in 0..300 {
        if key_status(&node).await["term"] == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no automatic rotation within 30 s (a loaded CI machine; the check runs once a second): {}",
        key_status(&node).await
    );
}

#[tokio::test]
async fn disabled_rotation_keeps_counting_but_never_rotates() {
    let node = AuthNode::new().await;
    set_config(&node, json!({"interval": "24h", "enabled": false})).await;
    let before = key_status(&node).await["encryptions"]
        .as_u64()
        .expect("count");
    write_secret(&node, "counted").await;
    let after = key_status(&node).await["encryptions"]
        .as_u64()
        .expect("count");
    assert!(after > before, "{after} after {before}");
    node.clock.advance(30 * DAY);
    assert_eq!(
        node.core.rotate_keyring_if_due().await.expect("check"),
        None
    );
    assert_eq!(key_status(&node).await["term"], 1);
    set_config(&node, json!({"enabled": true})).await;
    assert_eq!(
        node.core.rotate_keyring_if_due().await.expect("check"),
        Some(2)
    );
}

#[tokio::test]
async fn the_encryption_count_in_key_status_survives_a_restart() {
    let node = AuthNode::new().await;
    for i in 0..20 {
        write_secret(&node, &format!("s{i}")).await;
    }
    let before = key_status(&node).await["encryptions"]
        .as_u64()
        .expect("count");
    let restarted = node.restarted().await;
    let after = key_status(&restarted).await["encryptions"]
        .as_u64()
        .expect("count");
    assert!(after >= before, "{after} < {before}: the count went back");
}
