//! `keys`, `keys/:name`, `keys/:name/config|rotate|trim`.

use crate::support::{Harness, b64};
use coffer_core::CoreError;
use coffer_core::engine::Operation;
use serde_json::{Value, json};

#[tokio::test]
async fn creating_a_key_defaults_to_aes256_gcm96_and_reads_back_vaults_fields() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let d = h.read("keys/k").await;
    let mut fields: Vec<&str> = d
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "allow_plaintext_backup",
            "auto_rotate_period",
            "deletion_allowed",
            "derived",
            "exportable",
            "imported_key",
            "keys",
            "latest_version",
            "min_available_version",
            "min_decryption_version",
            "min_encryption_version",
            "name",
            "supports_decryption",
            "supports_derivation",
            "supports_encryption",
            "supports_signing",
            "type",
        ]
    );
    assert_eq!(d["type"], "aes256-gcm96");
    assert_eq!(d["name"], "k");
    assert_eq!(d["latest_version"], 1);
    assert_eq!(d["min_decryption_version"], 1);
    assert_eq!(d["min_encryption_version"], 0);
    assert_eq!(d["min_available_version"], 0);
    assert_eq!(d["deletion_allowed"], false);
    assert_eq!(d["supports_encryption"], true);
    assert_eq!(d["supports_signing"], false);
    assert_eq!(d["auto_rotate_period"], 0);
    // Symmetric keys: version -> unix creation time (the harness clock).
    assert_eq!(d["keys"]["1"], 1_704_067_200);
}

#[tokio::test]
async fn every_key_type_can_be_created_and_reports_its_capabilities() {
    let h = Harness::new().await;
    let cases = [
        ("aes128-gcm96", true, false, true),
        ("aes256-gcm96", true, false, true),
        ("chacha20-poly1305", true, false, true),
        ("ed25519", false, true, true),
        ("ecdsa-p256", false, true, false),
        ("ecdsa-p384", false, true, false),
        ("rsa-2048", true, true, false),
        ("rsa-3072", true, true, false),
        ("rsa-4096", true, true, false),
        ("hmac", false, false, false),
    ];
    for (t, enc, sign, derive) in cases {
        let name = format!("k-{t}");
        let d = h.create(&name, json!({ "type": t })).await;
        assert_eq!(d["type"], t);
        assert_eq!(d["supports_encryption"], enc, "{t}");
        assert_eq!(d["supports_decryption"], enc, "{t}");
        assert_eq!(d["supports_signing"], sign, "{t}");
        assert_eq!(d["supports_derivation"], derive, "{t}");
    }
    let hmac = h.read("keys/k-hmac").await;
    assert_eq!(hmac["key_size"], 32);
}

#[tokio::test]
async fn asymmetric_reads_show_each_versions_public_key() {
    let h = Harness::new().await;
    h.create("ec", json!({ "type": "ecdsa-p256" })).await;
    h.create("ed", json!({ "type": "ed25519" })).await;
    h.create("rsa", json!({ "type": "rsa-2048" })).await;
    let ec = h.read("keys/ec").await;
    assert_eq!(ec["keys"]["1"]["name"], "P-256");
    let pem = ec["keys"]["1"]["public_key"].as_str().expect("pem");
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    assert_eq!(
        ec["keys"]["1"]["creation_time"],
        "2024-01-01T00:00:00.000000000Z"
    );
    let ed = h.read("keys/ed").await;
    assert_eq!(ed["keys"]["1"]["name"], "ed25519");
    assert_eq!(
        crate::support::unb64(ed["keys"]["1"]["public_key"].as_str().expect("b64")).len(),
        32
    );
    let rsa = h.read("keys/rsa").await;
    assert_eq!(rsa["keys"]["1"]["name"], "rsa-2048");
    assert!(
        rsa["keys"]["1"]["public_key"]
            .as_str()
            .expect("pem")
            .contains("PUBLIC KEY")
    );
}

#[tokio::test]
async fn creating_an_existing_key_warns_and_changes_nothing() {
    let h = Harness::new().await;
    h.create("k", json!({ "type": "chacha20-poly1305" })).await;
    let resp = h
        .response(Operation::Update, "keys/k", json!({ "type": "rsa-2048" }))
        .await;
    assert_eq!(resp.warnings, ["key k already existed"]);
    assert_eq!(h.read("keys/k").await["type"], "chacha20-poly1305");
}

