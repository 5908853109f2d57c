//! Crate tier: token leases and the expiration manager. Every token that
//! expires gets a lease named `<path>/<salted hash>`; `sys/leases/*` looks
//! them up, lists, refuses renewal (as Vault does for tokens), revokes and
//! tidies them; `expire_due` (the background sweep's pass, called directly
//! with a test clock) revokes expired tokens with their children, follows
//! renewals, and works the same after a seal or a restart. Effects are
//! checked in the token store, not through `expire_due`'s count: the
//! background sweep may run the same pass first.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{List, Read, Update};
use coffer_core::engine::{Response, ResponseStatus};
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};

const MINUTE: u64 = 60;

fn bad_request(r: Result<Option<Response>, CoreError>) -> String {
    match r {
        Err(CoreError::InvalidRequest(m)) => m,
        other => panic!("expected a 400, got {other:?}"),
    }
}

/// The keys listed by `LIST sys/leases/lookup/<prefix>` (empty for a 404).
async fn leases_under(n: &AuthNode, prefix: &str) -> Vec<String> {
    n.root_call(List, &format!("sys/leases/lookup/{prefix}"), Value::Null)
        .await
        .and_then(|r| r.data)
        .map(|d| {
            d["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| k.as_str().expect("key").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every accessor in the token store (tokens still stored, usable or not).
async fn accessors(n: &AuthNode) -> Vec<String> {
    let data = n
        .root_call(List, "auth/token/accessors", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("accessors");
    data["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("accessor").to_owned())
        .collect()
}

/// Creates a token as `parent` at `auth/token/create`; returns the token,
/// its accessor and the id of the lease it got.
async fn create(n: &AuthNode, parent: &str, body: Value) -> (String, String, String) {
    let before = leases_under(n, "auth/token/create/").await;
    let (token, accessor) = n.create_as(parent, "auth/token/create", body).await;
    let new: Vec<String> = leases_under(n, "auth/token/create/")
        .await
        .into_iter()
        .filter(|k| !before.contains(k) && !k.ends_with('/'))
        .collect();
    assert_eq!(new.len(), 1, "one new lease: {new:?}");
    (token, accessor, format!("auth/token/create/{}", new[0]))
}

async fn lookup(n: &AuthNode, lease_id: &str) -> Value {
    n.root_call(Update, "sys/leases/lookup", json!({ "lease_id": lease_id }))
        .await
        .and_then(|r| r.data)
        .expect("lookup data")
}

#[tokio::test]
async fn expiring_tokens_get_a_lease_named_by_path_and_hash_and_root_tokens_none() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    assert!(
        leases_under(&n, "").await.is_empty(),
        "the root token has no TTL"
    );
    let (_, _, lease) = create(&n, &root, json!({"ttl": "1h"})).await;
    let hash = lease.rsplit('/').next().expect("hash");
    assert_eq!(hash.len(), 64, "{lease}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{lease}");
    n.create_as(&root, "auth/token/create", json!({"policies": ["root"]}))
        .await;
    assert_eq!(leases_under(&n, "auth/token/create/").await.len(), 1);
    n.create_as(&root, "auth/token/create-orphan", json!({"ttl": "5m"}))
        .await;
    assert_eq!(
        leases_under(&n, "auth/token/").await,
        ["create-orphan/", "create/"]
    );

    n.root_call(Update, "sys/auth/userpass", json!({"type": "userpass"}))
        .await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw"}),
    )
    .await;
    n.core
        .handle(
            coffer_core::engine::Request::new(Update, "auth/userpass/login/alice")
                .with_data(json!({"password": "pw"})),
            None,
        )
        .await
        .expect("login");
    assert_eq!(
        leases_under(&n, "auth/userpass/login/alice/").await.len(),
        1,
        "a login's lease sits under the login path"
    );
    let metrics = n.core.metrics().await;
    let gauge = metrics
        .iter()
        .find(|m| m.name == "vault.expire.num_leases")
        .expect("lease gauge");
    assert_eq!(gauge.value, 3.0);
}

#[tokio::test]
async fn lookup_answers_vault_fields_and_refuses_unknown_leases() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (token, _, lease) = create(&n, &root, json!({"ttl": "1h"})).await;
    let d = lookup(&n, &lease).await;
    assert_eq!(d["id"], lease.as_str());
    assert_eq!(d["issue_time"], "2024-01-01T00:00:00.000000000Z");
    assert_eq!(d["expire_time"], "2024-01-01T01:00:00.000000000Z");
    assert_eq!(d["last_renewal"], Value::Null);
    assert_eq!(d["renewable"], true);
    assert_eq!(d["ttl"], 3600);
    n.clock.advance(10 * MINUTE);
    n.ok(
        &token,
        Update,
        "auth/token/renew-self",
        json!({"increment": "2h"}),
    )
    .await;
    let d = lookup(&n, &lease).await;
    assert_eq!(d["last_renewal"], "2024-01-01T00:10:00.000000000Z");
    assert_eq!(d["expire_time"], "2024-01-01T02:10:00.000000000Z");
    assert_eq!(d["ttl"], 7200);

    // The default policy may look up a lease it knows the id of.
    let plain = n.token_with(&[]).await;
    let seen = n
        .ok(
            &plain,
            Update,
            "sys/leases/lookup",
            json!({ "lease_id": lease }),
        )
        .await
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(seen["id"], lease.as_str());

    for unknown in [
        "auth/token/create/0000",
        "auth/token/create",
        "../token/salt",
        "auth//x",
    ] {
        let r = n
            .call(
                &root,
                Update,
                "sys/leases/lookup",
                json!({ "lease_id": unknown }),
            )
            .await;
        assert_eq!(bad_request(r), "invalid lease", "{unknown}");
    }
    let r = n.call(&root, Update, "sys/leases/lookup", json!({})).await;
    assert_eq!(bad_request(r), "lease_id must be specified");
}

#[tokio::test]
async fn renewing_a_token_lease_is_refused_as_vault_refuses_it() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (_, _, renewable) = create(&n, &root, json!({"ttl": "1h"})).await;
    let (_, _, fixed) = create(&n, &root, json!({"ttl": "1h", "renewable": false})).await;
    for path in ["sys/leases/renew", "sys/renew"] {
        let r = n
            .call(
                &root,
                Update,
                path,
                json!({"lease_id": renewable, "increment": 60}),
            )
            .await;
        assert_eq!(
            bad_request(r),
            "tokens cannot be renewed through this endpoint"
        );
    }
    let r = n
        .call(&root, Update, &format!("sys/renew/{renewable}"), json!({}))
        .await;
    assert_eq!(
        bad_request(r),
        "tokens cannot be renewed through this endpoint"
    );
    let r = n
        .call(
            &root,
            Update,
            "sys/leases/renew",
            json!({"lease_id": fixed}),
        )
        .await;
    assert_eq!(bad_request(r), "lease is not renewable");
    let r = n
        .call(
            &root,
            Update,
            "sys/leases/renew",
            json!({"lease_id": "auth/token/create/x"}),
        )
        .await;
    assert_eq!(bad_request(r), "lease not found");
    let r = n.call(&root, Update, "sys/leases/renew", json!({})).await;
    assert_eq!(bad_request(r), "lease_id must be specified");
}

#[tokio::test]
async fn the_sweep_revokes_an_expired_token_and_its_children_without_anyone_presenting_them() {
    let n = AuthNode::new().await;
    n.token_maker_policy("maker").await;
    let root = n.root.clone();
    let (parent, parent_accessor, _) =
        create(&n, &root, json!({"policies": ["maker"], "ttl": "1h"})).await;
    let (_, child_accessor, _) = create(&n, &parent, json!({"ttl": "10h"})).await;
    n.clock.advance(60 * MINUTE - 1);
    assert_eq!(n.core.expire_due().await.expect("sweep"), 0);
    assert!(accessors(&n).await.contains(&parent_accessor));
    n.clock.advance(1);
    n.core.expire_due().await.expect("sweep");
    let left = accessors(&n).await;
    assert!(!left.contains(&parent_accessor), "parent revoked");
    assert!(!left.contains(&child_accessor), "child revoked with it");
    assert_eq!(left.len(), 1, "only root is left: {left:?}");
    assert!(
        leases_under(&n, "").await.is_empty(),
        "the child's lease went with it"
    );
}

#[tokio::test]
async fn a_renewed_token_is_not_revoked_at_its_old_expiry() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (token, accessor, lease) = create(&n, &root, json!({"ttl": "10m"})).await;
    n.clock.advance(5 * MINUTE);
    n.ok(
        &token,
        Update,
        "auth/token/renew-self",
        json!({"increment": "1h"}),
    )
    .await;
    n.clock.advance(10 * MINUTE);
    assert_eq!(n.core.expire_due().await.expect("sweep"), 0);
    assert_eq!(n.lookup_self(&token).await["accessor"], accessor.as_str());
    assert_eq!(leases_under(&n, "auth/token/create/").await.len(), 1);
    assert_eq!(lookup(&n, &lease).await["ttl"], 50 * 60);
    n.clock.advance(50 * MINUTE);
    n.core.expire_due().await.expect("sweep");
    assert!(!accessors(&n).await.contains(&accessor));
}

#[tokio::test]
async fn the_schedule_survives_a_seal_and_a_restart() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (_, first, _) = create(&n, &root, json!({"ttl": "10m"})).await;
    let (_, second, _) = create(&n, &root, json!({"ttl": "20m"})).await;
    n.reseal().await;
    n.clock.advance(10 * MINUTE);
    n.core.expire_due().await.expect("sweep");
    let left = accessors(&n).await;
    assert!(!left.contains(&first) && left.contains(&second), "{left:?}");

    n.core.seal_now().await;
    assert!(matches!(n.core.expire_due().await, Err(CoreError::Sealed)));
    let restarted = n.restarted().await;
    let gauge = restarted
        .core
        .metrics()
        .await
        .into_iter()
        .find(|m| m.name == "vault.expire.num_leases")
        .expect("lease gauge");
    assert_eq!(gauge.value, 1.0, "the lease was loaded from storage");
    restarted.clock.advance(10 * MINUTE);
    restarted.core.expire_due().await.expect("sweep");
    assert!(!accessors(&restarted).await.contains(&second));
}

