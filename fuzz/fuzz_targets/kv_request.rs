//! KV request bodies and paths: a script of up to eight calls (see
//! `common`) against an unsealed in-memory node as root, on a KV v2 mount
//! (`secret/`), a KV v1 mount (`kv/`) and the cubbyhole. Every path is put
//! under one of those mounts. After each input the mounts are emptied and
//! the v2 mount's settings reset, so inputs do not pile up state.
//!
//! Finds panics in body parsing (`Request::parse` into the engines' serde
//! structs, `cas`, `versions`, `custom_metadata`, durations, JSON merge
//! patches), in the engines' handling of what parsed, and in path routing.

#![no_main]

mod common;

use coffer_core::engine::{Operation, Request};
use coffer_testkit::auth_node::AuthNode;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::sync::OnceLock;

const MOUNTS: [&str; 3] = ["secret/", "kv/", "cubbyhole/"];

/// Paths with more segments are skipped, so that [`wipe`] (which stops at
/// this depth) reaches every key an input wrote. Without the bound, keys
/// deeper than the wipe piled up and every later input listed them all:
/// the target slowed from 500 to 6 inputs a second.
const MAX_SEGMENTS: usize = 24;

fn node() -> &'static AuthNode {
    static NODE: OnceLock<AuthNode> = OnceLock::new();
    NODE.get_or_init(|| {
        common::block_on(async {
            let n = AuthNode::new().await;
            n.root_call(
                Operation::Update,
                "sys/mounts/kv",
                json!({"type": "kv", "options": {"version": "1"}}),
            )
            .await;
            n
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let n = node();
    let calls = common::script(data);
    common::block_on(async {
        for c in calls {
            let path = if MOUNTS.iter().any(|m| c.path.starts_with(m)) {
                c.path
            } else {
                format!("secret/{}", c.path)
            };
            if path.split('/').count() > MAX_SEGMENTS {
                continue;
            }
            let _ = common::call(n, &n.root, Request::new(c.op, path).with_data(c.body)).await;
        }
        reset(n).await;
    });
});

/// Deletes everything the input wrote and resets the v2 mount's config.
async fn reset(n: &AuthNode) {
    for (list, delete) in [
        ("secret/metadata/", "secret/metadata/"),
        ("kv/", "kv/"),
        ("cubbyhole/", "cubbyhole/"),
    ] {
        wipe(n, list, delete, String::new(), 0).await;
    }
    let _ = common::call(
        n,
        &n.root,
        Request::new(Operation::Update, "secret/config").with_data(json!({
            "max_versions": 0, "cas_required": false, "delete_version_after": "0s"
        })),
    )
    .await;
}

/// Deletes every key below `list_prefix + folder`, depth first.
async fn wipe(n: &AuthNode, list_prefix: &str, delete_prefix: &str, folder: String, depth: usize) {
    if depth > MAX_SEGMENTS {
        return;
    }
    let listing = common::call(
        n,
        &n.root,
        Request::new(Operation::List, format!("{list_prefix}{folder}")),
    )
    .await;
    for key in common::listed(&listing) {
        let child = format!("{folder}{key}");
        if key.ends_with('/') {
            Box::pin(wipe(n, list_prefix, delete_prefix, child, depth + 1)).await;
        } else {
            let _ = common::call(
                n,
                &n.root,
                Request::new(Operation::Delete, format!("{delete_prefix}{child}")),
            )
            .await;
        }
    }
}
