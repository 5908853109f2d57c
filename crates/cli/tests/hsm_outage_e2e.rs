//! End-to-end: the HSM goes away (its SoftHSM2 token directory is moved
//! out) and comes back, under a running server and across a restart.
//! Nothing is restarted to recover and no data is lost.

mod common;

use coffer_testkit::token::PIN;
use common::*;
use std::path::PathBuf;

/// Moves the token's directory out of the token store and back.
struct Unplug {
    token: PathBuf,
    away: PathBuf,
}

impl Unplug {
    fn new(hsm: &Hsm) -> Self {
        let tokens = hsm.store().tokendir();
        let token = std::fs::read_dir(&tokens)
            .expect("tokens dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir())
            .expect("one token directory");
        Self {
            away: hsm.dir.path().join("unplugged-token"),
            token,
        }
    }
    fn pull(&self) {
        std::fs::rename(&self.token, &self.away).expect("unplug");
    }
    fn plug(&self) {
        std::fs::rename(&self.away, &self.token).expect("plug back");
    }
}

#[test]
fn token_removed_mid_run_fails_hsm_operations_with_the_code_and_recovers_in_place() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key\"\n  generate_key = \"true\"\n");
    let server = hsm.serve(&config, &addr);
    let (token, recovery) = init_auto(&addr, 1, 1);
    enable_kv(&addr, &token, "kv");
    kv_put(&addr, &token, "kv/a", "v=1");

    let unplug = Unplug::new(&hsm);
    unplug.pull();
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(
        String::from_utf8_lossy(&kv.stdout).trim(),
        "1",
        "KV needs no HSM: {}",
        text(&kv)
    );
    kv_put(&addr, &token, "kv/b", "v=2");
    let GenerateRoot {
        status,
        body: failed,
        ..
    } = generate_root_with(&addr, &recovery[..]);
    assert_ne!(status, 200, "generate-root needs the HSM: {failed}");
    assert!(
        failed.to_string().contains("CKR_"),
        "error keeps the PKCS#11 code: {failed}"
    );
    // The failures show in sys/metrics, by return code, next to the latencies.
    let metrics = prometheus(&addr, &token);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("coffer_hsm_errors{code=\"CKR_") && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE coffer_hsm_operation_seconds histogram"),
        "{metrics}"
    );
    assert!(
        metrics.contains("coffer_hsm_operation_seconds_bucket{op=\"wrap\",le=\"+Inf\"}"),
        "{metrics}"
    );

    unplug.plug();
    let GenerateRoot {
        status, body: ok, ..
    } = generate_root_with(&addr, &recovery[..]);
    assert_eq!(status, 200, "recovered without restart: {ok}");
    assert_eq!(ok["complete"], true);
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/b"]);
    assert_eq!(String::from_utf8_lossy(&kv.stdout).trim(), "2");
    stop(server);
}

#[test]
fn server_started_while_the_token_is_away_exits_with_ckr_token_not_present_then_starts_once_back() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key\"\n  generate_key = \"true\"\n");
    let server = hsm.serve(&config, &addr);
    let (token, _) = init_auto(&addr, 1, 1);
    enable_kv(&addr, &token, "kv");
    kv_put(&addr, &token, "kv/a", "v=1");
    stop(server);

    let unplug = Unplug::new(&hsm);
    unplug.pull();
    let out = hsm.start(&config, PIN).wait_with_output().expect("wait");
    let all = text(&out);
    assert!(
        !out.status.success(),
        "a seal that cannot open must stop startup: {all}"
    );
    assert!(
        all.contains("pkcs11: 0xE0: CKR_TOKEN_NOT_PRESENT"),
        "seed 002's error text: {all}"
    );

    unplug.plug();
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(
        String::from_utf8_lossy(&kv.stdout).trim(),
        "1",
        "no data lost"
    );
    stop(server);
}

