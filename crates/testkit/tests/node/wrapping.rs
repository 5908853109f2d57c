//! Response wrapping end to end through the core: `wrap_ttl` on any request,
//! single-use JWT wrapping tokens, `sys/wrapping/unwrap|lookup|rewrap|wrap`,
//! expiry on the test clock, forged tokens, and `min/max_wrapping_ttl`.

use coffer_core::CoreError;
use coffer_core::Ttl;
use coffer_core::engine::Operation::{Delete, Read, Update};
use coffer_core::engine::{Operation, Request, Response, WrapInfo};
use coffer_testkit::auth_node::AuthNode;
use serde_json::{Value, json};

/// Calls as `token` asking for the response wrapped for `ttl` seconds.
async fn wrapped(
    n: &AuthNode,
    token: &str,
    op: Operation,
    path: &str,
    body: Value,
    ttl: u64,
) -> Result<Option<Response>, CoreError> {
    n.core
        .handle(
            Request::new(op, path)
                .with_data(body)
                .with_wrap_ttl(Some(Ttl::from_secs(ttl))),
            Some(token),
        )
        .await
}

async fn wrap_info(n: &AuthNode, token: &str, op: Operation, path: &str, body: Value) -> WrapInfo {
    let resp = wrapped(n, token, op, path, body, 60)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .expect("a response");
    assert!(resp.data.is_none() && resp.auth.is_none(), "only wrap_info");
    resp.wrap_info.expect("wrap_info")
}

async fn secret_node() -> AuthNode {
    let n = AuthNode::new().await;
    n.root_call(
        Update,
        "secret/data/app",
        json!({"data": {"password": "hunter2"}}),
    )
    .await;
    n
}

