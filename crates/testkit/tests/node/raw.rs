//! `sys/raw`: off by default, sudo-only, read and list only, and the bytes
//! it shows are the stored ones, not the plaintext.

use base64::Engine as _;
use coffer_core::CoreError;
use coffer_core::CoreOptions;
use coffer_core::engine::Operation::{Delete, List, Read, Update};
use coffer_testkit::auth_node::AuthNode;
use coffer_testkit::storage::inmem;
use serde_json::{Value, json};

async fn raw_node() -> AuthNode {
    AuthNode::configured(inmem(), |opts| CoreOptions {
        raw_storage_endpoint: true,
        ..opts
    })
    .await
}

async fn kv_v1_with_secret(n: &AuthNode) -> String {
    n.root_call(Update, "sys/mounts/kv", json!({"type": "kv"}))
        .await;
    n.root_call(
        Update,
        "kv/unwrapped",
        json!({"password": "my-long-password"}),
    )
    .await;
    let mounts = n
        .root_call(Read, "sys/mounts", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("mounts");
    mounts["kv/"]["uuid"].as_str().expect("uuid").to_owned()
}

#[tokio::test]
async fn raw_read_shows_the_stored_ciphertext_found_by_logical_path() {
    let n = raw_node().await;
    let uuid = kv_v1_with_secret(&n).await;
    let listed = n
        .root_call(List, "sys/raw/logical/", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("list");
    assert!(
        listed["keys"]
            .as_array()
            .expect("keys")
            .contains(&json!(format!("{uuid}/"))),
        "{listed}"
    );
    let top = n
        .root_call(List, "sys/raw", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("list");
    assert!(
        top["keys"]
            .as_array()
            .expect("keys")
            .contains(&json!("logical/")),
        "{top}"
    );
    let data = n
        .root_call(
            Read,
            &format!("sys/raw/logical/{uuid}/unwrapped"),
            Value::Null,
        )
        .await
        .and_then(|r| r.data)
        .expect("read");
    assert_eq!(data["seal_wrapped"], false, "{data}");
    assert_eq!(data["encoding"], "base64");
    let physical = data["physical_path"].as_str().expect("physical_path");
    let stored = n
        .backend
        .get(physical)
        .await
        .expect("get")
        .expect("the physical path names the stored record");
    assert_eq!(data["size"], stored.len());
    let shown = base64::engine::general_purpose::STANDARD.encode(&stored);
    assert_eq!(data["value"], shown);
    assert!(!data.to_string().contains("my-long-password"), "{data}");
    assert!(!physical.contains(&uuid) && !physical.contains("unwrapped"));

    let absent = n
        .root_call(
            Read,
            &format!("sys/raw/logical/{uuid}/nothing"),
            Value::Null,
        )
        .await;
    assert!(absent.is_none(), "an absent record reads as 404");
}

#[tokio::test]
async fn raw_refuses_writes_and_deletes() {
    let n = raw_node().await;
    let uuid = kv_v1_with_secret(&n).await;
    let path = format!("sys/raw/logical/{uuid}/unwrapped");
    for (op, body) in [(Update, json!({"value": "x"})), (Delete, Value::Null)] {
        match n.call(&n.root.clone(), op, &path, body).await {
            Err(CoreError::InvalidRequest(msg)) => assert!(msg.contains("read-only"), "{msg}"),
            other => panic!("{op:?} sys/raw: {other:?}"),
        }
    }
    let still = n
        .root_call(Read, "kv/unwrapped", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("still there");
    assert_eq!(still["password"], "my-long-password");
}

#[tokio::test]
async fn raw_is_off_unless_configured_and_needs_sudo() {
    let off = AuthNode::new().await;
    match off
        .call(&off.root.clone(), Read, "sys/raw/logical/x", Value::Null)
        .await
    {
        Err(CoreError::InvalidRequest(msg)) => {
            assert!(msg.contains("raw_storage_endpoint = true"), "{msg}")
        }
        other => panic!("sys/raw while off: {other:?}"),
    }

    let n = raw_node().await;
    n.policy(
        "raw-read",
        r#"path "sys/raw/*" { capabilities = ["read", "list"] }"#,
    )
    .await;
    n.policy(
        "raw-sudo",
        r#"path "sys/raw/*" { capabilities = ["read", "list", "sudo"] }"#,
    )
    .await;
    let uuid = kv_v1_with_secret(&n).await;
    let path = format!("sys/raw/logical/{uuid}/unwrapped");
    let plain = n.token_with(&["raw-read"]).await;
    assert!(n.denied(&plain, Read, &path, Value::Null).await);
    let sudo = n.token_with(&["raw-sudo"]).await;
    assert!(n.ok(&sudo, Read, &path, Value::Null).await.is_some());
}
