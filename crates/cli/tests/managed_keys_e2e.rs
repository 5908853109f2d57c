//! End-to-end: managed keys (`sys/managed-keys/pkcs11/...`) on a real token
//! (SoftHSM2, or the module in COFFER_TEST_PKCS11_MODULE) through the
//! `coffer` CLI: written, read back without the PIN, listed, tested with
//! keys the server generates in the HSM, and refused with the cause named.
//! Transit keys on managed keys: managed_keys_transit_e2e.rs.

mod common;

use coffer_testkit::token::{PIN, TokenKind};
use common::managed_keys::*;
use common::*;

#[test]
fn keys_are_generated_in_the_hsm_tested_and_read_back_without_the_pin() {
    let hsm = Hsm::new();
    let (server, addr, root) = server(&hsm);

    ok(&write_key(
        &addr,
        &root,
        "rsa-signer",
        &hsm,
        &[
            "key_label=mk-rsa",
            "mechanism=0x0001",
            "key_bits=2048",
            "allow_generate_key=true",
        ],
    ));
    let read = read_json(&addr, &root, "sys/managed-keys/pkcs11/rsa-signer");
    let data = &read["data"];
    assert_eq!(data["pin"], "redacted", "{read:#}");
    assert_eq!(data["mechanism"], 1);
    assert_eq!(data["library"], "hsm");
    assert_eq!(data["usages"], serde_json::json!(["sign", "verify"]));
    assert!(
        data["UUID"].as_str().is_some_and(|u| u.len() == 36),
        "{read:#}"
    );
    assert!(
        !read.to_string().contains(&format!("\"{PIN}\"")),
        "{read:#}"
    );

    // The key does not exist until the first use generates it.
    assert!(!token_objects(&hsm).contains("mk-rsa"));
    ok(&test_sign(&addr, &root, "rsa-signer", &[]));
    ok(&test_sign(
        &addr,
        &root,
        "rsa-signer",
        &["use_pss=true", "hash_algorithm=sha2-384"],
    ));
    let objects = token_objects(&hsm);
    // One block per object: a header line, then its indented attributes.
    let mut blocks: Vec<String> = Vec::new();
    for line in objects.lines() {
        match blocks.last_mut() {
            Some(b) if line.starts_with(char::is_whitespace) => {
                b.push('\n');
                b.push_str(line);
            }
            _ => blocks.push(line.to_owned()),
        }
    }
    let private = blocks
        .iter()
        .find(|b| b.starts_with("Private Key Object") && b.contains("label:      mk-rsa"))
        .unwrap_or_else(|| panic!("no private key mk-rsa:\n{objects}"));
    assert!(private.contains("never extractable"), "{private}");
    assert!(private.contains("sensitive"), "{private}");

    for (name, fields) in [
        (
            "ec-p256",
            vec!["key_label=mk-p256", "mechanism=0x1041", "curve=P256"],
        ),
        (
            "ec-p384",
            vec!["key_label=mk-p384", "mechanism=0x1041", "curve=P384"],
        ),
        (
            "aes-gcm",
            vec![
                "key_label=mk-aes",
                "mechanism=0x1087",
                "usages=encrypt,decrypt",
            ],
        ),
    ] {
        let mut f = fields.clone();
        f.push("allow_generate_key=true");
        ok(&write_key(&addr, &root, name, &hsm, &f));
        ok(&test_sign(&addr, &root, name, &[]));
    }
    // RSA-OAEP with the hash the token does (SoftHSM 2.6: SHA-1 only).
    let oaep_hash = match TokenKind::under_test() {
        TokenKind::SoftHsm2 => "rsa_oaep_hash=sha1",
        TokenKind::Kryoptic => "rsa_oaep_hash=sha256",
    };
    ok(&write_key(
        &addr,
        &root,
        "rsa-oaep",
        &hsm,
        &[
            "key_label=mk-oaep",
            "mechanism=0x0009",
            oaep_hash,
            "key_bits=2048",
            "usages=encrypt,decrypt",
            "allow_generate_key=true",
        ],
    ));
    ok(&test_sign(&addr, &root, "rsa-oaep", &[]));

    let list = ok(&coffer(
        &addr,
        Some(&root),
        &["list", "sys/managed-keys/pkcs11"],
    ));
    for name in ["rsa-signer", "ec-p256", "ec-p384", "aes-gcm", "rsa-oaep"] {
        assert!(list.contains(name), "{list}");
    }
    // The PIN is stored seal-wrapped: nothing under the data directory shows it.
    for file in walk(&hsm.data()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("\"pin\""),
            "{} holds a readable PIN field",
            file.display()
        );
    }
    stop(server);
}

