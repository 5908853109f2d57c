//! End-to-end: managed keys (`sys/managed-keys/pkcs11/...`) on a real token
//! (SoftHSM2, or the module in COFFER_TEST_PKCS11_MODULE) through the
//! `coffer` CLI: written, read back without the PIN, listed, tested with
//! keys the server generates in the HSM, and refused with the cause named.

mod common;

use coffer_testkit::token::{PIN, TokenKind};
use common::*;
use serde_json::Value;
use std::process::Command;

/// A server with the pkcs11 seal and `kms_library "pkcs11" { name = "hsm" }`
/// for the same module; returns it, its address and a root token.
fn server(hsm: &Hsm) -> (std::process::Child, String, String) {
    let seal = hsm.pkcs11_stanza("  key_label = \"seal-key\"\n  generate_key = \"true\"\n");
    let kms = format!(
        "kms_library \"pkcs11\" {{\n  name = \"HSM\"\n  library = \"{}\"\n}}\n",
        module()
    );
    let (config, addr) = hsm.write_config(&format!("{seal}{kms}"));
    let server = hsm.serve(&config, &addr);
    let (root, _) = init_auto(&addr, 1, 1);
    (server, addr, root)
}

fn write_key(
    addr: &str,
    token: &str,
    name: &str,
    hsm: &Hsm,
    fields: &[&str],
) -> std::process::Output {
    let path = format!("sys/managed-keys/pkcs11/{name}");
    let label = format!("token_label={}", hsm.label);
    let pin = format!("pin={PIN}");
    let mut args = vec![
        "write",
        path.as_str(),
        "library=hsm",
        label.as_str(),
        pin.as_str(),
    ];
    args.extend_from_slice(fields);
    coffer(addr, Some(token), &args)
}

fn test_sign(addr: &str, token: &str, name: &str, fields: &[&str]) -> std::process::Output {
    let path = format!("sys/managed-keys/pkcs11/{name}/test/sign");
    let mut args = vec!["write", "-f", path.as_str()];
    args.extend_from_slice(fields);
    coffer(addr, Some(token), &args)
}

fn read_json(addr: &str, token: &str, path: &str) -> Value {
    let out = ok(&coffer(addr, Some(token), &["read", "-format=json", path]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// What pkcs11-tool says about the token's private and secret keys.
fn token_objects(hsm: &Hsm) -> String {
    let out = Command::new("pkcs11-tool")
        .args([
            "--module",
            &module(),
            "--token-label",
            &hsm.label,
            "--login",
            "--pin",
            PIN,
        ])
        .arg("--list-objects")
        .envs([hsm.env()])
        .output()
        .expect("pkcs11-tool (install opensc)");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

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

/// `coffer write -format=json PATH ARGS`: the answer's `data`.
fn write_data(addr: &str, token: &str, path: &str, args: &[&str]) -> Value {
    let mut all = vec!["write", "-format=json", path];
    all.extend_from_slice(args);
    let out = ok(&coffer(addr, Some(token), &all));
    serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"))["data"].clone()
}

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

    // The HSM work shows in sys/metrics under the managed key's name.
    let metrics = prometheus(&addr, &root);
    assert!(
        metrics.contains("coffer_hsm_operation_seconds_count{op=\"wrap\",managed_key=\"mk-aes\"}"),
        "{metrics}"
    );

    // A key deleted from the HSM is named in the error, and not silently regenerated.
    let deleted = Command::new("pkcs11-tool")
        .args([
            "--module",
            &module(),
            "--token-label",
            &hsm.label,
            "--login",
            "--pin",
            PIN,
        ])
        .args(["--delete-object", "--type", "secrkey", "--label", "mk-aes"])
        .envs([hsm.env()])
        .output()
        .expect("pkcs11-tool");
    assert!(deleted.status.success(), "{}", text(&deleted));
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
