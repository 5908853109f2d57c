//! `encrypt`, `decrypt`, `rewrap`, `datakey`, batches and bad input.

use crate::support::{Harness, b64, unb64};
use coffer_core::CoreError;
use coffer_core::engine::{Operation, ResponseStatus};
use serde_json::{Value, json};

#[tokio::test]
async fn encrypt_then_decrypt_round_trips_in_vaults_ciphertext_format() {
    let h = Harness::new().await;
    for t in ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"] {
        let name = format!("k-{t}");
        h.create(&name, json!({"type": t})).await;
        let d = h
            .write(
                &format!("encrypt/{name}"),
                json!({"plaintext": b64(b"hello world")}),
            )
            .await;
        assert_eq!(d["key_version"], 1);
        let ct = d["ciphertext"].as_str().expect("ciphertext");
        let body = ct.strip_prefix("vault:v1:").expect("vault:v1: prefix");
        // nonce (12) || ciphertext (11) || tag (16)
        assert_eq!(unb64(body).len(), 12 + 11 + 16, "{t}");
        assert_eq!(h.decrypt(&name, ct).await, b"hello world");
        // A fresh nonce each time.
        assert_ne!(h.encrypt(&name, b"hello world").await, ct);
    }
    // Empty plaintext is valid.
    let ct = h.encrypt("k-aes256-gcm96", b"").await;
    assert_eq!(h.decrypt("k-aes256-gcm96", &ct).await, b"");
}

