//! End-to-end: seal migration with the real `coffer` binary and a real
//! SoftHSM2 token (harness in `common`). A Shamir node with data moves to the
//! pkcs11 seal (`operator unseal -migrate` with the unseal keys, which become
//! recovery keys), auto-unseals after a restart, then moves back to Shamir
//! (`disabled = "true"` on the pkcs11 stanza, `-migrate` with the recovery
//! keys, which become unseal keys). Never skipped: a missing SoftHSM fails.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;

const KEY_LABEL: &str = "coffer-migration-key";

/// Writes the config with the given seal stanzas (none = Shamir) and a fresh
/// port; returns (path, address).
fn write_config(hsm: &Hsm, seals: &str) -> (PathBuf, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let path = hsm.dir.path().join("coffer.hcl");
    std::fs::write(
        &path,
        format!(
            "{seals}\nstorage \"file\" {{\n  path = \"{}\"\n}}\n\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = \"true\"\n}}\n\n\
             disable_mlock = true\n",
            hsm.data().display()
        ),
    )
    .expect("config");
    (path, format!("http://127.0.0.1:{port}"))
}

fn pkcs11_stanza(hsm: &Hsm, extra: &str) -> String {
    format!(
        "seal \"pkcs11\" {{\n  lib = \"{}\"\n  token_label = \"{}\"\n  key_label = \"{KEY_LABEL}\"\n{extra}}}\n",
        module(),
        hsm.label
    )
}

fn ok(out: &std::process::Output) -> String {
    let t = text(out);
    assert!(out.status.success(), "{t}");
    t
}

fn status_line<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map_or("", str::trim)
}

/// One raw HTTP/1.1 request (the CLI has no generate-root command yet).
fn http_put(addr: &str, path: &str, body: &str) -> Value {
    let host = addr.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").expect("http response");
    assert!(head.starts_with("HTTP/1.1 200"), "{resp}");
    serde_json::from_str(body.trim()).expect("json body")
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
    let start = http_put(addr, "/v1/sys/generate-root/attempt", "{}");
    let nonce = start["nonce"].as_str().expect("nonce");
    let otp = start["otp"].as_str().expect("otp").to_owned();
    let mut last = Value::Null;
    for k in keys {
        last = http_put(
            addr,
            "/v1/sys/generate-root/update",
            &serde_json::json!({"key": k, "nonce": nonce}).to_string(),
        );
    }
    assert_eq!(last["complete"], true, "{last}");
    let encoded = b64_decode(last["encoded_token"].as_str().expect("encoded token"));
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
    let (config, addr) = write_config(&hsm, "");
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    let init = ok(&coffer(
        &addr,
        None,
        &["operator", "init", "-key-shares=3", "-key-threshold=2"],
    ));
    let keys: Vec<String> = init
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Unseal Key ")
                .and_then(|r| r.split_once(": "))
        })
        .map(|(_, k)| k.trim().to_owned())
        .collect();
    assert_eq!(keys.len(), 3, "{init}");
    let token = field(&init, "Initial Root Token:")[0].to_owned();
    for k in &keys[..2] {
        ok(&coffer(&addr, None, &["operator", "unseal", k]));
    }
    ok(&coffer(
        &addr,
        Some(&token),
        &["secrets", "enable", "-path=kv", "kv"],
    ));
    ok(&coffer(
        &addr,
        Some(&token),
        &["kv", "put", "kv/a", "v=shamir-data"],
    ));
    stop(server);

    // 2. Restart with the pkcs11 stanza: sealed, migration pending.
    let (config, addr) = write_config(&hsm, &pkcs11_stanza(&hsm, "  generate_key = \"true\"\n"));
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
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
    let (config, addr) = write_config(&hsm, &pkcs11_stanza(&hsm, ""));
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
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
    ok(&coffer(
        &addr,
        Some(&token),
        &["kv", "put", "kv/a", "v=hsm-data"],
    ));
    stop(server);

    // 4. pkcs11 → Shamir: the pkcs11 stanza disabled, recovery keys with -migrate.
    let (config, addr) = write_config(&hsm, &pkcs11_stanza(&hsm, "  disabled = \"true\"\n"));
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
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
    let (config, addr) = write_config(&hsm, "");
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
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
