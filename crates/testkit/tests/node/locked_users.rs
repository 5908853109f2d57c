//! The user lockout kept by the core: locks are stored (a restart or seal
//! does not lift them), `sys/locked-users` lists them by mount accessor and
//! unlocks them (userpass names in any case), AppRole logins are counted by
//! role id, deleting a user lifts its lock, and disabling a method forgets
//! its locks.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{Read, Update};
use coffer_core::engine::Request;
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};

async fn login(n: &AuthNode, user: &str, password: &str) -> Result<(), CoreError> {
    n.core
        .handle(
            Request::new(Update, format!("auth/userpass/login/{user}"))
                .with_data(json!({ "password": password })),
            None,
        )
        .await
        .map(|_| ())
}

async fn locked_users(n: &AuthNode, body: Value) -> Value {
    n.root_call(Read, "sys/locked-users", body)
        .await
        .and_then(|r| r.data)
        .expect("data")
}

async fn accessor(n: &AuthNode, mount: &str) -> String {
    n.root_call(Read, "sys/auth", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("auth table")[format!("{mount}/")]["accessor"]
        .as_str()
        .expect("accessor")
        .to_owned()
}

async fn node_with_users() -> AuthNode {
    let n = AuthNode::new().await;
    n.root_call(
        Update,
        "sys/auth/userpass",
        json!({"type": "userpass", "options": {"lockout_threshold": "2", "lockout_duration": "1h"}}),
    )
    .await;
    for user in ["alice", "bob", "carol"] {
        n.root_call(
            Update,
            &format!("auth/userpass/users/{user}"),
            json!({"password": "pw"}),
        )
        .await;
    }
    n
}

#[tokio::test]
async fn locks_are_listed_survive_a_restart_and_are_lifted_by_unlock() {
    let n = node_with_users().await;
    let up = accessor(&n, "userpass").await;
    assert_eq!(
        locked_users(&n, json!({})).await,
        json!({"by_namespace": [], "total": 0})
    );
    for user in ["alice", "bob"] {
        for _ in 0..2 {
            assert!(matches!(
                login(&n, user, "wrong").await,
                Err(CoreError::InvalidCredentials(_))
            ));
        }
    }
    // An unknown user is never tracked.
    for _ in 0..3 {
        assert!(login(&n, "mallory", "wrong").await.is_err());
    }
    let expected = json!({
        "by_namespace": [{
            "namespace_id": "root",
            "namespace_path": "",
            "counts": 2,
            "mount_accessors": [{
                "mount_accessor": up,
                "counts": 2,
                "alias_identifiers": ["alice", "bob"],
            }],
        }],
        "total": 2,
    });
    assert_eq!(locked_users(&n, json!({})).await, expected);
    assert_eq!(
        locked_users(&n, json!({"mount_accessor": up})).await,
        expected
    );
    let unknown = n
        .call(
            &n.root.clone(),
            Read,
            "sys/locked-users",
            json!({"mount_accessor": "auth_userpass_nope"}),
        )
        .await;
    assert!(
        matches!(unknown, Err(CoreError::InvalidRequest(_))),
        "{unknown:?}"
    );

    // A restart (a new process on the same storage) keeps the locks.
    let n = n.restarted().await;
    assert!(matches!(
        login(&n, "alice", "pw").await,
        Err(CoreError::PermissionDenied)
    ));
    login(&n, "carol", "pw")
        .await
        .expect("carol was never locked");

    n.root_call(
        Update,
        &format!("sys/locked-users/{up}/unlock/alice"),
        json!({}),
    )
    .await;
    login(&n, "alice", "pw")
        .await
        .expect("unlocked by the operator");
    // Unlocking is idempotent.
    n.root_call(
        Update,
        &format!("sys/locked-users/{up}/unlock/alice"),
        json!({}),
    )
    .await;
    assert_eq!(locked_users(&n, json!({})).await["total"], 1);

    // Bob's lock runs out with the configured duration, and is forgotten.
    n.clock.advance(3600);
    assert_eq!(locked_users(&n, json!({})).await["total"], 0);
    login(&n, "bob", "pw").await.expect("lock ran out");
}

#[tokio::test]
async fn approle_logins_lock_the_role_id_after_wrong_secret_ids() {
    let n = AuthNode::new().await;
    n.root_call(
        Update,
        "sys/auth/approle",
        json!({"type": "approle", "options": {"lockout_threshold": "3"}}),
    )
    .await;
    n.root_call(Update, "auth/approle/role/web", json!({}))
        .await;
    let role_id = n
        .root_field(Read, "auth/approle/role/web/role-id", json!({}), "role_id")
        .await;
    let secret_id = n
        .root_field(
            Update,
            "auth/approle/role/web/secret-id",
            json!({}),
            "secret_id",
        )
        .await;
    let login = |sid: &str| {
        let core = n.core.clone();
        let body = json!({"role_id": role_id, "secret_id": sid});
        async move {
            core.handle(
                Request::new(Update, "auth/approle/login").with_data(body),
                None,
            )
            .await
            .map(|_| ())
        }
    };
    for _ in 0..3 {
        assert!(matches!(
            login("00000000-0000-0000-0000-000000000000").await,
            Err(CoreError::InvalidCredentials(_))
        ));
    }
    assert!(matches!(
        login(&secret_id).await,
        Err(CoreError::PermissionDenied)
    ));
    let listed = locked_users(&n, json!({})).await;
    assert_eq!(
        listed["by_namespace"][0]["mount_accessors"][0]["alias_identifiers"],
        json!([role_id])
    );

    // Disabling the method forgets its locks.
    n.root_call(
        coffer_core::engine::Operation::Delete,
        "sys/auth/approle",
        json!({}),
    )
    .await;
    assert_eq!(locked_users(&n, json!({})).await["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_get_no_more_tries_than_the_threshold() {
    let n = node_with_users().await;
    let guesses: Vec<_> = (0..8)
        .map(|_| {
            let core = n.core.clone();
            tokio::spawn(async move {
                core.handle(
                    Request::new(Update, "auth/userpass/login/alice")
                        .with_data(json!({"password": "wrong"})),
                    None,
                )
                .await
            })
        })
        .collect();
    let mut checked = 0;
    let mut refused = 0;
    for g in guesses {
        match g.await.expect("task") {
            Err(CoreError::InvalidCredentials(_)) => checked += 1,
            Err(CoreError::PermissionDenied) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        (checked, refused),
        (2, 6),
        "threshold 2: two passwords checked"
    );

    let up = accessor(&n, "userpass").await;
    let bogus = n
        .call(
            &n.root.clone(),
            Update,
            "sys/locked-users/auth_userpass_nope/unlock/alice",
            json!({}),
        )
        .await;
    assert!(
        matches!(bogus, Err(CoreError::InvalidRequest(_))),
        "{bogus:?}"
    );
    n.root_call(
        Update,
        &format!("sys/locked-users/{up}/unlock/alice"),
        json!({}),
    )
    .await;
    login(&n, "alice", "pw").await.expect("unlocked");
}

async fn lock(n: &AuthNode, user: &str) {
    for _ in 0..2 {
        assert!(matches!(
            login(n, user, "wrong").await,
            Err(CoreError::InvalidCredentials(_))
        ));
    }
    assert!(
        matches!(login(n, user, "pw").await, Err(CoreError::PermissionDenied)),
        "{user} is locked"
    );
}

#[tokio::test]
async fn an_unlock_names_a_userpass_user_in_any_case() {
    let n = node_with_users().await;
    let up = accessor(&n, "userpass").await;
    lock(&n, "alice").await;
    n.root_call(
        Update,
        &format!("sys/locked-users/{up}/unlock/ALICE"),
        json!({}),
    )
    .await;
    login(&n, "alice", "pw").await.expect("unlocked as ALICE");
    assert_eq!(locked_users(&n, json!({})).await["total"], 0);
}

#[tokio::test]
async fn a_deleted_user_takes_its_lock_along_and_comes_back_unlocked() {
    let n = node_with_users().await;
    lock(&n, "bob").await;
    assert_eq!(locked_users(&n, json!({})).await["total"], 1);
    n.root_call(
        coffer_core::engine::Operation::Delete,
        "auth/userpass/users/Bob",
        json!({}),
    )
    .await;
    assert_eq!(locked_users(&n, json!({})).await["total"], 0);
    n.root_call(Update, "auth/userpass/users/bob", json!({"password": "pw"}))
        .await;
    login(&n, "bob", "pw")
        .await
        .expect("the new bob is not locked");
}