#[tokio::test]
async fn encrypting_with_a_missing_key_creates_it_as_vault_does() {
    let h = Harness::new().await;
    let ct = h.encrypt("fresh", b"x").await;
    assert_eq!(h.read("keys/fresh").await["type"], "aes256-gcm96");
    assert_eq!(h.decrypt("fresh", &ct).await, b"x");
    // type and context shape the created key.
    h.write(
        "encrypt/derived",
        json!({"plaintext": b64(b"x"), "context": b64(b"ctx"), "type": "chacha20-poly1305"}),
    )
    .await;
    let d = h.read("keys/derived").await;
    assert_eq!(
        (d["type"].as_str(), d["derived"].as_bool()),
        (Some("chacha20-poly1305"), Some(true))
    );
    assert_eq!(d["kdf"], "hkdf_sha256");
    assert_eq!(
        h.invalid("encrypt/ec", json!({"plaintext": "", "type": "ecdsa-p256"}))
            .await,
        "key type ecdsa-p256 not supported for this operation"
    );
    assert_eq!(
        h.invalid(
            "encrypt/cv",
            json!({"plaintext": "", "convergent_encryption": true})
        )
        .await,
        "convergent encryption requires derivation to be enabled, so context is required"
    );
    assert!(
        h.call(Operation::Read, "keys/ec", Value::Null)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn old_versions_decrypt_after_rotation_and_key_version_picks_the_encryption_version() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let v1 = h.encrypt("k", b"one").await;
    h.write("keys/k/rotate", json!({})).await;
    h.write("keys/k/rotate", json!({})).await;
    assert_eq!(h.decrypt("k", &v1).await, b"one");
    let d = h
        .write(
            "encrypt/k",
            json!({"plaintext": b64(b"x"), "key_version": 2}),
        )
        .await;
    assert_eq!(d["key_version"], 2);
    assert!(
        d["ciphertext"]
            .as_str()
            .expect("ct")
            .starts_with("vault:v2:")
    );
    assert_eq!(
        h.invalid(
            "encrypt/k",
            json!({"plaintext": b64(b"x"), "key_version": 4})
        )
        .await,
        "requested version for encryption is higher than the latest key version"
    );
    h.write("keys/k/config", json!({"min_encryption_version": 3}))
        .await;
    assert_eq!(
        h.invalid(
            "encrypt/k",
            json!({"plaintext": b64(b"x"), "key_version": 2})
        )
        .await,
        "requested version for encryption is less than the minimum encryption key version"
    );
    // Version 1 still decrypts: min_decryption_version is untouched.
    assert_eq!(h.decrypt("k", &v1).await, b"one");
}

#[tokio::test]
async fn derived_keys_need_a_context_and_each_context_has_its_own_key() {
    let h = Harness::new().await;
    h.create("d", json!({"derived": true})).await;
    let ctx_a = b64(b"tenant-a");
    let ct = h
        .write(
            "encrypt/d",
            json!({"plaintext": b64(b"s"), "context": ctx_a}),
        )
        .await["ciphertext"]
        .as_str()
        .expect("ct")
        .to_owned();
    let e = h
        .invalid("encrypt/d", json!({"plaintext": b64(b"s")}))
        .await;
    assert!(e.starts_with("missing 'context' for key derivation"), "{e}");
    assert!(
        h.invalid("decrypt/d", json!({"ciphertext": ct}))
            .await
            .starts_with("missing 'context'")
    );
    let d = h
        .write("decrypt/d", json!({"ciphertext": ct, "context": ctx_a}))
        .await;
    assert_eq!(unb64(d["plaintext"].as_str().expect("pt")), b"s");
    assert_eq!(
        h.invalid(
            "decrypt/d",
            json!({"ciphertext": ct, "context": b64(b"tenant-b")})
        )
        .await,
        "cipher: message authentication failed"
    );
}

#[tokio::test]
async fn convergent_encryption_is_deterministic_per_context() {
    let h = Harness::new().await;
    h.create("c", json!({"derived": true, "convergent_encryption": true}))
        .await;
    let d = h.read("keys/c").await;
    assert_eq!(d["convergent_encryption"], true);
    assert_eq!(d["convergent_encryption_version"], 3);
    let enc = |ctx: &[u8], pt: &[u8]| json!({"plaintext": b64(pt), "context": b64(ctx)});
    let a1 = h.write("encrypt/c", enc(b"ctx", b"same")).await["ciphertext"].clone();
    let a2 = h.write("encrypt/c", enc(b"ctx", b"same")).await["ciphertext"].clone();
    let b = h.write("encrypt/c", enc(b"other", b"same")).await["ciphertext"].clone();
    let c = h.write("encrypt/c", enc(b"ctx", b"different")).await["ciphertext"].clone();
    assert_eq!(a1, a2);
    assert_ne!(a1, b);
    assert_ne!(a1, c);
    let d = h
        .write(
            "decrypt/c",
            json!({"ciphertext": a1, "context": b64(b"ctx")}),
        )
        .await;
    assert_eq!(unb64(d["plaintext"].as_str().expect("pt")), b"same");
}

#[tokio::test]
async fn convergent_encryption_refuses_associated_data_which_would_reuse_a_nonce() {
    let h = Harness::new().await;
    h.create("c", json!({"derived": true, "convergent_encryption": true}))
        .await;
    let msg = h
        .invalid(
            "encrypt/c",
            json!({"plaintext": b64(b"same"), "context": b64(b"ctx"), "associated_data": b64(b"row-1")}),
        )
        .await;
    assert!(
        msg.contains("cannot be used with convergent encryption"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_batch_larger_than_the_limit_is_refused_and_errors_do_not_echo_input() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let items: Vec<_> = (0..10_001).map(|_| json!({"plaintext": ""})).collect();
    let msg = h
        .invalid("encrypt/k", json!({ "batch_input": items }))
        .await;
    assert!(msg.contains("at most 10000"), "{msg}");
    let msg = h
        .invalid("encrypt/k", json!({"plaintext": "not base64 secret!"}))
        .await;
    assert!(!msg.contains("secret"), "{msg}");
    let msg = h
        .invalid("encrypt/k", json!({"plaintext": {"secret": "x"}}))
        .await;
    assert!(!msg.contains("secret"), "{msg}");
}

#[tokio::test]
async fn associated_data_is_authenticated_and_refused_for_rsa() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let ad = b64(b"header");
    let ct = h
        .write(
            "encrypt/k",
            json!({"plaintext": b64(b"p"), "associated_data": ad}),
        )
        .await["ciphertext"]
        .clone();
    let d = h
        .write(
            "decrypt/k",
            json!({"ciphertext": ct, "associated_data": ad}),
        )
        .await;
    assert_eq!(unb64(d["plaintext"].as_str().expect("pt")), b"p");
    for wrong in [
        json!({"ciphertext": ct}),
        json!({"ciphertext": ct, "associated_data": b64(b"x")}),
    ] {
        assert_eq!(
            h.invalid("decrypt/k", wrong).await,
            "cipher: message authentication failed"
        );
    }
    h.create("r", json!({"type": "rsa-2048"})).await;
    assert_eq!(
        h.invalid(
            "encrypt/r",
            json!({"plaintext": b64(b"p"), "associated_data": ad})
        )
        .await,
        "associated_data provided for non-AEAD cipher suite rsa-2048"
    );
}

#[tokio::test]
async fn a_caller_nonce_is_refused_as_modern_vault_does() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    assert_eq!(
        h.invalid(
            "encrypt/k",
            json!({"plaintext": b64(b"p"), "nonce": b64(&[0u8; 12])})
        )
        .await,
        "provided nonce not allowed for this key"
    );
}

#[tokio::test]
async fn rsa_keys_encrypt_with_oaep_and_refuse_pkcs1v15_padding() {
    let h = Harness::new().await;
    h.create("r", json!({"type": "rsa-2048"})).await;
    let ct = h.encrypt("r", b"secret").await;
    assert_eq!(
        unb64(ct.strip_prefix("vault:v1:").expect("prefix")).len(),
        256
    );
    assert_eq!(h.decrypt("r", &ct).await, b"secret");
    let e = h
        .call(
            Operation::Update,
            "encrypt/r",
            json!({"plaintext": b64(b"p"), "padding_scheme": "pkcs1v15"}),
        )
        .await;
    assert!(matches!(e, Err(CoreError::NotSupported(_))), "{e:?}");
    assert!(
        h.invalid("encrypt/r", json!({"plaintext": b64(&[0u8; 300])}))
            .await
            .contains("too long")
    );
}

#[tokio::test]
async fn rewrap_moves_a_ciphertext_to_the_latest_version_without_the_plaintext() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let v1 = h.encrypt("k", b"data").await;
    h.write("keys/k/rotate", json!({})).await;
    let d = h.write("rewrap/k", json!({"ciphertext": v1})).await;
    assert!(d.get("plaintext").is_none());
    assert_eq!(d["key_version"], 2);
    let v2 = d["ciphertext"].as_str().expect("ct");
    assert!(v2.starts_with("vault:v2:"));
    assert_eq!(h.decrypt("k", v2).await, b"data");
    let b = h
        .write(
            "rewrap/k",
            json!({"batch_input": [{"ciphertext": v1, "reference": "r1"}]}),
        )
        .await;
    assert_eq!(b["batch_results"][0]["reference"], "r1");
    assert!(
        b["batch_results"][0]["ciphertext"]
            .as_str()
            .expect("ct")
            .starts_with("vault:v2:")
    );
    assert_eq!(
        h.invalid("rewrap/nope", json!({"ciphertext": v1})).await,
        "encryption key not found"
    );
}

