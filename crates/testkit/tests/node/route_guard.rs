//! Every route is guarded: each route of `sys/` and `auth/token/` (taken
//! from the backends' own route tables, so a new route is covered the day it
//! is added), of a KV v2 and a KV v1 mount, and of cubbyhole, with every
//! operation it serves, is refused without a token, and with a token holding
//! only the `default` policy except where that policy grants it. Auth
//! methods' routes are enumerated too: their login paths and
//! `sys/wrapping/lookup` are the only ones served without a token.

use coffer_core::CoreError;
use coffer_core::engine::Operation::{self, Delete, List, Patch, Read, Update};
use coffer_core::engine::Request;
use coffer_testkit::auth_node::AuthNode;
use serde_json::json;

/// What the `default` policy lets a token do (see `DEFAULT_POLICY_TEXT`)
/// among the enumerated routes: look itself up, renew and revoke itself, ask
/// its own capabilities, list the mounts it can reach, look up and renew a
/// lease by its id (the old and new renew paths, not the `sys/renew/<id>`
/// form), use its cubbyhole, wrap and unwrap responses.
fn default_allows(op: Operation, path: &str) -> bool {
    matches!(
        (op, path),
        (Read, "auth/token/lookup-self")
            | (Update, "auth/token/renew-self" | "auth/token/revoke-self")
            | (Update, "sys/capabilities-self")
            | (Update, "sys/wrapping/wrap" | "sys/wrapping/unwrap")
            | (Read, "sys/internal/ui/mounts")
            | (
                Update,
                "sys/leases/lookup" | "sys/leases/renew" | "sys/renew"
            )
    ) || path.starts_with("cubbyhole/")
}

/// A concrete path for a route pattern: `:name` → `sample`, `*rest` → a
/// path under the `secret/` mount (so UI mount lookups hit a real mount).
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with(':') {
                "sample"
            } else if seg.starts_with('*') {
                "secret/sample"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn all_routes() -> Vec<(String, Operation)> {
    const ALL: &[Operation] = &[Read, Update, Patch, Delete, List];
    let kv2: [(&str, &[Operation]); 7] = [
        ("config", &[Read, Update]),
        ("data/app", &[Read, Update, Patch, Delete]),
        ("delete/app", &[Update]),
        ("undelete/app", &[Update]),
        ("destroy/app", &[Update]),
        ("metadata/app", ALL),
        ("subkeys/app", &[Read]),
    ];
    let mut routes: Vec<(String, Operation)> = coffer_core::sys::route_patterns()
        .into_iter()
        .chain(coffer_core::token::route_patterns())
        .flat_map(|(pattern, ops)| ops.iter().map(move |op| (concrete(&pattern), *op)))
        .collect();
    for (path, ops) in kv2 {
        routes.extend(ops.iter().map(|op| (format!("secret/{path}"), *op)));
    }
    for (pattern, ops) in coffer_auth_userpass::route_patterns() {
        let path = format!("auth/userpass/{}", concrete(pattern));
        routes.extend(ops.iter().map(|op| (path.clone(), *op)));
    }
    for (pattern, ops) in coffer_auth_approle::route_patterns() {
        let path = format!("auth/approle/{}", concrete(pattern));
        routes.extend(ops.iter().map(|op| (path.clone(), *op)));
    }
    // Served without a token, like a login path (Vault's too).
    routes.push(("sys/wrapping/lookup".to_owned(), Update));
    for op in [Read, Update, Delete, List] {
        routes.push(("kv1/app".to_owned(), op));
        routes.push(("cubbyhole/app".to_owned(), op));
    }
    routes
}

#[tokio::test]
async fn every_route_is_refused_without_a_token_and_with_only_the_default_policy() {
    let n = AuthNode::new().await;
    n.root_call(Update, "sys/mounts/kv1", json!({"type": "kv"}))
        .await;
    n.root_call(Update, "sys/auth/userpass", json!({"type": "userpass"}))
        .await;
    n.root_call(Update, "sys/auth/approle", json!({"type": "approle"}))
        .await;
    let routes = all_routes();
    for expected in [
        "sys/policies/acl/sample",
        "sys/mounts/secret/sample",
        "sys/rotate",
        "auth/token/create",
        "auth/token/roles/sample",
        "auth/token/accessors",
        "auth/token/tidy",
        "sys/leases/lookup",
        "sys/leases/lookup/secret/sample",
        "sys/leases/revoke-prefix/secret/sample",
        "sys/leases/revoke-force/secret/sample",
        "sys/revoke-prefix/secret/sample",
        "sys/leases/tidy",
        "sys/auth/secret/sample",
        "auth/userpass/users/sample",
        "auth/userpass/login/sample",
        "auth/approle/role/sample/secret-id",
        "auth/approle/login",
    ] {
        assert!(
            routes.iter().any(|(p, _)| p == expected),
            "route enumeration misses {expected}"
        );
    }
    let mut allowed = Vec::new();
    let mut logins = 0;
    for (path, op) in &routes {
        let body = json!({});
        if n.core.is_login_path(path) {
            // Served without a token, and refused for the missing password
            // (or wrapping token).
            let r = n.call("", *op, path, body).await;
            assert!(
                matches!(r, Err(CoreError::InvalidRequest(_))),
                "{op:?} {path}: {r:?}"
            );
            logins += 1;
            continue;
        }
        let anonymous = n
            .core
            .handle(
                coffer_core::engine::Request::new(*op, path.clone()).with_data(body.clone()),
                None,
            )
            .await;
        assert!(
            matches!(anonymous, Err(CoreError::PermissionDenied)),
            "{op:?} {path} without a token: {anonymous:?}"
        );
        // A fresh token each time: some routes revoke or use up the caller.
        let token = n.token_with(&[]).await;
        let result = n.call(&token, *op, path, body).await;
        let denied = matches!(result, Err(CoreError::PermissionDenied));
        if default_allows(*op, path) {
            assert!(!denied, "{op:?} {path} should be allowed by default");
            allowed.push(format!("{op:?} {path}"));
        } else {
            assert!(denied, "{op:?} {path} with a default token: {result:?}");
        }
    }
    assert_eq!(allowed.len(), 14, "{allowed:?}");
    assert_eq!(logins, 3);
}

#[tokio::test]
async fn raw_handlers_that_need_a_token_refuse_default_tokens() {
    let n = AuthNode::new().await;
    let token = n.token_with(&[]).await;
    for (op, path) in [(Update, "sys/seal"), (Read, "sys/metrics")] {
        for presented in [None, Some("hvs.unknown"), Some(token.as_str())] {
            let r = n.core.authorize(presented, &Request::new(op, path)).await;
            assert!(
                matches!(r, Err(CoreError::PermissionDenied)),
                "{path} with {presented:?}: {r:?}"
            );
        }
        n.core
            .authorize(Some(&n.root), &Request::new(op, path))
            .await
            .expect("root may");
    }
}
