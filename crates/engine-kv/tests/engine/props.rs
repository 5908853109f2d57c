//! Property tests of KV request bodies: what is written reads back the
//! same (v1 and v2), a JSON merge patch does what RFC 7386 says, and no
//! body on any route makes the engine panic. The `kv_request` fuzz target
//! drives the same parsers through a whole node (docs/FUZZING.md).

use crate::support::Harness;
use coffer_core::engine::Operation;
use coffer_testkit::runtime::block_on;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Field names the KV bodies know, and some they do not.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("data".to_owned()),
        Just("options".to_owned()),
        Just("cas".to_owned()),
        Just("version".to_owned()),
        Just("versions".to_owned()),
        Just("max_versions".to_owned()),
        Just("cas_required".to_owned()),
        Just("delete_version_after".to_owned()),
        Just("custom_metadata".to_owned()),
        Just("depth".to_owned()),
        "[a-z_]{1,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop_oneof![Just("1h"), Just("-5s"), Just("0"), Just("1,2")].prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(field(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A secret's data: an object of arbitrary JSON values.
fn secret_data() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map("[a-zA-Z0-9_.-]{1,10}", json_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

/// RFC 7386, written out here independently of the engine.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(t) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

const V2_ROUTES: [(Operation, &str); 12] = [
    (Operation::Update, "data/p"),
    (Operation::Patch, "data/p"),
    (Operation::Read, "data/p"),
    (Operation::Update, "delete/p"),
    (Operation::Update, "undelete/p"),
    (Operation::Update, "destroy/p"),
    (Operation::Update, "metadata/p"),
    (Operation::Patch, "metadata/p"),
    (Operation::Read, "metadata/p"),
    (Operation::Read, "subkeys/p"),
    (Operation::Update, "config"),
    (Operation::Delete, "data/p"),
];

#[tokio::test]
async fn a_float_in_a_secret_reads_back_bit_for_bit() {
    // Found by `a_v1_secret_reads_back_as_written`: without serde_json's
    // float_roundtrip feature, reading the stored record back was one ULP off.
    for kv in ["1", "2"] {
        let h = Harness::kv(kv).await;
        let data =
            json!({"f": -130_362.195_476_220_57_f64, "g": [-970_186.144_822_265_1_f64, 0.1]});
        let read = if kv == "1" {
            h.ok(Operation::Update, "s", data.clone()).await;
            h.data(Operation::Read, "s", Value::Null).await
        } else {
            h.put("s", data.clone()).await;
            h.data(Operation::Read, "data/s", Value::Null).await["data"].clone()
        };
        assert_eq!(read, data, "kv v{kv}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_v2_secret_reads_back_as_written(data in secret_data()) {
        block_on(async {
            let h = Harness::kv("2").await;
            h.put("s", Value::Object(data.clone())).await;
            let read = h.data(Operation::Read, "data/s", Value::Null).await;
            assert_eq!(read["data"], Value::Object(data));
        });
    }

    #[test]
    fn a_v1_secret_reads_back_as_written(data in secret_data()) {
        prop_assume!(!data.is_empty());
        block_on(async {
            let h = Harness::kv("1").await;
            h.ok(Operation::Update, "s", Value::Object(data.clone())).await;
            let read = h.data(Operation::Read, "s", Value::Null).await;
            assert_eq!(read, Value::Object(data));
        });
    }

    #[test]
    fn a_v2_patch_merges_as_rfc_7386_says(first in secret_data(), patch in secret_data()) {
        prop_assume!(!first.is_empty() || !patch.is_empty());
        block_on(async {
            let h = Harness::kv("2").await;
            h.put("s", Value::Object(first.clone())).await;
            let patched = h
                .call(Operation::Patch, "data/s", json!({"data": patch.clone()}))
                .await;
            let mut want = Value::Object(first);
            merge_patch(&mut want, &Value::Object(patch));
            if patched.is_ok() {
                let read = h.data(Operation::Read, "data/s", Value::Null).await;
                assert_eq!(read["data"], want);
            }
        });
    }

    #[test]
    fn no_body_on_any_v2_route_makes_the_engine_panic(
        bodies in proptest::collection::vec(
            (0..V2_ROUTES.len(), proptest::collection::btree_map(field(), json_value(), 0..4)),
            1..5,
        ),
    ) {
        block_on(async {
            let h = Harness::kv("2").await;
            h.put("p", json!({"k": "v"})).await;
            for (route, body) in bodies {
                let (op, path) = V2_ROUTES[route];
                let _ = h.call(op, path, Value::Object(body.into_iter().collect())).await;
            }
        });
    }

    #[test]
    fn no_body_makes_the_v1_engine_or_the_cubbyhole_panic(body in json_value()) {
        block_on(async {
            let h = Harness::kv("1").await;
            let _ = h.call(Operation::Update, "p", body.clone()).await;
            let _ = h.call(Operation::Read, "p", body.clone()).await;
            let c = Harness::cubbyhole().await;
            let _ = c.call(Operation::Update, "p", body).await;
        });
    }
}
