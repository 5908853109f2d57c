//! End-to-end: seal migration with the real `coffer` binary and a real
//! SoftHSM2 token (harness in `common`). A Shamir node with data moves to the
//! pkcs11 seal (`operator unseal -migrate` with the unseal keys, which become
//! recovery keys), auto-unseals after a restart, then moves back to Shamir
//! (`disabled = "true"` on the pkcs11 stanza, `-migrate` with the recovery
//! keys, which become unseal keys). Never skipped: a missing SoftHSM fails.

mod common;

use common::*;

const KEY_LABEL: &str = "coffer-migration-key";

fn pkcs11_stanza(hsm: &Hsm, extra: &str) -> String {
    hsm.pkcs11_stanza(&format!("  key_label = \"{KEY_LABEL}\"\n{extra}"))
}

fn status_line<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map_or("", str::trim)
}

fn b64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Mints a root token with `keys` through sys/generate-root.
fn generate_root(addr: &str, keys: &[&str]) -> String {
    let GenerateRoot { otp, status, body } = generate_root_with(addr, keys);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["complete"], true, "{body}");
    let encoded = b64_decode(body["encoded_token"].as_str().expect("encoded token"));
    let token: Vec<u8> = encoded
        .iter()
        .zip(otp.as_bytes())
        .map(|(a, b)| a ^ b)
        .collect();
    String::from_utf8(token).expect("token text")
}

fn read_secret(addr: &str, token: &str) -> String {
    let got = coffer(addr, Some(token), &["kv", "get", "-field=v", "kv/a"]);
    String::from_utf8_lossy(&got.stdout).trim().to_owned()
}

#[test]
fn shamir_to_pkcs11_and_back_with_operator_unseal_migrate() {
    let hsm = Hsm::new();

    // 1. A Shamir node with data.
    let (config, addr) = hsm.write_config("");
    let server = hsm.serve(&config, &addr);
    let (token, keys) = init_shamir(&addr, 3, 2);
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in &keys[..2] {
        ok(&coffer(&addr, None, &["operator", "unseal", k]));
    }
    enable_kv(&addr, &token, "kv");
    kv_put(&addr, &token, "kv/a", "v=shamir-data");
    stop(server);

    // 2. Restart with the pkcs11 stanza: sealed, migration pending.
    let (config, addr) = hsm.write_config(&pkcs11_stanza(&hsm, "  generate_key = \"true\"\n"));
    let server = hsm.serve(&config, &addr);
    let status = coffer(&addr, None, &["status"]);
    let status_text = text(&status);
    assert_eq!(status.status.code(), Some(2), "sealed: {status_text}");
    assert_eq!(
        status_line(&status_text, "Seal Migration in Progress"),
        "true",
        "{status_text}"
    );
    assert_eq!(
        status_line(&status_text, "Seal Type"),
        "pkcs11",
        "{status_text}"
    );

    let plain = coffer(&addr, None, &["operator", "unseal", &keys[0]]);
    assert!(!plain.status.success());
    assert!(text(&plain).contains("-migrate"), "{}", text(&plain));

    let first = ok(&coffer(
        &addr,
        None,
        &["operator", "unseal", "-migrate", &keys[2]],
    ));
    assert_eq!(status_line(&first, "Unseal Progress"), "1/2", "{first}");
    let done = ok(&coffer(
        &addr,
        None,
        &["operator", "unseal", "-migrate", &keys[1]],
    ));
    assert_eq!(status_line(&done, "Sealed"), "false", "{done}");
    assert_eq!(read_secret(&addr, &token), "shamir-data");
    let log = stop(server);
    assert!(log.contains("seal migration pending"), "{log}");
    assert!(log.contains("seal migration completed"), "{log}");

    // 3. Restart: the HSM unseals; the old unseal keys are recovery keys.
    let (config, addr) = hsm.write_config(&pkcs11_stanza(&hsm, ""));
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    let status_text = text(&coffer(&addr, None, &["status"]));
    assert!(status_text.contains("Recovery Seal Type"), "{status_text}");
    assert_eq!(
        status_line(&status_text, "Total Recovery Shares"),
        "3",
        "{status_text}"
    );
    assert_eq!(read_secret(&addr, &token), "shamir-data");
    let minted = generate_root(&addr, &[&keys[0], &keys[2]]);
    assert_eq!(read_secret(&addr, &minted), "shamir-data");
    kv_put(&addr, &token, "kv/a", "v=hsm-data");
    stop(server);

    // 4. pkcs11 → Shamir: the pkcs11 stanza disabled, recovery keys with -migrate.
    let (config, addr) = hsm.write_config(&pkcs11_stanza(&hsm, "  disabled = \"true\"\n"));
    let server = hsm.serve(&config, &addr);
    let status = coffer(&addr, None, &["status"]);
    let status_text = text(&status);
    assert_eq!(
        status.status.code(),
        Some(2),
        "no auto-unseal: {status_text}"
    );
    assert_eq!(
        status_line(&status_text, "Seal Migration in Progress"),
        "true",
        "{status_text}"
    );
    assert_eq!(
        status_line(&status_text, "Seal Type"),
        "shamir",
        "{status_text}"
    );
    for k in &keys[1..] {
        ok(&coffer(&addr, None, &["operator", "unseal", "-migrate", k]));
    }
    wait_unsealed(&addr);
    assert_eq!(read_secret(&addr, &token), "hsm-data");
    stop(server);

    // 5. Restart as a plain Shamir node (no HSM at all): sealed, the former
    //    recovery keys unseal.
    let (config, addr) = hsm.write_config("");
    let server = hsm.serve(&config, &addr);
    let status = coffer(&addr, None, &["status"]);
    assert_eq!(status.status.code(), Some(2), "{}", text(&status));
    assert_eq!(
        status_line(&text(&status), "Seal Migration in Progress"),
        "",
        "{}",
        text(&status)
    );
    for k in [&keys[0], &keys[1]] {
        ok(&coffer(&addr, None, &["operator", "unseal", k]));
    }
    assert_eq!(read_secret(&addr, &token), "hsm-data");
    stop(server);
    for f in walk(&hsm.data()) {
        assert!(
            !f.to_string_lossy().contains("recovery-key"),
            "recovery key record left: {}",
            f.display()
        );
    }
}
