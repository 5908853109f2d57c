//! Token lifetimes through `auth/token/*` on a test clock: TTLs and the
//! 32-day default, expiry taking children along, renewal within
//! `explicit_max_ttl`, periodic tokens, use limits, and persistence across a
//! seal.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{List, Read, Update};
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};

const HOUR: u64 = 3600;

fn bad_request(r: Result<Option<coffer_core::engine::Response>, CoreError>) -> String {
    match r {
        Err(CoreError::InvalidRequest(m)) => m,
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn root_creates_root_tokens_that_never_expire() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (child, _) = n.create_as(&root, "auth/token/create", json!({})).await;
    let me = n.lookup_self(&child).await;
    assert_eq!(me["policies"], json!(["root"]));
    assert_eq!(me["ttl"], 0);
    assert!(me["expire_time"].is_null());
    assert_eq!(me["renewable"], false);
    n.clock.advance(365 * 24 * HOUR);
    n.lookup_self(&child).await;
}

#[tokio::test]
async fn a_token_with_num_uses_is_revoked_after_its_last_use() {
    let n = AuthNode::new().await;
    n.root_call(Update, "secret/data/app", json!({"data": {"pw": "x"}}))
        .await;
    n.policy(
        "reader",
        r#"path "secret/data/*" { capabilities = ["read"] }"#,
    )
    .await;
    let root = n.root.clone();
    let (t, _) = n
        .create_as(
            &root,
            "auth/token/create",
            json!({"policies": ["reader"], "num_uses": 2}),
        )
        .await;
    assert!(
        n.ok(&t, Read, "secret/data/app", Value::Null)
            .await
            .is_some()
    );
    // A denied request still uses the token up, as in Vault.
    assert!(
        n.denied(&t, Update, "secret/data/app", json!({"data": {}}))
            .await
    );
    assert!(
        n.denied(&t, Read, "secret/data/app", Value::Null).await,
        "used up"
    );
    assert!(matches!(
        n.core.authenticate(Some(&t)).await,
        Err(CoreError::PermissionDenied)
    ));
}

#[tokio::test]
async fn tokens_expire_with_the_clock_and_take_their_children_along() {
    let n = AuthNode::new().await;
    n.token_maker_policy("maker").await;
    let root = n.root.clone();
    let (parent, _) = n
        .create_as(
            &root,
            "auth/token/create",
            json!({"policies": ["maker"], "ttl": "1h"}),
        )
        .await;
    let (child, _) = n
        .create_as(&parent, "auth/token/create", json!({"ttl": "10h"}))
        .await;
    n.clock.advance(HOUR - 1);
    assert_eq!(n.lookup_self(&parent).await["ttl"], 1);
    n.clock.advance(1);
    assert!(
        n.denied(&child, Read, "auth/token/lookup-self", Value::Null)
            .await,
        "parent expired"
    );
    assert!(
        n.denied(&parent, Read, "auth/token/lookup-self", Value::Null)
            .await
    );
    // Both are gone from storage, not only refused.
    let acc = n
        .call(&root, List, "auth/token/accessors", Value::Null)
        .await
        .expect("list")
        .and_then(|r| r.data)
        .expect("keys");
    assert_eq!(
        acc["keys"].as_array().expect("keys").len(),
        1,
        "only root left: {acc}"
    );
}

#[tokio::test]
async fn default_ttl_is_32_days_and_renewal_is_capped_by_explicit_max_ttl() {
    let n = AuthNode::new().await;
    let t = n.token_with(&[]).await;
    assert_eq!(n.lookup_self(&t).await["ttl"], 32 * 24 * HOUR);

    let root = n.root.clone();
    let (t, _) = n
        .create_as(
            &root,
            "auth/token/create",
            json!({"policies": ["default"], "ttl": "1h", "explicit_max_ttl": "3h"}),
        )
        .await;
    n.clock.advance(HOUR / 2);
    let renewed = n
        .ok(
            &t,
            Update,
            "auth/token/renew-self",
            json!({"increment": "2h"}),
        )
        .await
        .expect("renewed");
    let auth = renewed.auth.expect("auth");
    assert_eq!(auth.lease_duration.as_secs(), 2 * HOUR);
    assert_eq!(auth.client_token.as_str(), t);
    n.clock.advance(HOUR + HOUR / 2);
    let capped = n
        .ok(
            &t,
            Update,
            "auth/token/renew-self",
            json!({"increment": "2h"}),
        )
        .await
        .expect("renewed");
    assert_eq!(
        capped.auth.expect("auth").lease_duration.as_secs(),
        HOUR,
        "capped at 3h from creation"
    );
    assert!(
        capped.warnings.iter().any(|w| w.contains("capped")),
        "{:?}",
        capped.warnings
    );
    assert!(n.lookup_self(&t).await["last_renewal_time"].is_u64());
    n.clock.advance(HOUR);
    assert!(
        n.denied(&t, Update, "auth/token/renew-self", Value::Null)
            .await,
        "expired"
    );
}

#[tokio::test]
async fn non_renewable_and_root_tokens_cannot_be_renewed() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (t, acc) = n
        .create_as(
            &root,
            "auth/token/create",
            json!({"policies": ["default"], "renewable": false, "ttl": "1h"}),
        )
        .await;
    let msg = bad_request(
        n.call(&t, Update, "auth/token/renew-self", Value::Null)
            .await,
    );
    assert!(msg.contains("not renewable"), "{msg}");
    let msg = bad_request(
        n.call(
            &root,
            Update,
            "auth/token/renew-accessor",
            json!({"accessor": acc}),
        )
        .await,
    );
    assert!(msg.contains("not renewable"), "{msg}");
    let msg = bad_request(
        n.call(&root, Update, "auth/token/renew", json!({"token": root}))
            .await,
    );
    assert!(msg.contains("not renewable"), "{msg}");
}

#[tokio::test]
async fn periodic_tokens_renew_to_their_period_for_ever() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (t, _) = n
        .create_as(
            &root,
            "auth/token/create",
            json!({"policies": ["default"], "period": "24h", "ttl": "5h"}),
        )
        .await;
    let me = n.lookup_self(&t).await;
    assert_eq!(me["ttl"], 24 * HOUR, "the period wins over ttl");
    assert_eq!(me["period"], 24 * HOUR);
    for _ in 0..40 {
        n.clock.advance(23 * HOUR);
        let r = n
            .ok(
                &t,
                Update,
                "auth/token/renew-self",
                json!({"increment": "100h"}),
            )
            .await
            .expect("renewed");
        assert_eq!(r.auth.expect("auth").lease_duration.as_secs(), 24 * HOUR);
    }
    // 40 renewals later (920 h, past the 32-day mount maximum) it still lives,
    // and it dies a period after the last renewal.
    n.lookup_self(&t).await;
    n.clock.advance(24 * HOUR);
    assert!(
        n.denied(&t, Read, "auth/token/lookup-self", Value::Null)
            .await
    );
}

#[tokio::test]
async fn tokens_and_their_policies_survive_a_seal_and_unseal() {
    let n = AuthNode::new().await;
    n.root_call(Update, "secret/data/app", json!({"data": {"pw": "x"}}))
        .await;
    n.policy(
        "reader",
        r#"path "secret/data/*" { capabilities = ["read"] }"#,
    )
    .await;
    let t = n.token_with(&["reader"]).await;
    n.reseal().await;
    assert!(
        n.ok(&t, Read, "secret/data/app", Value::Null)
            .await
            .is_some()
    );
    assert!(
        n.denied(&t, Update, "secret/data/app", json!({"data": {}}))
            .await
    );
}
