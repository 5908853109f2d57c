//! End-to-end: `coffer server` with `seal "pkcs11"` on a real SoftHSM2 token,
//! the PIN from VAULT_HSM_PIN as seed 004 recommends, driven by the `coffer`
//! CLI (harness in `common`).

mod common;

use base64::Engine as _;
use coffer_testkit::token::PIN;
use common::*;

#[test]
fn pkcs11_seal_inits_with_recovery_keys_and_auto_unseals_after_restart() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config(
        "  key_label = \"coffer-root-key\"\n  hmac_key_label = \"coffer-hmac-key\"\n  generate_key = \"true\"\n  mechanism = \"0x1087\"\n",
    );
    let server = hsm.serve(&config, &addr);
    let (token, recovery) = init_auto(&addr, 3, 2);
    assert_eq!(recovery.len(), 3, "{recovery:?}");
    let status = coffer(&addr, None, &["status"]);
    let status_text = text(&status);
    assert_eq!(
        status.status.code(),
        Some(0),
        "auto-seal node is unsealed after init: {status_text}"
    );
    assert!(status_text.contains("pkcs11"), "{status_text}");
    assert!(status_text.contains("Recovery Seal Type"), "{status_text}");
    enable_kv(&addr, &token, "morekv");
    kv_put(&addr, &token, "morekv/foo", "bar=baz");
    let first_run = stop(server);
    assert!(first_run.contains("HSM PKCS#11 Version"), "{first_run}");
    assert!(first_run.contains("HSM Manufacturer ID"), "{first_run}");

    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    let got = coffer(
        &addr,
        Some(&token),
        &["kv", "get", "-field=bar", "morekv/foo"],
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "baz",
        "{}",
        text(&got)
    );
    let second_run = stop(server);
    assert!(
        second_run.contains("stored unseal keys supported, attempting fetch"),
        "{second_run}"
    );
    assert!(
        second_run.contains("unsealed with stored keys"),
        "{second_run}"
    );

    // File storage holds `{"Value":"<base64>"}`: look in the stored bytes,
    // not in their base64 text (where "baz" turns up by chance).
    for f in walk(&hsm.data()) {
        let bytes = std::fs::read(&f).expect("read");
        let stored = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["Value"].as_str().map(str::to_owned))
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .unwrap_or(bytes);
        assert!(
            !stored.windows(3).any(|w| w == b"baz"),
            "plaintext in {}",
            f.display()
        );
    }
}

#[test]
fn rotating_the_hsm_key_rewraps_stored_keys_so_the_old_key_can_be_deleted() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key-1\"\n  generate_key = \"true\"\n");
    let server = hsm.serve(&config, &addr);
    let (token, _) = init_auto(&addr, 1, 1);
    enable_kv(&addr, &token, "kv");
    kv_put(&addr, &token, "kv/a", "v=1");
    stop(server);

    let (config, addr) = hsm.config(
        "  key_label = \"root-key-2\"\n  default_key_label = \"root-key-1\"\n  generate_key = \"true\"\n",
    );
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    let log = stop(server);
    assert!(log.contains("upgrading stored keys"), "{log}");

    hsm.delete_secret_key("root-key-1");

    let (config, addr) = hsm.config("  key_label = \"root-key-2\"\n");
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    let got = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "1",
        "{}",
        text(&got)
    );
    stop(server);
}

#[test]
fn wrong_pin_stops_startup_with_ckr_pin_incorrect_and_touches_nothing() {
    let hsm = Hsm::new();
    let (config, _) = hsm.config("  key_label = \"k\"\n  generate_key = \"true\"\n");
    let out = hsm.start(&config, "0000").wait_with_output().expect("wait");
    let all = text(&out);
    // 78: a supervisor must not retry a PIN the token refused.
    assert_eq!(out.status.code(), Some(78), "{all}");
    assert!(all.contains("CKR_PIN_INCORRECT"), "{all}");
    assert!(
        !hsm.data().exists() || walk(&hsm.data()).is_empty(),
        "storage was touched"
    );
}

#[test]
fn missing_key_without_generate_key_names_the_label() {
    let hsm = Hsm::new();
    let (config, _) = hsm.config("  key_label = \"no-such-key\"\n");
    let out = hsm.start(&config, PIN).wait_with_output().expect("wait");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(78), "{all}");
    assert!(all.contains("no-such-key"), "{all}");
}

/// Inits with the mechanism in `seal_body`, writes a secret, restarts and
/// checks the seal used `mechanism_name`, the node unsealed itself and the
/// secret reads back.
fn mechanism_survives_restart(seal_body: &str, mechanism_name: &str) {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config(seal_body);
    let server = hsm.serve(&config, &addr);
    let (token, _) = init_auto(&addr, 1, 1);
    enable_kv(&addr, &token, "kv");
    kv_put(&addr, &token, "kv/m", "v=ok");
    stop(server);
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    let got = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/m"]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "ok",
        "{}",
        text(&got)
    );
    let log = stop(server);
    assert!(log.contains("unsealed with stored keys"), "{log}");
    assert!(log.contains(&format!("name=\"{mechanism_name}\"")), "{log}");
}

#[test]
fn rsa_oaep_seal_with_sha1_auto_unseals() {
    mechanism_survives_restart(
        "  key_label = \"rsa-root\"\n  generate_key = \"true\"\n  mechanism = \"0x0009\"\n  rsa_oaep_hash = \"sha1\"\n",
        "CKM_RSA_PKCS_OAEP",
    );
}

#[test]
fn aes_cbc_pad_with_hmac_key_auto_unseals() {
    mechanism_survives_restart(
        "  key_label = \"cbc-root\"\n  hmac_key_label = \"cbc-hmac\"\n  generate_key = \"true\"\n  mechanism = \"0x1085\"\n  hmac_mechanism = \"0x0251\"\n",
        "CKM_AES_CBC_PAD",
    );
}

#[test]
fn aes_cbc_with_hmac_key_auto_unseals() {
    mechanism_survives_restart(
        "  key_label = \"cbc-root\"\n  hmac_key_label = \"cbc-hmac\"\n  generate_key = \"true\"\n  mechanism = \"0x1082\"\n",
        "CKM_AES_CBC",
    );
}
