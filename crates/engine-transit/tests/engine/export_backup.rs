//! `export`, `backup`, `restore`.

use crate::support::{Harness, b64, unb64};
use coffer_core::engine::Operation;
use serde_json::{Value, json};

#[tokio::test]
async fn export_needs_an_exportable_key_and_formats_like_vault() {
    let h = Harness::new().await;
    h.create("secret", json!({})).await;
    assert_eq!(
        h.invalid_read("export/encryption-key/secret").await,
        "private key material is not exportable"
    );
    h.create("aes", json!({"exportable": true})).await;
    let d = h.read("export/encryption-key/aes").await;
    assert_eq!(d["name"], "aes");
    assert_eq!(d["type"], "aes256-gcm96");
    assert_eq!(unb64(d["keys"]["1"].as_str().expect("key")).len(), 32);
    assert_eq!(
        unb64(
            h.read("export/hmac-key/aes").await["keys"]["1"]
                .as_str()
                .expect("key")
        )
        .len(),
        32
    );
    assert_eq!(
        h.invalid_read("export/signing-key/aes").await,
        "signing not supported for the key"
    );

    h.create("ec", json!({"type": "ecdsa-p384", "exportable": true}))
        .await;
    let pem = h.read("export/signing-key/ec").await["keys"]["1"]
        .as_str()
        .expect("pem")
        .to_owned();
    assert!(
        pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n")
            && pem.ends_with("-----END EC PRIVATE KEY-----")
    );
    assert_eq!(
        h.invalid_read("export/encryption-key/ec").await,
        "encryption not supported for the key"
    );

    h.create("ed", json!({"type": "ed25519", "exportable": true}))
        .await;
    let go_key = unb64(
        h.read("export/signing-key/ed").await["keys"]["1"]
            .as_str()
            .expect("key"),
    );
    assert_eq!(go_key.len(), 64);
    let public = h.read("keys/ed").await["keys"]["1"]["public_key"].clone();
    assert_eq!(json!(b64(&go_key[32..])), public);

    h.create("rsa", json!({"type": "rsa-2048", "exportable": true}))
        .await;
    for kind in ["encryption-key", "signing-key"] {
        let pem = h.read(&format!("export/{kind}/rsa")).await["keys"]["1"]
            .as_str()
            .expect("pem")
            .to_owned();
        assert!(
            pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{pem}"
        );
    }
    // Public keys need no exportable flag.
    h.create("pub", json!({"type": "ecdsa-p256"})).await;
    let p = h.read("export/public-key/pub").await["keys"]["1"]
        .as_str()
        .expect("pem")
        .to_owned();
    assert!(p.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        h.invalid_read("export/other-key/aes").await,
        "invalid export type: other-key"
    );
    assert!(
        h.call(Operation::Read, "export/encryption-key/nope", Value::Null)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn export_picks_one_version_or_latest_and_respects_min_decryption_version() {
    let h = Harness::new().await;
    h.create("k", json!({"exportable": true})).await;
    h.write("keys/k/rotate", json!({})).await;
    let all = h.read("export/encryption-key/k").await;
    assert_eq!(all["keys"].as_object().expect("keys").len(), 2);
    let latest = h.read("export/encryption-key/k/latest").await;
    assert_eq!(latest["keys"]["2"], all["keys"]["2"]);
    assert_eq!(latest["keys"].as_object().expect("keys").len(), 1);
    h.write("keys/k/config", json!({"min_decryption_version": 2}))
        .await;
    assert_eq!(
        h.invalid_read("export/encryption-key/k/1").await,
        "version for export is below minimum decryption version"
    );
    assert_eq!(
        h.invalid_read("export/encryption-key/k/7").await,
        "version does not exist or cannot be found"
    );
}

#[tokio::test]
async fn backup_needs_plaintext_backup_and_restore_brings_every_version_back() {
    let h = Harness::new().await;
    h.create("nb", json!({"exportable": true})).await;
    assert_eq!(
        h.invalid_read("backup/nb").await,
        "plaintext backup is disallowed on the policy"
    );
    h.create("ne", json!({})).await;
    assert_eq!(
        h.invalid_read("backup/ne").await,
        "exporting is disallowed on the policy"
    );

    h.create(
        "k",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await;
    let v1 = h.encrypt("k", b"one").await;
    h.write("keys/k/rotate", json!({})).await;
    let v2 = h.encrypt("k", b"two").await;
    h.write("keys/k/config", json!({"min_decryption_version": 2}))
        .await;
    let backup = h.read("backup/k").await["backup"]
        .as_str()
        .expect("backup")
        .to_owned();
    let info = h.read("keys/k").await["backup_info"].clone();
    assert_eq!(info["version"], 2);

    h.delete_key("k").await;
    h.no_content("restore", json!({"backup": backup})).await;
    let d = h.read("keys/k").await;
    assert_eq!(d["restore_info"]["version"], 2);
    assert_eq!(h.decrypt("k", &v2).await, b"two");
    // The archived version came back too.
    h.write("keys/k/config", json!({"min_decryption_version": 1}))
        .await;
    assert_eq!(h.decrypt("k", &v1).await, b"one");

    // Restore under another name.
    h.no_content("restore/copy", json!({"backup": backup}))
        .await;
    assert_eq!(h.decrypt("copy", &v2).await, b"two");
}

#[tokio::test]
async fn restore_refuses_an_existing_key_without_force_and_garbage_always() {
    let h = Harness::new().await;
    h.create(
        "k",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await;
    let ct = h.encrypt("k", b"x").await;
    let backup = h.read("backup/k").await["backup"].clone();
    h.create("other", json!({})).await;
    assert_eq!(
        h.invalid("restore/other", json!({"backup": backup})).await,
        "key \"other\" already exists"
    );
    h.no_content("restore/other", json!({"backup": backup, "force": true}))
        .await;
    assert_eq!(h.decrypt("other", &ct).await, b"x");
    assert_eq!(
        h.invalid("restore", json!({})).await,
        "'backup' must be supplied"
    );
    assert!(
        h.invalid("restore", json!({"backup": "%%"}))
            .await
            .starts_with("unable to decode backup")
    );
    assert!(
        h.invalid("restore", json!({"backup": b64(b"{}")}))
            .await
            .starts_with("invalid backup")
    );
}

/// Small helpers only these tests need.
trait ExportHarness {
    async fn invalid_read(&self, path: &str) -> String;
}

impl ExportHarness for Harness {
    async fn invalid_read(&self, path: &str) -> String {
        match self.call(Operation::Read, path, Value::Null).await {
            Err(coffer_core::CoreError::InvalidRequest(m)) => m,
            other => panic!("{path}: expected InvalidRequest, got {other:?}"),
        }
    }
}
