//! The approle auth method through the core: roles, role ids, secret ids
//! (generation, lookup, destroy, listing by accessor), login with use
//! limits, TTLs and CIDR bindings.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{Delete, List, Read, Update};
use coffer_core::engine::{Operation, Request};
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};
use std::net::SocketAddr;

async fn approle_node() -> AuthNode {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/auth/approle", json!({"type": "approle"}))
        .await;
    n
}

async fn data(n: &AuthNode, op: Operation, path: &str, body: Value) -> Value {
    n.root_call(op, path, body)
        .await
        .and_then(|r| r.data)
        .unwrap_or_else(|| panic!("{path}: no data"))
}

async fn login(
    n: &AuthNode,
    role_id: &str,
    secret_id: &str,
    from: Option<&str>,
) -> Result<coffer_core::engine::Auth, CoreError> {
    let addr: Option<SocketAddr> = from.map(|a| a.parse().expect("addr"));
    let resp = n
        .core
        .handle(
            Request::new(Update, "auth/approle/login")
                .with_data(json!({"role_id": role_id, "secret_id": secret_id}))
                .with_remote_addr(addr),
            None,
        )
        .await?;
    Ok(resp.and_then(|r| r.auth).expect("auth block"))
}

async fn ids(n: &AuthNode, role: &str) -> (String, String, String) {
    let role_id = data(
        n,
        Read,
        &format!("auth/approle/role/{role}/role-id"),
        json!({}),
    )
    .await["role_id"]
        .as_str()
        .expect("role id")
        .to_owned();
    let s = data(
        n,
        Update,
        &format!("auth/approle/role/{role}/secret-id"),
        json!({}),
    )
    .await;
    (
        role_id,
        s["secret_id"].as_str().expect("sid").to_owned(),
        s["secret_id_accessor"].as_str().expect("acc").to_owned(),
    )
}

#[tokio::test]
async fn roles_are_created_read_listed_and_deleted() {
    let n = approle_node().await;
    n.root_call(
        Update,
        "auth/approle/role/Web",
        json!({"token_policies": "dev", "token_ttl": "20m", "secret_id_ttl": "1h", "secret_id_num_uses": 3}),
    )
    .await;
    let r = data(&n, Read, "auth/approle/role/web", json!({})).await;
    assert_eq!(r["token_policies"], json!(["dev"]));
    assert_eq!(r["token_ttl"], 1200);
    assert_eq!(r["secret_id_ttl"], 3600);
    assert_eq!(r["secret_id_num_uses"], 3);
    assert_eq!(r["bind_secret_id"], true);
    assert_eq!(
        data(&n, List, "auth/approle/role", json!({})).await["keys"],
        json!(["web"])
    );
    // A chosen role id, unique per mount.
    n.root_call(
        Update,
        "auth/approle/role/web/role-id",
        json!({"role_id": "my-id"}),
    )
    .await;
    assert_eq!(
        data(&n, Read, "auth/approle/role/web/role-id", json!({})).await["role_id"],
        "my-id"
    );
    n.root_call(Update, "auth/approle/role/other", json!({}))
        .await;
    assert!(
        n.call(
            &n.root.clone(),
            Update,
            "auth/approle/role/other/role-id",
            json!({"role_id": "my-id"})
        )
        .await
        .is_err()
    );
    // Unenforceable, unconstrained or malformed settings are refused.
    for body in [
        json!({"token_type": "batch"}),
        json!({"bind_secret_id": false}),
        json!({"secret_id_bound_cidrs": ["nope"]}),
        json!({"token_bound_cidrs": ["10.0.0.0/40"]}),
    ] {
        assert!(
            n.call(
                &n.root.clone(),
                Update,
                "auth/approle/role/bad",
                body.clone()
            )
            .await
            .is_err(),
            "{body}"
        );
    }
    n.root_call(Delete, "auth/approle/role/web", json!({}))
        .await;
    assert!(
        n.root_call(Read, "auth/approle/role/web", json!({}))
            .await
            .is_none()
    );
    assert!(login(&n, "my-id", "x", None).await.is_err());
}

