//! End-to-end: seal wrap with the real `coffer` server on a SoftHSM2 token
//! and file storage, following seed 002 §5.4 (the same secret on a
//! seal-wrapped and an unwrapped KV v1 mount, inspected on disk), tampering
//! on disk, an HSM key rotation with background re-wrap, and the Shamir
//! refusal.

mod common;

use base64::Engine as _;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SECRET: &str = "my-long-password";

fn files(root: &Path) -> BTreeSet<PathBuf> {
    walk(root).into_iter().collect()
}

/// Runs `f` and returns the one file it created under `root`.
fn created_by(root: &Path, f: impl FnOnce()) -> PathBuf {
    let before = files(root);
    f();
    let new: Vec<_> = files(root).difference(&before).cloned().collect();
    assert_eq!(new.len(), 1, "{new:?}");
    new[0].clone()
}

/// The stored bytes of a file-storage entry (`{"Value": base64}`).
fn stored(file: &Path) -> Vec<u8> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file).expect("read")).expect("json");
    base64::engine::general_purpose::STANDARD
        .decode(json["Value"].as_str().expect("Value"))
        .expect("base64")
}

fn store(file: &Path, bytes: &[u8]) {
    let json = serde_json::json!({
        "Value": base64::engine::general_purpose::STANDARD.encode(bytes)
    });
    std::fs::write(file, serde_json::to_vec(&json).expect("json")).expect("write");
}

fn kv_get(addr: &str, token: &str, path: &str) -> std::process::Output {
    coffer(addr, Some(token), &["kv", "get", "-field=password", path])
}

fn seed_002_flow(mechanism: &str) {
    let hsm = Hsm::new();
    let stanza = hsm.pkcs11_stanza(&format!(
        "  key_label = \"hsm_demo\"\n  hmac_key_label = \"hsm_hmac_demos\"\n  generate_key = \"true\"\n  mechanism = \"{mechanism}\"\n"
    ));
    let (config, addr) = hsm.write_config(&format!("{stanza}raw_storage_endpoint = true\n"));
    let server = hsm.serve(&config, &addr);
    let (token, _) = init_auto(&addr, 3, 2);
    ok(&coffer(
        &addr,
        Some(&token),
        &["secrets", "enable", "-path=kv-unwrapped", "kv"],
    ));
    ok(&coffer(
        &addr,
        Some(&token),
        &[
            "secrets",
            "enable",
            "-path=kv-seal-wrapped",
            "-seal-wrap",
            "kv",
        ],
    ));
    let list = ok(&coffer(
        &addr,
        Some(&token),
        &["secrets", "list", "-detailed"],
    ));
    assert!(list.contains("Seal Wrap"), "{list}");
    let row = |p: &str| {
        list.lines()
            .find(|l| l.starts_with(p))
            .unwrap_or_else(|| panic!("{p} in {list}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(
        row("kv-seal-wrapped/").contains(&"true".to_owned()),
        "{list}"
    );
    assert!(!row("kv-unwrapped/").contains(&"true".to_owned()), "{list}");

    let data = hsm.data();
    let pair = format!("password={SECRET}");
    let plain_file = created_by(&data, || {
        ok(&coffer(
            &addr,
            Some(&token),
            &["kv", "put", "kv-unwrapped/unwrapped", &pair],
        ));
    });
    let wrapped_file = created_by(&data, || {
        ok(&coffer(
            &addr,
            Some(&token),
            &["kv", "put", "kv-seal-wrapped/wrapped", &pair],
        ));
    });
    for p in ["kv-unwrapped/unwrapped", "kv-seal-wrapped/wrapped"] {
        let got = kv_get(&addr, &token, p);
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            SECRET,
            "{}",
            text(&got)
        );
    }
    let plain = stored(&plain_file);
    let wrapped = stored(&wrapped_file);
    assert!(
        wrapped.len() > plain.len(),
        "seal-wrapped {} bytes, unwrapped {} bytes",
        wrapped.len(),
        plain.len()
    );
    assert!(wrapped.starts_with(b"CSW\x01\x06pkcs11"));
    assert!(
        wrapped.windows(8).any(|w| w == b"hsm_demo"),
        "the record names the HSM key label, as in the seed"
    );
    for f in walk(&data) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "plaintext in {}",
            f.display()
        );
    }

    raw_records_match_the_files_on_disk(
        mechanism,
        &addr,
        &token,
        &data,
        &plain_file,
        &wrapped_file,
    );

    let mut tampered = wrapped.clone();
    let at = tampered.len() - 5;
    tampered[at] ^= 0x01;
    store(&wrapped_file, &tampered);
    let got = kv_get(&addr, &token, "kv-seal-wrapped/wrapped");
    let msg = text(&got);
    assert!(!got.status.success(), "{msg}");
    assert!(msg.contains("failed the seal's integrity check"), "{msg}");
    assert!(!msg.contains(SECRET), "{msg}");
    let got = kv_get(&addr, &token, "kv-unwrapped/unwrapped");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        SECRET,
        "server still serves"
    );
    store(&wrapped_file, &wrapped);
    let got = kv_get(&addr, &token, "kv-seal-wrapped/wrapped");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        SECRET,
        "{}",
        text(&got)
    );
    stop(server);
}