/// `coffer write -f sys/rotate`: a new keyring term, which with entropy
/// augmentation needs fresh HSM randomness (and nothing else from the HSM).
fn rotate(addr: &str, token: &str) -> std::process::Output {
    coffer(addr, Some(token), &["write", "-f", "sys/rotate"])
}

#[test]
fn entropy_augmentation_fails_closed_with_the_pkcs11_code_while_the_token_is_away() {
    let hsm = Hsm::new();
    let seal = hsm.pkcs11_stanza("  key_label = \"root-key\"\n  generate_key = \"true\"\n");
    let (config, addr) = hsm.write_config(&format!(
        "{seal}entropy \"seal\" {{\n  mode = \"augmentation\"\n}}\n"
    ));
    let server = hsm.serve(&config, &addr);
    let (token, recovery) = init_auto(&addr, 1, 1);
    enable_kv(&addr, &token, "kv");
    kv_put(&addr, &token, "kv/a", "v=1");
    ok(&coffer(
        &addr,
        Some(&token),
        &[
            "secrets",
            "enable",
            "-external-entropy-access",
            "-path=ext",
            "kv",
        ],
    ));
    let list = ok(&coffer(
        &addr,
        Some(&token),
        &["secrets", "list", "-detailed"],
    ));
    let ext = list
        .lines()
        .find(|l| l.starts_with("ext/"))
        .unwrap_or_else(|| panic!("ext/ listed: {list}"));
    assert!(
        ext.contains("true"),
        "External Entropy Access column: {list}"
    );

    let unplug = Unplug::new(&hsm);
    unplug.pull();
    // SoftHSM's RNG is software: C_GenerateRandom keeps answering on a
    // session opened before its token directory moved out. The first call
    // that touches the token's objects notices the loss; the pool then drops
    // its sessions and every later call, C_GenerateRandom included, fails
    // with CKR_TOKEN_NOT_PRESENT until the token returns, as with a real HSM
    // whose sessions die with the token.
    let noticed = generate_root_with(&addr, &recovery[..]);
    assert!(
        noticed.body.to_string().contains("CKR_"),
        "{}",
        noticed.body
    );
    // A new keyring term needs the HSM twice: randomness for the term and
    // the seal wrap of the keyring record. The wrap fails at once; HSM bytes
    // fetched before the removal (one 1 KiB chunk at most) are still handed
    // out, each once, so after at most 32 terms the draw itself fails.
    let mut failure = None;
    for _ in 0..40 {
        let out = rotate(&addr, &token);
        let msg = text(&out);
        assert!(!out.status.success(), "no new term without the HSM");
        assert!(
            msg.contains("CKR_") || msg.contains("did not answer within"),
            "the error keeps the PKCS#11 code or the timeout: {msg}"
        );
        if msg.contains("never falls back") {
            failure = Some(msg);
            break;
        }
    }
    assert!(
        failure.is_some(),
        "key generation fails closed once the buffered HSM bytes are spent"
    );
    let (_, health) = raw(&addr, coffer_client::Method::Get, "sys/health", None);
    let source = &health["entropy_augmentation"];
    assert_eq!(
        source["healthy"], false,
        "sys/health reports the source: {health}"
    );
    assert!(
        source["error"]
            .as_str()
            .is_some_and(|e| e.contains("CKR_") || e.contains("within")),
        "{health}"
    );
    assert!(
        counter(&addr, &token, "coffer.entropy.seal.failures") >= 1.0,
        "sys/metrics counts the refused draws"
    );
    // Data reads and writes use OS nonces: no HSM needed.
    kv_put(&addr, &token, "kv/b", "v=2");
    let kv = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(
        String::from_utf8_lossy(&kv.stdout).trim(),
        "1",
        "{}",
        text(&kv)
    );

    unplug.plug();
    let again = rotate(&addr, &token);
    assert!(
        again.status.success(),
        "rotate works after the token returns: {}",
        text(&again)
    );
    let (_, health) = raw(&addr, coffer_client::Method::Get, "sys/health", None);
    assert_eq!(health["entropy_augmentation"]["healthy"], true, "{health}");
    let out = stop(server);
    assert!(
        out.contains("Entropy Augmentation"),
        "banner says so: {out}"
    );
}