#[tokio::test]
async fn every_way_of_revoking_a_token_removes_its_lease() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (a, _, _) = create(&n, &root, json!({"ttl": "1h"})).await;
    let (_, b_accessor, _) = create(&n, &root, json!({"ttl": "1h"})).await;
    let (c, _, _) = create(&n, &root, json!({"ttl": "1h"})).await;
    let (d, _, _) = create(&n, &root, json!({"ttl": "1h", "num_uses": 1})).await;
    assert_eq!(leases_under(&n, "auth/token/create/").await.len(), 4);
    n.root_call(Update, "auth/token/revoke", json!({ "token": a }))
        .await;
    n.root_call(
        Update,
        "auth/token/revoke-accessor",
        json!({ "accessor": b_accessor }),
    )
    .await;
    n.ok(&c, Update, "auth/token/revoke-self", json!({})).await;
    n.ok(&d, Read, "auth/token/lookup-self", Value::Null).await;
    assert!(
        leases_under(&n, "").await.is_empty(),
        "a spent token loses its lease too"
    );
}

#[tokio::test]
async fn sys_leases_revoke_revokes_now_or_queues_for_the_sweep() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (_, now_accessor, now_lease) = create(&n, &root, json!({"ttl": "1h"})).await;
    let (_, queued_accessor, queued_lease) = create(&n, &root, json!({"ttl": "1h"})).await;
    let (_, url_accessor, url_lease) = create(&n, &root, json!({"ttl": "1h"})).await;
    let answer = n
        .root_call(
            Update,
            "sys/leases/revoke",
            json!({ "lease_id": now_lease }),
        )
        .await;
    assert!(answer.is_none(), "204 when revoked synchronously");
    assert!(!accessors(&n).await.contains(&now_accessor));

    let answer = n
        .root_call(
            Update,
            "sys/leases/revoke",
            json!({ "lease_id": queued_lease, "sync": false }),
        )
        .await
        .expect("202");
    assert_eq!(answer.status, ResponseStatus::Code(202));
    // Due at once: the next sweep revokes it (the background one may come
    // first, so what is left in between is not checked).
    n.core.expire_due().await.expect("sweep");
    assert!(!accessors(&n).await.contains(&queued_accessor));

    n.root_call(Update, &format!("sys/revoke/{url_lease}"), json!({}))
        .await;
    assert!(
        !accessors(&n).await.contains(&url_accessor),
        "legacy path, id in the URL"
    );
    let again = n
        .root_call(
            Update,
            "sys/leases/revoke",
            json!({ "lease_id": url_lease }),
        )
        .await;
    assert!(
        again.is_none(),
        "revoking an unknown lease succeeds, as in Vault"
    );
    assert!(leases_under(&n, "").await.is_empty());
}