/// The seed's at-rest comparison through `sys/raw`: the two records are
/// found by mount UUID and key name, their bytes are those of the files on
/// disk, and only the seal-wrapped one carries the HSM key labels.
fn raw_records_match_the_files_on_disk(
    mechanism: &str,
    addr: &str,
    token: &str,
    data: &Path,
    plain_file: &Path,
    wrapped_file: &Path,
) {
    let mounts: serde_json::Value = serde_json::from_str(&ok(&coffer(
        addr,
        Some(token),
        &["secrets", "list", "-format=json"],
    )))
    .expect("json");
    let uuid = |m: &str| mounts[m]["uuid"].as_str().expect("uuid").to_owned();
    let (plain_uuid, wrapped_uuid) = (uuid("kv-unwrapped/"), uuid("kv-seal-wrapped/"));
    let listed = ok(&coffer(addr, Some(token), &["list", "sys/raw/logical"]));
    for u in [&plain_uuid, &wrapped_uuid] {
        assert!(listed.contains(&format!("{u}/")), "{listed}");
    }
    let raw = |path: &str| -> serde_json::Value {
        let out = ok(&coffer(addr, Some(token), &["read", "-format=json", path]));
        serde_json::from_str::<serde_json::Value>(&out).expect("json")["data"].clone()
    };
    let decode = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().expect("value"))
            .expect("base64")
    };
    let plain = raw(&format!("sys/raw/logical/{plain_uuid}/unwrapped"));
    let wrapped = raw(&format!("sys/raw/logical/{wrapped_uuid}/wrapped"));
    assert_eq!(plain["seal_wrapped"], false, "{plain}");
    assert_eq!(wrapped["seal_wrapped"], true, "{wrapped}");
    assert_eq!(decode(&plain), stored(plain_file));
    assert_eq!(decode(&wrapped), stored(wrapped_file));
    let physical = wrapped["physical_path"].as_str().expect("physical_path");
    let (folder, leaf) = physical.rsplit_once('/').expect("nested");
    assert_eq!(
        wrapped_file,
        data.join(folder).join(format!("_{leaf}")),
        "file storage keeps {physical} there"
    );
    assert_eq!(wrapped["seal_wrap"]["seal_type"], "pkcs11", "{wrapped}");
    assert_eq!(wrapped["seal_wrap"]["key_label"], "hsm_demo", "{wrapped}");
    let hmac_label = wrapped["seal_wrap"].get("hmac_key_label");
    if mechanism == "0x1085" {
        assert_eq!(hmac_label, Some(&"hsm_hmac_demos".into()), "{wrapped}");
    } else {
        assert_eq!(
            hmac_label, None,
            "GCM authenticates without the HMAC key: {wrapped}"
        );
    }
    assert!(plain.get("seal_wrap").is_none(), "{plain}");
    let table = ok(&coffer(
        addr,
        Some(token),
        &["read", &format!("sys/raw/logical/{wrapped_uuid}/wrapped")],
    ));
    assert!(
        table.contains("seal_wrapped") && table.contains("hsm_demo"),
        "{table}"
    );
}

#[test]
fn seed_002_seal_wrapped_value_is_longer_on_disk_and_tampering_fails_the_gcm_tag() {
    seed_002_flow("0x1087");
}

#[test]
fn seal_wrapped_value_tampering_fails_the_hmac_with_aes_cbc() {
    seed_002_flow("0x1085");
}

fn rewrap_status(addr: &str, token: &str) -> serde_json::Value {
    let out = ok(&coffer(
        addr,
        Some(token),
        &["read", "-format=json", "sys/sealwrap/rewrap"],
    ));
    serde_json::from_str::<serde_json::Value>(&out).expect("json")["data"].clone()
}

#[test]
fn rotating_the_hsm_key_rewraps_seal_wrapped_values_in_the_background() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key-1\"\n  generate_key = \"true\"\n");
    let server = hsm.serve(&config, &addr);
    let (token, _) = init_auto(&addr, 1, 1);
    ok(&coffer(
        &addr,
        Some(&token),
        &["secrets", "enable", "-path=wrapped", "-seal-wrap", "kv"],
    ));
    for i in 0..20 {
        ok(&coffer(
            &addr,
            Some(&token),
            &["kv", "put", &format!("wrapped/s{i}"), "password=v"],
        ));
    }
    stop(server);

    let (config, addr) = hsm.config("  key_label = \"root-key-2\"\n  generate_key = \"true\"\n");
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    let got = kv_get(&addr, &token, "wrapped/s7");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "v",
        "{}",
        text(&got)
    );
    let start = Instant::now();
    let status = loop {
        let s = rewrap_status(&addr, &token);
        if s["is_running"] == false && s["entries"]["processed"].as_u64() > Some(0) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "re-wrap did not finish: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["entries"]["failed"], 0, "{status}");
    assert!(
        status["entries"]["rewritten"].as_u64() >= Some(20),
        "{status}"
    );
    let log = stop(server);
    assert!(log.contains("seal re-wrap completed"), "{log}");

    hsm.delete_secret_key("root-key-1");
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    for i in [0, 19] {
        let got = kv_get(&addr, &token, &format!("wrapped/s{i}"));
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            "v",
            "{}",
            text(&got)
        );
    }
    stop(server);
}

#[test]
fn the_shamir_seal_refuses_seal_wrap_and_says_why() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.write_config("");
    let server = hsm.serve(&config, &addr);
    let (token, keys) = init_shamir(&addr, 1, 1);
    ok(&coffer(&addr, None, &["operator", "unseal", &keys[0]]));
    let out = coffer(
        &addr,
        Some(&token),
        &["secrets", "enable", "-seal-wrap", "kv"],
    );
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(
        msg.contains("seal \"pkcs11\"") && msg.contains("shamir"),
        "{msg}"
    );
    stop(server);
}