#[tokio::test]
async fn invalid_key_options_are_rejected_with_vaults_messages() {
    let h = Harness::new().await;
    assert_eq!(
        h.invalid("keys/a", json!({"type": "des"})).await,
        "unknown key type des"
    );
    assert_eq!(
        h.invalid("keys/a", json!({"convergent_encryption": true}))
            .await,
        "convergent encryption requires derivation to be enabled"
    );
    assert_eq!(
        h.invalid("keys/a", json!({"type": "ecdsa-p256", "derived": true}))
            .await,
        "key derivation and convergent encryption not supported for keys of type ecdsa-p256"
    );
    assert_eq!(
        h.invalid("keys/a", json!({"key_size": 64})).await,
        "key_size is not valid for algorithm aes256-gcm96"
    );
    assert_eq!(
        h.invalid("keys/a", json!({"type": "hmac", "key_size": 16}))
            .await,
        "invalid key_size 16"
    );
    assert!(
        h.invalid("keys/a", json!({"derived": "maybe"}))
            .await
            .contains("maybe")
    );
    // Vault types we do not offer, and automatic rotation, say so.
    for body in [
        json!({"type": "ecdsa-p521"}),
        json!({"auto_rotate_period": "24h"}),
    ] {
        let e = h.call(Operation::Update, "keys/a", body).await;
        assert!(matches!(e, Err(CoreError::NotSupported(_))), "{e:?}");
    }
    // auto_rotate_period 0 is "disabled", which is what we do.
    h.create("a", json!({"auto_rotate_period": 0})).await;
    // None of the refused requests created anything.
    assert_eq!(h.read("keys/a").await["type"], "aes256-gcm96");
}

#[tokio::test]
async fn vault_cli_string_values_are_accepted() {
    let h = Harness::new().await;
    let d = h
        .create(
            "s",
            json!({"type": "hmac", "key_size": "64", "exportable": "true", "derived": "false"}),
        )
        .await;
    assert_eq!(d["key_size"], 64);
    assert_eq!(d["exportable"], true);
}

#[tokio::test]
async fn listing_keys_returns_names_and_not_found_when_there_are_none() {
    let h = Harness::new().await;
    assert!(
        h.call(Operation::List, "keys", Value::Null)
            .await
            .expect("list")
            .is_none()
    );
    h.create("b", json!({})).await;
    h.create("a", json!({})).await;
    let d = h.data(Operation::List, "keys", Value::Null).await;
    assert_eq!(d["keys"], json!(["a", "b"]));
}

#[tokio::test]
async fn reading_a_missing_key_is_not_found() {
    let h = Harness::new().await;
    assert!(
        h.call(Operation::Read, "keys/nope", Value::Null)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn deleting_needs_deletion_allowed_and_then_removes_policy_and_archive() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let e = h.call(Operation::Delete, "keys/k", Value::Null).await;
    assert!(
        matches!(&e, Err(CoreError::InvalidRequest(m)) if m == "error deleting policy k: deletion is not allowed for this key"),
        "{e:?}"
    );
    h.write("keys/k/rotate", json!({})).await;
    h.write("keys/k/config", json!({"min_decryption_version": 2}))
        .await;
    assert_eq!(h.ctx.view.list("archive/").await.expect("list"), ["k"]);
    h.delete_key("k").await;
    assert!(
        h.call(Operation::Read, "keys/k", Value::Null)
            .await
            .expect("read")
            .is_none()
    );
    assert!(h.ctx.view.list("archive/").await.expect("list").is_empty());
    assert!(h.ctx.view.list("policy/").await.expect("list").is_empty());
    let e = h.call(Operation::Delete, "keys/k", Value::Null).await;
    assert!(
        matches!(&e, Err(CoreError::InvalidRequest(m)) if m.contains("not found")),
        "{e:?}"
    );
}

#[tokio::test]
async fn key_material_lives_under_the_seal_wrapped_prefixes_only() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let top = h.ctx.view.list("").await.expect("list");
    assert_eq!(top, ["policy/"]);
    assert_eq!(h.ctx.view.list("policy/").await.expect("list"), ["k"]);
}

#[tokio::test]
async fn rotate_adds_a_version_that_new_ciphertexts_use() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let old = h.encrypt("k", b"x").await;
    h.clock.advance(60);
    let d = h.write("keys/k/rotate", json!({})).await;
    assert_eq!(d["latest_version"], 2);
    assert_eq!(d["keys"]["2"], 1_704_067_260);
    let new = h.encrypt("k", b"x").await;
    assert!(old.starts_with("vault:v1:") && new.starts_with("vault:v2:"));
    assert_eq!(h.decrypt("k", &old).await, b"x");
    assert_eq!(
        h.invalid("keys/nope/rotate", json!({})).await,
        "key not found"
    );
}

