//! `sys/auth` and the userpass auth method through the core: enabling,
//! listing, tuning and disabling, users CRUD, login without a token, the
//! token it issues, failed logins, lockout, and revocation on disable.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{Delete, List, Read, Update};
use coffer_core::engine::{Operation, Request};
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};

async fn login(
    n: &AuthNode,
    mount: &str,
    user: &str,
    password: &str,
) -> Result<(String, String), CoreError> {
    let resp = n
        .core
        .handle(
            Request::new(Update, format!("auth/{mount}/login/{user}"))
                .with_data(json!({ "password": password })),
            None,
        )
        .await?;
    let auth = resp.and_then(|r| r.auth).expect("auth block");
    Ok((auth.client_token.to_string(), auth.accessor))
}

async fn data(n: &AuthNode, op: Operation, path: &str) -> Value {
    n.root_call(op, path, json!({}))
        .await
        .and_then(|r| r.data)
        .unwrap_or_else(|| panic!("{path}: no data"))
}

async fn userpass_node() -> AuthNode {
    let n = AuthNode::new().await;
    n.root_call(
        Update,
        "sys/auth/userpass",
        json!({"type": "userpass", "description": "people"}),
    )
    .await;
    n
}

#[tokio::test]
async fn sys_auth_enables_lists_tunes_and_disables_methods() {
    let n = userpass_node().await;
    let list = data(&n, Read, "sys/auth").await;
    assert_eq!(list["token/"]["type"], "token");
    let up = &list["userpass/"];
    assert_eq!(up["type"], "userpass");
    assert_eq!(up["description"], "people");
    assert!(
        up["accessor"]
            .as_str()
            .expect("accessor")
            .starts_with("auth_userpass_")
    );
    assert_eq!(up["config"]["token_type"], "default-service");
    assert_eq!(up["external_entropy_access"], false);

    // Conflicts, unknown types, secrets engines and the reserved token path.
    for (path, body) in [
        ("sys/auth/userpass", json!({"type": "userpass"})),
        ("sys/auth/other", json!({"type": "nope"})),
        ("sys/auth/other", json!({"type": "kv"})),
        ("sys/auth/token", json!({"type": "userpass"})),
        (
            "sys/auth/other",
            json!({"type": "userpass", "external_entropy_access": true}),
        ),
        (
            "sys/auth/other",
            json!({"type": "userpass", "options": {"lockout_threshold": "x"}}),
        ),
    ] {
        let r = n.call(&n.root.clone(), Update, path, body).await;
        assert!(
            matches!(r, Err(CoreError::InvalidRequest(_))),
            "{path}: {r:?}"
        );
    }
    // An auth method cannot be mounted as a secrets engine.
    assert!(
        n.call(
            &n.root.clone(),
            Update,
            "sys/mounts/up",
            json!({"type": "userpass"})
        )
        .await
        .is_err()
    );

    n.root_call(
        Update,
        "sys/auth/userpass/tune",
        json!({"default_lease_ttl": "1h", "max_lease_ttl": "2h"}),
    )
    .await;
    let tune = data(&n, Read, "sys/auth/userpass/tune").await;
    assert_eq!(tune["default_lease_ttl"], 3600);
    assert_eq!(tune["max_lease_ttl"], 7200);
    assert!(
        n.call(
            &n.root.clone(),
            Update,
            "sys/auth/userpass/tune",
            json!({"seal_wrap": true})
        )
        .await
        .is_err()
    );

    // Survives a seal/unseal.
    n.reseal().await;
    assert_eq!(
        data(&n, Read, "sys/auth").await["userpass/"]["type"],
        "userpass"
    );

    n.root_call(Delete, "sys/auth/userpass", json!({})).await;
    let list = data(&n, Read, "sys/auth").await;
    assert!(list.get("userpass/").is_none());
    assert!(
        n.call(&n.root.clone(), Delete, "sys/auth/token", json!({}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sys_auth_changes_need_sudo() {
    let n = userpass_node().await;
    n.policy(
        "ops",
        r#"path "sys/auth/*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/auth" { capabilities = ["read"] }"#,
    )
    .await;
    let (t, _) = n
        .create_as(
            &n.root.clone(),
            "auth/token/create",
            json!({"policies": ["ops"]}),
        )
        .await;
    assert!(n.ok(&t, Read, "sys/auth", json!({})).await.is_some());
    assert!(
        n.denied(&t, Update, "sys/auth/up2", json!({"type": "userpass"}))
            .await
    );
    assert!(n.denied(&t, Delete, "sys/auth/userpass", json!({})).await);
}

#[tokio::test]
async fn users_are_created_read_listed_updated_and_deleted() {
    let n = userpass_node().await;
    n.root_call(Update, "auth/userpass/users/Alice", json!({
        "password": "pw1", "token_policies": "dev,ops", "token_ttl": "10m", "token_max_ttl": "1h"
    })).await;
    let u = data(&n, Read, "auth/userpass/users/alice").await;
    assert_eq!(u["token_policies"], json!(["dev", "ops"]));
    assert_eq!(u["policies"], json!(["dev", "ops"]));
    assert_eq!(u["token_ttl"], 600);
    assert_eq!(u["token_max_ttl"], 3600);
    assert!(
        u.get("password").is_none(),
        "no password or hash in reads: {u}"
    );
    assert_eq!(
        data(&n, List, "auth/userpass/users").await["keys"],
        json!(["alice"])
    );

    n.root_call(
        Update,
        "auth/userpass/users/alice/policies",
        json!({"policies": ["web"]}),
    )
    .await;
    assert_eq!(
        data(&n, Read, "auth/userpass/users/alice").await["token_policies"],
        json!(["web"])
    );
    n.root_call(
        Update,
        "auth/userpass/users/alice/password",
        json!({"password": "pw2"}),
    )
    .await;
    assert!(login(&n, "userpass", "alice", "pw1").await.is_err());
    login(&n, "userpass", "alice", "pw2")
        .await
        .expect("new password");
    // An update without a password keeps it.
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"token_ttl": 60}),
    )
    .await;
    login(&n, "userpass", "alice", "pw2")
        .await
        .expect("kept password");

    let missing = n
        .call(
            &n.root.clone(),
            Update,
            "auth/userpass/users/bob",
            json!({}),
        )
        .await;
    assert!(matches!(missing, Err(CoreError::InvalidRequest(_))));
    let batch = n
        .call(
            &n.root.clone(),
            Update,
            "auth/userpass/users/bob",
            json!({"password": "x", "token_type": "batch"}),
        )
        .await;
    assert!(matches!(batch, Err(CoreError::NotSupported(_))));

    n.root_call(Delete, "auth/userpass/users/alice", json!({}))
        .await;
    assert!(
        n.root_call(Read, "auth/userpass/users/alice", json!({}))
            .await
            .is_none()
    );
    assert!(
        n.root_call(List, "auth/userpass/users", json!({}))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn login_issues_a_working_token_with_the_users_policies() {
    let n = userpass_node().await;
    n.policy(
        "dev",
        r#"path "secret/data/*" { capabilities = ["read", "create", "update"] }"#,
    )
    .await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw", "token_policies": ["dev"], "token_ttl": "10m"}),
    )
    .await;
    let resp = n
        .core
        .handle(
            Request::new(Update, "auth/userpass/login/alice").with_data(json!({"password": "pw"})),
            None,
        )
        .await
        .expect("login")
        .expect("response");
    let auth = resp.auth.expect("auth");
    assert_eq!(auth.policies, vec!["default".to_owned(), "dev".to_owned()]);
    assert_eq!(auth.lease_duration.as_secs(), 600);
    assert_eq!(
        auth.metadata.get("username").map(String::as_str),
        Some("alice")
    );
    assert!(auth.orphan);
    let token = auth.client_token.to_string();

    n.ok(
        &token,
        Update,
        "secret/data/app",
        json!({"data": {"k": "v"}}),
    )
    .await;
    let me = n
        .ok(&token, Read, "auth/token/lookup-self", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("self");
    assert_eq!(me["path"], "auth/userpass/login/alice");
    assert_eq!(me["display_name"], "userpass-alice");
    assert!(n.denied(&token, Read, "sys/auth", json!({})).await);

    // The token expires with the test clock.
    n.clock.advance(601);
    assert!(
        n.denied(&token, Read, "auth/token/lookup-self", json!({}))
            .await
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_error() {
    let n = userpass_node().await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw"}),
    )
    .await;
    let wrong = login(&n, "userpass", "alice", "nope")
        .await
        .expect_err("wrong");
    let unknown = login(&n, "userpass", "mallory", "nope")
        .await
        .expect_err("unknown");
    assert_eq!(wrong.to_string(), "invalid username or password");
    assert_eq!(wrong.to_string(), unknown.to_string());
    // Both are 400s; only the known user's failure counts towards a lock.
    assert!(matches!(wrong, CoreError::InvalidCredentials(_)));
    assert!(matches!(unknown, CoreError::InvalidRequest(_)));
    // The login path needs no token, but other userpass paths do.
    assert!(matches!(
        n.core
            .handle(Request::new(Read, "auth/userpass/users/alice"), None)
            .await,
        Err(CoreError::PermissionDenied)
    ));
    assert!(!n.core.is_login_path("auth/userpass/users/alice"));
    assert!(n.core.is_login_path("auth/userpass/login/alice"));
    assert!(!n.core.is_login_path("auth/userpass/login/alice/x"));
    assert!(!n.core.is_login_path("auth/token/create"));
}

#[tokio::test]
async fn repeated_failures_lock_the_user_out_until_the_duration_passes() {
    let n = AuthNode::new().await;
    n.root_call(
        Update,
        "sys/auth/userpass",
        json!({"type": "userpass", "options": {
            "lockout_threshold": "3", "lockout_duration": "10m", "lockout_counter_reset": "5m"
        }}),
    )
    .await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw"}),
    )
    .await;
    for _ in 0..3 {
        assert!(matches!(
            login(&n, "userpass", "alice", "bad").await,
            Err(CoreError::InvalidCredentials(_))
        ));
    }
    // Locked: even the right password is refused.
    assert!(matches!(
        login(&n, "userpass", "alice", "pw").await,
        Err(CoreError::PermissionDenied)
    ));
    n.clock.advance(599);
    assert!(matches!(
        login(&n, "userpass", "alice", "pw").await,
        Err(CoreError::PermissionDenied)
    ));
    n.clock.advance(2);
    login(&n, "userpass", "alice", "pw")
        .await
        .expect("unlocked");

    // Failures further apart than the counter reset never lock.
    for _ in 0..4 {
        assert!(login(&n, "userpass", "alice", "bad").await.is_err());
        n.clock.advance(301);
    }
    login(&n, "userpass", "alice", "pw")
        .await
        .expect("not locked");
    // A success clears the count.
    for _ in 0..2 {
        assert!(login(&n, "userpass", "alice", "bad").await.is_err());
    }
    login(&n, "userpass", "alice", "pw").await.expect("ok");
    for _ in 0..2 {
        assert!(login(&n, "userpass", "alice", "bad").await.is_err());
    }
    login(&n, "userpass", "alice", "pw")
        .await
        .expect("still not locked");
}

#[tokio::test]
async fn the_default_lockout_is_five_failures() {
    let n = userpass_node().await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw"}),
    )
    .await;
    for _ in 0..5 {
        assert!(login(&n, "userpass", "alice", "bad").await.is_err());
    }
    assert!(matches!(
        login(&n, "userpass", "alice", "pw").await,
        Err(CoreError::PermissionDenied)
    ));
    n.clock.advance(15 * 60);
    login(&n, "userpass", "alice", "pw")
        .await
        .expect("unlocked after 15m");
}

#[tokio::test]
async fn disabling_an_auth_method_revokes_its_tokens_and_data() {
    let n = userpass_node().await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw"}),
    )
    .await;
    let (token, _) = login(&n, "userpass", "alice", "pw").await.expect("login");
    let (other, _) = n
        .create_as(&n.root.clone(), "auth/token/create", json!({}))
        .await;
    n.ok(&token, Read, "auth/token/lookup-self", json!({}))
        .await;
    n.root_call(Delete, "sys/auth/userpass", json!({})).await;
    assert!(
        n.denied(&token, Read, "auth/token/lookup-self", json!({}))
            .await
    );
    n.ok(&other, Read, "auth/token/lookup-self", json!({}))
        .await;
    // Re-enabled at the same path: a fresh, empty method.
    n.root_call(Update, "sys/auth/userpass", json!({"type": "userpass"}))
        .await;
    assert!(
        n.root_call(List, "auth/userpass/users", json!({}))
            .await
            .is_none()
    );
    assert!(login(&n, "userpass", "alice", "pw").await.is_err());
}

#[tokio::test]
async fn logins_are_audited_without_the_password_or_the_issued_token() {
    let n = userpass_node().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    n.root_call(
        Update,
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.to_str().expect("utf-8")}}),
    )
    .await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw-Plaintext-1"}),
    )
    .await;
    let (token, _) = login(&n, "userpass", "alice", "pw-Plaintext-1")
        .await
        .expect("login");
    assert!(
        login(&n, "userpass", "alice", "wrong-Plaintext-2")
            .await
            .is_err()
    );
    let text = std::fs::read_to_string(&log).expect("audit log");
    for secret in ["pw-Plaintext-1", "wrong-Plaintext-2", token.as_str()] {
        assert!(!text.contains(secret), "audit log shows {secret}");
    }
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let logins: Vec<&Value> = entries
        .iter()
        .filter(|e| e["request"]["path"] == "auth/userpass/login/alice")
        .collect();
    assert_eq!(
        logins.len(),
        4,
        "request and response entries of both logins"
    );
    assert!(
        logins.iter().any(|e| e["type"] == "response"
            && e["auth"]["display_name"] == "userpass-alice"
            || e["response"]["auth"]["client_token"].is_string()),
        "{logins:?}"
    );
}

