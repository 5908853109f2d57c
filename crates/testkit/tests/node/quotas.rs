//! Node tier: rate-limit quotas (`sys/quotas/rate-limit`, `sys/quotas/config`):
//! Vault's read shape, the checks on write, the quota that decides a path,
//! and quotas kept across a restart and dropped while sealed.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{Delete, List, Read, Update};
use coffer_core::quota::Decision;
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};
use std::net::IpAddr;

const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10)));

async fn refused(n: &AuthNode, body: Value) -> CoreError {
    let root = n.root.clone();
    n.call(&root, Update, "sys/quotas/rate-limit/q", body)
        .await
        .expect_err("refused")
}

#[tokio::test]
async fn a_quota_reads_back_in_vaults_shape_lists_and_deletes() {
    let n = AuthNode::new().await;
    n.root_call(
        Update,
        "sys/quotas/rate-limit/kv",
        json!({"path": "secret", "rate": "10.5", "interval": "1m", "block_interval": "5m"}),
    )
    .await;
    let read = n
        .root_call(Read, "sys/quotas/rate-limit/kv", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(
        read,
        json!({"name": "kv", "path": "secret/", "type": "rate-limit", "rate": 10.5,
               "interval": 60, "block_interval": 300, "role": "", "inheritable": false})
    );
    n.root_call(Update, "sys/quotas/rate-limit/kv", json!({"rate": 20}))
        .await;
    let updated = n
        .root_call(Read, "sys/quotas/rate-limit/kv", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(updated["rate"], 20.0);
    assert_eq!(updated["interval"], 60, "unset fields keep their values");
    n.root_call(Update, "sys/quotas/rate-limit/all", json!({"rate": 100}))
        .await;
    let listed = n
        .root_call(List, "sys/quotas/rate-limit", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("keys");
    assert_eq!(listed["keys"], json!(["all", "kv"]));
    assert_eq!(
        n.root_call(Read, "sys/quotas/rate-limit/all", Value::Null)
            .await
            .and_then(|r| r.data)
            .expect("data")["inheritable"],
        true,
        "the global quota is inheritable, as in Vault"
    );
    n.root_call(Delete, "sys/quotas/rate-limit/kv", Value::Null)
        .await;
    assert!(
        n.root_call(Read, "sys/quotas/rate-limit/kv", Value::Null)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn quotas_that_cannot_work_are_refused_with_the_reason() {
    let n = AuthNode::new().await;
    for (body, needle) in [
        (json!({"path": "secret/"}), "rate is required"),
        (json!({"rate": 0}), "rate must be a positive number"),
        (
            json!({"rate": 5, "path": "nowhere/"}),
            "no secrets engine or auth method",
        ),
        (
            json!({"rate": 5, "path": "secret/*/x"}),
            "may only end the path",
        ),
        (
            json!({"rate": 5, "path": "secret/", "inheritable": true}),
            "inheritable",
        ),
        (json!({"rate": 5, "role": "web"}), "not supported"),
        (
            json!({"rate": 5, "type": "lease-count"}),
            "only rate-limit quotas",
        ),
        (json!({"rate": 5, "burst": 9}), "unknown field"),
    ] {
        let e = refused(&n, body.clone()).await.to_string();
        assert!(e.contains(needle), "{body}: {e}");
    }
    let root = n.root.clone();
    let e = n
        .call(
            &root,
            Update,
            "sys/quotas/config",
            json!({"enable_rate_limit_audit_logging": true}),
        )
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("not supported") && e.contains("sys/metrics"),
        "{e}"
    );
}

#[tokio::test]
async fn the_deciding_quota_refuses_past_its_rate_and_exempt_paths_pass() {
    let n = AuthNode::new().await;
    n.root_call(
        Update,
        "sys/quotas/rate-limit/kv",
        json!({"path": "secret/", "rate": 2, "interval": "1h"}),
    )
    .await;
    n.root_call(Update, "sys/quotas/rate-limit/all", json!({"rate": 1000}))
        .await;
    let check = |path: &str| n.core.check_rate_limit(path, CLIENT);
    for _ in 0..2 {
        let allowed = check("secret/data/app").expect("a quota applies");
        assert_eq!(allowed.quota, "kv");
        assert!(matches!(allowed.decision, Decision::Allowed { .. }));
    }
    let third = check("secret/data/app").expect("a quota applies");
    let Decision::Refused { retry_after } = third.decision else {
        panic!("the third request in an hour is refused: {third:?}");
    };
    assert!(retry_after.as_secs() > 1700, "{retry_after:?}");
    assert!(
        matches!(
            check("sys/mounts").map(|r| r.decision),
            Some(Decision::Allowed { .. })
        ),
        "other paths fall to the global quota"
    );
    assert_eq!(check("sys/health"), None, "exempt by default");
    n.root_call(
        Update,
        "sys/quotas/config",
        json!({"rate_limit_exempt_paths": ["secret/*"], "enable_rate_limit_response_headers": true}),
    )
    .await;
    assert_eq!(check("secret/data/app"), None, "exempt now");
    let config = n
        .root_call(Read, "sys/quotas/config", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(
        config,
        json!({"rate_limit_exempt_paths": ["secret/*"],
               "enable_rate_limit_audit_logging": false,
               "enable_rate_limit_response_headers": true})
    );
}

#[tokio::test]
async fn quotas_survive_a_restart_and_nothing_is_limited_while_sealed() {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/quotas/rate-limit/all", json!({"rate": 1}))
        .await;
    let restarted = n.restarted().await;
    assert!(
        restarted
            .core
            .check_rate_limit("sys/mounts", CLIENT)
            .is_some()
    );
    restarted.core.seal_now().await;
    assert_eq!(restarted.core.check_rate_limit("sys/mounts", CLIENT), None);
}