#[tokio::test]
async fn login_with_role_and_secret_id_issues_a_token() {
    let n = approle_node().await;
    n.policy("dev", r#"path "secret/data/*" { capabilities = ["read"] }"#)
        .await;
    n.root_call(
        Update,
        "auth/approle/role/web",
        json!({"token_policies": ["dev"], "token_ttl": 300}),
    )
    .await;
    let (role_id, secret_id, _) = ids(&n, "web").await;
    let auth = login(&n, &role_id, &secret_id, None).await.expect("login");
    assert_eq!(auth.policies, vec!["default".to_owned(), "dev".to_owned()]);
    assert_eq!(auth.lease_duration.as_secs(), 300);
    assert_eq!(
        auth.metadata.get("role_name").map(String::as_str),
        Some("web")
    );
    let token = auth.client_token.to_string();
    let me = n
        .ok(&token, Read, "auth/token/lookup-self", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("self");
    assert_eq!(me["path"], "auth/approle/login");
    assert_eq!(me["display_name"], "approle");

    for (rid, sid) in [(role_id.as_str(), "wrong"), ("wrong", secret_id.as_str())] {
        let e = login(&n, rid, sid, None).await.expect_err("bad");
        assert_eq!(e.to_string(), "invalid role or secret ID");
    }
}

#[tokio::test]
async fn secret_ids_are_looked_up_listed_and_destroyed() {
    let n = approle_node().await;
    n.root_call(
        Update,
        "auth/approle/role/web",
        json!({"secret_id_num_uses": 2}),
    )
    .await;
    let (role_id, secret_id, accessor) = ids(&n, "web").await;
    let l = data(
        &n,
        Update,
        "auth/approle/role/web/secret-id/lookup",
        json!({"secret_id": secret_id}),
    )
    .await;
    assert_eq!(l["secret_id_accessor"], accessor);
    assert_eq!(l["secret_id_num_uses"], 2);
    assert!(
        !l.to_string().contains(&secret_id),
        "lookup never echoes the secret id"
    );
    assert_eq!(
        data(&n, List, "auth/approle/role/web/secret-id", json!({})).await["keys"],
        json!([accessor])
    );
    let a = data(
        &n,
        Update,
        "auth/approle/role/web/secret-id-accessor/lookup",
        json!({"secret_id_accessor": accessor}),
    )
    .await;
    assert_eq!(a["secret_id_num_uses"], 2);
    n.root_call(
        Update,
        "auth/approle/role/web/secret-id/destroy",
        json!({"secret_id": secret_id}),
    )
    .await;
    assert!(login(&n, &role_id, &secret_id, None).await.is_err());
    assert!(
        n.root_call(List, "auth/approle/role/web/secret-id", json!({}))
            .await
            .is_none()
    );
    assert!(
        n.root_call(
            Update,
            "auth/approle/role/web/secret-id/lookup",
            json!({"secret_id": secret_id})
        )
        .await
        .is_none()
    );
}

#[tokio::test]
async fn secret_ids_run_out_of_uses_and_expire() {
    let n = approle_node().await;
    n.root_call(
        Update,
        "auth/approle/role/web",
        json!({"secret_id_num_uses": 2, "secret_id_ttl": "10m"}),
    )
    .await;
    let (role_id, secret_id, _) = ids(&n, "web").await;
    login(&n, &role_id, &secret_id, None)
        .await
        .expect("first use");
    login(&n, &role_id, &secret_id, None)
        .await
        .expect("second use");
    assert!(
        login(&n, &role_id, &secret_id, None).await.is_err(),
        "used up"
    );

    let (_, fresh, _) = ids(&n, "web").await;
    n.clock.advance(599);
    login(&n, &role_id, &fresh, None)
        .await
        .expect("still valid");
    n.clock.advance(1);
    assert!(login(&n, &role_id, &fresh, None).await.is_err(), "expired");
}

#[tokio::test]
async fn cidr_bindings_are_checked_against_the_client_address() {
    let n = approle_node().await;
    n.root_call(
        Update,
        "auth/approle/role/web",
        json!({"secret_id_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let (role_id, secret_id, _) = ids(&n, "web").await;
    login(&n, &role_id, &secret_id, Some("10.1.2.3:5000"))
        .await
        .expect("inside");
    assert!(
        login(&n, &role_id, &secret_id, Some("192.168.0.1:5000"))
            .await
            .is_err()
    );
    assert!(
        login(&n, &role_id, &secret_id, None).await.is_err(),
        "unknown address"
    );

    // Per secret id too.
    n.root_call(Update, "auth/approle/role/api", json!({}))
        .await;
    let role_id = data(&n, Read, "auth/approle/role/api/role-id", json!({})).await["role_id"]
        .as_str()
        .expect("rid")
        .to_owned();
    let s = data(
        &n,
        Update,
        "auth/approle/role/api/secret-id",
        json!({"cidr_list": "127.0.0.1/32"}),
    )
    .await;
    let sid = s["secret_id"].as_str().expect("sid");
    login(&n, &role_id, sid, Some("127.0.0.1:1"))
        .await
        .expect("inside");
    assert!(login(&n, &role_id, sid, Some("127.0.0.2:1")).await.is_err());

    // A role without secret ids, bound by address alone.
    n.root_call(
        Update,
        "auth/approle/role/cidr-only",
        json!({"bind_secret_id": false, "secret_id_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let rid = data(&n, Read, "auth/approle/role/cidr-only/role-id", json!({})).await["role_id"]
        .as_str()
        .expect("rid")
        .to_owned();
    login(&n, &rid, "", Some("10.0.0.9:1"))
        .await
        .expect("no secret id needed");
    assert!(login(&n, &rid, "", Some("11.0.0.9:1")).await.is_err());
}

#[tokio::test]
async fn disabling_approle_revokes_its_tokens() {
    let n = approle_node().await;
    n.root_call(Update, "auth/approle/role/web", json!({}))
        .await;
    let (role_id, secret_id, _) = ids(&n, "web").await;
    let token = login(&n, &role_id, &secret_id, None)
        .await
        .expect("login")
        .client_token
        .to_string();
    n.ok(&token, Read, "auth/token/lookup-self", json!({}))
        .await;
    n.root_call(Delete, "sys/auth/approle", json!({})).await;
    assert!(
        n.denied(&token, Read, "auth/token/lookup-self", json!({}))
            .await
    );
}
