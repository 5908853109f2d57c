//! The token settings auth methods and token roles carry (Vault's
//! `tokenutil` fields): `token_bound_cidrs` binds issued tokens to client
//! addresses (at login and at every later use), `token_period` makes them
//! periodic, `token_explicit_max_ttl` caps them, and
//! `token_no_default_policy` leaves out `default`.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{Read, Update};
use coffer_core::engine::{Operation, Request, Response};
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};
use std::net::SocketAddr;

/// Calls as `token` from `from` (`None`: the address is unknown).
async fn call_from(
    n: &AuthNode,
    token: &str,
    from: Option<&str>,
    op: Operation,
    path: &str,
) -> Result<Option<Response>, CoreError> {
    let addr: Option<SocketAddr> = from.map(|a| a.parse().expect("addr"));
    n.core
        .handle(Request::new(op, path).with_remote_addr(addr), Some(token))
        .await
}

async fn userpass_login(n: &AuthNode, user: &str, from: Option<&str>) -> Result<String, CoreError> {
    let addr: Option<SocketAddr> = from.map(|a| a.parse().expect("addr"));
    let resp = n
        .core
        .handle(
            Request::new(Update, format!("auth/userpass/login/{user}"))
                .with_data(json!({"password": "pw"}))
                .with_remote_addr(addr),
            None,
        )
        .await?;
    Ok(resp
        .and_then(|r| r.auth)
        .expect("auth block")
        .client_token
        .to_string())
}

async fn userpass_node() -> AuthNode {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/auth/userpass", json!({"type": "userpass"}))
        .await;
    n
}

async fn lookup_self(n: &AuthNode, token: &str, from: Option<&str>) -> Value {
    call_from(n, token, from, Read, "auth/token/lookup-self")
        .await
        .expect("lookup-self")
        .and_then(|r| r.data)
        .expect("data")
}

#[tokio::test]
async fn a_bound_token_is_refused_at_login_and_in_use_outside_its_blocks() {
    let n = userpass_node().await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw", "token_bound_cidrs": "10.0.0.0/8, 192.168.7.7"}),
    )
    .await;
    let user = n
        .root_call(Read, "auth/userpass/users/alice", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("user");
    assert_eq!(
        user["token_bound_cidrs"],
        json!(["10.0.0.0/8", "192.168.7.7"])
    );

    assert!(matches!(
        userpass_login(&n, "alice", Some("172.16.0.1:4000")).await,
        Err(CoreError::PermissionDenied)
    ));
    assert!(matches!(
        userpass_login(&n, "alice", None).await,
        Err(CoreError::PermissionDenied)
    ));
    let token = userpass_login(&n, "alice", Some("10.9.8.7:4000"))
        .await
        .expect("login from inside");

    let seen = lookup_self(&n, &token, Some("10.1.1.1:5000")).await;
    assert_eq!(seen["bound_cidrs"], json!(["10.0.0.0/8", "192.168.7.7"]));
    lookup_self(&n, &token, Some("192.168.7.7:5000")).await;
    lookup_self(&n, &token, Some("[::ffff:10.0.0.1]:5000")).await;
    for outside in [Some("192.168.7.8:5000"), Some("[2001:db8::1]:5000"), None] {
        assert!(
            matches!(
                call_from(&n, &token, outside, Read, "auth/token/lookup-self").await,
                Err(CoreError::PermissionDenied)
            ),
            "{outside:?}"
        );
    }
    // Refusals do not spend or revoke the token.
    lookup_self(&n, &token, Some("10.1.1.1:5000")).await;
}