fn invalid(r: Result<Option<Response>, CoreError>) -> String {
    match r {
        Err(CoreError::InvalidRequest(m)) => m,
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrapped_read_unwraps_once_to_the_response_the_client_would_have_had() {
    let n = secret_node().await;
    let root = n.root.clone();
    let direct = n
        .root_call(Read, "secret/data/app", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("data");
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    assert_eq!(info.token.split('.').count(), 3, "a JWT");
    assert!(
        !info.token.contains("hvs."),
        "the token inside is not visible"
    );
    assert_eq!(info.ttl.as_secs(), 60);
    assert_eq!(info.creation_path, "secret/data/app");
    assert!(info.wrapped_accessor.is_empty());
    let unwrapped = n
        .ok(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
        .await
        .expect("response");
    assert_eq!(unwrapped.data, Some(direct));
    assert_eq!(unwrapped.mount_type, "kv");
    invalid(
        n.call(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
            .await,
    );
}

#[tokio::test]
async fn another_token_unwraps_with_the_token_in_the_body_and_only_once() {
    let n = secret_node().await;
    let root = n.root.clone();
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    let plain = n.token_with(&[]).await;
    let body = json!({"token": info.token.as_str()});
    let r = n
        .ok(&plain, Update, "sys/wrapping/unwrap", body.clone())
        .await
        .expect("response");
    assert_eq!(r.data.expect("data")["data"]["password"], "hunter2");
    let again = invalid(n.call(&plain, Update, "sys/wrapping/unwrap", body).await);
    assert!(again.contains("not valid or does not exist"), "{again}");
    let not_wrapping = invalid(
        n.call(&plain, Update, "sys/wrapping/unwrap", Value::Null)
            .await,
    );
    assert!(
        not_wrapping.contains("not a wrapping token"),
        "{not_wrapping}"
    );
}

#[tokio::test]
async fn an_expired_wrapping_token_cannot_be_unwrapped() {
    let n = secret_node().await;
    let root = n.root.clone();
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    n.clock.advance(61);
    invalid(
        n.call(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
            .await,
    );
    let body = json!({"token": info.token.as_str()});
    invalid(n.call(&root, Update, "sys/wrapping/unwrap", body).await);
}

#[tokio::test]
async fn a_forged_or_altered_wrapping_token_is_refused() {
    let n = secret_node().await;
    let root = n.root.clone();
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    let (signed, sig) = info.token.rsplit_once('.').expect("jwt");
    let mut sig = sig.to_owned().into_bytes();
    sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
    let altered = format!("{signed}.{}", String::from_utf8(sig).expect("ascii"));
    invalid(
        n.call(&altered, Update, "sys/wrapping/unwrap", Value::Null)
            .await,
    );
    let body = json!({"token": altered});
    let msg = invalid(n.call(&root, Update, "sys/wrapping/unwrap", body).await);
    assert!(msg.contains("not valid or does not exist"), "{msg}");
    // The untouched token still works: refusing the forgery spent nothing.
    assert!(
        n.ok(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
            .await
            .is_some()
    );
}

#[tokio::test]
async fn lookup_needs_no_token_and_does_not_spend_the_wrapping_token() {
    let n = secret_node().await;
    let root = n.root.clone();
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    assert!(n.core.is_login_path("sys/wrapping/lookup"));
    let looked = n
        .core
        .handle(
            Request::new(Update, "sys/wrapping/lookup")
                .with_data(json!({"token": info.token.as_str()})),
            None,
        )
        .await
        .expect("lookup")
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(looked["creation_path"], "secret/data/app");
    assert_eq!(looked["creation_ttl"], 60);
    assert!(
        looked["creation_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let bogus = n
        .core
        .handle(
            Request::new(Update, "sys/wrapping/lookup").with_data(json!({"token": "hvs.nope"})),
            None,
        )
        .await;
    invalid(bogus);
    let root_token = n
        .core
        .handle(
            Request::new(Update, "sys/wrapping/lookup").with_data(json!({"token": root})),
            None,
        )
        .await;
    invalid(root_token);
    assert!(
        n.ok(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
            .await
            .is_some()
    );
}

#[tokio::test]
async fn rewrap_moves_the_response_to_a_new_token_and_spends_the_old_one() {
    let n = secret_node().await;
    let root = n.root.clone();
    let old = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    let new = n
        .ok(
            &root,
            Update,
            "sys/wrapping/rewrap",
            json!({"token": old.token.as_str()}),
        )
        .await
        .and_then(|r| r.wrap_info)
        .expect("new wrap_info");
    assert_ne!(new.token, old.token);
    assert_eq!(
        (new.ttl.as_secs(), new.creation_path.as_str()),
        (60, "secret/data/app")
    );
    invalid(
        n.call(&old.token, Update, "sys/wrapping/unwrap", Value::Null)
            .await,
    );
    let r = n
        .ok(&new.token, Update, "sys/wrapping/unwrap", Value::Null)
        .await
        .expect("response");
    assert_eq!(r.data.expect("data")["data"]["password"], "hunter2");
}

#[tokio::test]
async fn sys_wrapping_wrap_wraps_the_body_and_needs_a_wrap_ttl() {
    let n = AuthNode::new().await;
    let plain = n.token_with(&[]).await;
    let msg = invalid(
        n.call(&plain, Update, "sys/wrapping/wrap", json!({"k": "v"}))
            .await,
    );
    assert!(msg.contains("X-Vault-Wrap-TTL"), "{msg}");
    let empty = invalid(wrapped(&n, &plain, Update, "sys/wrapping/wrap", json!({}), 60).await);
    assert!(empty.contains("no data to wrap"), "{empty}");
    let info = wrap_info(&n, &plain, Update, "sys/wrapping/wrap", json!({"k": "v"})).await;
    assert_eq!(info.creation_path, "sys/wrapping/wrap");
    let r = n
        .ok(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
        .await
        .expect("response");
    assert_eq!(r.data, Some(json!({"k": "v"})));
}

#[tokio::test]
async fn a_wrapped_token_creation_names_the_wrapped_accessor_and_unwraps_to_a_usable_token() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let info = wrap_info(
        &n,
        &root,
        Update,
        "auth/token/create",
        json!({"policies": ["default"], "ttl": "1h"}),
    )
    .await;
    assert!(!info.wrapped_accessor.is_empty());
    let auth = n
        .ok(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
        .await
        .and_then(|r| r.auth)
        .expect("auth");
    assert_eq!(auth.accessor, info.wrapped_accessor);
    let me = n.lookup_self(&auth.client_token).await;
    assert_eq!(me["accessor"], info.wrapped_accessor.as_str());
}

#[tokio::test]
async fn wrapping_ttl_bounds_in_policies_are_enforced() {
    let n = secret_node().await;
    n.policy(
        "wrapped-reader",
        r#"path "secret/data/*" {
  capabilities = ["read"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "10m"
}"#,
    )
    .await;
    let t = n.token_with(&["wrapped-reader"]).await;
    assert!(n.denied(&t, Read, "secret/data/app", Value::Null).await);
    for too in [30, 3600] {
        assert!(matches!(
            wrapped(&n, &t, Read, "secret/data/app", Value::Null, too).await,
            Err(CoreError::PermissionDenied)
        ));
    }
    let ok = wrapped(&n, &t, Read, "secret/data/app", Value::Null, 300)
        .await
        .expect("allowed")
        .and_then(|r| r.wrap_info)
        .expect("wrapped");
    assert_eq!(ok.ttl.as_secs(), 300);
}

#[tokio::test]
async fn wrapping_tokens_and_their_signing_key_survive_a_seal() {
    let n = secret_node().await;
    let root = n.root.clone();
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    n.reseal().await;
    let r = n
        .ok(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
        .await
        .expect("response");
    assert_eq!(r.data.expect("data")["data"]["password"], "hunter2");
}

#[tokio::test]
async fn a_write_without_a_response_is_not_wrapped() {
    let n = AuthNode::new().await;
    let root = n.root.clone();
    let r = wrapped(
        &n,
        &root,
        Update,
        "sys/policies/acl/p",
        json!({"policy": "path \"x\" { capabilities = [\"read\"] }"}),
        60,
    )
    .await
    .expect("write");
    assert!(r.is_none(), "a 204 stays a 204");
}

#[tokio::test]
async fn of_many_concurrent_unwraps_exactly_one_gets_the_response() {
    let n = secret_node().await;
    let root = n.root.clone();
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    let body = json!({"token": info.token.as_str()});
    let call = || n.call(&root, Update, "sys/wrapping/unwrap", body.clone());
    let (a, b, c, d, e, f) = tokio::join!(call(), call(), call(), call(), call(), call());
    let results = [a, b, c, d, e, f];
    let winners: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().and_then(Option::as_ref))
        .collect();
    assert_eq!(winners.len(), 1, "one recipient, never two, never none");
    for w in &winners {
        assert_eq!(
            w.data.as_ref().expect("data")["data"]["password"],
            "hunter2"
        );
    }
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(CoreError::InvalidRequest(_)))),
        "losers are told the token is not valid"
    );
}

#[tokio::test]
async fn an_answer_with_its_own_status_is_wrapped_too_never_sent_in_the_clear() {
    let n = secret_node().await;
    let root = n.root.clone();
    n.root_call(Delete, "secret/data/app", Value::Null).await;
    // A read of a deleted version answers 404 with its metadata: still a body, so wrapped.
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    let r = n
        .ok(&info.token, Update, "sys/wrapping/unwrap", Value::Null)
        .await
        .expect("response");
    let data = r.data.expect("data");
    assert!(data["data"].is_null());
    assert!(
        !data["metadata"]["deletion_time"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn lookup_takes_the_wrapping_token_from_the_request_when_the_body_has_none() {
    let n = secret_node().await;
    let root = n.root.clone();
    let info = wrap_info(&n, &root, Read, "secret/data/app", Value::Null).await;
    let looked = n
        .core
        .handle(
            Request::new(Update, "sys/wrapping/lookup"),
            Some(&info.token),
        )
        .await
        .expect("lookup")
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(looked["creation_path"], "secret/data/app");
    let missing = n
        .core
        .handle(Request::new(Update, "sys/wrapping/lookup"), None)
        .await;
    assert!(invalid(missing).contains("missing the wrapping token"));
}