#[tokio::test]
async fn datakeys_come_wrapped_or_with_plaintext_and_check_bits() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let d = h.write("datakey/plaintext/k", json!({})).await;
    let plain = unb64(d["plaintext"].as_str().expect("plaintext"));
    assert_eq!(plain.len(), 32);
    assert_eq!(
        h.decrypt("k", d["ciphertext"].as_str().expect("ct")).await,
        plain
    );
    let w = h.write("datakey/wrapped/k", json!({"bits": "512"})).await;
    assert!(w.get("plaintext").is_none());
    assert_eq!(
        h.decrypt("k", w["ciphertext"].as_str().expect("ct"))
            .await
            .len(),
        64
    );
    let w = h.write("datakey/wrapped/k", json!({"bits": 128})).await;
    assert_eq!(
        h.decrypt("k", w["ciphertext"].as_str().expect("ct"))
            .await
            .len(),
        16
    );
    assert!(
        h.invalid("datakey/wrapped/k", json!({"bits": 100}))
            .await
            .starts_with("invalid bits length")
    );
    assert_eq!(
        h.invalid("datakey/other/k", json!({})).await,
        "Invalid path, must be 'plaintext' or 'wrapped'"
    );
    assert_eq!(
        h.invalid("datakey/wrapped/nope", json!({})).await,
        "encryption key not found"
    );
}

#[tokio::test]
async fn batches_keep_order_and_references_and_decrypt_back() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"plaintext": b64(format!("item {i}").as_bytes()), "reference": format!("r{i}")}))
        .collect();
    let d = h.write("encrypt/k", json!({"batch_input": items})).await;
    let results = d["batch_results"].as_array().expect("results");
    assert_eq!(results.len(), 5);
    let cts: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(r["reference"], format!("r{i}"));
            assert_eq!(r["key_version"], 1);
            json!({"ciphertext": r["ciphertext"], "reference": r["reference"]})
        })
        .collect();
    let d = h.write("decrypt/k", json!({"batch_input": cts})).await;
    for (i, r) in d["batch_results"]
        .as_array()
        .expect("results")
        .iter()
        .enumerate()
    {
        assert_eq!(
            unb64(r["plaintext"].as_str().expect("pt")),
            format!("item {i}").as_bytes()
        );
        assert_eq!(r["reference"], format!("r{i}"));
    }
}

