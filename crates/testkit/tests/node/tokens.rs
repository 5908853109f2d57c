//! The token store through `auth/token/*`: creation rules, lookups,
//! revocation trees and orphans, roles, accessors and hashed storage
//! (lifetimes are in `token_lifetime.rs`).

use coffer_core::CoreError;
use coffer_core::engine::Operation::{Delete, List, Read, Update};
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};

const HOUR: u64 = 3600;

fn data(r: Option<coffer_core::engine::Response>) -> Value {
    r.and_then(|r| r.data).expect("data")
}

fn bad_request(r: Result<Option<coffer_core::engine::Response>, CoreError>) -> String {
    match r {
        Err(CoreError::InvalidRequest(m)) => m,
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn create_returns_vault_auth_block_and_lookup_describes_the_token() {
    let n = AuthNode::new().await;
    n.policy("dev", r#"path "secret/*" { capabilities = ["read"] }"#)
        .await;
    let resp = n
        .root_call(
            Update,
            "auth/token/create",
            json!({"policies": "dev", "ttl": "1h", "meta": {"app": "web"}, "display_name": "Web App", "num_uses": 5}),
        )
        .await
        .expect("response");
    let auth = resp.auth.expect("auth");
    assert!(auth.client_token.starts_with("hvs.") && auth.client_token.len() == 28);
    assert_eq!(auth.policies, ["default", "dev"]);
    assert_eq!(auth.lease_duration.as_secs(), HOUR);
    assert!(auth.renewable);
    assert!(!auth.orphan);
    assert_eq!(auth.num_uses, 5);
    assert!(resp.data.is_none());
    let token = auth.client_token.to_string();
    let me = n.lookup_self(&token).await;
    assert_eq!(me["id"], token.as_str());
    assert_eq!(me["accessor"], auth.accessor.as_str());
    assert_eq!(me["display_name"], "token-Web-App");
    assert_eq!(me["meta"], json!({"app": "web"}));
    assert_eq!(me["creation_ttl"], HOUR);
    assert_eq!(me["ttl"], HOUR);
    assert_eq!(me["num_uses"], 4, "the lookup itself used one");
    assert_eq!(me["path"], "auth/token/create");
    assert_eq!(me["type"], "service");
    assert!(
        me["expire_time"]
            .as_str()
            .expect("expire")
            .starts_with("2024-01-01T01:00:00")
    );
    let by_root = data(
        n.root_call(Update, "auth/token/lookup", json!({"token": token}))
            .await,
    );
    assert_eq!(by_root["accessor"], auth.accessor.as_str());
    let by_accessor = data(
        n.root_call(
            Update,
            "auth/token/lookup-accessor",
            json!({"accessor": auth.accessor}),
        )
        .await,
    );
    assert_eq!(by_accessor["id"], "", "no token by accessor");
    assert_eq!(by_accessor["policies"], json!(["default", "dev"]));
}

#[tokio::test]
async fn missing_policies_warn_and_batch_tokens_are_refused() {
    let n = AuthNode::new().await;
    let resp = n
        .root_call(Update, "auth/token/create", json!({"policies": ["ghost"]}))
        .await
        .expect("created");
    assert!(
        resp.warnings
            .iter()
            .any(|w| w.contains("\"ghost\" does not exist")),
        "{:?}",
        resp.warnings
    );
    let msg = bad_request(
        n.call(
            &n.root.clone(),
            Update,
            "auth/token/create",
            json!({"type": "batch"}),
        )
        .await,
    );
    assert!(msg.contains("batch tokens are not supported"), "{msg}");
}

#[tokio::test]
async fn child_tokens_get_only_a_subset_of_their_parents_policies() {
    let n = AuthNode::new().await;
    n.token_maker_policy("a").await;
    n.policy("b", r#"path "x/*" { capabilities = ["read"] }"#)
        .await;
    let parent = n.token_with(&["a", "b"]).await;
    let (child, _) = n
        .create_as(&parent, "auth/token/create", json!({"policies": ["b"]}))
        .await;
    assert_eq!(
        n.lookup_self(&child).await["policies"],
        json!(["b", "default"])
    );
    let msg = bad_request(
        n.call(
            &parent,
            Update,
            "auth/token/create",
            json!({"policies": ["admin"]}),
        )
        .await,
    );
    assert!(msg.contains("subset of parent"), "{msg}");
    let (inherited, _) = n.create_as(&parent, "auth/token/create", json!({})).await;
    assert_eq!(
        n.lookup_self(&inherited).await["policies"],
        json!(["a", "b", "default"])
    );
    let msg = bad_request(
        n.call(
            &parent,
            Update,
            "auth/token/create",
            json!({"policies": ["root"]}),
        )
        .await,
    );
    assert!(msg.contains("subset of parent"), "{msg}");
    let (no_default, _) = n
        .create_as(
            &parent,
            "auth/token/create",
            json!({"policies": ["b"], "no_default_policy": true}),
        )
        .await;
    // Without `default` it cannot even look itself up.
    assert!(
        n.denied(&no_default, Read, "auth/token/lookup-self", Value::Null)
            .await
    );
}

#[tokio::test]
async fn revoking_a_parent_revokes_the_whole_tree_but_not_orphans() {
    let n = AuthNode::new().await;
    n.policy(
        "maker",
        r#"path "auth/token/create*" { capabilities = ["update"] }"#,
    )
    .await;
    let parent = n.token_with(&["maker"]).await;
    let (child, _) = n.create_as(&parent, "auth/token/create", json!({})).await;
    let (grandchild, _) = n.create_as(&child, "auth/token/create", json!({})).await;
    let (orphan, _) = n
        .create_as(&parent, "auth/token/create-orphan", json!({}))
        .await;
    assert_eq!(n.lookup_self(&orphan).await["orphan"], true);
    assert_eq!(n.lookup_self(&grandchild).await["orphan"], false);
    n.root_call(Update, "auth/token/revoke", json!({"token": parent}))
        .await;
    for gone in [&parent, &child, &grandchild] {
        assert!(
            n.denied(gone, Read, "auth/token/lookup-self", Value::Null)
                .await
        );
    }
    n.lookup_self(&orphan).await;
    // Revoking an unknown token is not an error.
    n.root_call(Update, "auth/token/revoke", json!({"token": "hvs.unknown"}))
        .await;
}

#[tokio::test]
async fn revoke_orphan_keeps_children_alive_as_orphans_and_needs_sudo() {
    let n = AuthNode::new().await;
    n.policy(
        "maker",
        r#"path "auth/token/create" { capabilities = ["update"] }
path "auth/token/revoke-orphan" { capabilities = ["update"] }"#,
    )
    .await;
    let parent = n.token_with(&["maker"]).await;
    let (child, _) = n.create_as(&parent, "auth/token/create", json!({})).await;
    assert!(
        n.denied(
            &parent,
            Update,
            "auth/token/revoke-orphan",
            json!({"token": child})
        )
        .await,
        "revoke-orphan needs sudo"
    );
    n.root_call(Update, "auth/token/revoke-orphan", json!({"token": parent}))
        .await;
    assert!(
        n.denied(&parent, Read, "auth/token/lookup-self", Value::Null)
            .await
    );
    assert_eq!(n.lookup_self(&child).await["orphan"], true);
}

#[tokio::test]
async fn orphans_through_no_parent_need_sudo_but_create_orphan_does_not() {
    let n = AuthNode::new().await;
    n.policy(
        "maker",
        r#"path "auth/token/create*" { capabilities = ["update"] }"#,
    )
    .await;
    n.policy(
        "sudo-maker",
        r#"path "auth/token/create" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let plain = n.token_with(&["maker"]).await;
    let msg = bad_request(
        n.call(
            &plain,
            Update,
            "auth/token/create",
            json!({"no_parent": true}),
        )
        .await,
    );
    assert!(msg.contains("orphan"), "{msg}");
    let msg = bad_request(
        n.call(&plain, Update, "auth/token/create", json!({"period": "1h"}))
            .await,
    );
    assert!(msg.contains("periodic"), "{msg}");
    let (o, _) = n
        .create_as(&plain, "auth/token/create-orphan", json!({}))
        .await;
    assert_eq!(n.lookup_self(&o).await["orphan"], true);
    let sudo = n.token_with(&["sudo-maker"]).await;
    let (o2, _) = n
        .create_as(&sudo, "auth/token/create", json!({"no_parent": true}))
        .await;
    assert_eq!(n.lookup_self(&o2).await["orphan"], true);
    // Revoking the creator leaves both orphans.
    n.root_call(Update, "auth/token/revoke", json!({"token": sudo}))
        .await;
    n.lookup_self(&o2).await;
}

#[tokio::test]
async fn revoke_self_and_revoke_accessor_work_with_the_default_policy() {
    let n = AuthNode::new().await;
    let t = n.token_with(&[]).await;
    n.ok(&t, Update, "auth/token/revoke-self", Value::Null)
        .await;
    assert!(
        n.denied(&t, Read, "auth/token/lookup-self", Value::Null)
            .await
    );
    let root = n.root.clone();
    let (t2, acc) = n
        .create_as(&root, "auth/token/create", json!({"policies": ["default"]}))
        .await;
    n.root_call(
        Update,
        "auth/token/revoke-accessor",
        json!({"accessor": acc}),
    )
    .await;
    assert!(
        n.denied(&t2, Read, "auth/token/lookup-self", Value::Null)
            .await
    );
    let msg = bad_request(
        n.call(
            &root,
            Update,
            "auth/token/lookup-accessor",
            json!({"accessor": acc}),
        )
        .await,
    );
    assert!(msg.contains("invalid accessor"), "{msg}");
}

#[tokio::test]
async fn roles_grant_policies_orphans_and_periods_without_sudo() {
    let n = AuthNode::new().await;
    n.policy("app", r#"path "secret/*" { capabilities = ["read"] }"#)
        .await;
    n.policy(
        "maker",
        r#"path "auth/token/create/*" { capabilities = ["update"] }"#,
    )
    .await;
    n.root_call(
        Update,
        "auth/token/roles/Web",
        json!({"allowed_policies": ["app"], "disallowed_policies": "admin", "orphan": true,
               "token_period": "2h", "path_suffix": "v1"}),
    )
    .await;
    let role = data(n.root_call(Read, "auth/token/roles/web", Value::Null).await);
    assert_eq!(role["name"], "web");
    assert_eq!(role["allowed_policies"], json!(["app"]));
    assert_eq!(role["period"], 2 * HOUR);
    assert_eq!(role["token_type"], "default-service");
    let roles = data(n.root_call(List, "auth/token/roles", Value::Null).await);
    assert_eq!(roles["keys"], json!(["web"]));

    let maker = n.token_with(&["maker"]).await;
    let (t, _) = n
        .create_as(&maker, "auth/token/create/web", json!({}))
        .await;
    let me = n.lookup_self(&t).await;
    assert_eq!(me["policies"], json!(["app", "default"]));
    assert_eq!(me["orphan"], true);
    assert_eq!(me["period"], 2 * HOUR);
    assert_eq!(me["role"], "web");
    assert_eq!(me["path"], "auth/token/create/web/v1");
    let msg = bad_request(
        n.call(
            &maker,
            Update,
            "auth/token/create/web",
            json!({"policies": ["maker"]}),
        )
        .await,
    );
    assert!(msg.contains("role's allowed policies"), "{msg}");
    let msg = bad_request(
        n.call(&maker, Update, "auth/token/create/nope", json!({}))
            .await,
    );
    assert!(msg.contains("unknown role"), "{msg}");
    n.root_call(Delete, "auth/token/roles/web", Value::Null)
        .await;
    assert!(
        n.call(&n.root.clone(), Read, "auth/token/roles/web", Value::Null)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn role_writes_need_create_for_new_roles_and_update_for_existing_ones() {
    let n = AuthNode::new().await;
    n.policy(
        "roles-create",
        r#"path "auth/token/roles/*" { capabilities = ["create"] }"#,
    )
    .await;
    let t = n.token_with(&["roles-create"]).await;
    n.ok(&t, Update, "auth/token/roles/r1", json!({"orphan": false}))
        .await;
    assert!(
        n.denied(&t, Update, "auth/token/roles/r1", json!({"orphan": true}))
            .await
    );
}

#[tokio::test]
async fn listing_accessors_needs_sudo() {
    let n = AuthNode::new().await;
    n.policy(
        "lister",
        r#"path "auth/token/accessors" { capabilities = ["list"] }"#,
    )
    .await;
    n.policy(
        "sudo-lister",
        r#"path "auth/token/accessors" { capabilities = ["list", "sudo"] }"#,
    )
    .await;
    let plain = n.token_with(&["lister"]).await;
    let sudo = n.token_with(&["sudo-lister"]).await;
    assert!(
        n.denied(&plain, List, "auth/token/accessors", Value::Null)
            .await
    );
    let keys = data(n.ok(&sudo, List, "auth/token/accessors", Value::Null).await);
    assert_eq!(keys["keys"].as_array().expect("keys").len(), 3);
}

#[tokio::test]
async fn chosen_ids_need_sudo_and_tokens_are_stored_only_hashed() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (t, _) = n
        .create_as(
            &root,
            "auth/token/create",
            json!({"id": "my-fixed-token-value", "policies": ["default"]}),
        )
        .await;
    assert_eq!(t, "my-fixed-token-value");
    n.lookup_self(&t).await;
    let msg = bad_request(
        n.call(
            &root,
            Update,
            "auth/token/create",
            json!({"id": "my-fixed-token-value"}),
        )
        .await,
    );
    assert!(msg.contains("duplicate"), "{msg}");
    let msg = bad_request(
        n.call(
            &root,
            Update,
            "auth/token/create",
            json!({"id": "hvs.dotted"}),
        )
        .await,
    );
    assert!(msg.contains("'.'"), "{msg}");
    let plain = n.token_with(&[]).await;
    // A default-only token may not even call create.
    assert!(
        n.denied(&plain, Update, "auth/token/create", json!({"id": "x"}))
            .await
    );
    // No token appears in storage, in any form.
    let dump = dump(&n).await;
    for secret in [&root, &t, &plain] {
        assert!(!contains(&dump, secret.as_bytes()), "a token is in storage");
    }
}

async fn dump(n: &AuthNode) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(prefix) = stack.pop() {
        for child in n.backend.list(&prefix).await.expect("list") {
            let full = format!("{prefix}{child}");
            if child.ends_with('/') {
                stack.push(full);
            } else {
                out.extend(full.as_bytes());
                out.extend(n.backend.get(&full).await.expect("get").unwrap_or_default());
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn an_authenticated_request_keeps_its_token_out_of_debug_output() {
    let n = AuthNode::new().await;
    let req = coffer_core::engine::Request::new(Read, "auth/token/lookup-self");
    let auth = n
        .core
        .authenticate_request(&req, Some(&n.root))
        .await
        .expect("the root token authenticates");
    let shown = format!("{auth:?}");
    assert!(!shown.contains(&n.root), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(matches!(
        n.core.authenticate_request(&req, Some("")).await,
        Err(CoreError::PermissionDenied)
    ));
}
