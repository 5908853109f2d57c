//! Wrapping tokens (ES512 JWTs) as clients present them: the input, as it
//! is or spliced into a real wrapping token, goes to `sys/wrapping/lookup`
//! (body `token`, no client token) and as the client token of
//! `auth/token/lookup-self` on an unsealed in-memory node.
//!
//! Selector byte (first input byte) % 5, the rest is the payload:
//! 0. the payload is the token;
//! 1. the real token's header replaced by the payload;
//! 2. its claims replaced by the payload (base64url of it);
//! 3. its signature replaced by the payload;
//! 4. one byte of the real token changed (position and new byte from the
//!    payload).
//!
//! Checks: no panic, and only the real token is ever accepted (lookup
//! answers with its creation data). The real token is never unwrapped, so it
//! stays valid for the whole run.

#![no_main]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_core::Ttl;
use coffer_core::engine::{Operation, Request};
use coffer_testkit::auth_node::AuthNode;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::sync::OnceLock;

struct Fixture {
    node: AuthNode,
    jwt: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        common::block_on(async {
            let node = AuthNode::new().await;
            let resp = node
                .core
                .handle(
                    Request::new(Operation::Update, "sys/wrapping/wrap")
                        .with_data(json!({"secret": "wrapped"}))
                        // A year: the test clock never moves, but be safe.
                        .with_wrap_ttl(Some(Ttl::from_secs(365 * 24 * 3600))),
                    Some(&node.root),
                )
                .await
                .expect("wrap")
                .expect("a response");
            let jwt = resp.wrap_info.expect("wrap_info").token.to_string();
            Fixture { node, jwt }
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let payload = String::from_utf8_lossy(rest).into_owned();
    let parts: Vec<&str> = f.jwt.split('.').collect();
    let token = match selector % 5 {
        0 => payload,
        1 => format!("{payload}.{}.{}", parts[1], parts[2]),
        2 => format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(rest), parts[2]),
        3 => format!("{}.{}.{payload}", parts[0], parts[1]),
        _ => {
            let mut bytes = f.jwt.clone().into_bytes();
            let at = rest.first().map_or(0, |b| usize::from(*b)) % bytes.len();
            bytes[at] = rest.get(1).copied().unwrap_or(b'A');
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let is_real = token == f.jwt;
    common::block_on(async {
        let lookup = f
            .node
            .core
            .handle(
                Request::new(Operation::Update, "sys/wrapping/lookup")
                    .with_data(json!({"token": token})),
                None,
            )
            .await;
        let accepted = matches!(&lookup, Ok(Some(r)) if r.data.is_some());
        assert_eq!(accepted, is_real, "lookup of {token:?}: {lookup:?}");
        // As a client token (never the real one: a use would spend it).
        if !is_real && !token.is_empty() {
            let self_lookup = f
                .node
                .core
                .handle(
                    Request::new(Operation::Read, "auth/token/lookup-self"),
                    Some(&token),
                )
                .await;
            assert!(
                self_lookup.is_err(),
                "{token:?} was accepted as a client token"
            );
        }
    });
});
