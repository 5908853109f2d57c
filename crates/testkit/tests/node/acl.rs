//! ACL enforcement on every request: default policy, read-only policies,
//! deny precedence, create vs update (existence checks), sudo paths,
//! parameter constraints, capabilities endpoints and the UI mount lookup.

use coffer_core::engine::Operation::{Delete, List, Patch, Read, Update};
use coffer_core::engine::Request;
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};

async fn with_secret(n: &AuthNode) {
    n.root_call(Update, "secret/data/app", json!({"data": {"pw": "s3cret"}}))
        .await;
}

#[tokio::test]
async fn default_policy_lets_a_fresh_token_look_itself_up_but_not_read_secrets() {
    let n = AuthNode::new().await;
    with_secret(&n).await;
    let token = n.token_with(&[]).await;
    let me = n.lookup_self(&token).await;
    assert_eq!(me["policies"], json!(["default"]));
    assert!(n.denied(&token, Read, "secret/data/app", Value::Null).await);
    assert!(n.denied(&token, List, "secret/metadata", Value::Null).await);
    assert!(n.denied(&token, Read, "sys/mounts", Value::Null).await);
    assert!(
        n.denied(&token, List, "sys/policies/acl", Value::Null)
            .await
    );
    // Its cubbyhole is its own.
    n.ok(&token, Update, "cubbyhole/note", json!({"v": "1"}))
        .await;
    assert!(
        n.ok(&token, Read, "cubbyhole/note", Value::Null)
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_read_policy_reads_but_cannot_write_or_delete() {
    let n = AuthNode::new().await;
    with_secret(&n).await;
    n.policy(
        "reader",
        r#"path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["list"] }"#,
    )
    .await;
    let token = n.token_with(&["reader"]).await;
    let got = n
        .ok(&token, Read, "secret/data/app", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(got["data"]["pw"], "s3cret");
    assert!(
        n.ok(&token, List, "secret/metadata", Value::Null)
            .await
            .is_some()
    );
    let body = json!({"data": {"pw": "mine"}});
    assert!(
        n.denied(&token, Update, "secret/data/app", body.clone())
            .await
    );
    assert!(n.denied(&token, Update, "secret/data/new", body).await);
    assert!(
        n.denied(&token, Delete, "secret/data/app", Value::Null)
            .await
    );
    assert!(
        n.denied(&token, Patch, "secret/data/app", json!({"data": {}}))
            .await
    );
}

#[tokio::test]
async fn writes_need_create_for_new_keys_and_update_for_existing_ones() {
    let n = AuthNode::new().await;
    with_secret(&n).await;
    n.policy(
        "creator",
        r#"path "secret/data/*" { capabilities = ["create"] }"#,
    )
    .await;
    n.policy(
        "updater",
        r#"path "secret/data/*" { capabilities = ["update"] }"#,
    )
    .await;
    let creator = n.token_with(&["creator"]).await;
    let updater = n.token_with(&["updater"]).await;
    let body = json!({"data": {"v": "1"}});
    n.ok(&creator, Update, "secret/data/fresh", body.clone())
        .await;
    assert!(
        n.denied(&creator, Update, "secret/data/app", body.clone())
            .await
    );
    n.ok(&updater, Update, "secret/data/app", body.clone())
        .await;
    assert!(n.denied(&updater, Update, "secret/data/other", body).await);

    // KV v1 and cubbyhole check existence the same way.
    n.root_call(Update, "sys/mounts/kv1", json!({"type": "kv"}))
        .await;
    n.root_call(Update, "kv1/old", json!({"v": "1"})).await;
    n.policy(
        "kv1-create",
        r#"path "kv1/*" { capabilities = ["create"] }"#,
    )
    .await;
    let t = n.token_with(&["kv1-create"]).await;
    n.ok(&t, Update, "kv1/new", json!({"v": "1"})).await;
    assert!(n.denied(&t, Update, "kv1/old", json!({"v": "2"})).await);
}

#[tokio::test]
async fn transit_encrypt_on_a_missing_key_needs_create_as_it_creates_the_key() {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/mounts/transit", json!({"type": "transit"}))
        .await;
    n.root_call(Update, "transit/keys/orders", json!({})).await;
    n.policy(
        "encrypt-only",
        r#"path "transit/encrypt/*" { capabilities = ["update"] }"#,
    )
    .await;
    let t = n.token_with(&["encrypt-only"]).await;
    let body = json!({"plaintext": "NDExMSAxMTExIDExMTEgMTExMQ=="});
    n.ok(&t, Update, "transit/encrypt/orders", body.clone())
        .await;
    assert!(
        n.denied(&t, Update, "transit/encrypt/not-yet", body).await,
        "upsert would create a key: needs create"
    );
}

#[tokio::test]
async fn deny_wins_over_grants_from_other_policies() {
    let n = AuthNode::new().await;
    with_secret(&n).await;
    n.policy(
        "all",
        r#"path "secret/*" { capabilities = ["read", "list", "update", "create"] }"#,
    )
    .await;
    n.policy("nope", r#"path "secret/*" { capabilities = ["deny"] }"#)
        .await;
    let token = n.token_with(&["all", "nope"]).await;
    assert!(n.denied(&token, Read, "secret/data/app", Value::Null).await);
    n.policy(
        "exact-deny",
        r#"path "secret/data/app" { capabilities = ["deny"] }"#,
    )
    .await;
    let t2 = n.token_with(&["all", "exact-deny"]).await;
    assert!(n.denied(&t2, Read, "secret/data/app", Value::Null).await);
    n.root_call(Update, "secret/data/other", json!({"data": {"x": "y"}}))
        .await;
    assert!(
        n.ok(&t2, Read, "secret/data/other", Value::Null)
            .await
            .is_some()
    );
}

#[tokio::test]
async fn sudo_paths_need_sudo_as_well_as_the_capability() {
    let n = AuthNode::new().await;
    n.policy(
        "rotate",
        r#"path "sys/rotate" { capabilities = ["update"] }"#,
    )
    .await;
    n.policy(
        "rotate-sudo",
        r#"path "sys/rotate" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let plain = n.token_with(&["rotate"]).await;
    let sudo = n.token_with(&["rotate-sudo"]).await;
    assert!(n.denied(&plain, Update, "sys/rotate", Value::Null).await);
    n.ok(&sudo, Update, "sys/rotate", Value::Null).await;
    // The raw sys/seal handler goes through the same gate.
    assert!(matches!(
        n.core
            .authorize(Some(&plain), &Request::new(Update, "sys/seal"))
            .await,
        Err(coffer_core::CoreError::PermissionDenied)
    ));
    n.policy(
        "sealer",
        r#"path "sys/seal" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let sealer = n.token_with(&["sealer"]).await;
    n.core
        .authorize(Some(&sealer), &Request::new(Update, "sys/seal"))
        .await
        .expect("sealer may seal");
    // Seal re-wrap is an operator action too.
    n.policy(
        "rewrap",
        r#"path "sys/sealwrap/rewrap" { capabilities = ["read", "update"] }"#,
    )
    .await;
    let rewrap = n.token_with(&["rewrap"]).await;
    assert!(
        n.denied(&rewrap, Read, "sys/sealwrap/rewrap", Value::Null)
            .await
    );
}

#[tokio::test]
async fn parameter_constraints_are_held_against_the_request_body() {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/mounts/kv1", json!({"type": "kv"}))
        .await;
    n.policy(
        "colors",
        r#"path "kv1/*" {
  capabilities = ["create", "update"]
  allowed_parameters = { "color" = ["blue", "green"] }
  denied_parameters = { "secret" = [] }
}"#,
    )
    .await;
    let t = n.token_with(&["colors"]).await;
    n.ok(&t, Update, "kv1/a", json!({"color": "blue"})).await;
    assert!(n.denied(&t, Update, "kv1/a", json!({"color": "red"})).await);
    assert!(
        n.denied(&t, Update, "kv1/a", json!({"color": "blue", "size": "xl"}))
            .await
    );
    assert!(n.denied(&t, Update, "kv1/b", json!({"secret": "x"})).await);
}

#[tokio::test]
async fn mounts_and_policies_need_their_own_grants() {
    let n = AuthNode::new().await;
    n.policy(
        "mounter",
        r#"path "sys/mounts/team-*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/mounts" { capabilities = ["read"] }"#,
    )
    .await;
    let t = n.token_with(&["mounter"]).await;
    n.ok(&t, Update, "sys/mounts/team-a", json!({"type": "kv"}))
        .await;
    assert!(
        n.denied(&t, Update, "sys/mounts/other", json!({"type": "kv"}))
            .await
    );
    assert!(n.ok(&t, Read, "sys/mounts", Value::Null).await.is_some());
    assert!(
        n.denied(
            &t,
            Update,
            "sys/policies/acl/x",
            json!({"policy": "path \"a\" {}"})
        )
        .await
    );
    assert!(n.denied(&t, Read, "sys/key-status", Value::Null).await);
}

#[tokio::test]
async fn capabilities_endpoints_report_per_path_and_for_one_path_also_flat() {
    let n = AuthNode::new().await;
    n.policy(
        "app",
        r#"path "secret/data/app" { capabilities = ["read", "update"] }
path "sys/capabilities" { capabilities = ["update"] }
path "sys/capabilities-accessor" { capabilities = ["update"] }"#,
    )
    .await;
    let root = n.root.clone();
    let (token, accessor) = n
        .create_as(&root, "auth/token/create", json!({"policies": ["app"]}))
        .await;
    let caps = |v: Option<coffer_core::engine::Response>| v.and_then(|r| r.data).expect("data");
    let own = caps(
        n.ok(
            &token,
            Update,
            "sys/capabilities-self",
            json!({"paths": ["secret/data/app"]}),
        )
        .await,
    );
    assert_eq!(own["capabilities"], json!(["read", "update"]));
    assert_eq!(own["secret/data/app"], json!(["read", "update"]));
    let two = caps(
        n.ok(
            &token,
            Update,
            "sys/capabilities-self",
            json!({"paths": "secret/data/app,sys/mounts"}),
        )
        .await,
    );
    assert_eq!(two["sys/mounts"], json!(["deny"]));
    assert!(two.get("capabilities").is_none());
    let of_root = caps(
        n.ok(
            &token,
            Update,
            "sys/capabilities",
            json!({"token": root, "path": "x/y"}),
        )
        .await,
    );
    assert_eq!(of_root["capabilities"], json!(["root"]));
    let by_accessor = caps(
        n.ok(
            &token,
            Update,
            "sys/capabilities-accessor",
            json!({"accessor": accessor, "paths": ["secret/data/app"]}),
        )
        .await,
    );
    assert_eq!(by_accessor["capabilities"], json!(["read", "update"]));
    let bad = n
        .call(
            &token,
            Update,
            "sys/capabilities",
            json!({"token": "hvs.nope", "paths": ["a"]}),
        )
        .await
        .expect_err("unknown token");
    assert!(bad.to_string().contains("invalid token"), "{bad}");
    let plain = n.token_with(&[]).await;
    assert!(
        n.denied(
            &plain,
            Update,
            "sys/capabilities",
            json!({"token": root, "paths": ["a"]})
        )
        .await
    );
}

#[tokio::test]
async fn ui_mount_lookup_shows_only_mounts_the_token_can_reach() {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/mounts/hidden", json!({"type": "kv"}))
        .await;
    n.policy(
        "app",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    )
    .await;
    let t = n.token_with(&["app"]).await;
    let mounts = n
        .ok(&t, Read, "sys/internal/ui/mounts", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("mounts");
    let secret = mounts["secret"].as_object().expect("secret mounts");
    assert!(secret.contains_key("secret/"), "{mounts}");
    assert!(
        secret.contains_key("cubbyhole/"),
        "default policy reaches cubbyhole"
    );
    assert!(!secret.contains_key("hidden/"), "{mounts}");
    assert!(
        n.ok(&t, Read, "sys/internal/ui/mounts/secret/app", Value::Null)
            .await
            .is_some()
    );
    assert!(
        n.denied(&t, Read, "sys/internal/ui/mounts/hidden/x", Value::Null)
            .await
    );
}

#[tokio::test]
async fn odd_path_spellings_are_refused_before_the_acl() {
    let n = AuthNode::new().await;
    n.policy(
        "app",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    )
    .await;
    let t = n.token_with(&["app"]).await;
    for path in [
        "secret/data//app",
        "secret/data/./app",
        "secret/data/x/../app",
    ] {
        let err = n
            .call(&t, Read, path, Value::Null)
            .await
            .expect_err("odd path");
        assert!(
            matches!(err, coffer_core::CoreError::InvalidRequest(_)),
            "{path}: {err}"
        );
    }
}

#[tokio::test]
async fn an_unknown_path_is_403_without_access_and_404_with_it() {
    let n = AuthNode::new().await;
    let t = n.token_with(&[]).await;
    assert!(n.denied(&t, Read, "nowhere/x", Value::Null).await);
    let err = n
        .call(&n.root, Read, "nowhere/x", Value::Null)
        .await
        .expect_err("no mount");
    assert!(matches!(err, coffer_core::CoreError::UnsupportedPath(_)));
}

#[tokio::test]
async fn a_deny_on_a_policy_name_holds_for_every_spelling_of_it() {
    let n = AuthNode::new().await;
    n.policy(
        "policy-admin",
        r#"path "sys/policies/acl/*" { capabilities = ["create", "read", "update"] }
path "sys/policies/acl/admin" { capabilities = ["deny"] }
path "auth/token/create/*" { capabilities = ["update"] }
path "auth/token/create/ops" { capabilities = ["deny"] }"#,
    )
    .await;
    let t = n.token_with(&["policy-admin"]).await;
    let body = json!({"policy": "path \"x\" { capabilities = [\"read\"] }"});
    n.ok(&t, Update, "sys/policies/acl/other", body.clone())
        .await;
    for spelling in ["admin", "ADMIN", "Admin"] {
        let path = format!("sys/policies/acl/{spelling}");
        assert!(n.denied(&t, Update, &path, body.clone()).await, "{path}");
    }
    n.root_call(
        Update,
        "auth/token/roles/ops",
        json!({"allowed_policies": ["default"]}),
    )
    .await;
    assert!(
        n.denied(&t, Update, "auth/token/create/OPS", json!({}))
            .await
    );
}
