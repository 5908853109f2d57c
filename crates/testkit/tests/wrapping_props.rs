//! Property tests of wrapping tokens as clients present them (ES512 JWTs):
//! a real token with any byte changed is refused, as is any other string,
//! whether it comes as the `token` of `sys/wrapping/lookup` or as the
//! client token; none makes the node panic. The `wrapping_jwt` fuzz target
//! checks the same at length (docs/FUZZING.md).

use coffer_core::Ttl;
use coffer_core::engine::{Operation, Request};
use coffer_testkit::auth_node::AuthNode;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A node and one real wrapping token of it.
async fn node_and_token() -> (AuthNode, String) {
    let node = AuthNode::new().await;
    let resp = node
        .core
        .handle(
            Request::new(Operation::Update, "sys/wrapping/wrap")
                .with_data(json!({"secret": "wrapped"}))
                .with_wrap_ttl(Some(Ttl::from_secs(3600))),
            Some(&node.root),
        )
        .await
        .expect("wrap")
        .expect("a response");
    let jwt = resp.wrap_info.expect("wrap_info").token.to_string();
    (node, jwt)
}

/// Whether `sys/wrapping/lookup` accepts `token`.
async fn looked_up(node: &AuthNode, token: &str) -> bool {
    let r = node
        .core
        .handle(
            Request::new(Operation::Update, "sys/wrapping/lookup")
                .with_data(json!({"token": token})),
            None,
        )
        .await;
    matches!(r, Ok(Some(resp)) if resp.data.is_some())
}

/// Whether `token` works as a client token.
async fn works_as_client_token(node: &AuthNode, token: &str) -> bool {
    node.core
        .handle(
            Request::new(Operation::Read, "auth/token/lookup-self"),
            Some(token),
        )
        .await
        .is_ok()
}

#[test]
fn a_wrapping_token_with_any_byte_changed_is_refused() {
    let rt = runtime();
    let (node, jwt) = rt.block_on(node_and_token());
    assert!(
        rt.block_on(looked_up(&node, &jwt)),
        "the real token looks up"
    );
    let mut runner = TestRunner::new(Config::with_cases(256));
    let strategy = (any::<prop::sample::Index>(), "[A-Za-z0-9_.=+/-]");
    runner
        .run(&strategy, |(at, with)| {
            let i = at.index(jwt.len());
            let mut changed = jwt.clone();
            changed.replace_range(i..=i, &with);
            if changed == jwt {
                return Ok(());
            }
            let (lookup, client) = rt.block_on(async {
                (
                    looked_up(&node, &changed).await,
                    works_as_client_token(&node, &changed).await,
                )
            });
            if lookup || client {
                return Err(TestCaseError::fail(format!(
                    "byte {i} changed to {with:?} and the token was still accepted \
                     (lookup {lookup}, client token {client})"
                )));
            }
            Ok(())
        })
        .expect("every changed token is refused");
    assert!(
        rt.block_on(looked_up(&node, &jwt)),
        "and the real one still is not"
    );
}

#[test]
fn arbitrary_strings_are_refused_as_wrapping_tokens_without_panicking() {
    let rt = runtime();
    let (node, jwt) = rt.block_on(node_and_token());
    let parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut runner = TestRunner::new(Config::with_cases(256));
    let strategy = prop_oneof![
        "\\PC{0,60}",
        "[A-Za-z0-9_-]{0,20}\\.[A-Za-z0-9_-]{0,20}\\.[A-Za-z0-9_-]{0,20}",
        "[A-Za-z0-9_-]{0,40}".prop_map({
            let p = parts.clone();
            move |s| format!("{}.{}.{s}", p[0], p[1])
        }),
        "[A-Za-z0-9_-]{0,40}".prop_map(move |s| format!("{}.{s}.{}", parts[0], parts[2])),
    ];
    runner
        .run(&strategy, |token| {
            prop_assume!(token != jwt);
            let (lookup, client) = rt.block_on(async {
                (
                    looked_up(&node, &token).await,
                    !token.is_empty() && works_as_client_token(&node, &token).await,
                )
            });
            prop_assert!(!lookup && !client, "{:?} was accepted", token);
            Ok(())
        })
        .expect("every other string is refused");
}