/// One counter from `sys/metrics`.
fn counter(addr: &str, token: &str, name: &str) -> f64 {
    let (status, metrics) = raw_as(
        addr,
        Some(token),
        coffer_client::Method::Get,
        "sys/metrics",
        None,
    );
    assert_eq!(status, 200, "{metrics}");
    metrics["Counters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["Name"] == name))
        .and_then(|c| c["Count"].as_f64())
        .unwrap_or_else(|| panic!("{name} in {metrics}"))
}

#[test]
fn transit_keys_of_an_external_entropy_mount_need_the_hsm_and_existing_keys_keep_working() {
    let hsm = Hsm::new();
    let seal = hsm.pkcs11_stanza("  key_label = \"root-key\"\n  generate_key = \"true\"\n");
    let (config, addr) = hsm.write_config(&format!(
        "{seal}entropy \"seal\" {{\n  mode = \"augmentation\"\n}}\n"
    ));
    let server = hsm.serve(&config, &addr);
    let (token, recovery) = init_auto(&addr, 1, 1);
    let t = Some(token.as_str());
    ok(&coffer(
        &addr,
        t,
        &["secrets", "enable", "-external-entropy-access", "transit"],
    ));
    ok(&coffer(
        &addr,
        t,
        &["secrets", "enable", "-path=plain-transit", "transit"],
    ));

    // Only keys of the external-entropy mount draw augmented randomness.
    let draws = || counter(&addr, &token, "coffer.entropy.seal.draws");
    let before = draws();
    ok(&coffer(&addr, t, &["write", "-f", "plain-transit/keys/p"]));
    assert_eq!(draws(), before, "a plain mount uses the OS CSPRNG");
    ok(&coffer(&addr, t, &["write", "-f", "transit/keys/orders"]));
    let after = draws();
    assert!(
        after > before,
        "external entropy mount: {before} -> {after}"
    );
    assert!(counter(&addr, &token, "coffer.entropy.seal.hsm_fetches") >= 1.0);

    // Seed 002: "4111 1111 1111 1111".
    let plaintext = "NDExMSAxMTExIDExMTEgMTExMQ==";
    let encrypt = |addr: &str| {
        let out = ok(&coffer(
            addr,
            t,
            &[
                "write",
                "-field=ciphertext",
                "transit/encrypt/orders",
                &format!("plaintext={plaintext}"),
            ],
        ));
        out.trim().to_owned()
    };
    let ciphertext = encrypt(&addr);
    assert!(ciphertext.starts_with("vault:v1:"), "{ciphertext}");

    let unplug = Unplug::new(&hsm);
    unplug.pull();
    let noticed = generate_root_with(&addr, &recovery[..]);
    assert!(
        noticed.body.to_string().contains("CKR_"),
        "{}",
        noticed.body
    );
    let mut refused = None;
    for i in 0..40 {
        let out = coffer(&addr, t, &["write", "-f", &format!("transit/keys/k{i}")]);
        let msg = text(&out);
        assert!(!out.status.success(), "no new key without the HSM: {msg}");
        assert!(
            msg.contains("CKR_") || msg.contains("did not answer within"),
            "{msg}"
        );
        if msg.contains("never falls back") {
            refused = Some(msg);
            break;
        }
    }
    assert!(refused.is_some(), "key creation fails closed on entropy");
    let again = encrypt(&addr);
    assert!(
        again.starts_with("vault:v1:"),
        "encrypt with the existing key: {again}"
    );
    let decrypted = ok(&coffer(
        &addr,
        t,
        &[
            "write",
            "-field=plaintext",
            "transit/decrypt/orders",
            &format!("ciphertext={ciphertext}"),
        ],
    ));
    assert_eq!(decrypted.trim(), plaintext);

    unplug.plug();
    ok(&coffer(
        &addr,
        t,
        &["write", "-f", "transit/keys/after-return"],
    ));
    stop(server);
}