#[tokio::test]
async fn approle_secret_ids_may_narrow_the_roles_token_bound_cidrs_but_not_widen_them() {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/auth/approle", json!({"type": "approle"}))
        .await;
    n.root_call(
        Update,
        "auth/approle/role/web",
        json!({"token_bound_cidrs": ["10.0.0.0/8"], "secret_id_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let role_id = n
        .root_field(Read, "auth/approle/role/web/role-id", json!({}), "role_id")
        .await;
    for wider in [
        json!({"token_bound_cidrs": ["0.0.0.0/0"]}),
        json!({"token_bound_cidrs": ["11.0.0.0/8"]}),
        json!({"cidr_list": ["10.0.0.0/7"]}),
    ] {
        let refused = n
            .call(
                &n.root.clone(),
                Update,
                "auth/approle/role/web/secret-id",
                wider.clone(),
            )
            .await;
        assert!(
            matches!(refused, Err(CoreError::InvalidRequest(ref m)) if m.contains("must lie within")),
            "{wider}: {refused:?}"
        );
    }
    let sid = n
        .root_call(
            Update,
            "auth/approle/role/web/secret-id",
            json!({"token_bound_cidrs": ["10.1.0.0/16"]}),
        )
        .await
        .and_then(|r| r.data)
        .expect("secret id");
    let lookup = n
        .root_call(
            Update,
            "auth/approle/role/web/secret-id/lookup",
            json!({"secret_id": sid["secret_id"]}),
        )
        .await
        .and_then(|r| r.data)
        .expect("lookup");
    assert_eq!(lookup["token_bound_cidrs"], json!(["10.1.0.0/16"]));

    let login = |from: &'static str| {
        let body = json!({"role_id": role_id, "secret_id": sid["secret_id"]});
        let core = n.core.clone();
        async move {
            core.handle(
                Request::new(Update, "auth/approle/login")
                    .with_data(body)
                    .with_remote_addr(Some(from.parse().expect("addr"))),
                None,
            )
            .await
        }
    };
    assert!(
        matches!(login("10.2.0.1:1").await, Err(CoreError::PermissionDenied)),
        "inside the role's blocks but outside the secret id's"
    );
    let token = login("10.1.0.1:1")
        .await
        .expect("login")
        .and_then(|r| r.auth)
        .expect("auth")
        .client_token
        .to_string();
    assert_eq!(
        lookup_self(&n, &token, Some("10.1.200.1:9")).await["bound_cidrs"],
        json!(["10.1.0.0/16"])
    );
    assert!(matches!(
        call_from(
            &n,
            &token,
            Some("10.2.0.1:9"),
            Read,
            "auth/token/lookup-self"
        )
        .await,
        Err(CoreError::PermissionDenied)
    ));

    // token_bound_cidrs alone is a constraint enough for a role without
    // secret ids.
    n.root_call(
        Update,
        "auth/approle/role/open",
        json!({"bind_secret_id": false, "token_bound_cidrs": "127.0.0.1"}),
    )
    .await;
}

#[tokio::test]
async fn token_roles_bind_the_tokens_they_create() {
    let n = AuthNode::new().await;
    n.root_call(
        Update,
        "auth/token/roles/local",
        json!({"token_bound_cidrs": ["127.0.0.0/8"]}),
    )
    .await;
    let role = n
        .root_call(Read, "auth/token/roles/local", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("role");
    assert_eq!(role["token_bound_cidrs"], json!(["127.0.0.0/8"]));
    let token = n
        .root_call(Update, "auth/token/create/local", json!({}))
        .await
        .and_then(|r| r.auth)
        .expect("auth")
        .client_token
        .to_string();
    lookup_self(&n, &token, Some("127.0.0.1:1")).await;
    assert!(matches!(
        call_from(
            &n,
            &token,
            Some("10.0.0.1:1"),
            Read,
            "auth/token/lookup-self"
        )
        .await,
        Err(CoreError::PermissionDenied)
    ));
    assert!(
        n.call(
            &n.root.clone(),
            Update,
            "auth/token/roles/bad",
            json!({"token_bound_cidrs": ["not-a-block"]}),
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn period_explicit_max_ttl_and_no_default_policy_shape_login_tokens() {
    let n = userpass_node().await;
    n.root_call(
        Update,
        "sys/policies/acl/app",
        json!({"policy": r#"path "auth/token/+" { capabilities = ["read", "update"] }"#}),
    )
    .await;
    n.root_call(
        Update,
        "auth/userpass/users/svc",
        json!({"password": "pw", "token_period": "1h", "token_policies": "app",
               "token_no_default_policy": true}),
    )
    .await;
    let user = n
        .root_call(Read, "auth/userpass/users/svc", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("user");
    assert_eq!(
        (
            user["token_period"].clone(),
            user["token_no_default_policy"].clone()
        ),
        (json!(3600), json!(true))
    );
    let token = userpass_login(&n, "svc", None).await.expect("login");
    let seen = lookup_self(&n, &token, None).await;
    assert_eq!(seen["period"], 3600);
    assert_eq!(seen["policies"], json!(["app"]));
    assert_eq!(seen["ttl"], 3600);

    // A periodic token lives on past the system maximum (32 days) as long
    // as it is renewed within each period.
    for _ in 0..(33 * 24) {
        n.clock.advance(3500);
        n.call(&token, Update, "auth/token/renew-self", json!({}))
            .await
            .expect("renew within the period");
    }
    assert_eq!(lookup_self(&n, &token, None).await["ttl"], 3600);

    // The period is capped by token_max_ttl and by the mount's maximum.
    n.root_call(
        Update,
        "auth/userpass/users/capped",
        json!({"password": "pw", "token_period": "720h", "token_max_ttl": "2h"}),
    )
    .await;
    let capped = userpass_login(&n, "capped", None).await.expect("login");
    assert_eq!(lookup_self(&n, &capped, None).await["period"], 7200);
    n.root_call(
        Update,
        "sys/auth/userpass/tune",
        json!({"max_lease_ttl": "30m"}),
    )
    .await;
    let capped = userpass_login(&n, "capped", None).await.expect("login");
    let seen = lookup_self(&n, &capped, None).await;
    assert_eq!(
        (seen["period"].clone(), seen["ttl"].clone()),
        (json!(1800), json!(1800))
    );
    n.root_call(
        Update,
        "sys/auth/userpass/tune",
        json!({"max_lease_ttl": "768h"}),
    )
    .await;

    n.root_call(
        Update,
        "auth/userpass/users/short",
        json!({"password": "pw", "token_ttl": "1h", "token_explicit_max_ttl": "90m"}),
    )
    .await;
    let token = userpass_login(&n, "short", None).await.expect("login");
    let seen = lookup_self(&n, &token, None).await;
    assert_eq!(seen["explicit_max_ttl"], 5400);
    assert!(
        seen["policies"]
            .as_array()
            .expect("policies")
            .contains(&json!("default"))
    );
    n.clock.advance(3000);
    let renewed = n
        .call(&token, Update, "auth/token/renew-self", json!({}))
        .await
        .expect("renew")
        .and_then(|r| r.auth)
        .expect("auth");
    assert_eq!(
        renewed.lease_duration.as_secs(),
        2400,
        "capped at 90 minutes from creation"
    );
    n.clock.advance(2400);
    assert!(matches!(
        call_from(&n, &token, None, Read, "auth/token/lookup-self").await,
        Err(CoreError::PermissionDenied)
    ));
}