#[tokio::test]
async fn raising_min_decryption_version_retires_old_versions_and_lowering_restores_them() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let v1 = h.encrypt("k", b"one").await;
    h.write("keys/k/rotate", json!({})).await;
    h.write("keys/k/rotate", json!({})).await;
    let d = h
        .write("keys/k/config", json!({"min_decryption_version": 3}))
        .await;
    assert_eq!(d["min_decryption_version"], 3);
    assert_eq!(d["keys"].as_object().expect("keys").len(), 1);
    assert_eq!(
        h.invalid("decrypt/k", json!({"ciphertext": v1})).await,
        "ciphertext or signature version is disallowed by policy (too old)"
    );
    // Encrypting with a retired version is refused too.
    assert_eq!(
        h.invalid(
            "encrypt/k",
            json!({"plaintext": b64(b"x"), "key_version": 1})
        )
        .await,
        "no such key version"
    );
    let d = h
        .write("keys/k/config", json!({"min_decryption_version": 1}))
        .await;
    assert_eq!(d["keys"].as_object().expect("keys").len(), 3);
    assert_eq!(h.decrypt("k", &v1).await, b"one");
}

#[tokio::test]
async fn config_rejects_impossible_floors_and_one_way_settings() {
    let h = Harness::new().await;
    h.create(
        "k",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await;
    assert_eq!(
        h.invalid("keys/k/config", json!({"min_decryption_version": 5}))
            .await,
        "cannot set min decryption version of 5, latest key version is 1"
    );
    assert_eq!(
        h.invalid("keys/k/config", json!({"min_encryption_version": 2}))
            .await,
        "cannot set min encryption version of 2, latest key version is 1"
    );
    assert_eq!(
        h.invalid("keys/k/config", json!({"exportable": false}))
            .await,
        "exportable key setting cannot be disabled"
    );
    assert_eq!(
        h.invalid("keys/k/config", json!({"allow_plaintext_backup": false}))
            .await,
        "allow_plaintext_backup cannot be disabled once enabled"
    );
    h.write("keys/k/rotate", json!({})).await;
    h.write("keys/k/config", json!({"min_decryption_version": 2}))
        .await;
    assert_eq!(
        h.invalid("keys/k/config", json!({"min_encryption_version": 1}))
            .await,
        "min encryption version should not be less than min decryption version"
    );
    assert_eq!(
        h.invalid("keys/nope/config", json!({})).await,
        "no existing key named nope could be found"
    );
    let resp = h
        .response(
            Operation::Update,
            "keys/k/config",
            json!({"min_decryption_version": 0}),
        )
        .await;
    assert_eq!(resp.data.expect("data")["min_decryption_version"], 1);
    assert_eq!(resp.warnings.len(), 1);
}

#[tokio::test]
async fn trim_drops_archived_versions_under_vaults_rules() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    for _ in 0..3 {
        h.write("keys/k/rotate", json!({})).await;
    }
    assert_eq!(
        h.invalid("keys/k/trim", json!({"min_available_version": 2}))
            .await,
        "minimum available version cannot be set when minimum encryption version is not set"
    );
    h.write(
        "keys/k/config",
        json!({"min_decryption_version": 3, "min_encryption_version": 4}),
    )
    .await;
    assert_eq!(
        h.invalid("keys/k/trim", json!({"min_available_version": 4}))
            .await,
        "minimum available version cannot be greater than minimum decryption version"
    );
    assert_eq!(
        h.invalid("keys/k/trim", json!({})).await,
        "minimum available version should be positive"
    );
    let d = h
        .write("keys/k/trim", json!({"min_available_version": 2}))
        .await;
    assert_eq!(d["min_available_version"], 2);
    assert_eq!(
        h.invalid("keys/k/trim", json!({"min_available_version": 1}))
            .await,
        "minimum available version cannot be decremented"
    );
    // Version 1 is gone for good; 2 can still come back.
    assert_eq!(
        h.invalid("keys/k/config", json!({"min_decryption_version": 1}))
            .await,
        "cannot set min decryption version of 1 below min available version of 2"
    );
    let d = h
        .write("keys/k/config", json!({"min_decryption_version": 2}))
        .await;
    assert_eq!(d["keys"].as_object().expect("keys").len(), 3);
    assert_eq!(
        h.invalid("keys/nope/trim", json!({})).await,
        "invalid key name"
    );
}

#[tokio::test]
async fn unknown_paths_wrong_operations_and_bad_names_are_routing_errors() {
    let h = Harness::new().await;
    assert!(matches!(
        h.call(Operation::Read, "nope", Value::Null).await,
        Err(CoreError::UnsupportedPath(_))
    ));
    assert!(matches!(
        h.call(Operation::Read, "encrypt/k", Value::Null).await,
        Err(CoreError::UnsupportedOperation)
    ));
    assert!(matches!(
        h.call(Operation::Update, "keys/bad name", json!({})).await,
        Err(CoreError::UnsupportedPath(_))
    ));
    assert!(matches!(
        h.call(Operation::Update, "keys/-x", json!({})).await,
        Err(CoreError::UnsupportedPath(_))
    ));
}