#[test]
fn refusals_name_the_library_the_key_the_pin_and_the_mounts_that_use_it() {
    let hsm = Hsm::new();
    // A second token, made before the server loads the module.
    let other = format!("{}-mk", hsm.label);
    hsm.store().init_token(&other);
    let (server, addr, root) = server(&hsm);

    let label = format!("token_label={}", hsm.label);
    let out = coffer(
        &addr,
        Some(&root),
        &[
            "write",
            "sys/managed-keys/pkcs11/k",
            "library=nope",
            &label,
            "pin=1",
            "key_label=x",
            "mechanism=0x0001",
        ],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("no kms_library") && said.contains("(configured: hsm)"),
        "{said}"
    );

    ok(&write_key(
        &addr,
        &root,
        "absent",
        &hsm,
        &["key_label=not-there", "mechanism=0x1041"],
    ));
    let out = test_sign(&addr, &root, "absent", &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("\"not-there\"") && said.contains("allow_generate_key"),
        "{said}"
    );

    // A wrong PIN, on a token of its own: the seal's token is already logged
    // in for the whole process (PKCS#11 logins are per application).
    ok(&coffer(
        &addr,
        Some(&root),
        &[
            "write",
            "sys/managed-keys/pkcs11/badpin",
            "library=hsm",
            &format!("token_label={other}"),
            "pin=987654",
            "key_label=x",
            "mechanism=0x1041",
        ],
    ));
    let out = test_sign(&addr, &root, "badpin", &[]);
    assert!(text(&out).contains("CKR_PIN_INCORRECT"), "{}", text(&out));

    // Without sudo a token with every other capability is refused.
    let policy = hsm.dir.path().join("no-sudo.hcl");
    std::fs::write(
        &policy,
        "path \"sys/managed-keys/*\" {\n  capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"]\n}\n",
    )
    .expect("policy file");
    ok(&coffer(
        &addr,
        Some(&root),
        &[
            "policy",
            "write",
            "mk-no-sudo",
            &policy.display().to_string(),
        ],
    ));
    let limited = ok(&coffer(
        &addr,
        Some(&root),
        &["token", "create", "-field=token", "-policy=mk-no-sudo"],
    ));
    let out = coffer(
        &addr,
        Some(limited.trim()),
        &["read", "sys/managed-keys/pkcs11/absent"],
    );
    assert!(text(&out).contains("permission denied"), "{}", text(&out));

    // A key a mount allows cannot be deleted; the mount shows which keys it allows.
    ok(&coffer(
        &addr,
        Some(&root),
        &[
            "secrets",
            "enable",
            "-allowed-managed-keys=absent,badpin",
            "transit",
        ],
    ));
    let tune = read_json(&addr, &root, "sys/mounts/transit/tune");
    assert_eq!(
        tune["data"]["allowed_managed_keys"],
        serde_json::json!(["absent", "badpin"]),
        "{tune:#}"
    );
    let table = ok(&coffer(
        &addr,
        Some(&root),
        &["secrets", "list", "-detailed"],
    ));
    assert!(table.contains("Allowed Managed Keys"), "{table}");
    assert!(table.contains("[absent badpin]"), "{table}");
    let out = coffer(
        &addr,
        Some(&root),
        &["delete", "sys/managed-keys/pkcs11/absent"],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("still allowed on transit/"), "{said}");
    ok(&coffer(
        &addr,
        Some(&root),
        &[
            "secrets",
            "tune",
            "-allowed-managed-keys=badpin",
            "transit/",
        ],
    ));
    ok(&coffer(
        &addr,
        Some(&root),
        &["delete", "sys/managed-keys/pkcs11/absent"],
    ));
    let list = ok(&coffer(
        &addr,
        Some(&root),
        &["list", "sys/managed-keys/pkcs11"],
    ));
    assert!(
        !list.contains("absent") && list.contains("badpin"),
        "{list}"
    );
    stop(server);
}