#[tokio::test]
async fn tuning_user_lockout_config_changes_the_threshold() {
    let n = userpass_node().await;
    n.root_call(
        Update,
        "auth/userpass/users/alice",
        json!({"password": "pw"}),
    )
    .await;
    n.root_call(
        Update,
        "sys/auth/userpass/tune",
        json!({"user_lockout_config": {"lockout_threshold": 2, "lockout_duration": "1m"}}),
    )
    .await;
    let tune = data(&n, Read, "sys/auth/userpass/tune").await;
    assert_eq!(tune["options"]["lockout_threshold"], "2");
    for _ in 0..2 {
        assert!(login(&n, "userpass", "alice", "bad").await.is_err());
    }
    assert!(matches!(
        login(&n, "userpass", "alice", "pw").await,
        Err(CoreError::PermissionDenied)
    ));
    n.clock.advance(60);
    login(&n, "userpass", "alice", "pw")
        .await
        .expect("unlocked");
    let bad = n
        .call(
            &n.root.clone(),
            Update,
            "sys/auth/userpass/tune",
            json!({"user_lockout_config": {"lockout_threshold": "many"}}),
        )
        .await;
    assert!(matches!(bad, Err(CoreError::InvalidRequest(_))), "{bad:?}");
    n.root_call(Update, "sys/auth/approle", json!({"type": "approle"}))
        .await;
    n.root_call(
        Update,
        "sys/auth/approle/tune",
        json!({"user_lockout_config": {"lockout_threshold": 2}}),
    )
    .await;
    let unknown = n
        .call(
            &n.root.clone(),
            Update,
            "sys/auth/approle",
            json!({"type": "approle", "options": {"colour": "red"}}),
        )
        .await;
    assert!(
        matches!(unknown, Err(CoreError::InvalidRequest(ref m)) if m.contains("lockout_threshold")),
        "{unknown:?}"
    );
}
