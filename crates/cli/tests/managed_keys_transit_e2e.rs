//! End-to-end: transit keys of `type=managed_key` on a real token (SoftHSM2,
//! or the module in COFFER_TEST_PKCS11_MODULE): encrypt/decrypt, sign/verify,
//! HMAC and rotation in the HSM, what is refused, a key deleted in the HSM
//! and a token pulled mid-run.

mod common;

use coffer_testkit::token::TokenKind;
use common::managed_keys::*;
use common::*;

#[test]
fn transit_managed_keys_encrypt_sign_and_rotate_in_the_hsm_and_refuse_export() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let hsm = Hsm::new();
    let (server, addr, root) = server(&hsm);
    for (name, fields) in [
        ("mk-aes", vec!["mechanism=0x1087", "usages=encrypt,decrypt"]),
        ("mk-ec", vec!["mechanism=0x1041", "curve=P256"]),
        ("mk-ec2", vec!["mechanism=0x1041", "curve=P384"]),
        ("mk-rsa", vec!["mechanism=0x0001", "key_bits=2048"]),
        ("mk-other", vec!["mechanism=0x1041", "curve=P256"]),
    ] {
        let label = format!("key_label={name}");
        let mut f = vec![label.as_str(), "allow_generate_key=true"];
        f.extend(fields);
        ok(&write_key(&addr, &root, name, &hsm, &f));
    }
    ok(&coffer(
        &addr,
        Some(&root),
        &[
            "secrets",
            "enable",
            "-allowed-managed-keys=mk-aes,mk-ec,mk-ec2,mk-rsa",
            "transit",
        ],
    ));

    // AES-GCM in the HSM.
    let key = write_data(
        &addr,
        &root,
        "transit/keys/enc",
        &["type=managed_key", "managed_key_name=mk-aes"],
    );
    assert_eq!(key["type"], "managed_key", "{key:#}");
    assert!(
        key.get("keys").is_none(),
        "no key material is shown: {key:#}"
    );
    let plaintext = b64("4111 1111 1111 1111");
    let ct = write_data(
        &addr,
        &root,
        "transit/encrypt/enc",
        &[&format!("plaintext={plaintext}")],
    );
    let ciphertext = ct["ciphertext"].as_str().expect("ciphertext").to_owned();
    assert!(ciphertext.starts_with("vault:v1:"), "{ciphertext}");
    let pt = write_data(
        &addr,
        &root,
        "transit/decrypt/enc",
        &[&format!("ciphertext={ciphertext}")],
    );
    assert_eq!(pt["plaintext"], plaintext.as_str());

    // ECDSA and RSA signatures made and checked in the HSM.
    write_data(
        &addr,
        &root,
        "transit/keys/sig",
        &["type=managed_key", "managed_key_name=mk-ec"],
    );
    let input = format!("input={}", b64("order 42"));
    let sig = write_data(&addr, &root, "transit/sign/sig", &[&input]);
    let v1 = sig["signature"].as_str().expect("signature").to_owned();
    assert!(v1.starts_with("vault:v1:"), "{v1}");
    let verify = |sig: &str, input: &str| {
        write_data(
            &addr,
            &root,
            "transit/verify/sig",
            &[input, &format!("signature={sig}")],
        )["valid"]
            .clone()
    };
    assert_eq!(verify(&v1, &input), true);
    assert_eq!(verify(&v1, &format!("input={}", b64("order 43"))), false);
    write_data(
        &addr,
        &root,
        "transit/keys/rsa",
        &["type=managed_key", "managed_key_name=mk-rsa"],
    );
    for algorithm in ["pss", "pkcs1v15"] {
        let alg = format!("signature_algorithm={algorithm}");
        let s = write_data(&addr, &root, "transit/sign/rsa/sha2-384", &[&input, &alg]);
        let s = s["signature"].as_str().expect("signature");
        let v = write_data(
            &addr,
            &root,
            "transit/verify/rsa/sha2-384",
            &[&input, &alg, &format!("signature={s}")],
        );
        assert_eq!(v["valid"], true, "{algorithm}");
    }

    // RSA-OAEP in the HSM, the key named by its id (the managed key's UUID).
    let oaep_hash = match TokenKind::under_test() {
        TokenKind::SoftHsm2 => "rsa_oaep_hash=sha1",
        TokenKind::Kryoptic => "rsa_oaep_hash=sha256",
    };
    ok(&write_key(
        &addr,
        &root,
        "mk-oaep",
        &hsm,
        &[
            "key_label=mk-oaep",
            "mechanism=0x0009",
            "key_bits=2048",
            oaep_hash,
            "usages=encrypt,decrypt",
            "allow_generate_key=true",
        ],
    ));
    ok(&coffer(
        &addr,
        Some(&root),
        &[
            "secrets",
            "tune",
            "-allowed-managed-keys=mk-aes,mk-ec,mk-ec2,mk-rsa,mk-oaep",
            "transit/",
        ],
    ));
    let uuid = read_json(&addr, &root, "sys/managed-keys/pkcs11/mk-oaep")["data"]["UUID"]
        .as_str()
        .expect("UUID")
        .to_owned();
    write_data(
        &addr,
        &root,
        "transit/keys/oaep",
        &["type=managed_key", &format!("managed_key_id={uuid}")],
    );
    let ct = write_data(
        &addr,
        &root,
        "transit/encrypt/oaep",
        &[&format!("plaintext={plaintext}")],
    );
    let oaep_ct = ct["ciphertext"].as_str().expect("ciphertext").to_owned();
    let pt = write_data(
        &addr,
        &root,
        "transit/decrypt/oaep",
        &[&format!("ciphertext={oaep_ct}")],
    );
    assert_eq!(pt["plaintext"], plaintext.as_str());

    // HMAC-SHA256 with a generic secret key in the HSM.
    ok(&write_key(
        &addr,
        &root,
        "mk-hmac",
        &hsm,
        &[
            "key_label=mk-hmac",
            "mechanism=0x0251",
            "allow_generate_key=true",
        ],
    ));
    ok(&coffer(
        &addr,
        Some(&root),
        &[
            "secrets",
            "tune",
            "-allowed-managed-keys=mk-aes,mk-ec,mk-ec2,mk-rsa,mk-oaep,mk-hmac",
            "transit/",
        ],
    ));
    write_data(
        &addr,
        &root,
        "transit/keys/mac",
        &["type=managed_key", "managed_key_name=mk-hmac"],
    );
    let tag = write_data(&addr, &root, "transit/hmac/mac", &[&input]);
    let tag = tag["hmac"].as_str().expect("hmac").to_owned();
    assert!(tag.starts_with("vault:v1:"), "{tag}");
    let check = |input: &str| {
        write_data(
            &addr,
            &root,
            "transit/verify/mac",
            &[input, &format!("hmac={tag}")],
        )["valid"]
            .clone()
    };
    assert_eq!(check(&input), true);
    assert_eq!(check(&format!("input={}", b64("order 43"))), false);
    let out = coffer(
        &addr,
        Some(&root),
        &["write", "transit/hmac/mac/sha2-512", &input],
    );
    assert!(text(&out).contains("HMAC-SHA256"), "{}", text(&out));

    // Rotation binds the new version to another managed key; v1 still verifies.
    let refused = coffer(
        &addr,
        Some(&root),
        &["write", "-f", "transit/keys/sig/rotate"],
    );
    assert!(
        text(&refused).contains("needs managed_key_name"),
        "{}",
        text(&refused)
    );
    let rotated = write_data(
        &addr,
        &root,
        "transit/keys/sig/rotate",
        &["managed_key_name=mk-ec2"],
    );
    assert_eq!(rotated["latest_version"], 2);
    let v2 = write_data(&addr, &root, "transit/sign/sig", &[&input]);
    assert!(
        v2["signature"]
            .as_str()
            .expect("sig")
            .starts_with("vault:v2:")
    );
    assert_eq!(verify(&v1, &input), true, "the old version still verifies");

    // Nothing of the key can leave; a key the mount does not allow is refused.
    for (args, says) in [
        (
            vec!["read", "transit/export/signing-key/sig"],
            "not possible with a managed key",
        ),
        (
            vec!["read", "transit/backup/sig"],
            "not possible with a managed key",
        ),
        (
            vec![
                "write",
                "transit/keys/x",
                "type=managed_key",
                "managed_key_name=mk-other",
            ],
            "not allowed on this mount",
        ),
        (
            vec![
                "write",
                "transit/keys/y",
                "type=managed_key",
                "managed_key_name=mk-aes",
                "exportable=true",
            ],
            "not possible with a managed key",
        ),
    ] {
        let out = coffer(&addr, Some(&root), &args);
        assert!(
            !out.status.success() && text(&out).contains(says),
            "{args:?}: {}",
            text(&out)
        );
    }

    // A managed key deleted and created again under the same name is another
    // key: the versions bound to the old one say so.
    let all = "mk-aes,mk-ec,mk-ec2,mk-rsa,mk-oaep,mk-hmac";
    let without_rsa = "-allowed-managed-keys=mk-aes,mk-ec,mk-ec2,mk-oaep,mk-hmac";
    ok(&coffer(
        &addr,
        Some(&root),
        &["secrets", "tune", without_rsa, "transit/"],
    ));
    ok(&coffer(
        &addr,
        Some(&root),
        &["delete", "sys/managed-keys/pkcs11/mk-rsa"],
    ));
    ok(&write_key(
        &addr,
        &root,
        "mk-rsa",
        &hsm,
        &["key_label=mk-rsa", "mechanism=0x0001"],
    ));
    let allow_all = format!("-allowed-managed-keys={all}");
    ok(&coffer(
        &addr,
        Some(&root),
        &["secrets", "tune", &allow_all, "transit/"],
    ));
    let out = coffer(&addr, Some(&root), &["write", "transit/sign/rsa", &input]);
    assert!(
        text(&out).contains("was deleted and created again"),
        "{}",
        text(&out)
    );

    // The HSM work shows in sys/metrics under the managed key's name.
    let metrics = prometheus(&addr, &root);
    assert!(
        metrics.contains("coffer_hsm_operation_seconds_count{op=\"wrap\",managed_key=\"mk-aes\"}"),
        "{metrics}"
    );

    // A key deleted from the HSM is named in the error, and not silently regenerated.
    pkcs11_tool(
        &hsm,
        &["--delete-object", "--type", "secrkey", "--label", "mk-aes"],
    );
    let out = coffer(
        &addr,
        Some(&root),
        &[
            "write",
            "transit/decrypt/enc",
            &format!("ciphertext={ciphertext}"),
        ],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("\"mk-aes\"") && said.contains("not found"),
        "{said}"
    );
    let out = coffer(
        &addr,
        Some(&root),
        &[
            "write",
            "transit/encrypt/enc",
            &format!("plaintext={plaintext}"),
        ],
    );
    assert!(
        !out.status.success(),
        "no new key appears behind an encrypt: {}",
        text(&out)
    );
    stop(server);
}

