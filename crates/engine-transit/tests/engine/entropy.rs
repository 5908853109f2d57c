//! Key material comes from the mount's entropy (HSM-augmented on
//! `external_entropy_access` mounts); when that fails, making keys fails
//! closed while using existing keys keeps working: per-message nonces come
//! from the context's nonce handle (the node's OS CSPRNG), never from an
//! engine-made source.

use crate::support::{Harness, b64};
use coffer_core::CoreError;
use coffer_core::engine::Operation;
use serde_json::{Value, json};

#[tokio::test]
async fn key_material_is_drawn_from_the_mount_entropy_and_nonces_are_not() {
    let h = Harness::new().await;
    assert_eq!(h.entropy.drawn(), 0);
    h.create("aes", json!({})).await;
    // 32-byte AES key + 32-byte HMAC key.
    assert_eq!(h.entropy.drawn(), 64);
    h.write("keys/aes/rotate", json!({})).await;
    assert_eq!(h.entropy.drawn(), 128);
    h.create("a128", json!({"type": "aes128-gcm96"})).await;
    assert_eq!(h.entropy.drawn(), 128 + 16 + 32);
    h.create("mac", json!({"type": "hmac", "key_size": 48}))
        .await;
    assert_eq!(h.entropy.drawn(), 176 + 48 + 32);
    let before = h.entropy.drawn();
    for t in ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048"] {
        let calls = h.entropy.calls();
        h.create(t, json!({"type": t})).await;
        assert!(
            h.entropy.calls() > calls,
            "{t} drew nothing from the mount entropy"
        );
    }
    assert!(h.entropy.drawn() > before);
    // Encrypt, decrypt, sign: no key material, so no draw.
    let drawn = h.entropy.drawn();
    let ct = h.encrypt("aes", b"x").await;
    h.decrypt("aes", &ct).await;
    h.write("sign/ecdsa-p256", json!({"input": b64(b"m")}))
        .await;
    h.write("hmac/aes", json!({"input": b64(b"m")})).await;
    assert_eq!(h.entropy.drawn(), drawn);
    // A data key is key material.
    h.write("datakey/wrapped/aes", json!({"bits": 256})).await;
    assert_eq!(h.entropy.drawn(), drawn + 32);
}

#[tokio::test]
async fn failing_entropy_stops_key_creation_and_rotation_but_not_encryption() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    h.create("ec", json!({"type": "ecdsa-p256"})).await;
    let before = h.encrypt("k", b"before").await;
    h.entropy.fail(true);

    for (path, body) in [
        ("keys/new", json!({})),
        ("keys/new-rsa", json!({"type": "rsa-2048"})),
        ("keys/new-ec", json!({"type": "ecdsa-p384"})),
        ("keys/k/rotate", json!({})),
        ("encrypt/upserted", json!({"plaintext": b64(b"x")})),
        ("datakey/plaintext/k", json!({})),
        ("random/seal/8", json!({})),
    ] {
        match h.call(Operation::Update, path, body).await {
            Err(CoreError::Crypto(e)) => {
                assert!(e.to_string().contains("CKR_DEVICE_REMOVED"), "{path}: {e}");
            }
            other => panic!("{path}: expected the entropy error, got {other:?}"),
        }
    }
    // Nothing half-made: no new keys, no new version.
    for name in ["new", "new-rsa", "new-ec", "upserted"] {
        assert!(
            h.call(Operation::Read, &format!("keys/{name}"), Value::Null)
                .await
                .expect("read")
                .is_none(),
            "{name}"
        );
    }
    assert_eq!(h.read("keys/k").await["latest_version"], 1);

    // Existing keys keep working.
    assert_eq!(h.decrypt("k", &before).await, b"before");
    let during = h.encrypt("k", b"during").await;
    assert_eq!(h.decrypt("k", &during).await, b"during");
    let sig = h.write("sign/ec", json!({"input": b64(b"m")})).await["signature"].clone();
    let ok = h
        .write("verify/ec", json!({"input": b64(b"m"), "signature": sig}))
        .await;
    assert_eq!(ok["valid"], true);
    h.write("random/platform/8", json!({})).await;

    // And the HSM coming back brings key making back.
    h.entropy.fail(false);
    assert_eq!(
        h.write("keys/k/rotate", json!({})).await["latest_version"],
        2
    );
}

#[tokio::test]
async fn nonces_and_platform_randomness_come_from_the_context_nonce_handle() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let keys = h.entropy.drawn();
    let ct = h.encrypt("k", b"x").await;
    // One 96-bit GCM nonce, and no key entropy.
    assert_eq!(h.nonces.drawn(), 12);
    h.write("rewrap/k", json!({"ciphertext": ct})).await;
    assert_eq!(h.nonces.drawn(), 24);
    h.write("random/platform/16", json!({})).await;
    assert_eq!(h.nonces.drawn(), 40);
    assert_eq!(h.entropy.drawn(), keys);

    h.nonces.fail(true);
    for (path, body) in [
        ("encrypt/k", json!({"plaintext": b64(b"x")})),
        ("random/platform/8", json!({})),
    ] {
        match h.call(Operation::Update, path, body).await {
            Err(CoreError::Crypto(e)) => {
                assert!(e.to_string().contains("CKR_DEVICE_REMOVED"), "{path}: {e}");
            }
            other => panic!("{path}: expected the nonce source's error, got {other:?}"),
        }
    }
    // Key material still comes from the mount entropy.
    h.create("k2", json!({})).await;
    assert!(h.entropy.drawn() > keys);
}