#[tokio::test]
async fn revoke_prefix_and_revoke_force_take_every_lease_below_and_need_sudo() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    n.policy(
        "leases",
        r#"path "sys/leases/*" { capabilities = ["update", "list"] }
path "sys/revoke-prefix/*" { capabilities = ["update"] }"#,
    )
    .await;
    let operator = n.token_with(&["leases"]).await;
    for path in [
        "sys/leases/revoke-prefix/auth/token/create",
        "sys/leases/revoke-force/auth/token/create",
        "sys/revoke-prefix/auth/token/create",
    ] {
        assert!(n.denied(&operator, Update, path, json!({})).await, "{path}");
    }
    assert!(
        n.denied(&operator, List, "sys/leases/lookup/auth/", Value::Null)
            .await
    );

    let (_, one, one_lease) = create(&n, &root, json!({"ttl": "1h"})).await;
    create(&n, &root, json!({"ttl": "1h"})).await;
    n.create_as(&root, "auth/token/create-orphan", json!({"ttl": "1h"}))
        .await;
    // A prefix without a trailing slash that names a lease revokes that one.
    n.root_call(
        Update,
        &format!("sys/leases/revoke-prefix/{one_lease}"),
        json!({}),
    )
    .await;
    assert!(!accessors(&n).await.contains(&one));
    assert_eq!(
        leases_under(&n, "auth/token/create/").await.len(),
        2,
        "the second token and the operator's are left"
    );
    n.root_call(
        Update,
        "sys/leases/revoke-prefix/auth/token/create",
        json!({}),
    )
    .await;
    assert!(leases_under(&n, "auth/token/create/").await.is_empty());
    assert_eq!(leases_under(&n, "auth/token/").await, ["create-orphan/"]);
    n.root_call(Update, "sys/revoke-force/auth/token", json!({}))
        .await;
    assert!(leases_under(&n, "").await.is_empty());
    let left = accessors(&n).await;
    assert_eq!(left.len(), 1, "only root is left: {left:?}");
    let r = n
        .call(&root, Update, "sys/leases/revoke-prefix/", json!({}))
        .await;
    assert!(bad_request(r).contains("prefix is required"));
}

#[tokio::test]
async fn lease_tidy_drops_leases_whose_token_is_gone_and_revokes_expired_tokens() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let (_, accessor, _) = create(&n, &root, json!({"ttl": "10m"})).await;
    create(&n, &root, json!({"ttl": "1h"})).await;
    n.clock.advance(10 * MINUTE);
    let status = n.tidy("sys/leases/tidy").await;
    assert_eq!(status["state"], "Finished", "{status}");
    let message = status["message"].as_str().expect("message");
    assert!(
        message.contains("examined 2 leases") && message.contains("revoked 1 tokens"),
        "{message}"
    );
    assert!(!accessors(&n).await.contains(&accessor));
    assert_eq!(leases_under(&n, "auth/token/create/").await.len(), 1);
}