/// SoftHSM2 only (it keeps a token in a directory that can be moved away;
/// kryoptic serves from its open database file, see docs/hsm.md).
#[test]
fn managed_key_operations_fail_with_the_code_while_the_token_is_pulled_and_recover_in_place() {
    use base64::Engine as _;
    let hsm = Hsm::new();
    let (server, addr, root) = server(&hsm);
    ok(&write_key(
        &addr,
        &root,
        "mk-aes",
        &hsm,
        &[
            "key_label=mk-aes",
            "mechanism=0x1087",
            "usages=encrypt,decrypt",
            "allow_generate_key=true",
        ],
    ));
    ok(&coffer(
        &addr,
        Some(&root),
        &[
            "secrets",
            "enable",
            "-allowed-managed-keys=mk-aes",
            "transit",
        ],
    ));
    write_data(
        &addr,
        &root,
        "transit/keys/enc",
        &["type=managed_key", "managed_key_name=mk-aes"],
    );
    let plaintext = format!(
        "plaintext={}",
        base64::engine::general_purpose::STANDARD.encode("pulled")
    );
    let ct = write_data(&addr, &root, "transit/encrypt/enc", &[&plaintext]);
    let ciphertext = format!(
        "ciphertext={}",
        ct["ciphertext"].as_str().expect("ciphertext")
    );

    let tokens = hsm.store().tokendir();
    let token_dir = std::fs::read_dir(&tokens)
        .expect("tokens")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("token dir");
    let away = hsm.dir.path().join("pulled");
    std::fs::rename(&token_dir, &away).expect("pull the token");
    let out = coffer(
        &addr,
        Some(&root),
        &["write", "transit/decrypt/enc", &ciphertext],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("CKR_"),
        "the PKCS#11 code is in the error: {said}"
    );

    std::fs::rename(&away, &token_dir).expect("plug it back");
    let pt = write_data(&addr, &root, "transit/decrypt/enc", &[&ciphertext]);
    assert_eq!(
        pt["plaintext"],
        base64::engine::general_purpose::STANDARD.encode("pulled"),
        "recovered without a restart"
    );
    write_data(&addr, &root, "transit/encrypt/enc", &[&plaintext]);
    stop(server);
}