#[tokio::test]
async fn a_batch_with_bad_items_reports_each_error_and_answers_400_unless_overridden() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let good = h.encrypt("k", b"ok").await;
    let batch = json!({"batch_input": [
        {"ciphertext": good},
        {"ciphertext": "not-vault"},
        {"ciphertext": "vault:v9:AAAA"},
        {"ciphertext": "vault:v1:!!!"},
        {},
    ]});
    let resp = h
        .response(Operation::Update, "decrypt/k", batch.clone())
        .await;
    assert_eq!(resp.status, ResponseStatus::Code(400));
    let data = resp.data.expect("data");
    let r = data["batch_results"].as_array().expect("results");
    assert_eq!(unb64(r[0]["plaintext"].as_str().expect("pt")), b"ok");
    assert!(r[0].get("error").is_none());
    assert_eq!(r[1]["error"], "invalid ciphertext: no prefix");
    assert_eq!(r[2]["error"], "invalid ciphertext: version is too new");
    assert_eq!(r[3]["error"], "invalid ciphertext: could not decode base64");
    assert_eq!(r[4]["error"], "missing ciphertext to decrypt");
    let mut overridden = batch;
    overridden["partial_failure_response_code"] = json!(207);
    let resp = h.response(Operation::Update, "decrypt/k", overridden).await;
    assert_eq!(resp.status, ResponseStatus::Code(207));
    // Encrypt batches too: one bad base64 item among good ones.
    let resp = h
        .response(
            Operation::Update,
            "encrypt/k",
            json!({"batch_input": [{"plaintext": b64(b"a")}, {"plaintext": "%%%"}],
                   "partial_failure_response_code": 200}),
        )
        .await;
    assert_eq!(resp.status, ResponseStatus::Code(200));
    let data = resp.data.expect("data");
    assert!(data["batch_results"][0]["ciphertext"].is_string());
    assert!(
        data["batch_results"][1]["error"]
            .as_str()
            .expect("error")
            .contains("base64")
    );
    assert_eq!(
        h.invalid("encrypt/k", json!({"batch_input": []})).await,
        "missing batch input to process"
    );
    assert_eq!(
        h.invalid(
            "encrypt/k",
            json!({"batch_input": [{"plaintext": "", "context": b64(b"c")}, {"plaintext": ""}]})
        )
        .await,
        "context should be set either in all the request blocks or in none"
    );
    assert!(
        h.invalid("encrypt/k", json!({"batch_input": "x"}))
            .await
            .contains("batch_input")
    );
}

#[tokio::test]
async fn bad_single_inputs_are_clear_400s_never_panics() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    h.create("ec", json!({"type": "ecdsa-p256"})).await;
    h.create("mac", json!({"type": "hmac"})).await;
    let ct = h.encrypt("k", b"secret").await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("encrypt/k", json!({}), "missing plaintext to encrypt"),
        (
            "encrypt/k",
            json!({"plaintext": "%%"}),
            "unable to decode plaintext as base64",
        ),
        (
            "encrypt/k",
            json!({"plaintext": "", "context": "%%"}),
            "unable to decode context as base64",
        ),
        ("decrypt/k", json!({}), "missing ciphertext to decrypt"),
        (
            "decrypt/k",
            json!({"ciphertext": "v1:abc"}),
            "invalid ciphertext: no prefix",
        ),
        (
            "decrypt/k",
            json!({"ciphertext": "vault:v1"}),
            "invalid ciphertext: wrong number of fields",
        ),
        (
            "decrypt/k",
            json!({"ciphertext": "vault:vX:AA=="}),
            "invalid ciphertext: version number could not be decoded",
        ),
        (
            "decrypt/k",
            json!({"ciphertext": "vault:v2:AA=="}),
            "invalid ciphertext: version is too new",
        ),
        (
            "decrypt/k",
            json!({"ciphertext": "vault:v1:%%%"}),
            "invalid ciphertext: could not decode base64",
        ),
        (
            "decrypt/k",
            json!({"ciphertext": "vault:v1:AAAA"}),
            "invalid ciphertext length",
        ),
        (
            "decrypt/nope",
            json!({"ciphertext": ct}),
            "encryption key not found",
        ),
        (
            "encrypt/ec",
            json!({"plaintext": ""}),
            "message encryption not supported for key type ecdsa-p256",
        ),
        (
            "decrypt/ec",
            json!({"ciphertext": ct}),
            "message decryption not supported for key type ecdsa-p256",
        ),
        (
            "encrypt/mac",
            json!({"plaintext": ""}),
            "message encryption not supported for key type hmac",
        ),
    ];
    for (path, body, want) in cases {
        let got = h.invalid(path, body.clone()).await;
        assert!(
            got.starts_with(want),
            "{path} {body}: got {got:?}, want {want:?}"
        );
    }
    // Every single-bit flip of the ciphertext body is detected.
    let raw = unb64(ct.strip_prefix("vault:v1:").expect("prefix"));
    for i in 0..raw.len() {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        let tampered = format!("vault:v1:{}", b64(&bad));
        assert_eq!(
            h.invalid("decrypt/k", json!({"ciphertext": tampered}))
                .await,
            "cipher: message authentication failed",
            "byte {i}"
        );
    }
    // A ciphertext of another key of the same type does not decrypt either.
    h.create("k2", json!({})).await;
    assert_eq!(
        h.invalid("decrypt/k2", json!({"ciphertext": ct})).await,
        "cipher: message authentication failed"
    );
}
