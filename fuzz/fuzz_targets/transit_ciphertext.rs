//! `vault:vN:` values and `batch_input`: the input (after a selector byte)
//! is a ciphertext, signature or HMAC handed to transit's decrypt, rewrap
//! and verify, alone or as batch items, on a node with one key of each
//! kind. Half of the selectors use the input as it is; the other half
//! splice it into a real value the key made (new version number, new body,
//! extra fields, truncation, a flipped byte), to reach the decoding and
//! authentication steps behind the prefix check.
//!
//! Also checks one property: a real value whose version or body was changed
//! must never decrypt or verify. The version is compared as a number, as the
//! parser reads it (Vault, too, reads `v02` and `v+2` as version 2, and `v0`
//! as 1), so only a different key version or body counts as a change.

#![no_main]

mod common;

use coffer_core::engine::{Operation, Request};
use coffer_testkit::auth_node::AuthNode;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// `(key, type, how a value is checked)`.
const KEYS: [(&str, &str, Check); 6] = [
    ("aes", "aes256-gcm96", Check::Decrypt),
    ("chacha", "chacha20-poly1305", Check::Decrypt),
    ("derived", "aes256-gcm96", Check::Decrypt),
    ("ed", "ed25519", Check::Signature),
    ("ec", "ecdsa-p256", Check::Signature),
    ("hmac", "hmac", Check::Hmac),
];

#[derive(Clone, Copy, PartialEq)]
enum Check {
    Decrypt,
    Signature,
    Hmac,
}

const INPUT: &str = "aGVsbG8gZnV6emVy"; // "hello fuzzer"
const CONTEXT: &str = "Y29udGV4dA=="; // "context"

struct Fixture {
    node: AuthNode,
    /// A real value per key in [`KEYS`]' order.
    real: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        common::block_on(async {
            let node = AuthNode::new().await;
            node.root_call(
                Operation::Update,
                "sys/mounts/transit",
                json!({"type": "transit"}),
            )
            .await;
            let mut real = Vec::new();
            for (name, kind, check) in KEYS {
                let mut body = json!({"type": kind});
                if name == "derived" {
                    body["derived"] = json!(true);
                }
                node.root_call(Operation::Update, &format!("transit/keys/{name}"), body)
                    .await;
                // Two versions, so version numbers mean something.
                node.root_call(
                    Operation::Update,
                    &format!("transit/keys/{name}/rotate"),
                    Value::Null,
                )
                .await;
                let (path, field) = match check {
                    Check::Decrypt => (format!("transit/encrypt/{name}"), "ciphertext"),
                    Check::Signature => (format!("transit/sign/{name}"), "signature"),
                    Check::Hmac => (format!("transit/hmac/{name}"), "hmac"),
                };
                let resp = node
                    .root_call(
                        Operation::Update,
                        &path,
                        json!({"plaintext": INPUT, "input": INPUT, "context": CONTEXT}),
                    )
                    .await;
                let value = resp
                    .and_then(|r| r.data)
                    .and_then(|d| d[field].as_str().map(str::to_owned))
                    .expect("a real value");
                real.push(value);
            }
            Fixture { node, real }
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let fuzz = String::from_utf8_lossy(rest).into_owned();
    let key_index = usize::from(selector) % KEYS.len();
    let (name, _, check) = KEYS[key_index];
    let real = &f.real[key_index];
    let (value, changed) = match (selector / 8) % 8 {
        0..=3 => (fuzz.clone(), fuzz != *real),
        4 => {
            // New version number, real body.
            let body = real.splitn(3, ':').nth(2).unwrap_or("");
            let v = format!("vault:v{fuzz}:{body}");
            (v.clone(), v != *real)
        }
        5 => {
            // Real prefix, fuzzed body.
            let prefix: String = real.splitn(3, ':').take(2).collect::<Vec<_>>().join(":");
            let v = format!("{prefix}:{fuzz}");
            (v.clone(), v != *real)
        }
        6 => {
            // Truncated or extended.
            let cut = rest.first().map_or(0, |b| usize::from(*b)).min(real.len());
            let v = format!("{}{}", &real[..cut], fuzz.get(1..).unwrap_or(""));
            (v.clone(), v != *real)
        }
        _ => {
            // One byte changed at a chosen position.
            let mut bytes = real.clone().into_bytes();
            let at = rest.first().map_or(0, |b| usize::from(*b)) % bytes.len().max(1);
            let with = rest.get(1).copied().unwrap_or(b'A');
            if let Some(b) = bytes.get_mut(at) {
                *b = with;
            }
            let v = String::from_utf8_lossy(&bytes).into_owned();
            (v.clone(), v != *real)
        }
    };
    let batch = selector & 0x40 != 0;
    common::block_on(async {
        let (path, mut item) = match check {
            Check::Decrypt => (
                format!("transit/decrypt/{name}"),
                json!({"ciphertext": value, "context": CONTEXT}),
            ),
            Check::Signature => (
                format!("transit/verify/{name}"),
                json!({"input": INPUT, "signature": value}),
            ),
            Check::Hmac => (
                format!("transit/verify/{name}"),
                json!({"input": INPUT, "hmac": value}),
            ),
        };
        if batch {
            item["reference"] = json!("r");
            item =
                json!({"batch_input": [item.clone(), {"ciphertext": value, "signature": value}]});
        }
        let r = common::call(
            &f.node,
            &f.node.root,
            Request::new(Operation::Update, path).with_data(item),
        )
        .await;
        let d = common::data(&r);
        if changed && !batch && normalized(&value) != normalized(real) {
            let accepted = match check {
                Check::Decrypt => d["plaintext"] == json!(INPUT),
                _ => d["valid"] == json!(true),
            };
            assert!(
                !accepted,
                "a changed value was accepted: {value:?} (real {real:?})"
            );
        }
        if check == Check::Decrypt && selector & 0x80 != 0 {
            let _ = common::call(
                &f.node,
                &f.node.root,
                Request::new(Operation::Update, format!("transit/rewrap/{name}"))
                    .with_data(json!({"ciphertext": value, "context": CONTEXT})),
            )
            .await;
        }
    });
});

/// `(version, body)` as transit reads a `vault:vN:` value; `None` when not one.
fn normalized(v: &str) -> Option<(u64, &str)> {
    let (version, body) = v.strip_prefix("vault:v")?.split_once(':')?;
    Some((version.parse::<u64>().ok()?.max(1), body))
}
