//! Property tests of transit request bodies and `vault:vN:` values: what is
//! encrypted decrypts (alone and in batches), a ciphertext with its body
//! changed never decrypts, and no body on any route makes the engine
//! panic. The `transit_request` and `transit_ciphertext` fuzz targets drive
//! the same parsers through a whole node (docs/FUZZING.md).

use crate::support::{Harness, b64, unb64};
use coffer_core::engine::Operation;
use coffer_testkit::runtime::block_on;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Field names transit bodies know, and some they do not.
fn field() -> impl Strategy<Value = String> {
    const KNOWN: [&str; 24] = [
        "plaintext",
        "ciphertext",
        "context",
        "nonce",
        "associated_data",
        "batch_input",
        "key_version",
        "input",
        "signature",
        "hmac",
        "algorithm",
        "hash_algorithm",
        "signature_algorithm",
        "marshaling_algorithm",
        "prehashed",
        "bits",
        "bytes",
        "format",
        "reference",
        "partial_failure_response_code",
        "type",
        "derived",
        "convergent_encryption",
        "exportable",
    ];
    prop_oneof![
        4 => proptest::sample::select(KNOWN.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("aGVsbG8="),
            Just("vault:v1:AAAA"),
            Just("vault:v0:"),
            Just("sha2-512"),
            Just("jws"),
            Just("pss"),
            Just("hex"),
            Just("base64"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(field(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Routes a body may go to: on the preset keys only, so no body generates
/// an RSA key or changes a key's configuration.
const ROUTES: [&str; 16] = [
    "encrypt/aes",
    "decrypt/aes",
    "rewrap/aes",
    "encrypt/derived",
    "decrypt/derived",
    "sign/ed",
    "verify/ed",
    "sign/ec",
    "verify/ec/sha2-384",
    "hmac/hmac",
    "verify/hmac",
    "hash",
    "hash/sha3-256",
    "random",
    "datakey/plaintext/aes",
    "datakey/wrapped/derived",
];

async fn harness() -> Harness {
    let h = Harness::new().await;
    h.create("aes", json!({"type": "aes256-gcm96"})).await;
    h.create("derived", json!({"type": "aes256-gcm96", "derived": true}))
        .await;
    h.create("ed", json!({"type": "ed25519"})).await;
    h.create("ec", json!({"type": "ecdsa-p256"})).await;
    h.create("hmac", json!({"type": "hmac"})).await;
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn what_is_encrypted_decrypts_alone_and_in_a_batch(
        plaintexts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..4),
        key in prop_oneof![Just("aes128-gcm96"), Just("aes256-gcm96"), Just("chacha20-poly1305")],
    ) {
        block_on(async {
            let h = Harness::new().await;
            h.create("k", json!({"type": key})).await;
            let batch: Vec<Value> = plaintexts.iter().map(|p| json!({"plaintext": b64(p)})).collect();
            let d = h.write("encrypt/k", json!({"batch_input": batch})).await;
            let results = d["batch_results"].as_array().expect("batch_results").clone();
            assert_eq!(results.len(), plaintexts.len());
            let cts: Vec<Value> = results.iter().map(|r| json!({"ciphertext": r["ciphertext"]})).collect();
            let d = h.write("decrypt/k", json!({"batch_input": cts})).await;
            for (r, p) in d["batch_results"].as_array().expect("batch_results").iter().zip(&plaintexts) {
                assert_eq!(unb64(r["plaintext"].as_str().expect("plaintext")), *p);
            }
            for p in &plaintexts {
                let ct = h.encrypt("k", p).await;
                assert!(ct.starts_with("vault:v1:"));
                assert_eq!(h.decrypt("k", &ct).await, *p);
            }
        });
    }

    #[test]
    fn a_ciphertext_with_its_body_changed_never_decrypts(
        plaintext in proptest::collection::vec(any::<u8>(), 0..48),
        at: prop::sample::Index,
        with in "[A-Za-z0-9+/=]",
    ) {
        block_on(async {
            let h = Harness::new().await;
            h.create("k", json!({"type": "aes256-gcm96"})).await;
            let ct = h.encrypt("k", &plaintext).await;
            let body_start = "vault:v1:".len();
            let i = body_start + at.index(ct.len() - body_start);
            let mut changed = ct.clone();
            changed.replace_range(i..=i, &with);
            if changed != ct {
                let r = h.call(Operation::Update, "decrypt/k", json!({"ciphertext": changed})).await;
                let decrypted = matches!(&r, Ok(Some(resp)) if resp.data.as_ref().is_some_and(|d| d["plaintext"].is_string()));
                assert!(!decrypted, "{changed} decrypted: {r:?}");
            }
        });
    }

    #[test]
    fn no_body_on_any_route_makes_the_engine_panic(
        calls in proptest::collection::vec(
            (0..ROUTES.len(), proptest::collection::btree_map(field(), json_value(), 0..5)),
            1..6,
        ),
    ) {
        block_on(async {
            let h = harness().await;
            for (route, body) in calls {
                let _ = h
                    .call(Operation::Update, ROUTES[route], Value::Object(body.into_iter().collect()))
                    .await;
            }
        });
    }

    #[test]
    fn any_string_as_a_ciphertext_signature_or_hmac_is_refused_without_panicking(
        value in prop_oneof!["\\PC{0,40}", "vault:v[0-9]{0,3}:[A-Za-z0-9+/=:]{0,40}"],
    ) {
        block_on(async {
            let h = harness().await;
            for (path, body) in [
                ("decrypt/aes", json!({"ciphertext": value})),
                ("decrypt/derived", json!({"ciphertext": value, "context": "Y3R4"})),
                ("rewrap/aes", json!({"ciphertext": value})),
                ("verify/ed", json!({"input": "aGk=", "signature": value})),
                ("verify/ec", json!({"input": "aGk=", "signature": value, "marshaling_algorithm": "jws"})),
                ("verify/hmac", json!({"input": "aGk=", "hmac": value})),
                ("decrypt/aes", json!({"batch_input": [{"ciphertext": value}]})),
            ] {
                let r = h.call(Operation::Update, path, body).await;
                let accepted = matches!(&r, Ok(Some(resp)) if resp.data.as_ref().is_some_and(|d| {
                    d["plaintext"].is_string() || d["valid"] == json!(true)
                }));
                assert!(!accepted, "{path} accepted {value:?}");
            }
        });
    }
}
